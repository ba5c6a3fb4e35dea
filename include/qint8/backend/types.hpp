#pragma once
/// @file types.hpp  qint8's data types and plain layouts in oneDNN's terms.

#include <cstddef>

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

}  // namespace qint8::backend
