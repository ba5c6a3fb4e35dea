#pragma once
// The checks of option values, in the tools' own words. CLI11's own (CLI::Range, IsMember,
// NonNegativeNumber) print "Value abc not in range 1 to 4096" for a word where a number was
// expected, the 300 digits of DBL_MAX as the upper bound of "non-negative", and list "fp32,int8"
// as if it were three choices; and a double range lets NaN through (every comparison with it is
// false). These say what was expected and what was found, and refuse NaN and infinities.

#include <cmath>
#include <sstream>
#include <string>
#include <type_traits>
#include <vector>

#include <CLI/CLI.hpp>

namespace qint8::tools {

namespace detail_validators {

/// `text` as a T, all of it: false for "abc", "3x", "" or an out-of-type value; false for NaN and
/// infinities.
template <class T>
bool read_number(const std::string& text, T& v) {
    if (text.empty()) return false;
    if constexpr (std::is_floating_point_v<T>) {
        if (!CLI::detail::lexical_cast(text, v)) return false;
        return std::isfinite(v);
    } else {
        // lexical_cast accepts "1.0" for an integer in some CLI11 versions; a whole number is asked for.
        if (text.find_first_not_of("+-0123456789") != std::string::npos) return false;
        return CLI::detail::lexical_cast(text, v);
    }
}

template <class T>
std::string number_text(T v) {
    std::ostringstream s;
    s << v;
    return s.str();
}

template <class T>
const char* kind() {
    return std::is_floating_point_v<T> ? "a number" : "a whole number";
}

}  // namespace detail_validators

/// A number in [lo, hi]: "expected a whole number from 1 to 4096, found \"abc\"".
template <class T>
CLI::Validator in_range(T lo, T hi) {
    using namespace detail_validators;
    const std::string bounds = number_text(lo) + ".." + number_text(hi);
    return CLI::Validator(
        [lo, hi](std::string& text) -> std::string {
            T v{};
            if (read_number(text, v) && v >= lo && v <= hi) return {};
            return std::string("expected ") + kind<T>() + " from " + number_text(lo) + " to " + number_text(hi) + ", found \"" + text + "\"";
        },
        bounds);
}

/// A number of at least `lo`, with no upper bound worth printing: "expected a whole number >= 0".
template <class T>
CLI::Validator at_least(T lo) {
    using namespace detail_validators;
    return CLI::Validator(
        [lo](std::string& text) -> std::string {
            T v{};
            if (read_number(text, v) && v >= lo) return {};
            return std::string("expected ") + kind<T>() + " >= " + number_text(lo) + ", found \"" + text + "\"";
        },
        ">=" + number_text(lo));
}

/// A finite number (for list options such as --mean, checked one element at a time).
inline CLI::Validator finite_number() {
    return CLI::Validator(
        [](std::string& text) -> std::string {
            double v = 0;
            if (detail_validators::read_number(text, v)) return {};
            return "expected a finite number, found \"" + text + "\"";
        },
        "");
}

/// One of `shown` (listed in --help and in the message), or of `also` (accepted spellings
/// that --help leaves out, such as "fp32,int8" for "both").
inline CLI::Validator one_of(const std::vector<std::string>& shown, const std::vector<std::string>& also = {}) {
    std::string list;
    for (const auto& s : shown) list += (list.empty() ? "" : "|") + (s.empty() ? std::string("\"\"") : s);
    return CLI::Validator(
        [shown, also, list](std::string& text) -> std::string {
            for (const auto* v : {&shown, &also})
                for (const auto& s : *v)
                    if (s == text) return {};
            std::string words;
            for (std::size_t i = 0; i < shown.size(); ++i)
                if (!shown[i].empty()) words += (words.empty() ? "" : ", ") + shown[i];
            return "expected one of " + words + ", found \"" + text + "\"";
        },
        list);
}

}  // namespace qint8::tools
