#pragma once
/// @file huge_arena.hpp  Buffers carved out of 2 MiB chunks that Linux may back with huge pages.
///
/// Why: the first touch of every 4 KiB page costs a page fault. Under a hypervisor a fault can
/// cost tens of microseconds: a MobileNet-V2 read from its manifest took 25-40 ms for its first
/// run against 3-5 ms for the next ones (AMD Zen 5 guest, 2026-12-05), nearly all of it faulting
/// in the activation buffers. A 2 MiB aligned chunk marked MADV_HUGEPAGE faults once per 2 MiB
/// where the kernel's transparent huge pages are "madvise" or "always" (with "never" it is a plain
/// allocation), and fewer TLB misses follow in steady state too.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "qint8/core/error.hpp"

namespace qint8::detail {

inline constexpr std::size_t huge_page_bytes = std::size_t{2} << 20;

/// `bytes` rounded up to a multiple of `to` (a power of two).
inline std::size_t round_up(std::size_t bytes, std::size_t to) { return (bytes + to - 1) & ~(to - 1); }

/// A whole number of 2 MiB pages, 2 MiB aligned, advised as huge-page memory; null when the
/// memory is not there. std::free releases it.
inline void* huge_alloc(std::size_t bytes) {
    const std::size_t n = round_up(bytes == 0 ? 1 : bytes, huge_page_bytes);
    void* p = std::aligned_alloc(huge_page_bytes, n);
    if (!p) return nullptr;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    (void)::madvise(p, n, MADV_HUGEPAGE);  // advice only: where it is refused, 4 KiB pages serve
#endif
    return p;
}

/// From 1 MiB on, memory is worth huge pages: below, half a huge page or more would be wasted.
inline constexpr std::size_t huge_from_bytes = huge_page_bytes / 2;

/// huge_alloc() from huge_from_bytes on, else malloc (64-byte aligned); null when the memory is
/// not there. std::free releases it.
inline void* large_or_small_alloc(std::size_t bytes) {
    if (bytes >= huge_from_bytes) return huge_alloc(bytes);
    return std::aligned_alloc(64, round_up(bytes == 0 ? 1 : bytes, 64));
}

/// huge_alloc() owned by a shared pointer; null when the memory is not there.
inline std::shared_ptr<std::byte> huge_chunk(std::size_t bytes) {
    void* p = huge_alloc(bytes);
    if (!p) return nullptr;
    return std::shared_ptr<std::byte>(static_cast<std::byte*>(p), [](std::byte* q) { std::free(q); });
}

/// A std::allocator for large arrays that are filled once: large_or_small_alloc(). A failed
/// allocation fails with errc::unsupported.
template <class T>
struct huge_allocator {
    using value_type = T;
    huge_allocator() noexcept = default;
    template <class U>
    huge_allocator(const huge_allocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        const std::size_t bytes = n * sizeof(T);
        void* p = large_or_small_alloc(bytes);
        if (!p) fail(errc::unsupported, "cannot allocate " + std::to_string(bytes) + " bytes of memory");
        return static_cast<T*>(p);
    }
    void deallocate(T* p, std::size_t) noexcept { std::free(p); }

    friend bool operator==(const huge_allocator&, const huge_allocator&) noexcept { return true; }
    friend bool operator!=(const huge_allocator&, const huge_allocator&) noexcept { return false; }
};

/// Weight codes on their way from the file to the packed constants (quantize_weights.hpp).
using code_vector = std::vector<int8_t, huge_allocator<int8_t>>;

/// A bump allocator over huge chunks: 64-byte aligned pieces (oneDNN's preferred alignment) that
/// live as long as the arena. A request larger than what the current chunk has left opens a new
/// chunk of at least 2 MiB; nothing is freed before the arena is. A failed allocation fails with
/// errc::unsupported. A copy shares the chunks (they live while either copy does) but not the
/// room left in the last one: its next piece opens a chunk of its own, so pieces that two copies
/// take never overlap.
class huge_arena {
public:
    static constexpr std::size_t alignment = 64;

    huge_arena() = default;
    huge_arena(const huge_arena& o) : chunks_(o.chunks_) {}
    huge_arena& operator=(const huge_arena& o) {
        if (this != &o) {
            chunks_ = o.chunks_;
            next_ = nullptr;
            left_ = 0;
        }
        return *this;
    }
    huge_arena(huge_arena&& o) noexcept { swap(o); }
    huge_arena& operator=(huge_arena&& o) noexcept {
        huge_arena(std::move(o)).swap(*this);
        return *this;
    }

    void* take(std::size_t bytes) {
        bytes = round_up(bytes == 0 ? 1 : bytes, alignment);
        if (chunks_.empty() || left_ < bytes) {
            const std::size_t n = round_up(bytes, huge_page_bytes);
            chunks_.push_back(huge_chunk(n));
            if (!chunks_.back()) fail(errc::unsupported, "cannot allocate " + std::to_string(n) + " bytes of memory");
            next_ = chunks_.back().get();
            left_ = n;
        }
        void* p = next_;
        next_ += bytes;
        left_ -= bytes;
        return p;
    }

    std::size_t chunks() const { return chunks_.size(); }

private:
    void swap(huge_arena& o) noexcept {
        chunks_.swap(o.chunks_);
        std::swap(next_, o.next_);
        std::swap(left_, o.left_);
    }

    std::vector<std::shared_ptr<std::byte>> chunks_;
    std::byte* next_ = nullptr;
    std::size_t left_ = 0;
};

}  // namespace qint8::detail
