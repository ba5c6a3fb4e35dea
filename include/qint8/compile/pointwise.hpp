#pragma once
/// @file pointwise.hpp  1x1 layers with few input channels run by qint8's own kernel
/// (kernels/pointwise.hpp), packed once here. NHWC in, NHWC out, like the oneDNN
/// convolutions and depthwise kernels around them, so no reorder runs between them.

#include <algorithm>
#include <cstdlib>
#include <memory>

#include "qint8/compile/choice.hpp"
#include "qint8/compile/compiler.hpp"
#include "qint8/compile/int8_plan.hpp"
#include "qint8/detail/pair_sums.hpp"
#include "qint8/detail/quantize_weights.hpp"

namespace qint8::detail {

/// A variant of qint8's kernel as a tuning candidate: "qint8_pw:<variant>".
inline std::string pw_candidate(kernels::pw_variant v) { return std::string("qint8_pw:") + kernels::to_string(v); }

/// The candidates for a layer the kernel can run, the default first, by the bytes k it reads per
/// output pixel (input channels, or a gathered window's) and its output channels n; `plain`: a
/// plain 1x1 layer (no gathered windows), which the tile variant can run too. On the avx2 path
/// (Zen 3, docs/performance.md, "1x1 layers with few input channels"):
/// - The pixel variant (pointwise_avx2.hpp) was faster than oneDNN's inside MobileNet-V2 on its
///   expansions from 16, 24, 32 and 64 channels (1.1-1.45x), over gathered windows on the first
///   layers of MobileNet-V2 (3x3 over RGB, k = 28, 1.2x) and VGG16 (1.5x), and with more input
///   channels while its weights stay small (at most 64 outputs, at most 24 KiB, within the
///   first-level cache beside the pixel: 3-4% faster on MobileNet-V2's 144 -> 32, 192 -> 32 and
///   64, 384 -> 64, level on ResNet50's 256 -> 64). It reads its whole weights per pixel, so it
///   fell behind with larger ones (384 -> 96: 11%, 960 -> 160: 12-16%, 1024 -> 1024: 2x).
/// - The tile variant (pointwise_avx2_tiles.hpp) keeps each block's weights in the first-level
///   cache instead: inside MobileNet-V1 and V2, four tuning runs, it took 0.91-1.05x oneDNN's time
///   (median 0.99) on the shapes with at least 32 outputs and more than 64 input channels up to
///   256 KiB of weights (144 -> 32 to 512 -> 512), 1.02-1.07x beyond (512 -> 1024, 960 -> 320,
///   1024 -> 1024). As the default for the former, MobileNet-V1 ran 7-8% slower than with
///   oneDNN's there (the two compiled side by side in one process, alternating runs, a busy
///   host), though it loaded faster (no code generation for those layers), so it is a candidate
///   only: the tuning picks it where it wins on the user's CPU.
/// - Fewer than 32 outputs (a block of 32 part empty): 1.3-2.5x oneDNN's time; oneDNN's.
/// The tuning cache measures all of them per layer on the user's CPU.
inline std::vector<std::string> pw_candidates(int64_t k, int64_t n, bool plain) {
    const int64_t bytes = kernels::pw_packed_bytes(k, n);
    const std::string pixels = pw_candidate(kernels::pw_variant::avx2), tiles = pw_candidate(kernels::pw_variant::avx2_tiles);
    std::vector<std::string> v;
    if (n >= 32 && (k <= 64 || (n <= 64 && bytes <= 24 * 1024))) v = {pixels, "onednn"};
    else v = {"onednn", pixels};
    if (plain) v.push_back(tiles);
    return v;
}

/// The candidates on the AVX-512 VNNI and AMX paths for a plain 1x1 layer, the default first. The
/// VNNI variant (pointwise_avx512vnni.hpp) against oneDNN's `brgconv_1x1` on a Zen 5 core
/// (`avx512_core_bf16`; bench_pointwise, medians of 9-15 rounds, and inside MobileNet-V1/V2 with
/// `bench_models --profile`; docs/performance.md): faster on the layers with at most 160 KiB of
/// weights (MobileNet-V2's expansions 1.06-1.28x, its projections from 384-960 channels
/// 1.01-1.06x, MobileNet-V1's first five 1.03-1.23x, ResNet50's 64 -> 256 1.16x and 256 -> 64
/// 1.07x, its 512 -> 128 1.00x), mixed beyond (0.89-0.90x on ResNet50's 1024 -> 256, 0.95-1.00x
/// on its 256 -> 1024 and 512 -> 2048, 0.99-1.03x on MobileNet-V1's 512 and 1024 channels).
/// With fewer than 32 outputs a block of 32 channels is part empty: MobileNet-V2's 96 -> 24 and
/// 144 -> 24 (three quarters full) took 0.82x and 0.87x oneDNN's time inside the model (profile
/// medians of five runs), once a residual was no longer read behind the previous pixel's store
/// (stage_residuals); at most 16 outputs run narrow (pw_packed::narrow; its 32 -> 16 at 112x112
/// took 1.07x, where a half-empty block took 1.9x), which keeps the run of qint8 kernels that two
/// threads share unbroken. Below three quarters, 17-23 outputs, oneDNN's stays the default (not
/// measured).
/// It creates no code at load time, where oneDNN generates each primitive (MobileNet-V2 compiles
/// in 6.4 ms with those three layers on it, 8.0 ms without, on a Zen 5 core). So over at most 64
/// pixels `m` (7 x 7 layers at batch 1, a classifier run as a 1x1 layer), where the two were within
/// 5% of each other at any weight size (inside the models, profile medians of five to seven runs:
/// MobileNet-V2's 960 -> 320 and 320 -> 1280, MobileNet-V1's 512 -> 1024, 1024 -> 1024 and
/// classifier level or faster; ResNet50's three 512 -> 2048 0-5% slower), the VNNI variant is the
/// default too: MobileNet-V2 then compiled in 4.5 ms instead of 6.2, MobileNet-V1 in 6.0 instead
/// of 8.7, ResNet50 in 33 instead of 41. The AMX path takes the same default until it is measured
/// there; the tuning cache decides per layer on the user's CPU.
inline std::vector<std::string> pw_vnni_candidates(int64_t k, int64_t n, int64_t m) {
    const std::string vnni = pw_candidate(kernels::pw_variant::avx512vnni);
    if ((n <= kernels::pw_narrow_n || n >= 24) && (kernels::pw_packed_bytes(k, n) <= 160 * 1024 || m <= 64)) return {vnni, "onednn"};
    return {"onednn", vnni};
}

/// The candidates on the VNNI and AMX paths for a layer over gathered windows (a model's first
/// layer, pw_window_max_c channels at most): oneDNN's first. The VNNI variant gathers each output
/// row's windows, then runs them as a 1x1 layer; on a Zen 5 core (bench_pointwise, medians of nine
/// rounds) it took 1.38x oneDNN's time on MobileNet's first layer (3x3, stride 2, RGB), 1.09x on
/// VGG's and 1.35x on ResNet's 7x7 stem, so it is only measured by the tuning. (MobileNet-V2 would
/// compile 0.9 ms faster with it, 20% of its compilation, and run 0.024 ms slower, 1.6%.)
inline std::vector<std::string> pw_vnni_window_candidates() { return {"onednn", pw_candidate(kernels::pw_variant::avx512vnni)}; }

/// Paths whose CPUs run the VNNI variant (AVX-512 F, BW, VL and VNNI).
inline bool pw_vnni_path(isa p) { return p == isa::avx512_core_vnni || p == isa::avx512_core_bf16 || p == isa::avx512_core_amx; }

/// The most input channels a convolution run over gathered windows may have: a model's first
/// layers (RGB, grayscale), whose window rows are short runs of bytes.
inline constexpr int64_t pw_window_max_c = 8;

/// Is `l` a plain 1x1 layer (stride 1, no padding), which the kernel reads as it lies?
inline bool pw_plain(const layer& l) {
    return l.kernel == std::array<int64_t, 2>{1, 1} && l.stride == std::array<int64_t, 2>{1, 1} && l.pad == std::array<int64_t, 4>{0, 0, 0, 0};
}

/// Does qint8's 1x1 kernel take this layer? It can on the avx2 path (its variants multiply with
/// vpmaddubsw, weights with 7-bit pairs) and on the AVX-512 VNNI and AMX paths (the vpdpbusd
/// variant, full 8-bit weights, u8 or s8 sources) when the layer is a convolution without groups,
/// integer in and out, reading NHWC codes, with at most one residual sum, its first post-op, and
/// either a plain 1x1 layer with a channel count that is a multiple of 4 (at most pw_max_k), or a
/// convolution with at most pw_window_max_c input channels (run over its gathered windows). Whether it does is the tuning's choice (choice.hpp), or
/// QINT8_POINTWISE=onednn|qint8|qint8_tiles forces it (on the VNNI paths both qint8 values mean
/// the VNNI variant); which variant runs it is left in pw_variant_.
inline bool compiler::own_pointwise(const layer& l) {
    pw_variant_ = kernels::pw_variant::avx2;
    const bool vnni = pw_vnni_path(c_.path);
    if (!(vnni || (c_.path == isa::avx2 && qmax_u8_ < 127))) return false;
    if (l.kind != op::conv2d || eff_prec(l) != precision::int8 || l.groups != 1) return false;
    const where& w = at_.at(l.inputs[0]);
    const backend::dims& in_d = dims_.at(l.inputs[0]);
    const bool src_ok = w.type == dtype::u8 || (vnni && w.type == dtype::s8);
    if (!src_ok || !w.q || w.q->type != w.type || out_type(l) == dtype::f32 || in_d.size() != 4) return false;
    const bool plain = pw_plain(l);
    const int64_t k = plain ? in_d[1] : kernels::pw_k_of(in_d[1] * l.kernel[0] * l.kernel[1]);
    if (plain ? in_d[1] % 4 != 0 : (in_d[1] > pw_window_max_c || l.kernel[0] > kernels::pw_max_window_rows)) return false;
    if (k > kernels::pw_max_k) return false;
    if (!(c_.slots[static_cast<std::size_t>(w.slot)].md == dnnl::memory::desc(in_d, backend::to_dnnl(w.type), backend::tag::nhwc))) return false;
    // A residual sum only as the first post-op (the kernel's clamps come after it), of a residual
    // read as the destination's own type, not rounded to a branch's grid first.
    for (std::size_t i = 0; i < l.post_ops.size(); ++i)
        if (l.post_ops[i].kind == post_op::sum && (i != 0 || l.post_ops[i].rounded)) return false;
    const std::vector<residual_sum> sums = plan_residuals(l, out_type(l));  // at most one, by the loop above
    if (!sums.empty() && sums[0].read_as != out_type(l)) return false;
    if (const char* e = std::getenv("QINT8_POINTWISE"); e && *e) {
        const std::string v(e);
        if (v != "onednn" && v != "qint8" && v != "qint8_tiles")
            fail(errc::invalid_argument, "environment variable QINT8_POINTWISE: expected onednn, qint8 or qint8_tiles, found \"" + v + "\"");
        if (vnni) pw_variant_ = kernels::pw_variant::avx512vnni;
        else if (v == "qint8_tiles" && plain) pw_variant_ = kernels::pw_variant::avx2_tiles;
        return v != "onednn";
    }
    const std::string sig = layer_signature(l, precision::int8, w.type, out_type(l), in_d, dims_.at(l.name), c_.threads);
    const std::string chosen = choose(l, "pointwise", sig, !vnni ? pw_candidates(k, l.out_channels, plain)
                                                           : plain ? pw_vnni_candidates(k, l.out_channels, in_d[0] * in_d[2] * in_d[3])
                                                                   : pw_vnni_window_candidates());
    if (chosen == pw_candidate(kernels::pw_variant::avx2_tiles)) pw_variant_ = kernels::pw_variant::avx2_tiles;
    if (chosen == pw_candidate(kernels::pw_variant::avx512vnni)) pw_variant_ = kernels::pw_variant::avx512vnni;
    return chosen != "onednn";
}

/// The kernel's problem description: shapes, zero points, the fused clamp and, unless the layer
/// is a plain 1x1 one, its windows.
inline kernels::pw_problem pw_problem_of(const layer& l, const backend::dims& in_d, const backend::dims& od, const quant_params& qin, dtype dst_t) {
    kernels::pw_problem pr;
    pr.m = od[0] * od[2] * od[3];
    pr.k = in_d[1];
    pr.n = l.out_channels;
    if (!pw_plain(l)) {
        kernels::pw_window& w = pr.window;
        w.on = true;
        w.batch = in_d[0]; w.c = in_d[1]; w.h = in_d[2]; w.w = in_d[3]; w.oh = od[2]; w.ow = od[3];
        w.kh = static_cast<int>(l.kernel[0]); w.kw = static_cast<int>(l.kernel[1]);
        w.sh = static_cast<int>(l.stride[0]); w.sw = static_cast<int>(l.stride[1]);
        w.pt = static_cast<int>(l.pad[0]); w.pl = static_cast<int>(l.pad[1]);
        pr.k = kernels::pw_window_k(w);
    }
    set_output_stage(pr, l, qin, dst_t);
    return pr;
}

/// Compiles the layer for the kernel, or returns false (nothing added) when its weights may
/// saturate the AVX2 variants' int16 pair sums; they are quantized as for oneDNN's kernel on the
/// path: on avx2 with 7-bit pairs (quantize_weights_paired), which pairs the same input channels,
/// so that does not happen; on the VNNI paths the full 8-bit codes, which vpdpbusd sums exactly.
inline bool compiler::pointwise(const layer& l) {
    kernel_inputs k;
    kernel_inputs_of(l, k);
    const bool dot = pw_variant_ == kernels::pw_variant::avx512vnni;
    // The codes oneDNN's convolution would get (int8_params): paired where the path narrows u8
    // weights (avx2; pair_safe_weights on any path), which the VNNI variant runs as well.
    const bool paired = !dot || (k.qin.type == dtype::u8 && qmax_u8_ < 127);
    const pair_geometry g = pair_geometry_of(l, k.in_d, k.qin);
    int8_weights q = paired ? quantize_weights_paired(*k.t.w, k.t.ws, g, &spare_codes_) : layer_codes(*k.t.w, k.t.ws, full_range_qmax, &spare_codes_);
    check_weight_values(l, *k.t.w, q);
    int8_plan p = plan_int8(std::move(q), k.t.b, k.qin.scale, l.act->scale, l.float_bias);
    const std::vector<float> bias = p.bias_as_float();

    auto job = std::make_shared<pw_job>();
    job->pr = pw_problem_of(l, k.in_d, k.od, k.qin, k.dst_t);
    job->pr.src_signed = k.src.type == dtype::s8;
    for (const residual_sum& r : plan_residuals(l, k.dst_t)) {  // one at most (own_pointwise)
        job->pr.sum = true;
        job->pr.sum_scale = r.scale;
        job->pr.sum_zp = r.zero_point;
    }
    const kernels::pw_problem& pr = job->pr;
    // An s8 source is read as u8 (x ^ 0x80): the zero point moves by 128 with it.
    const int32_t zp = pr.src_signed ? pr.src_zp + 128 : pr.src_zp;
    if (pr.window.on) {
        // Taps outside the image read zero-point bytes: codes the pair sums must cover too.
        const std::vector<int8_t> gathered = kernels::pw_window_weights(p.weights.data(), pr.n, pr.window);
        job->pk = kernels::pw_pack(gathered.data(), bias.data(), p.out_scales.data(), pr.n, pr.k, zp, std::max(g.max_code, pr.src_zp), dot,
                                   &c_.const_bytes);
    } else {
        job->pk = kernels::pw_pack(p.weights.data(), bias.data(), p.out_scales.data(), pr.n, pr.k, zp, g.max_code, dot, &c_.const_bytes);
    }
    keep_spare(p.weights);
    if (!kernels::pw_supported(job->pr, job->pk)) return false;

    job->variant = kernels::pw_variant_takes(pw_variant_, job->pr) ? pw_variant_ : kernels::pw_variant::avx2;  // dot: always taken (plain)

    step s;
    s.kind = step::pointwise;
    const std::string what = std::string("conv2d int8 ") + to_string(k.src.type) + "->" + to_string(k.dst_t) + " " + pw_candidate(job->variant);
    s.pw = std::move(job);
    add_kernel_step(std::move(s), l, k.src.type, k.qin, k.dst_t, what);
    return true;
}

}  // namespace qint8::detail
