#pragma once
// The per-channel step of post-training bias correction, from the statistics of one layer's
// output (after its fused activation, which is what a session can read).
//
// A bias shift d moves the pre-activation by d, but the mean of a ReLU/ReLU6 output only by
// d times the share of outputs in the activation's linear region (between the clip bounds):
// the derivative of E[clip(x + b)] with respect to b. Matching the output means therefore needs
// the mean difference divided by that share (one Newton step), not the difference itself,
// which leaves (1 - share) of the systematic error in place: about half of it in a ReLU6
// network. The share is measured on the INT8 output where the correction is applied.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

#include <qint8/graph.hpp>

namespace qint8::convert::detail_conv {

/// The output interval where a layer's output moves one for one with its bias: (lo, hi) of
/// its last ReLU or clip, or the whole line when it has none or a residual sum follows it.
struct linear_region {
    bool bounded = false;
    float lo = -INFINITY, hi = INFINITY;
};

inline linear_region linear_region_of(const layer& l) {
    linear_region r;
    for (const auto& p : l.post_ops) {
        if (p.kind == post_op::sum) r = linear_region{};  // a later sum adds unclipped values
        else if (p.kind == post_op::relu) r = {true, 0.f, INFINITY};
        else if (p.kind == post_op::clip) r = {true, std::max(r.bounded ? r.lo : -INFINITY, p.lo), std::min(r.bounded ? r.hi : INFINITY, p.hi)};
    }
    return r;
}

/// The same for an INT8 output stored with `q`: its codes also saturate at the ends of the
/// type's range (a calibration threshold below the largest value clips there), where the
/// output does not move with the bias either.
inline linear_region linear_region_of(const layer& l, const quant_params& q) {
    linear_region r = linear_region_of(l);
    const double lo_code = q.type == dtype::u8 ? 0 : -128, hi_code = q.type == dtype::u8 ? 255 : 127;
    r.bounded = true;
    r.lo = std::max(r.lo, static_cast<float>((lo_code - q.zero_point) * q.scale));
    r.hi = std::min(r.hi, static_cast<float>((hi_code - q.zero_point) * q.scale));
    return r;
}

/// Running per-channel sums of one layer's output: the mean, and the share of values strictly
/// inside the linear region (with half a quantization step of margin, `half_step`, since INT8
/// outputs sit on the grid and a clipped value may round to just inside the bound).
struct channel_stats {
    std::vector<double> mean, linear;
    std::size_t images = 0;

    /// Adds `batch` images of `v` ([batch][c][inner], NCHW order).
    void add(const std::vector<float>& v, std::size_t batch, std::size_t c, const linear_region& r, float half_step) {
        const std::size_t inner = v.size() / batch / c;
        mean.resize(c, 0.0);
        linear.resize(c, 0.0);
        for (std::size_t b = 0; b < batch; ++b)
            for (std::size_t ch = 0; ch < c; ++ch) {
                double s = 0, in = 0;
                for (std::size_t i = 0; i < inner; ++i) {
                    const float x = v[(b * c + ch) * inner + i];
                    s += x;
                    in += !r.bounded || (x > r.lo + half_step && x < r.hi - half_step);
                }
                mean[ch] += s / static_cast<double>(inner);
                linear[ch] += in / static_cast<double>(inner);
            }
        images += batch;
    }
    double mean_of(std::size_t ch) const { return mean[ch] / static_cast<double>(images); }
    double linear_share(std::size_t ch) const { return linear[ch] / static_cast<double>(images); }
};

/// The smallest linear share a step divides by. Below it (a channel almost always clipped in
/// INT8), the share measured on the images is too noisy to scale by, and the plain difference
/// is used instead, as without the slope.
constexpr double min_linear_share = 0.05;

/// The bias step that moves the INT8 mean `got` of a channel to the FP32 mean `want`, given the
/// share of INT8 outputs in the linear region.
inline double bias_step(double want, double got, double share) {
    const double d = want - got;
    return share >= min_linear_share ? d / share : d;
}

/// Adds `batch` images of layer `l`'s output `v` to `s`: its linear region and half a step of
/// margin as stored, on its INT8 grid when `on_grid` (an INT8 output with a quantization), else real.
inline void add_output(channel_stats& s, const std::vector<float>& v, std::size_t batch, const layer& l, bool on_grid) {
    s.add(v, batch, static_cast<std::size_t>(l.out_channels), on_grid ? linear_region_of(l, *l.act) : linear_region_of(l), on_grid ? l.act->scale / 2 : 0.f);
}

/// Every channel's bias step (bias_step) from the FP32 statistics `want` to the INT8 ones `got`.
inline std::vector<float> bias_steps(const channel_stats& want, const channel_stats& got) {
    std::vector<float> d(got.mean.size());
    for (std::size_t c = 0; c < d.size(); ++c) d[c] = static_cast<float>(bias_step(want.mean_of(c), got.mean_of(c), got.linear_share(c)));
    return d;
}

}  // namespace qint8::convert::detail_conv
