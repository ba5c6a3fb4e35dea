#pragma once
/// @file chunked_pack.hpp  Packing a large layer's s8 weights a few output channels at a time,
/// as quantization makes them, into the layout a primitive chose.
///
/// Why: quantizing VGG-16's first classifier layer wrote its 103 MB of codes to a buffer of
/// their own before the reorder packed them. Memory touched for the first time costs a page
/// fault per page, and a fresh page is slow under a hypervisor: the buffer alone cost 90-200 ms
/// of a 350-640 ms load on an AMD EPYC KVM guest (2026-12-06; docs/performance.md, loading).
/// Packed a chunk at a time, the codes pass through a buffer of about 512 KiB that stays in cache.
///
/// A chunk is channels [first, first + n) with `first` a multiple of the layout's output-channel
/// block: in a layout whose output channel is the outermost dimension those channels are one
/// contiguous range of the packed buffer, laid out as the same layout with n output channels.
/// Any other layout (output channel not outermost, compensation or other extra data) is not
/// chunkable(), and the caller packs the whole layer as before (so does it for groups, whose
/// first dimension is not the output channel: compile/conv.hpp, chunk_large_weights).

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <utility>

#include "qint8/backend/dnnl_compat.hpp"
#include "qint8/backend/types.hpp"

namespace qint8::backend {

/// The product of `md`'s inner blocks of dimension `dim` (1 when it is not blocked).
inline int64_t inner_block_of(const dnnl_memory_desc_t& md, int dim) {
    const dnnl_blocking_desc_t& b = md.format_desc.blocking;
    int64_t r = 1;
    for (int i = 0; i < b.inner_nblks; ++i)
        if (b.inner_idxs[i] == dim) r *= b.inner_blks[i];
    return r;
}

/// `md` (blocked, dimension 0 outermost) with `n` output channels and the same strides: the
/// layout of channels [first, first + n) of a tensor laid out as `md`, for `first` a multiple of
/// the channel block, starting (first / block) * strides[0] elements into its buffer.
inline dnnl::memory::desc with_outer_channels(const dnnl::memory::desc& md, int64_t n) {
    dnnl_memory_desc_t d = md.data;
    const int64_t block = inner_block_of(d, 0);
    d.dims[0] = n;
    d.padded_dims[0] = (n + block - 1) / block * block;
    return dnnl::memory::desc(d);
}

/// Can `packed` take its s8 weights a chunk of output channels at a time (see the file comment)?
inline bool chunkable(const dnnl::memory::desc& packed) {
    const dnnl_memory_desc_t& d = packed.data;
    if (d.format_kind != dnnl_blocked || d.data_type != dnnl_s8 || d.ndims < 2 || d.offset0 != 0 || d.extra.flags != 0) return false;
    for (int i = 0; i < d.ndims; ++i)
        if (d.padded_offsets[i] != 0) return false;
    const dnnl_blocking_desc_t& b = d.format_desc.blocking;
    const int64_t block = inner_block_of(d, 0), blocks = d.padded_dims[0] / block;
    // Outermost: one channel block spans strides[0] bytes, every other dimension within it, and
    // the buffer is exactly the blocks one after the other (so a chunk owns its byte range).
    for (int i = 1; i < d.ndims; ++i)
        if (b.strides[i] * (d.padded_dims[i] / inner_block_of(d, i)) > b.strides[0]) return false;
    return static_cast<std::size_t>(blocks * b.strides[0]) == packed.get_size();
}

/// Packs a layer's [O, K] plain s8 codes into `packed` (chunkable()) chunk by chunk, in a buffer
/// that take(packed.get_size()) gives at the first chunk (bytes that outlive the result).
class chunked_packer {
public:
    chunked_packer(const dnnl::engine& eng, const dnnl::memory::desc& plain, const dnnl::memory::desc& packed, std::function<void*(std::size_t)> take)
        : eng_(eng), plain_(plain), packed_(packed), take_(std::move(take)), block_(inner_block_of(packed.data, 0)) {}

    /// The output-channel block: every chunk but the last is a multiple of it.
    int64_t block() const { return block_; }

    /// Output channels per chunk for about `bytes` of codes of `k` each: a multiple of block().
    int64_t channels_for(std::size_t bytes, std::size_t k) const {
        const int64_t fit = static_cast<int64_t>(bytes / std::max<std::size_t>(k, 1));
        return std::max<int64_t>(1, fit / block_) * block_;
    }

    /// Packs channels [first, first + n) from `codes` ([n, K] plain); `first` must be a multiple
    /// of block(), and n too unless the chunk ends the layer.
    void put(dnnl::stream& st, std::size_t first, std::size_t n, const int8_t* codes) {
        const int64_t o = packed_.data.dims[0];
        if (first % static_cast<std::size_t>(block_) != 0 || (first + n != static_cast<std::size_t>(o) && n % static_cast<std::size_t>(block_) != 0))
            fail(errc::backend, "chunked_packer: a chunk of " + std::to_string(n) + " channels from " + std::to_string(first) +
                                     " does not start (or end) on a block of " + std::to_string(block_));
        if (!memory_) memory_ = dnnl::memory(packed_, eng_, take_(packed_.get_size()));
        dnnl::reorder& r = reorder_for(static_cast<int64_t>(n));
        dnnl::memory::desc src_md = with_outer_channels(plain_, static_cast<int64_t>(n));
        dnnl::memory src(src_md, eng_, const_cast<int8_t*>(codes));
        auto* base = static_cast<std::byte*>(memory_.get_data_handle());
        dnnl::memory dst(with_outer_channels(packed_, static_cast<int64_t>(n)), eng_,
                         base + static_cast<std::size_t>(static_cast<int64_t>(first) / block_ * packed_.data.format_desc.blocking.strides[0]));
        r.execute(st, src, dst);
        st.wait();
    }

    /// Were any channels put?
    bool started() const { return static_cast<bool>(memory_); }
    /// The packed weights (complete once every channel was put).
    const dnnl::memory& result() const { return memory_; }

private:
    /// One reorder per chunk size (all chunks but the last share it).
    dnnl::reorder& reorder_for(int64_t n) {
        auto it = reorders_.find(n);
        if (it == reorders_.end())
            it = reorders_.emplace(n, dnnl::reorder(reorder_pd(eng_, with_outer_channels(plain_, n), with_outer_channels(packed_, n), 1.f, 0, 0, nullptr, false))).first;
        return it->second;
    }

    dnnl::engine eng_;
    dnnl::memory::desc plain_, packed_;
    std::function<void*(std::size_t)> take_;
    dnnl::memory memory_;
    int64_t block_;
    std::map<int64_t, dnnl::reorder> reorders_;
};

}  // namespace qint8::backend
