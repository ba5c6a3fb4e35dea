// How qint8-convert and the accuracy fallback's note state the speed cost of the layers moved
// to FP32 (convert/fallback_speed.hpp): a change inside the runs' own spread is said to be no
// measurable change, not printed as "+19.0%" alone.

#include <doctest/doctest.h>

#include <qint8/convert/fallback_speed.hpp>

using namespace qint8::convert;

TEST_SUITE("convert") {

TEST_CASE("relative spread of run times: interquartile range over the median - by hand") {
    // sorted 1..8: q1 = v[2] = 3, q3 = v[6] = 7, median (4 + 5) / 2 = 4.5
    CHECK(detail_speed::relative_spread({8, 1, 7, 2, 6, 3, 5, 4}) == doctest::Approx(4.0 / 4.5));
    CHECK(detail_speed::relative_spread({5, 5, 5, 5}) == 0);
    CHECK(detail_speed::relative_spread({1, 2, 3}) == 0);  // too few runs to say
}

TEST_CASE("a speed change is stated with the spread it has to beat") {
    speed_cost c;
    c.before = 100;
    c.after = 119;
    c.spread = 0.25;
    CHECK(change_text(c) == "+19.0%, within the runs' spread of 25%: no measurable change");
    c.spread = 0.05;
    CHECK(change_text(c) == "+19.0%");
    c.after = 80;
    CHECK(change_text(c) == "-20.0%");
}

}  // TEST_SUITE
