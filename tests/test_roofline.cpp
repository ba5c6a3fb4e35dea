// The roofline probe (bench/roofline.hpp): its rate is MACs / time, so what is checked is that
// each probe really performs the MACs it counts (every lane of all-ones inputs ends at its MAC
// count) and that the rates are positive. Every probe this CPU can run is checked, not only the
// one of the path in use; the others report that they were skipped. Speed goals are not tested
// here; bench_models prints the rates.

#include <doctest/doctest.h>

#include <string>

#include "../bench/peaks.hpp"
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
            MESSAGE("skipped: this CPU cannot run the " << std::string(p.name) << " probe");
            continue;
        }
        const auto r = time_best(p.fn, 1000, 1000 * p.macs_per_iteration, 1, p.name);
        INFO(p.name);
        CHECK(r.checksum == r.macs);
        CHECK(p.fn(0) == 0.0);  // no iteration: no MAC (the loop is skipped, not run once)
        CHECK(r.gmacs > 0);
    }
}

TEST_CASE("a run's peak is its best probe and shares are taken against it") {
    using qint8::bench::probe_result;
    qint8::bench::machine_peaks p;
    CHECK_FALSE(p.measured());
    auto probe = [](double g) {
        probe_result r;
        r.gmacs = g;
        return r;
    };
    p.observe(probe(60), probe(30), 4);   // a slow stretch of a shared core
    p.observe(probe(100), probe(50), 4);
    p.observe(probe(90), probe(52), 5);
    CHECK(p.measured());
    CHECK(p.probes == 3);
    CHECK(p.int8.gmacs == 100);
    CHECK(p.fp32.gmacs == 52);
    CHECK(p.int8_lowest == 60);
    CHECK(p.fp32_lowest == 30);
    CHECK(p.probe_ms == 13);
    CHECK(p.for_precision(false) == 100);
    // 20 img/s x 4 GMAC against a 100 GMAC/s limit: limit 25 img/s, share 80%.
    const auto s = qint8::bench::share_of(20, 4e9, p.int8.gmacs);
    CHECK(s.limit_images_per_s == doctest::Approx(25));
    CHECK(s.share == doctest::Approx(0.8));
    CHECK(qint8::bench::share_of(20, 4e9, 0).share == 0);  // nothing probed: no share
    std::vector<qint8::bench::profile_row> rows(1);
    rows[0].gmacs = 25;
    qint8::bench::share_rows(rows, 100);
    CHECK(rows[0].share == doctest::Approx(0.25));
}

TEST_CASE("the limit of several threads is their probe together - not a multiple of one thread's") {
    using qint8::bench::probe_result;
    auto probe = [](double g) {
        probe_result r;
        r.gmacs = g;
        return r;
    };
    qint8::bench::machine_peaks p;
    p.threads = 2;
    p.observe(probe(100), probe(50), 4);
    p.observe_all(probe(104), probe(60));  // two hardware threads of one core: about one core's rate
    p.observe_all(probe(98), probe(55));
    CHECK(p.for_precision(false) == 104);
    CHECK(p.for_precision(true) == 60);
    CHECK(p.int8_scaling() == doctest::Approx(1.04));
    qint8::bench::machine_peaks one;
    one.observe(probe(100), probe(50), 4);
    CHECK(one.for_precision(false) == 100);  // one thread: one thread's probe
    CHECK(one.int8_scaling() == 1.0);
}

TEST_CASE("probes on two threads at once do the MACs of both") {
    for (int threads : {1, 2}) {
        CAPTURE(threads);
        const auto i8 = qint8::bench::int8_peak(20000, 2, threads);
        const auto f32 = qint8::bench::fp32_peak(20000, 2, threads);
        MESSAGE(threads << " thread(s): INT8 " << i8.gmacs << " GMAC/s, FP32 " << f32.gmacs << " GMAC/s, " << i8.threads << " ran");
        CHECK(i8.threads >= 1);
        CHECK(i8.threads <= threads);
        CHECK(i8.macs == doctest::Approx(qint8::bench::int8_peak(20000, 1, 1).macs * i8.threads));
        CHECK(i8.checksum == i8.macs);
        CHECK(f32.checksum == f32.macs);
        CHECK(i8.gmacs > 0);
        CHECK(f32.gmacs > 0);
    }
}

}  // TEST_SUITE
