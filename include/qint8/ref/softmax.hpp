#pragma once
/// @file softmax.hpp  Naive softmax over each image's outputs, in real values (double sums, the
/// maximum subtracted first so exp cannot overflow).

#include <algorithm>
#include <cmath>
#include <vector>

#include "qint8/ref/value.hpp"

namespace qint8::ref {

inline value softmax(const value& src) {
    const value a = to_real(src);
    value out = make_value(a.dims, false);
    const std::size_t per_n = a.size() / static_cast<std::size_t>(a.dims[0]);
    for (std::size_t n = 0; n < static_cast<std::size_t>(a.dims[0]); ++n) {
        const float* s = a.f.data() + n * per_n;
        float* d = out.f.data() + n * per_n;
        double mx = *std::max_element(s, s + per_n), sum = 0;
        for (std::size_t k = 0; k < per_n; ++k) sum += std::exp(double(s[k]) - mx);
        for (std::size_t k = 0; k < per_n; ++k) d[k] = float(std::exp(double(s[k]) - mx) / sum);
    }
    return out;
}

}  // namespace qint8::ref
