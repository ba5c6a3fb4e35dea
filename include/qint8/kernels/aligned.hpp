#pragma once
/// @file aligned.hpp  Storage for packed weights and per-channel constants on 64-byte boundaries.
///
/// The kernels load packed weights a zmm (64 bytes) or ymm at a time; std::vector's 16-byte
/// alignment makes many of those loads span two cache lines, which doubles their cost. On Zen 5
/// the four-tap depthwise kernel, which loads twelve weight zmm per output pixel, ran 1.2-1.45x
/// faster on MobileNet shapes with its weights aligned (docs/performance.md).

#include <cstddef>
#include <new>
#include <vector>

namespace qint8::kernels {

/// An allocator whose blocks start on a 64-byte boundary.
template <class T>
struct aligned64_allocator {
    using value_type = T;
    static constexpr std::size_t alignment = 64;

    aligned64_allocator() noexcept = default;
    template <class U>
    aligned64_allocator(const aligned64_allocator<U>&) noexcept {}

    T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(alignment))); }
    void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t(alignment)); }

    friend bool operator==(const aligned64_allocator&, const aligned64_allocator&) noexcept { return true; }
    friend bool operator!=(const aligned64_allocator&, const aligned64_allocator&) noexcept { return false; }
};

/// A vector whose data() is 64-byte aligned.
template <class T>
using aligned_vector = std::vector<T, aligned64_allocator<T>>;

}  // namespace qint8::kernels
