#pragma once
// A scope in which every INT8 convolution and fc whose codes are quantized is packed chunk by
// chunk (compile/conv.hpp, backend/chunked_pack.hpp), one channel block per chunk; by default only
// layers of 8 MiB of codes or more are.

#include <cstddef>

#include <qint8/compile/conv.hpp>

namespace qint8::test {

struct chunk_everything {
    std::size_t from = detail::chunked_pack_from_bytes, bytes = detail::chunked_pack_bytes;
    chunk_everything() { detail::chunked_pack_from_bytes = 0, detail::chunked_pack_bytes = 1; }
    ~chunk_everything() { detail::chunked_pack_from_bytes = from, detail::chunked_pack_bytes = bytes; }
    chunk_everything(const chunk_everything&) = delete;
    chunk_everything& operator=(const chunk_everything&) = delete;
};

}  // namespace qint8::test
