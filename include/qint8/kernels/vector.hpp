#pragma once
/// @file vector.hpp  Small vector kernels around the oneDNN graph: input quantization, output
/// dequantization, softmax and top-k. xsimd versions for the architecture the including code is
/// compiled for, with a scalar fallback (QINT8_HAVE_XSIMD unset) that the tests compare against.
///
/// Rounding: quantization multiplies by the reciprocal scale and rounds to nearest, ties to even
/// (the CPU's default mode), exactly as oneDNN's reorders do, so input quantization and in-graph
/// requantization agree bit for bit.

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "qint8/core/types.hpp"
#include "qint8/kernels/parallel.hpp"

#if defined(QINT8_HAVE_XSIMD) && QINT8_HAVE_XSIMD
#include <xsimd/xsimd.hpp>
#endif

namespace qint8::kernels {

namespace scalar {

template <class T>
inline void quantize(const float* src, T* dst, std::size_t n, float inv_scale, int32_t zero_point) {
    const float lo = static_cast<float>(std::is_same<T, uint8_t>::value ? 0 : -128);
    const float hi = static_cast<float>(std::is_same<T, uint8_t>::value ? 255 : 127);
    for (std::size_t i = 0; i < n; ++i) {
        float v = std::nearbyint(src[i] * inv_scale) + static_cast<float>(zero_point);
        dst[i] = static_cast<T>(std::min(hi, std::max(lo, v)));
    }
}

template <class T>
inline void dequantize(const T* src, float* dst, std::size_t n, float scale, int32_t zero_point) {
    for (std::size_t i = 0; i < n; ++i) dst[i] = scale * static_cast<float>(static_cast<int32_t>(src[i]) - zero_point);
}

inline void softmax(const float* src, float* dst, std::size_t n) {
    if (n == 0) return;
    float mx = src[0];
    for (std::size_t i = 1; i < n; ++i) mx = std::max(mx, src[i]);
    float sum = 0.f;
    for (std::size_t i = 0; i < n; ++i) sum += (dst[i] = std::exp(src[i] - mx));
    const float inv = 1.f / sum;
    for (std::size_t i = 0; i < n; ++i) dst[i] *= inv;
}

}  // namespace scalar

#if defined(QINT8_HAVE_XSIMD) && QINT8_HAVE_XSIMD
namespace simd {

using batch = xsimd::batch<float>;

/// Calls f(i) at i = 0, w, 2w, ... for every whole batch of w = batch::size elements in n;
/// returns where the scalar tail starts.
template <class F>
inline std::size_t each_batch(std::size_t n, F&& f) {
    std::size_t i = 0;
    for (; i + batch::size <= n; i += batch::size) f(i);
    return i;
}

}  // namespace simd
#endif

/// dst[i] = saturate(round(src[i] * inv_scale) + zero_point), for T = uint8_t or int8_t.
template <class T>
inline void quantize(const float* src, T* dst, std::size_t n, float inv_scale, int32_t zero_point) {
    std::size_t done = 0;
#if defined(QINT8_HAVE_XSIMD) && QINT8_HAVE_XSIMD
    using b = simd::batch;
    const b vinv(inv_scale), vzp(static_cast<float>(zero_point));
    const b lo(static_cast<float>(std::is_same<T, uint8_t>::value ? 0 : -128));
    const b hi(static_cast<float>(std::is_same<T, uint8_t>::value ? 255 : 127));
    done = simd::each_batch(n, [&](std::size_t i) {
        b v = xsimd::nearbyint(b::load_unaligned(src + i) * vinv) + vzp;
        v = xsimd::min(hi, xsimd::max(lo, v));
        alignas(64) int32_t tmp[b::size];
        xsimd::nearbyint_as_int(v).store_aligned(tmp);  // already integral: exact
        for (std::size_t k = 0; k < b::size; ++k) dst[i + k] = static_cast<T>(tmp[k]);
    });
#endif
    scalar::quantize(src + done, dst + done, n - done, inv_scale, zero_point);
}

/// quantize() of `images` NCHW images (`channels` planes of `pixels` floats each) into NHWC codes,
/// dst[(i * pixels + p) * channels + c]: the same codes, transposed on the way. Each plane is
/// quantized a chunk of pixels at a time, the chunk's codes then spread to their pixels; the
/// chunks are split over `threads` OpenMP threads.
template <class T>
inline void quantize_to_nhwc(const float* src, T* dst, std::size_t images, std::size_t channels, std::size_t pixels, float inv_scale,
                             int32_t zero_point, int threads = 1) {
    constexpr std::size_t chunk = 256;
    const std::size_t chunks = (pixels + chunk - 1) / chunk;
    const auto jobs = static_cast<int64_t>(images * chunks);
    parallel_for(threads, jobs, [&](int64_t j) {
        const std::size_t i = static_cast<std::size_t>(j) / chunks, p0 = static_cast<std::size_t>(j) % chunks * chunk;
        const std::size_t n = std::min(chunk, pixels - p0);
        T codes[chunk];
        for (std::size_t c = 0; c < channels; ++c) {
            quantize(src + (i * channels + c) * pixels + p0, codes, n, inv_scale, zero_point);
            T* d = dst + (i * pixels + p0) * channels + c;
            for (std::size_t k = 0; k < n; ++k) d[k * channels] = codes[k];
        }
    });
}

/// dst[i] = scale * (src[i] - zero_point).
template <class T>
inline void dequantize(const T* src, float* dst, std::size_t n, float scale, int32_t zero_point) {
    std::size_t done = 0;
#if defined(QINT8_HAVE_XSIMD) && QINT8_HAVE_XSIMD
    using b = simd::batch;
    const b vs(scale), vzp(static_cast<float>(zero_point));
    done = simd::each_batch(n, [&](std::size_t i) {
        alignas(64) float tmp[b::size];
        for (std::size_t k = 0; k < b::size; ++k) tmp[k] = static_cast<float>(src[i + k]);
        (vs * (b::load_aligned(tmp) - vzp)).store_unaligned(dst + i);
    });
#endif
    scalar::dequantize(src + done, dst + done, n - done, scale, zero_point);
}

/// Numerically stable softmax of one row (src and dst may be the same array).
inline void softmax(const float* src, float* dst, std::size_t n) {
#if defined(QINT8_HAVE_XSIMD) && QINT8_HAVE_XSIMD
    using b = xsimd::batch<float>;
    constexpr std::size_t w = b::size;
    if (n < w) return scalar::softmax(src, dst, n);
    std::size_t i = 0;
    b vmx = b::load_unaligned(src);
    for (i = w; i + w <= n; i += w) vmx = xsimd::max(vmx, b::load_unaligned(src + i));
    alignas(64) float lanes[w];
    vmx.store_aligned(lanes);
    float mx = *std::max_element(lanes, lanes + w);
    for (; i < n; ++i) mx = std::max(mx, src[i]);
    const b bmx(mx);
    b vsum(0.f);
    for (i = 0; i + w <= n; i += w) {
        b e = xsimd::exp(b::load_unaligned(src + i) - bmx);
        e.store_unaligned(dst + i);
        vsum += e;
    }
    float sum = xsimd::hadd(vsum);
    for (; i < n; ++i) sum += (dst[i] = std::exp(src[i] - mx));
    const b inv(1.f / sum);
    for (i = 0; i + w <= n; i += w) (b::load_unaligned(dst + i) * inv).store_unaligned(dst + i);
    for (; i < n; ++i) dst[i] *= 1.f / sum;
#else
    scalar::softmax(src, dst, n);
#endif
}

/// x quantized with `q` and dequantized again, as a Q/DQ pair leaves a tensor: the input's
/// quantize and the output's dequantize above, through a buffer of codes.
inline void round_to_grid(float* x, std::size_t n, const quant_params& q) {
    std::vector<uint8_t> codes(n);
    if (q.type == dtype::u8) {
        quantize(x, codes.data(), n, 1.f / q.scale, q.zero_point);
        dequantize(codes.data(), x, n, q.scale, q.zero_point);
    } else {
        auto* s8 = reinterpret_cast<int8_t*>(codes.data());
        quantize(x, s8, n, 1.f / q.scale, q.zero_point);
        dequantize(s8, x, n, q.scale, q.zero_point);
    }
}

/// The k largest values of src[0..n) as (index, value), largest first; ties keep the lower index.
inline std::vector<std::pair<int, float>> top_k(const float* src, std::size_t n, std::size_t k) {
    k = std::min(k, n);
    std::vector<int> idx(n);
    for (std::size_t i = 0; i < n; ++i) idx[i] = static_cast<int>(i);
    auto better = [src](int a, int b) { return src[a] > src[b] || (src[a] == src[b] && a < b); };
    std::partial_sort(idx.begin(), idx.begin() + static_cast<std::ptrdiff_t>(k), idx.end(), better);
    std::vector<std::pair<int, float>> r;
    r.reserve(k);
    for (std::size_t i = 0; i < k; ++i) r.emplace_back(idx[i], src[idx[i]]);
    return r;
}

}  // namespace qint8::kernels
