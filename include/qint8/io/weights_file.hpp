#pragma once
/// @file weights_file.hpp  The binary weights file (.q8w): a 64-byte header, then the payload.
///
/// Header (little-endian): "Q8W\0" magic, u32 version (1), u32 alignment (64), u32 tensor count,
/// u64 payload bytes, 16-byte pair id (also in the manifest, so a manifest cannot be paired with
/// the wrong weights file), zero padding to 64 bytes. Tensor offsets in the manifest are relative
/// to the payload, multiples of the alignment, with zero bytes between tensors.

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>

#include <sys/stat.h>
#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "qint8/core/error.hpp"
#include "qint8/detail/huge_arena.hpp"

namespace qint8::detail {

inline constexpr std::size_t q8w_header_bytes = 64;
inline constexpr uint32_t q8w_version = 1;
inline constexpr uint32_t q8w_alignment = 64;

struct q8w_header {
    uint32_t version = q8w_version;
    uint32_t alignment = q8w_alignment;
    uint32_t tensor_count = 0;
    uint64_t payload_bytes = 0;
    unsigned char pair_id[16] = {};
};

inline void put_u32(unsigned char* p, uint32_t v) { for (int i = 0; i < 4; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i)); }
inline void put_u64(unsigned char* p, uint64_t v) { for (int i = 0; i < 8; ++i) p[i] = static_cast<unsigned char>(v >> (8 * i)); }
inline uint32_t get_u32(const unsigned char* p) { uint32_t v = 0; for (int i = 0; i < 4; ++i) v |= uint32_t(p[i]) << (8 * i); return v; }
inline uint64_t get_u64(const unsigned char* p) { uint64_t v = 0; for (int i = 0; i < 8; ++i) v |= uint64_t(p[i]) << (8 * i); return v; }

inline void encode_header(const q8w_header& h, unsigned char out[q8w_header_bytes]) {
    std::memset(out, 0, q8w_header_bytes);
    std::memcpy(out, "Q8W\0", 4);
    put_u32(out + 4, h.version);
    put_u32(out + 8, h.alignment);
    put_u32(out + 12, h.tensor_count);
    put_u64(out + 16, h.payload_bytes);
    std::memcpy(out + 24, h.pair_id, 16);
}

/// A whole weights file, 64-byte aligned, with at least 64 bytes readable past its end.
struct loaded_file {
    std::shared_ptr<std::byte> bytes;
    std::size_t size = 0;
    bool mapped = false;  ///< mapped from the file (map_whole_file), not read into memory of its own
};

/// Files from this size on are mapped rather than read (read_whole_file).
inline constexpr std::size_t map_from_bytes = std::size_t{1} << 20;

#if defined(__linux__)
/// The file's `size` bytes mapped read-only, their pages populated in one call (MAP_POPULATE),
/// over the start of a reserved anonymous region that leaves at least 64 bytes (zeros) readable
/// past the end, as read_whole_file's buffer does. Null where the system refuses (read instead).
///
/// Why: reading copies the file into fresh memory, and the first touch of fresh memory is what
/// a load paid most for under a hypervisor: a MobileNet-V2 manifest took 42 ms to read in a new
/// process on a Zen 5 guest, where mapping its 14 MB from the page cache takes about 1 ms. The
/// pages stay the file's: replacing the file by a rename (as qint8-convert writes) leaves a
/// loaded model's view intact; rewriting it in place under a loaded model does not.
inline std::shared_ptr<std::byte> map_whole_file(int fd, std::size_t size) {
    const long page = ::sysconf(_SC_PAGESIZE);
    if (page <= 0 || size == 0) return nullptr;
    const std::size_t total = round_up(size + 64, static_cast<std::size_t>(page));
    void* base = ::mmap(nullptr, total, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (base == MAP_FAILED) return nullptr;
    if (::mmap(base, size, PROT_READ, MAP_PRIVATE | MAP_FIXED | MAP_POPULATE, fd, 0) == MAP_FAILED) {
        ::munmap(base, total);
        return nullptr;
    }
    return std::shared_ptr<std::byte>(static_cast<std::byte*>(base), [total](std::byte* p) { ::munmap(p, total); });
}
#endif

/// The whole file at `path`: mapped from map_from_bytes on (map_whole_file), else (or where
/// mapping is refused) read into memory of its own, huge pages for a large one.
inline loaded_file read_whole_file(const std::string& path) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!f) fail(errc::io, path + ": cannot open for reading (" + std::strerror(errno) + ")");
    // A directory "opens" too, and ext4 then reports its size as INT64_MAX.
    struct stat st;
    if (::fstat(::fileno(f.get()), &st) != 0 || !S_ISREG(st.st_mode)) fail(errc::io, path + ": not a regular file");
    if (std::fseek(f.get(), 0, SEEK_END) != 0) fail(errc::io, path + ": cannot seek");
    long end = std::ftell(f.get());
    if (end < 0) fail(errc::io, path + ": cannot determine size");
    std::rewind(f.get());
    loaded_file r;
    r.size = static_cast<std::size_t>(end);
#if defined(__linux__)
    if (r.size >= map_from_bytes && (r.bytes = map_whole_file(::fileno(f.get()), r.size))) {
        r.mapped = true;
        return r;
    }
#endif
    std::size_t alloc = (r.size + 63) / 64 * 64 + 64;
    // A large file goes into huge pages (detail/huge_arena.hpp): fewer page faults while reading.
    if (void* q = large_or_small_alloc(alloc)) r.bytes = std::shared_ptr<std::byte>(static_cast<std::byte*>(q), [](std::byte* b) { std::free(b); });
    if (!r.bytes) fail(errc::io, path + ": cannot allocate " + std::to_string(alloc) + " bytes");
    void* p = r.bytes.get();
    if (r.size && std::fread(p, 1, r.size, f.get()) != r.size) fail(errc::io, path + ": read failed");
    return r;
}

inline std::string hex_bytes(const unsigned char* p, std::size_t n) {
    static const char* d = "0123456789abcdef";
    std::string s;
    for (std::size_t i = 0; i < n; ++i) { s += d[p[i] >> 4]; s += d[p[i] & 15]; }
    return s;
}

inline q8w_header decode_header(const loaded_file& f, const std::string& path) {
    if (f.size < q8w_header_bytes)
        fail(errc::weights_file, path + ": truncated: expected at least a " + std::to_string(q8w_header_bytes) +
                                     "-byte header, found " + std::to_string(f.size) + " bytes");
    const auto* p = reinterpret_cast<const unsigned char*>(f.bytes.get());
    if (std::memcmp(p, "Q8W\0", 4) != 0)
        fail(errc::weights_file, path + ": magic: not a qint8 weights file (expected \"Q8W\\0\" = 51385700, found " + hex_bytes(p, 4) + ")");
    q8w_header h;
    h.version = get_u32(p + 4);
    h.alignment = get_u32(p + 8);
    h.tensor_count = get_u32(p + 12);
    h.payload_bytes = get_u64(p + 16);
    std::memcpy(h.pair_id, p + 24, 16);
    if (h.version > q8w_version)
        fail(errc::manifest_version, path + ": weights format version " + std::to_string(h.version) +
                                         " is newer than this reader's version " + std::to_string(q8w_version));
    if (h.version == 0) fail(errc::weights_file, path + ": version: expected 1, found 0");
    if (h.alignment != q8w_alignment)
        fail(errc::weights_file, path + ": alignment: expected " + std::to_string(q8w_alignment) + ", found " + std::to_string(h.alignment));
    const uint64_t have = f.size - q8w_header_bytes;
    if (h.payload_bytes != have)
        fail(errc::weights_file, path + ": " + (have < h.payload_bytes ? "truncated" : "trailing bytes") + ": header says " +
                                     std::to_string(h.payload_bytes) + " payload bytes, found " + std::to_string(have));
    return h;
}

}  // namespace qint8::detail
