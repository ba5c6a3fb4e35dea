#pragma once
/// @file depthwise.hpp  Picks the INT8 depthwise kernel variant for a code path and runs it.
/// One variant per instruction set, each in its own file; the choice follows the path qint8 runs
/// on (dispatch/isa.hpp), so QINT8_MAX_ISA lowers it too.

#include "qint8/dispatch/cpu_features.hpp"
#include "qint8/kernels/depthwise_avx2.hpp"
#include "qint8/kernels/depthwise_avx2_columns.hpp"
#include "qint8/kernels/depthwise_avx512bw.hpp"
#include "qint8/kernels/depthwise_avx512vnni.hpp"
#include "qint8/kernels/depthwise_avx512vnni_quads.hpp"
#include "qint8/kernels/depthwise_common.hpp"

namespace qint8::kernels {

/// avx2: tap pairs as int16 (vpmaddwd); avx2_columns: 3x3 layers at stride 1 or 2 from columns
/// that neighbouring pixels share, the rest as avx2; avx512vnni: tap pairs as int16 (vpdpwssd);
/// avx512vnni_quads: four taps per int32 lane (vpdpbusd) from columns transposed once per row.
enum class dw_variant { avx2, avx2_columns, avx512bw, avx512vnni, avx512vnni_quads };

inline const char* to_string(dw_variant v) noexcept {
    switch (v) {
        case dw_variant::avx2: return "avx2";
        case dw_variant::avx2_columns: return "avx2_columns";
        case dw_variant::avx512bw: return "avx512bw";
        case dw_variant::avx512vnni: return "avx512vnni";
        case dw_variant::avx512vnni_quads: return "avx512vnni_quads";
    }
    return "?";
}

/// The variant for a code path: the widest one the path's instructions allow; with VNNI the
/// four-tap one (measured faster than the pair one, and than oneDNN's, on Sapphire Rapids: docs/performance.md);
/// on AVX2 the column one (measured faster than the pair one and oneDNN's on every MobileNet-V2
/// depthwise shape on Zen 3; it runs the pair kernel where it has no column code).
inline dw_variant dw_variant_for(isa path) noexcept {
    switch (path) {
        case isa::avx2:
        case isa::avx2_vnni: return dw_variant::avx2_columns;
        case isa::avx512_core: return dw_variant::avx512bw;
        default: return dw_variant::avx512vnni_quads;
    }
}

/// Can this CPU execute the variant?
inline bool dw_variant_runs(dw_variant v, const cpu_features& f) noexcept {
    switch (v) {
        case dw_variant::avx2:
        case dw_variant::avx2_columns: return f.avx2;
        case dw_variant::avx512bw: return f.avx512f && f.avx512bw;
        case dw_variant::avx512vnni:
        case dw_variant::avx512vnni_quads: return f.avx512f && f.avx512bw && f.avx512_vnni;
    }
    return false;
}

inline int dw_block(dw_variant v) noexcept {
    switch (v) {
        case dw_variant::avx2:
        case dw_variant::avx2_columns: return 16;
        case dw_variant::avx512vnni_quads: return 64;
        default: return 32;
    }
}

/// `pk` must come from dw_pack(..., dw_block(v), ...).
inline void depthwise_run(dw_variant v, const dw_problem& pr, const dw_packed& pk, const uint8_t* src, uint8_t* dst, int threads) {
    switch (v) {
        case dw_variant::avx2: depthwise_avx2(pr, pk, src, dst, threads); break;
        case dw_variant::avx2_columns: depthwise_avx2_columns(pr, pk, src, dst, threads); break;
        case dw_variant::avx512bw: depthwise_avx512bw(pr, pk, src, dst, threads); break;
        case dw_variant::avx512vnni: depthwise_avx512vnni(pr, pk, src, dst, threads); break;
        case dw_variant::avx512vnni_quads: depthwise_avx512vnni_quads(pr, pk, src, dst, threads); break;
    }
}

}  // namespace qint8::kernels
