// The thread count is one setting: a model runs with the count it was compiled for, and a session
// cannot ask for another. Observed from outside oneDNN through CPU time: with one OpenMP thread
// all work is done by the calling thread (process CPU time == calling thread's CPU time); with
// two, a second thread does a large share of it.

#include <doctest/doctest.h>

#include <algorithm>

#include <chrono>
#include <ctime>
#include <string>
#include <thread>

#include <omp.h>

#include <qint8/session.hpp>

#include "support/builder.hpp"
#include "support/layers.hpp"

using namespace qint8;

namespace {

double cpu_seconds(clockid_t clock) {
    timespec t{};
    clock_gettime(clock, &t);
    return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

/// A convolution big enough that oneDNN splits it over every thread it is given.
model_desc busy_conv() {
    test::rng r(11);
    model_desc m = test::input_only({32, 56, 56}, quant_params{dtype::u8, 0.02f, 0});
    layer l = test::conv_layer("conv", "input", 64, 3, 1);
    l.act = quant_params{dtype::u8, 0.05f, 0};
    m.layers.push_back(l);
    test::add_weights(m, "conv", {64, 32, 3, 3}, r, true);
    return m;
}

/// Process CPU time over the calling thread's CPU time, for several runs of `net`.
double cpu_share(const model& net) {
    session s(net);
    std::vector<float> in(net.input_size(), 0.5f), out(net.output_size());
    s.run(in.data(), out.data());  // warm up: pages, oneDNN's thread pool
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // idle workers stop spinning
    const double p0 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID), t0 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    for (int i = 0; i < 40; ++i) s.run(in.data(), out.data());
    const double p1 = cpu_seconds(CLOCK_PROCESS_CPUTIME_ID), t1 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    return (p1 - p0) / (t1 - t0);
}

}  // namespace

TEST_SUITE("threads") {

TEST_CASE("a model compiled for 1 thread runs on one thread - whatever the process default") {
    const int before = omp_get_max_threads();
    compile_options co;
    co.threads = 1;
    model net(busy_conv(), co);
    CHECK(net.threads() == 1);
    const double share = cpu_share(net);
    MESSAGE("1 thread: process / calling-thread CPU time = " << share << " (process default " << before << " threads)");
    CHECK(share < 1.25);
    CHECK(omp_get_max_threads() == before);  // the process default is restored after each run
}

TEST_CASE("a model compiled for 2 threads does use a second thread (the observation can see it)") {
    if (omp_get_num_procs() < 2) {
        MESSAGE("NOT RUN: fewer than 2 processors available to OpenMP");
        return;
    }
    compile_options co;
    co.threads = 2;
    model net(busy_conv(), co);
    CHECK(net.threads() == 2);
    // Another process on the second core (ctest -j2, a shared machine) only lowers the share, and
    // a model that ran on one thread stays near 1.0 however often it is measured: the best
    // observation within 30 s counts. Under ASan with ctest -j2, while the 8-thread concurrency
    // tests held both cores, five observations in a row read 1.10-1.12.
    double share = 0;
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (share <= 1.4 && std::chrono::steady_clock::now() < until) share = std::max(share, cpu_share(net));
    MESSAGE("2 threads: process / calling-thread CPU time = " << share);
    CHECK(share > 1.4);
}

TEST_CASE("session thread counts that differ from the model's are refused") {
    compile_options co;
    co.threads = 1;
    model net(busy_conv(), co);
    session_options so;
    so.threads = 0;
    CHECK_NOTHROW(session(net, so));
    so.threads = 1;
    CHECK_NOTHROW(session(net, so));
    so.threads = 3;
    CHECK_THROWS_WITH_AS(session(net, so), doctest::Contains("compiled for 1 OpenMP thread(s)"), qint8::error);
    CHECK_THROWS_WITH_AS(session(net, so), doctest::Contains("found 3"), qint8::error);
}

TEST_CASE("threads: more than the processors are lowered - 0 is the process default - negatives are refused") {
    compile_options co;
    co.threads = omp_get_num_procs() + 7;
    model many(busy_conv(), co);
    CHECK(many.threads() == omp_get_num_procs());
    session_options so;
    so.threads = co.threads;  // the requested count is accepted: it is the one setting, lowered
    CHECK_NOTHROW(session(many, so));
    co.threads = 0;
    model dflt(busy_conv(), co);
    CHECK(dflt.threads() == std::min(omp_get_max_threads(), omp_get_num_procs()));
    co.threads = -1;
    CHECK_THROWS_WITH_AS(model(busy_conv(), co), doctest::Contains("threads: expected 0..4096"), qint8::error);
}

}  // TEST_SUITE
