// Kernel teams: on two threads a session runs consecutive 1x1 and depthwise kernel steps in one
// OpenMP parallel region (session::run_team), their loops shared by the region's threads. The
// integers must be those of one thread and of separate regions (QINT8_TEAMS=0), in every layer;
// a session run from inside a caller's own parallel region must not share out the caller's loop;
// the profile still times each step.

#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <omp.h>

#include <qint8/kernels/parallel.hpp>
#include <qint8/models/synthetic.hpp>
#include <qint8/session.hpp>
#include <qint8/tune/time_layers.hpp>

#include "support/small_topology.hpp"

using namespace qint8;

namespace {

/// A MobileNet-V2 at 64 x 64, width 0.5: runs of 1x1 and depthwise layers at 32 x 32 down to
/// 2 x 2, tiles and rows that two threads split unevenly.
model_desc team_model() {
    test::small_request r;
    r.input_size = 64;
    r.classes = 16;
    r.width = 0.5;
    return test::small_topology("mobilenet_v2", r, 21);
}

/// Sets an environment variable for a scope, then restores it.
class team_env {
public:
    team_env(const char* name, const char* value) : name_(name) {
        if (const char* v = std::getenv(name)) old_ = v, had_ = true;
        setenv(name, value, 1);
    }
    ~team_env() {
        if (had_) setenv(name_.c_str(), old_.c_str(), 1);
        else unsetenv(name_.c_str());
    }

private:
    std::string name_, old_;
    bool had_ = false;
};

model team_compiled(const model_desc& d, int threads) {
    compile_options co;
    co.threads = threads;
    co.batch = 2;
    co.keep_intermediates = true;
    return model(d, co, "team");
}

/// Every layer's output of one run (two images), in the layers' order.
std::vector<std::vector<float>> team_layers(const model_desc& d, const model& net, const std::vector<float>& in, const session_options& so = {}) {
    session s(net, so);
    std::vector<float> out(net.output_size() * 2);
    s.run(in.data(), out.data());
    std::vector<std::vector<float>> r;
    for (const layer& l : d.layers) r.push_back(s.read(l.name));
    r.push_back(out);
    return r;
}

std::size_t team_mismatches(const model_desc& d, const std::vector<std::vector<float>>& a, const std::vector<std::vector<float>>& b) {
    REQUIRE(a.size() == b.size());
    std::size_t bad = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const bool same = a[i].size() == b[i].size() && std::memcmp(a[i].data(), b[i].data(), a[i].size() * sizeof(float)) == 0;
        if (!same) {
            MESSAGE("differs: " << (i < d.layers.size() ? d.layers[i].name : std::string("output")));
            ++bad;
        }
    }
    return bad;
}

}  // namespace

TEST_SUITE("threads") {

TEST_CASE("parallel_for in a team runs each task once and gives both threads tasks") {
    if (omp_get_num_procs() < 2) {
        MESSAGE("NOT RUN: fewer than 2 processors available to OpenMP");
        return;
    }
    for (int64_t n : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{100}}) {
        CAPTURE(n);
        std::vector<std::atomic<int>> runs(static_cast<std::size_t>(n));
        std::vector<int> by(static_cast<std::size_t>(n), -1);
        int team = 0;
        kernels::team_barrier barrier;
#pragma omp parallel num_threads(2)
        {
            kernels::current_team() = &barrier;
#pragma omp single
            team = omp_get_num_threads();
            for (int pass = 0; pass < 2; ++pass)  // two loops in a row: the first one's barrier separates them
                kernels::parallel_for(2, n, [&](int64_t i) {
                    runs[static_cast<std::size_t>(i)]++;
                    if (pass == 0) by[static_cast<std::size_t>(i)] = omp_get_thread_num();
                });
            kernels::current_team() = nullptr;
        }
        CHECK_FALSE(kernels::in_team());
        std::size_t wrong = 0;
        for (auto& r : runs) wrong += r.load() != 2;
        CHECK(wrong == 0);
        if (team == 2 && n >= 2) {
            CHECK(std::count(by.begin(), by.end(), 0) == (n + 1) / 2);  // the static schedule's halves
            CHECK(std::count(by.begin(), by.end(), 1) == n / 2);
        }
    }
}

TEST_CASE("the team barrier makes each thread's writes visible to the others - 100000 rounds and loops that read across threads") {
    if (omp_get_num_procs() < 2) {
        MESSAGE("NOT RUN: fewer than 2 processors available to OpenMP");
        return;
    }
    kernels::team_barrier barrier;
    std::vector<int64_t> slot(2 * 16, -1);  // a cache line apart
    std::atomic<int64_t> stale{0};
    int team = 0;
#pragma omp parallel num_threads(2)
    {
        const int t = omp_get_thread_num(), n = omp_get_num_threads();
#pragma omp single
        team = n;
        for (int64_t k = 0; k < 100000; ++k) {
            slot[static_cast<std::size_t>(16 * t)] = k;  // a plain write, published by the barrier
            barrier.wait(n);
            for (int o = 0; o < n; ++o)
                if (slot[static_cast<std::size_t>(16 * o)] != k) stale++;
            barrier.wait(n);  // nobody writes round k + 1 before all have read round k
        }
    }
    CHECK(stale.load() == 0);
    MESSAGE("team of " << team);
    // Two loops of a team in a row: the second reads what the other thread wrote in the first.
    const int64_t len = 1001;
    std::vector<int64_t> v(static_cast<std::size_t>(len)), w(static_cast<std::size_t>(len));
    std::size_t wrong = 0;
    for (int round = 0; round < 200; ++round) {
#pragma omp parallel num_threads(2)
        {
            kernels::current_team() = &barrier;
            kernels::parallel_for(2, len, [&](int64_t i) { v[static_cast<std::size_t>(i)] = i + round; });
            kernels::parallel_for(2, len, [&](int64_t i) { w[static_cast<std::size_t>(i)] = v[static_cast<std::size_t>(len - 1 - i)] + 1; });
            kernels::current_team() = nullptr;
        }
        for (int64_t i = 0; i < len; ++i) wrong += w[static_cast<std::size_t>(i)] != len - i + round;
    }
    CHECK(wrong == 0);
}

TEST_CASE("kernel teams on 2 threads give the integers of 1 thread and of separate regions in every layer") {
    if (omp_get_num_procs() < 2) {
        MESSAGE("NOT RUN: fewer than 2 processors available to OpenMP");
        return;
    }
    team_env dw("QINT8_DEPTHWISE", "qint8");  // qint8's depthwise on every path: the team's members
    team_env on("QINT8_TEAMS", "1");
    const model_desc d = team_model();
    const std::vector<float> in = models::synthetic_images(d, 2, 77);
    const model one = team_compiled(d, 1), two = team_compiled(d, 2);
    const std::size_t members = detail::session_access::team_steps(session(two));
    MESSAGE("steps in teams on 2 threads: " << members << " of " << two.steps().size() << " (" << std::string(to_string(two.code_path())) << ")");
    if (members == 0) {  // avx512_core: oneDNN's 1x1 between qint8's depthwise layers
        MESSAGE("NOT RUN: no teams (no two kernel steps in a row on this path, or OMP_WAIT_POLICY=passive)");
        return;
    }
    REQUIRE(members >= 2);
    CHECK(detail::session_access::team_steps(session(one)) == 0);  // one thread: no teams
    const auto want = team_layers(d, one, in);
    CHECK(team_mismatches(d, want, team_layers(d, two, in)) == 0);
    std::vector<std::vector<float>> apart;
    {
        team_env off("QINT8_TEAMS", "0");
        session s(two);
        CHECK(detail::session_access::team_steps(s) == 0);
        apart = team_layers(d, two, in);
    }
    CHECK(team_mismatches(d, want, apart) == 0);
    {
        team_env passive("OMP_WAIT_POLICY", "passive");  // threads asked not to spin: no spinning barrier
        CHECK(detail::session_access::team_steps(session(two)) == 0);
    }
}

TEST_CASE("sessions run inside a caller's parallel region keep to their own work - nested regions off and on") {
    if (omp_get_num_procs() < 2) {
        MESSAGE("NOT RUN: fewer than 2 processors available to OpenMP");
        return;
    }
    team_env dw("QINT8_DEPTHWISE", "qint8");
    const model_desc d = team_model();
    const model two = team_compiled(d, 2);
    std::vector<std::vector<float>> ins, want;
    for (uint32_t seed : {5u, 6u}) {
        ins.push_back(models::synthetic_images(d, 2, seed));
        want.push_back(team_layers(d, two, ins.back()).back());
    }
    const int levels = omp_get_max_active_levels();
    for (int nested : {1, 2}) {
        CAPTURE(nested);
        omp_set_max_active_levels(nested);
        std::vector<std::vector<float>> got(2);
#pragma omp parallel num_threads(2)
        {
            const int t = omp_get_thread_num();
            session s(two);
            std::vector<float> out(two.output_size() * 2);
            for (int k = 0; k < 20; ++k) s.run(ins[static_cast<std::size_t>(t)].data(), out.data());
            got[static_cast<std::size_t>(t)] = out;
        }
        for (std::size_t t = 0; t < 2; ++t) {
            REQUIRE(got[t].size() == want[t].size());
            CHECK(std::memcmp(got[t].data(), want[t].data(), want[t].size() * sizeof(float)) == 0);
        }
    }
    omp_set_max_active_levels(levels);
}

TEST_CASE("a profiled session on 2 threads times every step of its teams") {
    if (omp_get_num_procs() < 2) {
        MESSAGE("NOT RUN: fewer than 2 processors available to OpenMP");
        return;
    }
    team_env dw("QINT8_DEPTHWISE", "qint8");
    team_env on("QINT8_TEAMS", "1");
    const model_desc d = team_model();
    const model two = team_compiled(d, 2);
    session_options so;
    so.profile = true;
    session s(two, so);
    if (detail::session_access::team_steps(s) == 0) {
        MESSAGE("NOT RUN: no teams (no two kernel steps in a row on this path, or OMP_WAIT_POLICY=passive)");
        return;
    }
    const std::vector<float> in = models::synthetic_images(d, 2, 3);
    std::vector<float> out(two.output_size() * 2);
    for (int k = 0; k < 3; ++k) s.run(in.data(), out.data());
    const std::vector<step_info> steps = two.steps();
    std::size_t untimed = 0;
    for (std::size_t i = 0; i < steps.size(); ++i)
        if (!(s.step_times_ms()[i] > 0)) {
            MESSAGE("not timed: " << steps[i].layer);
            ++untimed;
        }
    CHECK(untimed == 0);
}

}  // TEST_SUITE
