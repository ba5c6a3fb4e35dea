#pragma once
/// @file pointwise.hpp  The variants of qint8's AVX2 1x1 kernel and running one. Both compute the
/// same integers from the same packed weights (pw_pack); they differ in loop order only.

#include "qint8/kernels/pointwise_avx2.hpp"
#include "qint8/kernels/pointwise_avx2_tiles.hpp"
#include "qint8/kernels/pointwise_common.hpp"

namespace qint8::kernels {

/// avx2: pixel by pixel, all output blocks of a pixel in turn (small weights, gathered windows);
/// avx2_tiles: block by block over a tile of pixels, two pixels per weight load (large weights;
/// plain 1x1 layers only).
enum class pw_variant { avx2, avx2_tiles };

inline const char* to_string(pw_variant v) noexcept { return v == pw_variant::avx2_tiles ? "avx2_tiles" : "avx2"; }

/// Does the variant run this problem? (pw_supported must hold too.)
inline bool pw_variant_takes(pw_variant v, const pw_problem& pr) noexcept { return v == pw_variant::avx2 || !pr.window.on; }

/// Runs variant v where it takes the problem, else the pixel variant (the same integers).
inline void pointwise_run(pw_variant v, const pw_problem& pr, const pw_packed& pk, const uint8_t* src, uint8_t* dst, int threads) {
    if (v == pw_variant::avx2_tiles && pw_variant_takes(v, pr)) pointwise_avx2_tiles(pr, pk, src, dst, threads);
    else pointwise_avx2(pr, pk, src, dst, threads);
}

}  // namespace qint8::kernels
