// The option checks of the tools (tools/common/validators.hpp): what they accept, and that
// they refuse with the tools' own words what CLI11's let through or describe badly.

#include <doctest/doctest.h>

#include <string>

#include "common/validators.hpp"

using namespace qint8::tools;

namespace {
/// The validator's complaint about `text`, empty when accepted.
std::string check(const CLI::Validator& v, std::string text) { return v(text); }
}  // namespace

TEST_SUITE("tools") {

TEST_CASE("in_range: whole numbers in bounds - every other text named") {
    const CLI::Validator v = in_range(1, 4096);
    CHECK(check(v, "1") == "");
    CHECK(check(v, "4096") == "");
    CHECK(check(v, "0") == "expected a whole number from 1 to 4096, found \"0\"");
    CHECK(check(v, "abc") == "expected a whole number from 1 to 4096, found \"abc\"");
    CHECK(check(v, "2.5") == "expected a whole number from 1 to 4096, found \"2.5\"");
    CHECK(check(v, "") == "expected a whole number from 1 to 4096, found \"\"");
}

TEST_CASE("in_range: numbers refuse NaN and infinities") {
    const CLI::Validator v = in_range(0.001, 4.0);
    CHECK(check(v, "0.25") == "");
    CHECK(check(v, "nan") == "expected a number from 0.001 to 4, found \"nan\"");
    CHECK(check(v, "inf") == "expected a number from 0.001 to 4, found \"inf\"");
    CHECK(check(v, "4.5") == "expected a number from 0.001 to 4, found \"4.5\"");
}

TEST_CASE("at_least: no 300-digit upper bound") {
    const CLI::Validator v = at_least(0LL);
    CHECK(check(v, "0") == "");
    CHECK(check(v, "123456789012") == "");
    CHECK(check(v, "-1") == "expected a whole number >= 0, found \"-1\"");
}

TEST_CASE("one_of: listed choices - accepted spellings - and the --help text") {
    const CLI::Validator v = one_of({"fp32", "int8", "both"}, {"fp32,int8"});
    CHECK(check(v, "both") == "");
    CHECK(check(v, "fp32,int8") == "");
    CHECK(check(v, "int4") == "expected one of fp32, int8, both, found \"int4\"");
    CHECK(v.get_description() == "fp32|int8|both");
}

TEST_CASE("finite_number") {
    CHECK(check(finite_number(), "0.5") == "");
    CHECK(check(finite_number(), "nan") == "expected a finite number, found \"nan\"");
    CHECK(check(finite_number(), "x") == "expected a finite number, found \"x\"");
}

}  // TEST_SUITE
