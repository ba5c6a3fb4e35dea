#pragma once
/// @file window.hpp  The reference's own window arithmetic (convolutions and pools). It is
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

}  // namespace qint8::ref
