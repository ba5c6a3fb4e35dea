#pragma once
/// @file types.hpp  qint8's data types and plain layouts in oneDNN's terms.

#include <cstddef>
#include <optional>

#include "qint8/backend/dnnl_compat.hpp"
#include "qint8/core/types.hpp"

namespace qint8::backend {

inline dt to_dnnl(dtype t) {
    switch (t) {
        case dtype::u8: return dt::u8;
        case dtype::s8: return dt::s8;
        case dtype::s32: return dt::s32;
        case dtype::f32: return dt::f32;
    }
    return dt::f32;
}

/// The plain (row-major) layout of an n-dimensional tensor: NC, NCHW, GOIHW or X.
inline tag plain_tag(std::size_t ndims) {
    return ndims == 2 ? tag::nc : ndims == 4 ? tag::nchw : ndims == 5 ? tag::goihw : tag::x;
}

/// A plain descriptor, or one that lets the primitive choose the layout (`plain` false).
inline dnnl::memory::desc make_desc(const dims& d, dtype t, bool plain) {
    return dnnl::memory::desc(d, to_dnnl(t), plain ? plain_tag(d.size()) : tag::any);
}

/// `md` with qint8 type `t` (same dims and layout).
inline dnnl::memory::desc with_type(const dnnl::memory::desc& md, dtype t) { return with_data_type(md, to_dnnl(t)); }

/// `md` with its batch (dimension 0) set to `n` and its layout otherwise unchanged: the first `n`
/// images of a buffer laid out as `md` (the batch is outermost in every layout but those that
/// block it, for which there is none). A layout left to the primitive (`any`) stays so.
inline std::optional<dnnl::memory::desc> with_batch(const dnnl::memory::desc& md, int64_t n) {
    dnnl_memory_desc_t d = md.data;
    if (d.format_kind == dnnl_format_kind_any && d.ndims >= 1) {
        d.dims[0] = n;
        return dnnl::memory::desc(d);
    }
    if (d.format_kind != dnnl_blocked || d.ndims < 1 || d.offset0 != 0) return std::nullopt;
    const dnnl_blocking_desc_t& b = d.format_desc.blocking;
    for (int i = 0; i < b.inner_nblks; ++i)
        if (b.inner_idxs[i] == 0) return std::nullopt;
    for (int i = 1; i < d.ndims; ++i)
        if (b.strides[i] > b.strides[0]) return std::nullopt;  // the batch is not outermost
    d.dims[0] = d.padded_dims[0] = n;
    return dnnl::memory::desc(d);
}

}  // namespace qint8::backend
