#pragma once
/// @file program.hpp  What compilation produces: buffers ("slots"), constants and the step list a
/// session executes. Built once by the compiler (compile/compiler.hpp), then read-only.

#include <cstddef>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "qint8/backend/dnnl_compat.hpp"
#include "qint8/compile/options.hpp"
#include "qint8/dispatch/isa.hpp"
#include "qint8/graph.hpp"
#include "qint8/kernels/depthwise.hpp"
#include "qint8/kernels/exact_conv.hpp"
#include "qint8/kernels/pointwise.hpp"
#include "qint8/kernels/tflite_add.hpp"
#include "qint8/kernels/tflite_avg_pool.hpp"
#include "qint8/kernels/tflite_output.hpp"
#include "qint8/detail/huge_arena.hpp"

namespace qint8::detail {

/// A buffer of a session. Every slot has its own bytes, except an alias: the destination of a
/// convolution with a fused residual sum is first filled with the residual through an alias
/// slot that views the same bytes with the residual's data type.
struct slot_desc {
    dnnl::memory::desc md;
    int alias_of = -1;  ///< the slot whose bytes this one views, or -1
};

/// One argument of a primitive step: a session buffer or a compiled constant (packed weights, bias).
struct operand {
    enum class from_t { slot, constant };
    int arg;      ///< DNNL_ARG_*
    from_t from;  ///< where `index` points
    int index;    ///< into program::slots or program::consts

    static operand slot(int arg, int s) { return {arg, from_t::slot, s}; }
    static operand constant(int arg, int c) { return {arg, from_t::constant, c}; }
};

/// A depthwise layer run by qint8's own kernel (kernels/depthwise.hpp): packed once at compilation.
struct dw_job {
    kernels::dw_problem pr;
    kernels::dw_packed pk;
    kernels::dw_variant variant = kernels::dw_variant::avx2;
};

/// A 1x1 layer run by qint8's own kernel (kernels/pointwise.hpp): packed once at compilation.
struct pw_job {
    kernels::pw_problem pr;
    kernels::pw_packed pk;
    kernels::pw_variant variant = kernels::pw_variant::avx2;
};

/// A 1x1 stride-1 layer in TFLite's arithmetic formed a block of pixels at a time: oneDNN writes
/// one block's int32 sums into a small buffer (`acc`, about 128 KB) and the output stage turns them
/// into codes while they are still in cache. The whole layer's sums would pass through memory
/// twice, once written and once read, where the layer's pixels do not fit the cache. The sums are
/// exact integers, so the blocks give the codes the whole layer would.
struct tfl_blocks {
    dnnl::primitive whole, last;  ///< `per` pixels; the last block's pixels % per (none: last is empty)
    dnnl::memory::desc src_whole, src_last, acc_whole, acc_last;  ///< NHWC views: 1 x C x 1 x pixels
    std::size_t per = 0, pixels = 0;
    std::size_t in_channels = 0;  ///< bytes per source pixel
    int wconst_whole = -1, wconst_last = -1, bconst = -1;  ///< program::consts
    int acc = -1;  ///< the block's sums: a slot
};

/// The kernels of a layer computed in TFLite's integer arithmetic (compile/tflite.hpp); the
/// step's kind says which member applies.
struct tflite_job {
    kernels::tfl_output out;           ///< tflite_requant: accumulators (src) to codes (dst), residual in src2
    std::size_t pixels = 0;            ///< tflite_requant: n * oh * ow
    kernels::tfl_add_job add;          ///< tflite_add: src + src2 into dst
    std::size_t elems = 0;             ///< tflite_add
    kernels::tfl_pool pool;            ///< tflite_avg_pool
    tfl_blocks blocks;                 ///< tflite_blocks: codes (src) to codes (dst) a block of pixels at a time, with `out`
    kernels::exact_conv_problem conv;  ///< exact_conv: codes (src) to accumulators (dst)
    std::vector<int8_t> weights;       ///< exact_conv: [O][kh][kw][C / groups]
    kernels::tfl_isa isa = kernels::tfl_isa::avx2;  ///< tflite_requant, tflite_blocks, tflite_add: the widest version the path allows
};

/// One executed step: a oneDNN primitive or one of qint8's own kernels.
struct step {
    enum kind_t { prim, dequantize_output, softmax, copy_output, depthwise, tflite_requant, tflite_blocks, tflite_add, tflite_avg_pool, exact_conv, pointwise } kind = prim;
    dnnl::primitive p;                 ///< prim
    std::vector<operand> args;         ///< prim
    /// prim: the same operation for 1 .. batch-1 images ([n - 1]) reading and writing the first n
    /// images of the same buffers, where oneDNN's sum order depends on the batch (FP32 inner
    /// products on gemm); empty elsewhere. A partly filled batch then gives what a model
    /// compiled for its image count gives, bit for bit.
    std::vector<dnnl::primitive> by_count;
    std::shared_ptr<const dw_job> dw;  ///< depthwise
    std::shared_ptr<const pw_job> pw;  ///< pointwise
    std::shared_ptr<const tflite_job> tfl;  ///< tflite_*, exact_conv
    int src = -1, dst = -1;            ///< kernels: slots read and written
    int src2 = -1;                     ///< tflite_requant / tflite_blocks with an ADD: the residual; tflite_add: the second input
    std::size_t rows = 0, cols = 0;    ///< softmax and output steps: images x values per image
    quant_params q;                    ///< dequantize_output; softmax: the grid its output is rounded to, when `rounded`
    bool rounded = false;              ///< softmax: the file quantizes its output (Q/DQ): store it on that grid
    step_info info;
};

/// Where a tensor ends up after a run (its final form), for session::read().
struct tensor_loc {
    int slot;
    dtype type;
    std::optional<quant_params> q;
    std::string overwritten_by;  ///< the layer that writes over this tensor's buffer (in place, or sharing it), if any
};

class tuning_cache;  // tune/cache.hpp

/// What a compilation takes its implementation choices from besides the defaults (compile/choice.hpp).
struct tuning_inputs {
    std::map<std::string, std::string> forced;      ///< tuning_choice::key() -> the candidate being timed (tune/tuned_compile.hpp)
    std::map<std::string, tuning_choice> measured;  ///< tuning_choice::key() -> what timing its candidates chose
    const tuning_cache* cache = nullptr;            ///< entries for this CPU, path and version apply
};

/// A compiled model.
struct program {
    dnnl::engine eng{dnnl::engine::kind::cpu, 0};
    model_desc desc;
    compile_options opt;
    int threads = 1;  ///< OpenMP threads the primitives were created for and every run uses
    isa path = isa::avx2;
    std::vector<slot_desc> slots;
    std::vector<std::size_t> slot_offset;  ///< each slot's bytes in a session's activation block (buffer_plan.hpp)
    std::size_t slot_bytes = 0;            ///< that block's size
    std::vector<dnnl::memory> consts;
    huge_arena const_bytes;  ///< the consts' buffers (packed weights, biases): few page faults at loading
    std::vector<step> steps;
    std::size_t scratchpad_bytes = 0;
    int input_slot = -1;
    bool input_is_int = false;
    bool input_nhwc = false;  ///< integer codes of a 4D input, stored NHWC (load_input transposes them)
    quant_params input_q;
    std::size_t input_elems = 0, output_elems = 0;  ///< per image
    std::map<std::string, tensor_loc> tensors;
    tuning_inputs tuner;                ///< during compilation only
    std::vector<tuning_choice> choices;  ///< every layer with more than one implementation
};

}  // namespace qint8::detail
