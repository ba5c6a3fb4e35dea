// The roofline probe (bench/roofline.hpp): its rate is MACs / time, so what is checked is that
// each probe really performs the MACs it counts (every lane of all-ones inputs ends at its MAC
// count) and that the rates are positive and ordered as the instruction widths say. Speed goals
// are not tested here; bench_models prints the rates.

#include <doctest/doctest.h>

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

}  // TEST_SUITE
