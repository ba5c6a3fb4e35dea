#pragma once
/// @file isa.hpp  Which instruction set qint8 runs on: detected once with cpuinfo, lowered by the
/// QINT8_MAX_ISA environment variable or by set_max_isa(), and handed to oneDNN as its ISA cap.
///
/// oneDNN accepts its cap only before its first primitive is created, so the choice is fixed at
/// the first model compilation in a process. Later requests for another ISA throw.

#include <cpuinfo.h>

#include <cstdlib>
#include <mutex>
#include <string>

#include "qint8/backend/dnnl_compat.hpp"
#include "qint8/core/error.hpp"

namespace qint8 {

/// Code paths, ordered from least to most capable.
enum class isa { avx2 = 0, avx512_core = 1, avx512_core_vnni = 2 };

inline const char* to_string(isa i) noexcept {
    switch (i) {
        case isa::avx2: return "avx2";
        case isa::avx512_core: return "avx512_core";
        case isa::avx512_core_vnni: return "avx512_core_vnni";
    }
    return "?";
}

inline isa parse_isa(const std::string& s, const std::string& where) {
    if (s == "avx2" || s == "AVX2") return isa::avx2;
    if (s == "avx512_core" || s == "AVX512_CORE") return isa::avx512_core;
    if (s == "avx512_core_vnni" || s == "AVX512_CORE_VNNI" || s == "vnni") return isa::avx512_core_vnni;
    detail::fail(errc::invalid_argument, where + ": expected avx2, avx512_core or avx512_core_vnni, found \"" + s + "\"");
}

/// What the CPU offers and what qint8 chose.
struct cpu_info_t {
    std::string cpu_name;
    bool has_avx2 = false, has_avx512 = false, has_avx512_vnni = false;
    isa detected = isa::avx2;  ///< the best path the CPU supports
    isa chosen = isa::avx2;    ///< the path in use (detected, or lower if capped)
    /// Bits of the s8 weights the u8 path uses. Without VNNI, u8 x s8 products are summed in pairs
    /// into int16 (vpmaddubsw), which saturates for 8-bit weights: 7-bit weights keep every pair
    /// sum below 2 * 255 * 63 = 32130 < 32767, so results equal the exact integer result.
    /// Depthwise convolutions are exempt: oneDNN's depthwise kernels widen each product to int32,
    /// so they keep 8-bit weights on every path (tests/test_dispatch.cpp checks both facts).
    int u8_weight_bits = 8;
};

namespace detail {

struct isa_state {
    std::mutex mu;
    bool fixed = false;           ///< oneDNN has been told; no further change possible
    bool has_request = false;
    isa requested = isa::avx512_core_vnni;
};
inline isa_state& isa_globals() {
    static isa_state s;
    return s;
}

inline cpu_info_t detect_cpu() {
    cpu_info_t c;
    if (!cpuinfo_initialize()) fail(errc::unsupported, "cpuinfo could not identify this CPU");
    const cpuinfo_package* p = cpuinfo_get_package(0);
    c.cpu_name = p ? p->name : "unknown";
    c.has_avx2 = cpuinfo_has_x86_avx2() && cpuinfo_has_x86_fma3();
    c.has_avx512 = cpuinfo_has_x86_avx512f() && cpuinfo_has_x86_avx512bw() && cpuinfo_has_x86_avx512dq() && cpuinfo_has_x86_avx512vl();
    c.has_avx512_vnni = c.has_avx512 && cpuinfo_has_x86_avx512vnni();
    if (!c.has_avx2) fail(errc::unsupported, "this CPU lacks AVX2 + FMA, which qint8 requires");
    c.detected = c.has_avx512_vnni ? isa::avx512_core_vnni : c.has_avx512 ? isa::avx512_core : isa::avx2;
    return c;
}

inline const cpu_info_t& detected_cpu() {
    static const cpu_info_t c = detect_cpu();
    return c;
}

inline isa cap(isa want) { return static_cast<int>(want) < static_cast<int>(detected_cpu().detected) ? want : detected_cpu().detected; }

/// The path in use; called by every compilation. The first call fixes oneDNN's cap.
inline isa active_isa() {
    auto& g = isa_globals();
    std::lock_guard<std::mutex> lock(g.mu);
    isa want = detected_cpu().detected;
    if (const char* e = std::getenv("QINT8_MAX_ISA"); e && *e) want = cap(parse_isa(e, "environment variable QINT8_MAX_ISA"));
    if (g.has_request) want = cap(g.requested);
    if (!g.fixed) {
        backend::set_max_isa(static_cast<int>(want));
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
    c.u8_weight_bits = c.chosen == isa::avx512_core_vnni ? 8 : 7;
    return c;
}

}  // namespace qint8
