// The roofline probe (bench/roofline.hpp): its rate is MACs / time, so what is checked is that
// each probe really performs the MACs it counts (every lane of all-ones inputs ends at its MAC
// count) and that the rates are positive. Every probe this CPU can run is checked, not only the
// one of the path in use; the others report that they were skipped. Speed goals are not tested
// here; bench_models prints the rates.

#include <doctest/doctest.h>

#include <string>

#include "../bench/roofline.hpp"

TEST_SUITE("kernels") {

TEST_CASE("roofline probes do the MACs they count") {
    const auto i8 = qint8::bench::int8_peak(20000, 2);
    const auto f32 = qint8::bench::fp32_peak(20000, 2);
    MESSAGE("INT8 " << i8.gmacs << " GMAC/s (" << std::string(i8.how) << "), FP32 " << f32.gmacs << " GMAC/s (" << std::string(f32.how) << ")");
    CHECK(i8.checksum == i8.macs);
    CHECK(f32.checksum == f32.macs);
    CHECK(i8.gmacs > 0);
    CHECK(f32.gmacs > 0);
}

TEST_CASE("every INT8 probe this CPU can run counts its MACs exactly") {
    using namespace qint8::bench::roofline_detail;
    const qint8::cpu_features& f = qint8::detail::detected_cpu().features;
    struct probe {
        const char* name;
        bool runs;
        double (*fn)(int64_t);
        double macs_per_iteration;
    };
    const probe probes[] = {
        {"vpmaddubsw ymm", f.avx2, int8_avx2, 6 * 32},
        {"vpmaddubsw zmm", f.avx512f && f.avx512bw, int8_avx512bw, 6 * 64},
        {"vpdpbusd ymm (AVX-VNNI)", f.avx_vnni, int8_avx_vnni, 14 * 32},
        {"vpdpbusd zmm", f.avx512f && f.avx512bw && f.avx512_vnni, int8_vnni, 16 * 64},
        {"tdpbusd (AMX)", f.amx_tile && f.amx_int8 && amx_permitted(), int8_amx, 4 * 16 * 16 * 64},
    };
    for (const probe& p : probes) {
        if (!p.runs) {
            MESSAGE("skipped: this CPU cannot run the " << p.name << " probe");
            continue;
        }
        const auto r = time_best(p.fn, 1000, 1000 * p.macs_per_iteration, 1, p.name);
        INFO(p.name);
        CHECK(r.checksum == r.macs);
        CHECK(p.fn(0) == 0.0);  // no iteration: no MAC (the loop is skipped, not run once)
        CHECK(r.gmacs > 0);
    }
}

}  // TEST_SUITE
