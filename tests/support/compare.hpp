#pragma once
// Runs a description through the compiled runtime and through the naive reference, and reports
// how far apart they are.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <qint8/session.hpp>
#include <qint8/ref/reference.hpp>

#include "support/builder.hpp"

namespace qint8::test {

struct comparison {
    std::size_t n = 0;
    double max_abs = 0, max_ref = 0;
    double max_lsb = 0;          ///< largest difference in output quantization steps (int outputs)
    std::size_t off_by_one = 0;  ///< elements differing by exactly one step
    bool int_output = false;
};

/// The reference options matching the code path this process runs on.
inline ref::options ref_options(bool fp32) {
    ref::options o;
    o.force_fp32 = fp32;
    o.u8_weight_max = cpu_info().u8_weight_bits == 8 ? 127 : 63;
    o.s8_stored_as_u8 = cpu_info().u8_weight_bits != 8 || cpu_info().chosen == isa::avx2_vnni;  // compiler::store_s8_as_u8
    return o;
}

inline comparison compare(const model_desc& d, int64_t batch, uint32_t seed, bool fp32, float in_lo = -1.f, float in_hi = 1.f) {
    model_desc m = d;
    validate(m, "test");
    rng r(seed);
    std::vector<float> in = r.floats(static_cast<std::size_t>(batch * m.input.shape[0] * m.input.shape[1] * m.input.shape[2]), in_lo, in_hi);
    compile_options co;
    co.batch = batch;
    co.force_fp32 = fp32;
    model net(m, co, "test");
    session s(net);
    std::vector<float> got = s.run(in);
    auto all = ref::run_all(m, in, batch, ref_options(fp32));
    const ref::value& rv = all.at(m.output_name());
    std::vector<float> want = ref::to_real(rv).f;
    comparison c;
    c.n = want.size();
    c.int_output = rv.is_int;
    REQUIRE(got.size() == want.size());
    for (std::size_t i = 0; i < want.size(); ++i) {
        const double diff = std::fabs(double(got[i]) - double(want[i]));
        c.max_abs = std::max(c.max_abs, diff);
        c.max_ref = std::max(c.max_ref, std::fabs(double(want[i])));
        if (rv.is_int) {
            const double lsb = diff / rv.q.scale;
            c.max_lsb = std::max(c.max_lsb, lsb);
            if (lsb > 0.5 && lsb < 1.5) ++c.off_by_one;
        }
    }
    return c;
}

}  // namespace qint8::test
