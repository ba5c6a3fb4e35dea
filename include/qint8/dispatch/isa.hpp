#pragma once
/// @file isa.hpp  Which instruction set qint8 runs on: detected once from cpuid (cpu_features.hpp),
/// lowered only on request (the QINT8_MAX_ISA environment variable or set_max_isa()), and handed
/// to oneDNN. Without a request oneDNN is not capped at all: it uses everything the CPU has,
/// including AMX and AVX-VNNI.
///
/// oneDNN accepts its cap only before its first primitive is created, so the choice is fixed at
/// the first model compilation in a process. Later requests for another ISA throw.

#include <cpuinfo.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "qint8/backend/dnnl_compat.hpp"
#include "qint8/core/error.hpp"
#include "qint8/dispatch/cpu_features.hpp"

namespace qint8 {

/// A path name as QINT8_MAX_ISA takes it; "best" (or "all") means no cap.
inline isa parse_isa(const std::string& s, const std::string& where) {
    for (isa i : all_isas)
        if (s == to_string(i)) return i;
    if (s == "AVX2") return isa::avx2;
    if (s == "AVX512_CORE") return isa::avx512_core;
    if (s == "AVX512_CORE_VNNI" || s == "vnni") return isa::avx512_core_vnni;
    if (s == "amx" || s == "AVX512_CORE_AMX") return isa::avx512_core_amx;
    if (s == "best" || s == "all") return isa::avx512_core_amx;
    detail::fail(errc::invalid_argument, where + ": expected best, avx2, avx2_vnni, avx512_core, avx512_core_vnni, avx512_core_bf16 or avx512_core_amx, found \"" + s + "\"");
}

/// What the CPU offers and what qint8 chose.
struct cpu_info_t {
    std::string cpu_name;
    cpu_features features;  ///< everything decoded from cpuid
    bool has_avx2 = false, has_avx512 = false, has_avx512_vnni = false;
    bool has_avx512bw = false, has_avx_vnni = false, has_avx512_bf16 = false, has_amx_int8 = false;
    isa detected = isa::avx2;  ///< the best path the CPU supports
    isa chosen = isa::avx2;    ///< the path in use (detected, or lower if capped)
    /// Guaranteed bits of the s8 weights the u8 path uses. Without vpdpbusd or AMX, u8 x s8
    /// products are summed in pairs into int16 (vpmaddubsw), which can saturate with 8-bit
    /// weights: there each output channel keeps the largest range up to 8 bits whose pair sums
    /// provably fit int16 for the layer's input codes (detail/pair_sums.hpp), and never less
    /// than 7 bits (2 * 255 * 63 = 32130 < 32767), so results equal the exact integer result of
    /// the weights used; this field then says 7. Paths with vpdpbusd (avx2_vnni,
    /// avx512_core_vnni, avx512_core_bf16) or AMX sum in int32 and use 8 bits. Depthwise
    /// convolutions keep 8-bit weights on every path: their kernels widen each product to int32
    /// (tests/test_dispatch.cpp and tests/test_pair_sums.cpp check these facts).
    int u8_weight_bits = 8;
};

namespace detail {

struct isa_state {
    std::mutex mu;
    bool fixed = false;  ///< oneDNN has been told; no further change possible
    bool has_request = false;
    isa requested = isa::avx512_core_amx;
};
inline isa_state& isa_globals() {
    static isa_state s;
    return s;
}

inline cpu_info_t detect_cpu() {
    cpu_info_t c;
    const char* name = nullptr;
    if (cpuinfo_initialize())
        if (const cpuinfo_package* p = cpuinfo_get_package(0)) name = p->name;
    c.cpu_name = name && *name ? name : "unknown";
    c.features = decode_cpuid(read_cpuid());
    const cpu_features& f = c.features;
    if (!supports(f, isa::avx2)) fail(errc::unsupported, "this CPU lacks AVX2 + FMA, which qint8 requires");
    c.has_avx2 = true;
    c.has_avx512 = supports(f, isa::avx512_core);
    c.has_avx512_vnni = supports(f, isa::avx512_core_vnni);
    c.has_avx512bw = f.avx512bw;
    c.has_avx_vnni = f.avx_vnni;
    c.has_avx512_bf16 = f.avx512_bf16;
    c.has_amx_int8 = f.amx_tile && f.amx_int8;
    c.detected = best_path(f);
    return c;
}

inline const cpu_info_t& detected_cpu() {
    static const cpu_info_t c = detect_cpu();
    return c;
}

/// The best path this CPU has at or below `want`.
inline isa cap(isa want) { return best_path(detected_cpu().features, want); }

/// The path in use; called by every compilation. The first call fixes oneDNN's cap.
inline isa active_isa() {
    auto& g = isa_globals();
    std::lock_guard<std::mutex> lock(g.mu);
    isa want = detected_cpu().detected;
    if (const char* e = std::getenv("QINT8_MAX_ISA"); e && *e) want = cap(parse_isa(e, "environment variable QINT8_MAX_ISA"));
    if (g.has_request) want = cap(g.requested);
    if (!g.fixed) {
        // Uncapped unless lowered: oneDNN then picks its best kernels itself. A lowered path is
        // passed as the path actually chosen (never the raw request), so oneDNN and the weight
        // width always agree on whether vpdpbusd runs.
        backend::set_max_isa(want == detected_cpu().detected ? nullptr : to_string(want));
        // If something capped oneDNN first (ONEDNN_MAX_CPU_ISA), follow it down.
        while (want != isa::avx2 && !backend::isa_allowed(to_string(want)))
            want = best_path(detected_cpu().features, static_cast<isa>(static_cast<int>(want) - 1));
        g.fixed = true;
        g.requested = want;
        g.has_request = true;
    }
    return g.requested;
}

}  // namespace detail

/// Lowers the code path for this process (for testing and comparison). Must be called before the
/// first model is compiled; a later call with a different ISA throws errc::unsupported.
inline void set_max_isa(isa i) {
    auto& g = detail::isa_globals();
    std::lock_guard<std::mutex> lock(g.mu);
    const isa want = detail::cap(i);
    if (g.fixed && want != g.requested)
        detail::fail(errc::unsupported, std::string("set_max_isa(") + to_string(i) + "): the ISA is already fixed to " +
                                            to_string(g.requested) + " for this process (oneDNN takes its cap once, before the first primitive)");
    g.has_request = true;
    g.requested = want;
}

/// What was detected and which path runs (fixing the choice, as a compilation would).
inline cpu_info_t cpu_info() {
    cpu_info_t c = detail::detected_cpu();
    c.chosen = detail::active_isa();
    c.u8_weight_bits = has_int8_dot(c.chosen) ? 8 : 7;
    return c;
}

}  // namespace qint8
