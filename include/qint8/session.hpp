#pragma once
/// @file session.hpp  Per-thread execution state of a model: the activation buffers and the
/// scratchpad, and the loop that runs the compiled steps.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include <omp.h>

#include "qint8/backend/status.hpp"
#include "qint8/backend/types.hpp"
#include "qint8/compile/program.hpp"
#include "qint8/compile/threads.hpp"
#include "qint8/detail/huge_arena.hpp"
#include "qint8/kernels/depthwise.hpp"
#include "qint8/kernels/vector.hpp"

namespace qint8 {

class model;
namespace detail {
class session_access;  // tune/time_layers.hpp
}  // namespace detail

struct session_options {
    /// Kept for source compatibility: a session always runs with the model's thread count
    /// (compile_options::threads, fixed when the primitives were built). 0 means "the model's";
    /// any other value must equal compile_options::threads or model::threads(), or the session
    /// is refused: set the count once, in compile_options.
    int threads = 0;
    bool profile = false;  ///< time every step (adds a stream wait per step)
};

/// Per-thread execution state for one model: activation buffers and scratchpad.
class session {
public:
    /// Defined in model.hpp (which this file includes at its end): a model holds its program.
    explicit session(const model& m, const session_options& opt = {});

private:
    friend class detail::session_access;
    session(std::shared_ptr<const detail::program> p, const session_options& opt) : c_(std::move(p)), opt_(opt), stream_(c_->eng) {
        check_threads();
        backend::guarded([&] { allocate(); }, [&] { return "session: allocating " + std::to_string(c_->slots.size()) + " buffers"; });
        for (const auto& s : c_->steps) {
            args_.push_back(bind(s));
            block_args_.push_back(bind_blocks(s));
        }
        times_.assign(c_->steps.size(), 0.0);
        plan_teams();
    }

public:
    /// Runs one batch. `src`: batch x C x H x W floats (NCHW, preprocessed as the manifest says);
    /// `dst`: batch x output_size() floats.
    void run(const float* src, float* dst) { run(src, static_cast<std::size_t>(c_->opt.batch), dst); }

    /// Runs a partly filled batch: `images` (1 .. batch) images from `src` (images x C x H x W
    /// floats), their outputs to `dst` (images x output_size() floats). The empty places run on
    /// zeros and their outputs are dropped. No image's result depends on another's: each output
    /// equals, bit for bit, that of a model compiled for a batch of `images` (INT8 sums are exact
    /// in any order; an FP32 step whose sum order depends on the batch runs its variant for
    /// `images`, detail::step::by_count). The time is about a full batch's.
    void run(const float* src, std::size_t images, float* dst) {
        if (images < 1 || images > static_cast<std::size_t>(c_->opt.batch))
            detail::fail(errc::invalid_argument, "session::run: expected 1 to " + std::to_string(c_->opt.batch) + " images (the compiled batch), found " +
                                                     std::to_string(images));
        detail::omp_threads_scope threads(c_->threads);
        load_input(src, images);
        images_ = images;
        for (std::size_t i = 0; i < c_->steps.size();) {
            if (team_end_[i] > i) {
                run_team(i, team_end_[i], dst);
                i = team_end_[i];
            } else {
                run_step(i, dst);
                ++i;
            }
        }
        stream_.wait();
        ++runs_;
    }

    /// Convenience: runs `src` (1 to batch images: a multiple of input_size() floats, at most
    /// batch x input_size()) and returns their outputs, images x output_size() floats.
    std::vector<float> run(const std::vector<float>& src) {
        const std::size_t batch = static_cast<std::size_t>(c_->opt.batch), per = c_->input_elems;
        if (src.empty() || src.size() % per != 0 || src.size() > per * batch)
            detail::fail(errc::invalid_argument, "session::run: expected 1 to " + std::to_string(batch) + " images of " + std::to_string(per) +
                                                     " floats (up to batch " + std::to_string(batch) + " x " + std::to_string(per) + " = " +
                                                     std::to_string(per * batch) + " input floats), found " + std::to_string(src.size()));
        std::vector<float> out(c_->output_elems * (src.size() / per));
        run(src.data(), src.size() / per, out.data());
        return out;
    }

    /// Any tensor of the last run() (the input or a layer's output), as real values in plain
    /// NCHW (or NC) order: for calibration, debugging and per-layer error reports. Not for the
    /// hot path: it creates a reorder on each call.
    std::vector<float> read(const std::string& tensor) const {
        auto it = c_->tensors.find(tensor);
        if (it == c_->tensors.end()) detail::fail(errc::invalid_argument, "session::read: no tensor named '" + tensor + "'");
        const detail::tensor_loc& loc = it->second;
        if (!loc.overwritten_by.empty())
            detail::fail(errc::invalid_argument, "session::read: tensor '" + tensor + "' is not kept: layer '" + loc.overwritten_by +
                                                     "' writes over its buffer (a residual added in place, or bytes shared once no step reads it)"
                                                     "; compile with compile_options::keep_intermediates = true to read it");
        const dnnl::memory& src = mem_[static_cast<std::size_t>(loc.slot)];
        const dnnl::memory::desc smd = src.get_desc();
        const dnnl::memory::desc plain = backend::make_desc(smd.dims(), dtype::f32, true);
        std::vector<float> out(plain.get_size() / sizeof(float));
        dnnl::memory dst(plain, c_->eng, out.data());
        // The codes are converted to plain f32 as they are and dequantized here: oneDNN 2.6's
        // jit:uni reorder drops a source zero point on some layout changes (NHWC to NCHW at 7x7
        // with 64 or more channels: every value of MobileNet-V2's features.17.conv.2 came back
        // shifted by scale * zero point), so read() does not ask it for one.
        auto pd = backend::reorder_pd(c_->eng, smd, plain, 1.f, 0, 0, nullptr, false);
        dnnl::stream st(c_->eng);
        dnnl::reorder(pd).execute(st, const_cast<dnnl::memory&>(src), dst);
        st.wait();
        if (loc.type != dtype::f32) {
            const float scale = loc.q->scale, zp = static_cast<float>(loc.q->zero_point);
            for (float& v : out) v = scale * (v - zp);  // the reference's real(): scale * (q - zp), exact codes
        }
        return out;
    }

    /// Accumulated milliseconds per step (profile mode), aligned with model::steps().
    const std::vector<double>& step_times_ms() const { return times_; }
    std::size_t runs() const { return runs_; }

private:
    void check_threads() const {
        const int t = opt_.threads;
        if (t == 0 || t == c_->threads || t == c_->opt.threads) return;
        detail::fail(errc::invalid_argument,
                     "session_options::threads: the model was compiled for " + std::to_string(c_->threads) +
                         " OpenMP thread(s) (compile_options::threads = " + std::to_string(c_->opt.threads) +
                         ") and runs with exactly that many, found " + std::to_string(t) +
                         "; set compile_options::threads = " + std::to_string(t) + " and compile again, or leave session_options::threads at 0");
    }

    /// The slots at their offsets in one block (compile/buffer_plan.hpp: slots whose uses do not
    /// overlap may share bytes; aliases view their root's) and the scratchpad, all in huge chunks
    /// (detail/huge_arena.hpp): the first run would otherwise fault in every 4 KiB page.
    void allocate() {
        mem_.resize(c_->slots.size());
        auto* block = static_cast<std::byte*>(bytes_.take(c_->slot_bytes));
        for (std::size_t i = 0; i < c_->slots.size(); ++i) mem_[i] = dnnl::memory(c_->slots[i].md, c_->eng, block + c_->slot_offset[i]);
        const auto sp_bytes = static_cast<dnnl::memory::dim>(std::max<std::size_t>(c_->scratchpad_bytes, 1));
        scratch_ = dnnl::memory(backend::make_desc({sp_bytes}, dtype::u8, true), c_->eng, bytes_.take(static_cast<std::size_t>(sp_bytes)));
    }

    /// A primitive step's arguments, bound once to this session's buffers.
    std::unordered_map<int, dnnl::memory> bind(const detail::step& s) const {
        std::unordered_map<int, dnnl::memory> a;
        for (const detail::operand& o : s.args)
            a[o.arg] = o.from == detail::operand::from_t::slot ? mem_[static_cast<std::size_t>(o.index)] : c_->consts[static_cast<std::size_t>(o.index)];
        if (s.kind == detail::step::prim) a[DNNL_ARG_SCRATCHPAD] = scratch_;
        return a;
    }

    /// A tflite_blocks step's primitive arguments, one set per block of pixels: views of the
    /// source at the block's first pixel and of the block's sums.
    std::vector<std::unordered_map<int, dnnl::memory>> bind_blocks(const detail::step& s) const {
        std::vector<std::unordered_map<int, dnnl::memory>> all;
        if (s.kind != detail::step::tflite_blocks) return all;
        const detail::tfl_blocks& b = s.tfl->blocks;
        auto* src = static_cast<uint8_t*>(data(s.src));
        for (std::size_t p0 = 0; p0 < b.pixels; p0 += b.per) {
            const bool whole = p0 + b.per <= b.pixels;
            std::unordered_map<int, dnnl::memory> a;
            a[DNNL_ARG_SRC] = dnnl::memory(whole ? b.src_whole : b.src_last, c_->eng, src + p0 * b.in_channels);
            a[DNNL_ARG_WEIGHTS] = c_->consts[static_cast<std::size_t>(whole ? b.wconst_whole : b.wconst_last)];
            a[DNNL_ARG_BIAS] = c_->consts[static_cast<std::size_t>(b.bconst)];
            a[DNNL_ARG_DST] = dnnl::memory(whole ? b.acc_whole : b.acc_last, c_->eng, data(b.acc));
            a[DNNL_ARG_SCRATCHPAD] = scratch_;
            all.push_back(std::move(a));
        }
        return all;
    }

    /// A tflite_blocks step: each block's sums, then its codes while the sums are in cache.
    void run_blocks(const detail::step& s, const std::vector<std::unordered_map<int, dnnl::memory>>& blocks) {
        const detail::tfl_blocks& b = s.tfl->blocks;
        const std::size_t ch = s.tfl->out.channels;
        const auto* acc = static_cast<const int32_t*>(data(b.acc));
        for (std::size_t k = 0; k < blocks.size(); ++k) {
            const std::size_t p0 = k * b.per, n = std::min(b.per, b.pixels - p0);
            const dnnl::primitive& p = n == b.per ? b.whole : b.last;
            backend::guarded([&] { p.execute(stream_, blocks[k]); },
                             [&] { return "session::run: layer '" + s.info.layer + "', pixels " + std::to_string(p0) + " to " + std::to_string(p0 + n); });
            stream_.wait();
            const void* res = s.src2 >= 0 ? static_cast<const uint8_t*>(data(s.src2)) + p0 * ch : nullptr;
            kernels::tflite_requantize(s.tfl->out, acc, res, static_cast<uint8_t*>(data(s.dst)) + p0 * ch, n, c_->threads, s.tfl->isa);
        }
    }

    void* data(int slot) const { return mem_[static_cast<std::size_t>(slot)].get_data_handle(); }

    /// The input of `images` images, quantized by the vector kernel or copied; the rest of the
    /// batch holds zeros (the zero point's code).
    void load_input(const float* src, std::size_t images) {
        const std::size_t n = c_->input_elems * images, all = c_->input_elems * static_cast<std::size_t>(c_->opt.batch);
        void* in = data(c_->input_slot);
        const quant_params& q = c_->input_q;
        if (!c_->input_is_int) {
            std::memcpy(in, src, n * sizeof(float));
            std::fill(static_cast<float*>(in) + n, static_cast<float*>(in) + all, 0.f);
        } else if (q.type == dtype::u8) {
            quantize_input(src, static_cast<uint8_t*>(in), images);
            std::memset(static_cast<uint8_t*>(in) + n, static_cast<int>(q.zero_point), all - n);
        } else {
            quantize_input(src, static_cast<int8_t*>(in), images);
            std::memset(static_cast<int8_t*>(in) + n, static_cast<int>(static_cast<uint8_t>(static_cast<int8_t>(q.zero_point))), all - n);
        }
    }

    /// `images` NCHW images into the input's codes, NHWC where the input slot is (input_nhwc).
    template <class T>
    void quantize_input(const float* src, T* in, std::size_t images) const {
        const quant_params& q = c_->input_q;
        if (!c_->input_nhwc) return kernels::quantize(src, in, c_->input_elems * images, 1.f / q.scale, q.zero_point);
        const std::vector<int64_t>& shape = c_->desc.input.shape;  // C, H, W
        const auto channels = static_cast<std::size_t>(shape[0]);
        kernels::quantize_to_nhwc(src, in, images, channels, c_->input_elems / channels, 1.f / q.scale, q.zero_point, c_->threads);
    }

    /// A primitive step: for a partly filled batch, the step's variant for that many images where
    /// it has one (on the first images of the same buffers), else the full batch.
    void execute(const detail::step& s, const std::unordered_map<int, dnnl::memory>& args) {
        const std::size_t full = static_cast<std::size_t>(c_->opt.batch);
        if (images_ >= full || s.by_count.size() != full - 1) return s.p.execute(stream_, args);
        std::unordered_map<int, dnnl::memory> fewer = args;
        for (const int arg : {DNNL_ARG_SRC, DNNL_ARG_DST}) {
            dnnl::memory& m = fewer.at(arg);
            m = dnnl::memory(*backend::with_batch(m.get_desc(), static_cast<int64_t>(images_)), c_->eng, m.get_data_handle());
        }
        s.by_count[images_ - 1].execute(stream_, fewer);
    }

    /// Step i alone: a primitive on the stream, or qint8's kernel once the stream is done.
    void run_step(std::size_t i, float* dst) {
        const detail::step& s = c_->steps[i];
        const auto t0 = std::chrono::steady_clock::now();
        if (s.kind == detail::step::prim) {
            backend::guarded([&] { execute(s, args_[i]); },
                             [&] { return "session::run: step " + std::to_string(i) + " ('" + s.info.layer + "', " + s.info.what + ")"; });
        } else {
            stream_.wait();  // qint8's own kernels read what the primitives before them wrote
            if (s.kind == detail::step::tflite_blocks) run_blocks(s, block_args_[i]);
            else run_kernel(s, dst);
        }
        if (opt_.profile) {
            stream_.wait();
            times_[i] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        }
    }

    /// Whether step s runs as a team's member: qint8's 1x1 and depthwise kernels, whose every
    /// loop over threads is a parallel_for (or its like) and which throw nothing.
    static bool team_member(const detail::step& s) { return s.kind == detail::step::pointwise || s.kind == detail::step::depthwise; }

    /// team_end_[i] > i where steps i .. team_end_[i] - 1 run in one parallel region: two or
    /// more team members in a row, on two threads or more. QINT8_TEAMS=0 turns teams off (for
    /// measurement; the results are the same integers either way), and so does
    /// OMP_WAIT_POLICY=passive: the team's barrier spins, which that setting asks threads not to.
    void plan_teams() {
        const std::size_t n = c_->steps.size();
        team_end_.assign(n, 0);
        const char* e = std::getenv("QINT8_TEAMS");
        const char* wait = std::getenv("OMP_WAIT_POLICY");
        const bool passive = wait && (std::string(wait) == "passive" || std::string(wait) == "PASSIVE");
        if (c_->threads < 2 || (e && std::string(e) == "0") || passive) return;
        for (std::size_t i = 0; i < n;) {
            std::size_t j = i;
            while (j < n && team_member(c_->steps[j])) ++j;
            if (j - i >= 2) team_end_[i] = j;
            i = std::max(j, i + 1);
        }
    }

    /// Steps from .. to - 1 in one parallel region: every thread calls every step, whose loops
    /// share the work among the team and end in the team's barrier. Between MobileNet-V2's 1x1
    /// and depthwise layers a barrier replaces a region's start and end (0.3-0.45 against 3
    /// microseconds on a 2-core Zen 5, some 45 times a run).
    void run_team(std::size_t from, std::size_t to, float* dst) {
        stream_.wait();  // the team reads what the primitives before it wrote
        kernels::team_barrier barrier;
#pragma omp parallel num_threads(c_->threads)
        {
            kernels::current_team() = &barrier;
            const bool timer = opt_.profile && omp_get_thread_num() == 0;
            for (std::size_t i = from; i < to; ++i) {
                const auto t0 = std::chrono::steady_clock::now();
                run_kernel(c_->steps[i], dst);
                if (timer) times_[i] += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            }
            kernels::current_team() = nullptr;
        }
    }

    /// A step of qint8's own kernels; the output steps write `dst`.
    void run_kernel(const detail::step& s, float* dst) {
        const std::size_t n = std::min(s.rows, images_) * s.cols;  // output steps: the images asked for
        switch (s.kind) {
            case detail::step::prim:
            case detail::step::tflite_blocks: break;  // run()
            case detail::step::softmax: {
                const auto* a = static_cast<const float*>(data(s.src));
                auto* b = static_cast<float*>(data(s.dst));
                for (std::size_t r = 0; r < s.rows; ++r) kernels::softmax(a + r * s.cols, b + r * s.cols, s.cols);
                if (s.rounded) kernels::round_to_grid(b, s.rows * s.cols, s.q);
                break;
            }
            case detail::step::copy_output: std::memcpy(dst, data(s.src), n * sizeof(float)); break;
            case detail::step::dequantize_output:
                if (s.q.type == dtype::u8) kernels::dequantize(static_cast<const uint8_t*>(data(s.src)), dst, n, s.q.scale, s.q.zero_point);
                else kernels::dequantize(static_cast<const int8_t*>(data(s.src)), dst, n, s.q.scale, s.q.zero_point);
                break;
            case detail::step::depthwise:
                kernels::depthwise_run(s.dw->variant, s.dw->pr, s.dw->pk, static_cast<const uint8_t*>(data(s.src)), static_cast<uint8_t*>(data(s.dst)),
                                       c_->threads);
                break;
            case detail::step::pointwise:
                kernels::pointwise_run(s.pw->variant, s.pw->pr, s.pw->pk, static_cast<const uint8_t*>(data(s.src)), static_cast<uint8_t*>(data(s.dst)),
                                       c_->threads);
                break;
            case detail::step::tflite_requant:
                kernels::tflite_requantize(s.tfl->out, static_cast<const int32_t*>(data(s.src)), s.src2 >= 0 ? data(s.src2) : nullptr, data(s.dst),
                                           s.tfl->pixels, c_->threads, s.tfl->isa);
                break;
            case detail::step::tflite_add:
                kernels::tflite_add(s.tfl->add, data(s.src), data(s.src2), data(s.dst), s.tfl->elems, c_->threads, s.tfl->isa != kernels::tfl_isa::scalar);
                break;
            case detail::step::tflite_avg_pool: kernels::tflite_avg_pool(s.tfl->pool, data(s.src), data(s.dst), c_->threads); break;
            case detail::step::exact_conv:
                kernels::exact_conv(s.tfl->conv, s.tfl->weights, data(s.src), static_cast<int32_t*>(data(s.dst)), c_->threads);
                break;
        }
    }

    std::shared_ptr<const detail::program> c_;
    session_options opt_;
    dnnl::stream stream_;
    detail::huge_arena bytes_;  ///< every buffer of mem_ and scratch_
    std::vector<dnnl::memory> mem_;
    dnnl::memory scratch_;
    std::vector<std::unordered_map<int, dnnl::memory>> args_;
    std::vector<std::vector<std::unordered_map<int, dnnl::memory>>> block_args_;  ///< per step: tflite_blocks' arguments per block
    std::vector<double> times_;
    std::vector<std::size_t> team_end_;  ///< plan_teams()
    std::size_t runs_ = 0;
    std::size_t images_ = 0;  ///< images in the current run()
};

}  // namespace qint8

#include "qint8/model.hpp"  // session(const model&) and model itself
