#pragma once
/// @file window.hpp  The reference's own window arithmetic and iteration (convolutions and pools). It is
/// deliberately not the library's (core/window.hpp, used by validate() and the builder): the
/// reference derives every output shape itself and the driver compares it with validate()'s, so
/// a shape bug in either shows in the tests.

#include <array>
#include <cstdint>

namespace qint8::ref {

/// A sliding window over H and W: kernel, stride, and padding [top, left, bottom, right].
struct window {
    int64_t kh = 1, kw = 1, sh = 1, sw = 1;
    std::array<int64_t, 4> pad{0, 0, 0, 0};
};

/// Positions of a kernel of `k` taps at stride `s` inside `in + pad_begin + pad_end` pixels.
inline int64_t window_positions(int64_t in, int64_t k, int64_t s, int64_t pad_begin, int64_t pad_end) {
    int64_t n = 0;
    for (int64_t start = -pad_begin; start + k <= in + pad_end; start += s) ++n;
    return n;
}

inline int64_t out_height(int64_t h, const window& w) { return window_positions(h, w.kh, w.sh, w.pad[0], w.pad[2]); }
inline int64_t out_width(int64_t wd, const window& w) { return window_positions(wd, w.kw, w.sw, w.pad[1], w.pad[3]); }

/// Calls f(i0, i1, i2, i3) for every index of a 4-D array of extents `dims`, the last fastest
/// (every output element of an NCHW or NHWC result, in memory order).
template <class F>
inline void for_each_index(const std::array<int64_t, 4>& dims, F&& f) {
    for (int64_t i0 = 0; i0 < dims[0]; ++i0)
        for (int64_t i1 = 0; i1 < dims[1]; ++i1)
            for (int64_t i2 = 0; i2 < dims[2]; ++i2)
                for (int64_t i3 = 0; i3 < dims[3]; ++i3) f(i0, i1, i2, i3);
}

/// Calls f(ky, kx, iy, ix) for every tap of `g` placed at output (oy, ox) that lands inside an
/// h x w input, row by row: taps in the padding are skipped (they contribute nothing).
template <class F>
inline void for_each_tap(const window& g, int64_t h, int64_t w, int64_t oy, int64_t ox, F&& f) {
    for (int64_t ky = 0; ky < g.kh; ++ky)
        for (int64_t kx = 0; kx < g.kw; ++kx) {
            const int64_t iy = oy * g.sh - g.pad[0] + ky, ix = ox * g.sw - g.pad[1] + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            f(ky, kx, iy, ix);
        }
}

}  // namespace qint8::ref
