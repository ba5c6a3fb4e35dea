#pragma once
/// @file aligned.hpp  Storage for packed weights and per-channel constants on 64-byte boundaries.
///
/// The kernels load packed weights a zmm (64 bytes) or ymm at a time; std::vector's 16-byte
/// alignment makes many of those loads span two cache lines, which doubles their cost. On Zen 5
/// the four-tap depthwise kernel, which loads twelve weight zmm per output pixel, ran 1.2-1.45x
/// faster on MobileNet shapes with its weights aligned (docs/performance.md).

#include <cstddef>
#include <new>
#include <type_traits>
#include <vector>

#include "qint8/detail/huge_arena.hpp"

namespace qint8::kernels {

/// An allocator whose blocks start on a 64-byte boundary: from operator new, or as pieces of a
/// model's constants arena (`arena`; freed with the arena, so deallocate leaves them). Packed
/// weights go to the arena: a model's 1x1 layers pack a few MB in blocks of ~100 KB, and each
/// block of fresh memory from operator new faulted in page by page (4 KiB), where the arena's
/// huge chunks fault once per 2 MiB (slow under a hypervisor: detail/huge_arena.hpp).
template <class T>
struct aligned64_allocator {
    using value_type = T;
    static constexpr std::size_t alignment = 64;
    // A vector that takes another's contents takes its allocator too: the pieces stay the arena's.
    using propagate_on_container_copy_assignment = std::true_type;
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;

    detail::huge_arena* arena = nullptr;

    aligned64_allocator() noexcept = default;
    explicit aligned64_allocator(detail::huge_arena* a) noexcept : arena(a) {}
    template <class U>
    aligned64_allocator(const aligned64_allocator<U>& o) noexcept : arena(o.arena) {}

    T* allocate(std::size_t n) {
        if (arena) return static_cast<T*>(arena->take(n * sizeof(T)));  // 64-byte aligned pieces
        return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(alignment)));
    }
    void deallocate(T* p, std::size_t) noexcept {
        if (!arena) ::operator delete(p, std::align_val_t(alignment));
    }

    friend bool operator==(const aligned64_allocator& a, const aligned64_allocator& b) noexcept { return a.arena == b.arena; }
    friend bool operator!=(const aligned64_allocator& a, const aligned64_allocator& b) noexcept { return a.arena != b.arena; }
};

/// A vector whose data() is 64-byte aligned.
template <class T>
using aligned_vector = std::vector<T, aligned64_allocator<T>>;

/// `n` copies of `v` in a vector on `arena` (null: operator new).
template <class T>
aligned_vector<T> aligned_filled(std::size_t n, T v, detail::huge_arena* arena) {
    return aligned_vector<T>(n, v, aligned64_allocator<T>(arena));
}

}  // namespace qint8::kernels
