// bench_models' run-time summary (bench/latency.hpp), its CSV and the command line it records
// (bench/report_files.hpp, bench/machine.hpp), against values worked out by hand.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "../bench/latency.hpp"
#include "../bench/machine.hpp"
#include "../bench/report_files.hpp"

// In the namespace rather than a using-directive: the suite is also compiled as one unit with the
// converter tests, whose qint8::convert has names of its own (result).
namespace qint8::bench {

TEST_SUITE("tools") {

TEST_CASE("latency summary of four runs - by hand") {
    // sorted 1, 2, 3, 4: mean 2.5; squared deviations 2.25 + 0.25 + 0.25 + 2.25 = 5, / (4 - 1);
    // percentile q at position q * 3 between neighbours: p50 at 1.5 -> 2.5, p90 at 2.7 -> 3.7.
    const latency_summary s = summarize({4, 1, 3, 2});
    CHECK(s.runs == 4);
    CHECK(s.min == 1);
    CHECK(s.max == 4);
    CHECK(s.mean == doctest::Approx(2.5));
    CHECK(s.stddev == doctest::Approx(1.2909944487));
    CHECK(s.p50 == doctest::Approx(2.5));
    CHECK(s.p90 == doctest::Approx(3.7));
    CHECK(s.p95 == doctest::Approx(3.85));
    CHECK(s.p99 == doctest::Approx(3.97));
}

TEST_CASE("latency summary of one run and of none") {
    const latency_summary one = summarize({7.5});
    CHECK(one.runs == 1);
    CHECK(one.stddev == 0);  // a sample of one has no spread (not a division by zero)
    for (double v : {one.min, one.max, one.mean, one.p50, one.p90, one.p95, one.p99}) CHECK(v == 7.5);
    const latency_summary none = summarize({});
    CHECK(none.runs == 0);
    CHECK(none.mean == 0);
}

TEST_CASE("the recorded command line reruns as typed in a shell") {
    const char* args[] = {"bench_models", "--model=resnet50", "--json", "my results/r.json", "it's"};
    CHECK(command_line(5, const_cast<char**>(args)) == "bench_models --model=resnet50 --json 'my results/r.json' 'it'\\''s'");
}

TEST_CASE("CSV: a header - one line per result - fields with commas quoted") {
    result r;
    r.model = "a,b";
    r.precision = "int8";
    r.isa = "avx2";
    r.images_per_s = 100;
    r.latency = summarize({10, 10});
    const std::string csv = results_csv({r}, provenance{"x", "2026-12-04T16:00:00Z", "Some \"CPU\""});
    const std::string header = csv.substr(0, csv.find('\n'));
    CHECK(header.rfind("model,precision,isa,threads,batch,runs,images_per_s,ms_min,ms_max,ms_mean,ms_stddev,ms_p50,ms_p90,ms_p95,ms_p99,", 0) == 0);
    const std::string row = csv.substr(csv.find('\n') + 1);
    CHECK(row.rfind("\"a,b\",int8,avx2,1,1,2,100,10,10,10,0,10,10,10,10,", 0) == 0);
    CHECK(row.find(",\"Some \"\"CPU\"\"\",2026-12-04T16:00:00Z\n") != std::string::npos);
    CHECK(row.find(",,") != std::string::npos);  // no --roofline: the share of the limit is empty, not 0
}

}  // TEST_SUITE

}  // namespace qint8::bench
