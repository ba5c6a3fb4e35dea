#pragma once
/// @file pointwise.hpp  The variants of qint8's 1x1 kernel and running one. The two AVX2 variants
/// compute the same integers from the same packed weights (pw_pack); they differ in loop order
/// only. The AVX-512 VNNI variant reads weights packed for it (pw_pack with `dot`: full 8-bit
/// weights, which the AVX2 variants' int16 pairs may not hold) and gives the integers of the
/// reference, as they do.

#include "qint8/kernels/pointwise_avx2.hpp"
#include "qint8/kernels/pointwise_avx2_tiles.hpp"
#include "qint8/kernels/pointwise_avx512vnni.hpp"
#include "qint8/kernels/pointwise_common.hpp"

namespace qint8::kernels {

/// avx2: pixel by pixel, all output blocks of a pixel in turn (small weights, gathered windows);
/// avx2_tiles: block by block over a tile of pixels, two pixels per weight load (large weights;
/// plain 1x1 layers only); avx512vnni: the tile order with vpdpbusd, eight pixels per weight load
/// (weights packed with `dot`; gathered windows row by row).
enum class pw_variant { avx2, avx2_tiles, avx512vnni };

inline const char* to_string(pw_variant v) noexcept {
    switch (v) {
        case pw_variant::avx2_tiles: return "avx2_tiles";
        case pw_variant::avx512vnni: return "avx512vnni";
        default: return "avx2";
    }
}

/// Does the variant run this problem? (pw_supported must hold too.)
inline bool pw_variant_takes(pw_variant v, const pw_problem& pr) noexcept { return v != pw_variant::avx2_tiles || !pr.window.on; }

/// Runs variant v where it takes the problem, else the pixel variant (the same integers). Weights
/// packed with `dot` always run the VNNI variant, the one that reads them.
inline void pointwise_run(pw_variant v, const pw_problem& pr, const pw_packed& pk, const uint8_t* src, uint8_t* dst, int threads) {
    if (pk.dot) pointwise_avx512vnni(pr, pk, src, dst, threads);
    else if (v == pw_variant::avx2_tiles && pw_variant_takes(v, pr)) pointwise_avx2_tiles(pr, pk, src, dst, threads);
    else pointwise_avx2(pr, pk, src, dst, threads);
}

}  // namespace qint8::kernels
