#pragma once
/// @file fc.hpp  Naive fully connected layer: the source flattened per image in C, H, W order
/// (K elements), weights [O, K]. The accumulator range is conv.hpp's with K taps.

#include <cstdint>
#include <vector>

#include "qint8/ref/output_stage.hpp"
#include "qint8/ref/weights.hpp"

namespace qint8::ref {

/// src: [N, ...] integers (INT8, centred on `zp_src`) or real (FP32) as `st` says. Returns [N, O].
inline value fc(const value& src, int32_t zp_src, const weights& w, int64_t out_channels, const output_stage& st) {
    const int64_t N = src.dims[0], O = out_channels;
    const int64_t K = static_cast<int64_t>(src.size()) / N;
    value out = st.make_output({N, O});
    for (int64_t n = 0; n < N; ++n)
        for (int64_t o = 0; o < O; ++o) {
            int64_t acc = 0;
            double accf = 0;
            for (int64_t k = 0; k < K; ++k) {
                const std::size_t si = std::size_t(n * K + k), wi = std::size_t(o * K + k);
                if (st.int8) acc += int64_t(src.i[si] - zp_src) * w.q[wi];
                else accf += double(src.f[si]) * w.real[wi];
            }
            st.store(out, std::size_t(n * O + o), o, acc, accf);
        }
    return out;
}

}  // namespace qint8::ref
