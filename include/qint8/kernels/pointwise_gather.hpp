#pragma once
/// @file pointwise_gather.hpp  One output row's windows as the 1x1 kernel reads them
/// (pw_window in pointwise_common.hpp): pixel ox at buf + ox * k, its taps in [kh][kw][c] order.
///
/// Inside the image the kw taps of one window row are kw x c consecutive bytes of the input row,
/// so they are one copy; where that is at most 16 bytes (3x3 over RGB: 9) it is one 16-byte load
/// and store whose excess lands on bytes written next (the following window row, the padding
/// bytes, or the next pixel) or on the slack at the end of the buffer (pw_gather_slack). A window
/// row outside the image, and taps left or right of it, are zero-point bytes, which add
/// (zp - zp) x w = 0 to the sums. The bytes from the taps up to k (at most 3) have weights 0: they
/// are zero-point bytes, or in the common case whatever the last row's copy left there.

#include <cstdint>
#include <cstring>

#include "qint8/kernels/pointwise_common.hpp"

namespace qint8::kernels {

/// Bytes a row buffer needs past ow x k.
inline constexpr int64_t pw_gather_slack = 16;

/// Gathers output row r (image r / oh, row r % oh) of the window from `src` (the whole NHWC u8
/// input, `src_bytes` long) into `buf` (at least ow x k + pw_gather_slack bytes).
inline void pw_gather_row(const pw_window& w, int64_t k, uint8_t zp, const uint8_t* src, int64_t src_bytes, int64_t r, uint8_t* buf) {
    // Everything the loops read is copied to locals first: the byte stores may alias any memory
    // as far as the compiler knows, which would otherwise reload these per tap.
    const int64_t C = w.c, W = w.w, OW = w.ow, SW = w.sw, PL = w.pl, run = w.kw * C, taps = w.taps_bytes();
    const int KH = w.kh, KW = w.kw;
    const int64_t oy = r % w.oh;
    const uint8_t* image = src + (r / w.oh) * w.h * W * C;
    const uint8_t* end = src + src_bytes;
    const uint8_t* rows[pw_max_window_rows];  // the input row of each window row, null outside
    bool all_rows = true;
    for (int ky = 0; ky < KH; ++ky) {
        const int64_t iy = oy * w.sh - w.pt + ky;
        rows[ky] = iy >= 0 && iy < w.h ? image + iy * W * C : nullptr;
        all_rows = all_rows && rows[ky];
    }
    // In the common case the last row's 16-byte copy also covers the bytes past the taps (their
    // weights are 0, so image bytes there add nothing), and their zero-point fill is left out:
    // it took a call to memset per pixel.
    const bool copy_covers_tail = run + (k - taps) <= 16;
    for (int64_t ox = 0; ox < OW; ++ox) {
        uint8_t* out = buf + ox * k;
        const int64_t ix0 = ox * SW - PL;
        const bool inside = ix0 >= 0 && ix0 + KW <= W;
        if (inside && all_rows && run <= 16 && rows[KH - 1] + ix0 * C + 16 <= end) {
            for (int ky = 0; ky < KH; ++ky) std::memcpy(out + ky * run, rows[ky] + ix0 * C, 16);  // the common case: one load and store per row
            if (copy_covers_tail) continue;
        } else {
            for (int ky = 0; ky < KH; ++ky) {
                uint8_t* d = out + ky * run;
                if (!rows[ky]) {
                    std::memset(d, zp, static_cast<std::size_t>(run));
                } else if (inside) {
                    std::memcpy(d, rows[ky] + ix0 * C, static_cast<std::size_t>(run));
                } else {
                    for (int kx = 0; kx < KW; ++kx) {
                        const int64_t ix = ix0 + kx;
                        if (ix < 0 || ix >= W) std::memset(d + kx * C, zp, static_cast<std::size_t>(C));
                        else std::memcpy(d + kx * C, rows[ky] + ix * C, static_cast<std::size_t>(C));
                    }
                }
            }
        }
        for (int64_t j = taps; j < k; ++j) out[j] = zp;  // at most 3 bytes
    }
}

}  // namespace qint8::kernels
