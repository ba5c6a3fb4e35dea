#pragma once
/// @file output_stage.hpp  What turns a conv/fc accumulator into the stored value, in oneDNN's
/// order of float operations (the order the bit-exact tests rely on):
///
///   v = (float(acc) + bias_q[o]) * os[o]       os[o] = s_src * s_w[o] / s_dst, bias_q = round(bias / (s_src * s_w[o]))
///                                              (float_bias: bias_q = float(bias / (s_src * s_w[o])), unrounded)
///   post-ops in order, in destination units: relu; clip(lo / s_dst, hi / s_dst);
///                                            sum v = fma(s_r / s_dst, q_r - zp_r, v)
///   a first post-op that sums a branch rounded to (s_b, z_b): os[o] = s_src * s_w[o] / s_b, then
///                                            v = clamp(round_half_even(v), min - z_b, max - z_b) * (s_b / s_dst)
///   q = saturate(round_half_even(v + zp_dst))  (or v itself when the output stays real)
///
/// On the FP32 path: v = acc + bias, post-ops in real units, stored as is.
///
/// With options::tflite_integer (`tflite` set) an 8-bit output is TFLite's integer requantization
/// instead (tflite_ops.hpp): q = clamp(zp_dst + M[o] * (acc + bias_q[o]) in fixed point), and a
/// first post-op that sums a rounded branch is TFLite's ADD of the branch's code and the residual's.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "qint8/ref/tflite_ops.hpp"
#include "qint8/ref/value.hpp"

namespace qint8::ref {

struct output_stage {
    bool int8 = true;                  ///< an integer accumulator (else a double one)
    std::vector<float> bias;           ///< per channel: INT8 in accumulator units (rounded unless float_bias), FP32 real; empty: none
    std::vector<float> os;             ///< INT8: per-channel output scale
    std::vector<post_op> post_ops;
    std::vector<const value*> sums;    ///< the tensors of the sum post-ops, in order, same shape as the output
    bool out_int = false;              ///< stored in 8 bits with `act` (INT8 only)
    quant_params act;
    bool s8_as_u8 = false;             ///< an s8 `act` the runtime stores as u8 with zero point + 128 (options::s8_stored_as_u8)

    /// options::tflite_integer, where the layer's output is 8-bit and its post-ops TFLite's: relu /
    /// clip only, or a first sum of a rounded branch with an 8-bit residual, then relu / clip.
    bool tflite = false;
    std::vector<int32_t> tfl_bias;           ///< per channel, in accumulator units; empty: none
    std::vector<tflite::multiplier> tfl_m;   ///< per channel: s_src * s_w[o] / s_dst (s_dst: the rounded branch's scale before a sum)
    tflite::range tfl_range;                 ///< the clamp of the conv's code (the branch's, before a sum)
    std::optional<tflite::add_params> tfl_add;  ///< the ADD of the branch and sums[0], into `act`

    /// An empty output of `dims` in this stage's representation.
    value make_output(std::vector<int64_t> dims) const { return make_value(std::move(dims), out_int, act); }

    /// Stores element `oi` (channel `o`) of `out` from its accumulator (`acc` INT8, `accf` FP32).
    void store(value& out, std::size_t oi, int64_t o, int64_t acc, double accf) const {
        const std::size_t c = static_cast<std::size_t>(o);
        if (tflite) {
            out.i[oi] = store_tflite(oi, c, acc);
            return;
        }
        float v = int8 ? (float(acc) + (bias.empty() ? 0.f : bias[c])) * os[c] : float(accf + (bias.empty() ? 0.f : bias[c]));
        const float s_dst = out_int ? act.scale : 1.f, k = out_int ? 1.f / s_dst : 1.f;
        std::size_t si = 0;
        for (const auto& p : post_ops) {
            if (p.kind == post_op::relu) v = std::max(v, 0.f);
            else if (p.kind == post_op::clip) v = std::min(std::max(v, p.lo * k), p.hi * k);
            else {
                if (p.rounded && int8) v = rounded(v, *p.rounded, s_dst);  // validate(): the first post-op only
                v = add_residual(v, *sums[si++], oi, s_dst);
            }
        }
        if (out_int && s8_as_u8) out.i[oi] = saturate_round(v + float(act.zero_point + 128), dtype::u8) - 128;
        else if (out_int) out.i[oi] = saturate_round(v + float(act.zero_point), act.type);
        else out.f[oi] = v;
    }

private:
    /// TFLite's code of element `oi` (channel `c`): the requantized conv result, or the ADD of it
    /// (on the branch's grid) and the residual's code.
    int32_t store_tflite(std::size_t oi, std::size_t c, int64_t acc) const {
        const int32_t b = tfl_bias.empty() ? 0 : tfl_bias[c];
        const int32_t zp = tfl_add ? tfl_add->zp_a : act.zero_point;
        const int32_t q = tflite::requantize(acc, b, tfl_m[c], zp, tfl_range);
        return tfl_add ? tflite::add(q, sums[0]->i[oi], *tfl_add) : q;
    }

    /// `v` (in units of the branch's scale) as the branch's Q/DQ leaves it, in destination units.
    static float rounded(float v, const quant_params& b, float s_dst) {
        const float q = std::nearbyint(v);
        const float lo = float(b.type == dtype::u8 ? 0 : -128) - float(b.zero_point), hi = float(b.type == dtype::u8 ? 255 : 127) - float(b.zero_point);
        return std::min(std::max(q, lo), hi) * (b.scale / s_dst);
    }

    /// `v` plus a sum post-op's addend in destination units: an 8-bit residual scaled by
    /// s_r / s_dst in one fused multiply-add (oneDNN's sum post-op is a vfmadd: a product and a
    /// sum rounded apart land on the other side of a tie now and then); a real one quantized to
    /// the destination first (as the runtime stores it before the sum), or added as it is.
    float add_residual(float v, const value& r, std::size_t oi, float s_dst) const {
        if (out_int && r.is_int) return std::fma(r.q.scale / s_dst, float(r.i[oi] - r.q.zero_point), v);
        return v + residual(r, oi, s_dst);
    }

    float residual(const value& r, std::size_t oi, float s_dst) const {
        if (out_int) return float(saturate_round(std::nearbyint(r.f[oi] * (1.f / s_dst)) + float(act.zero_point), act.type) - act.zero_point);
        return r.real(oi);
    }
};

}  // namespace qint8::ref
