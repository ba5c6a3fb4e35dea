// One compiled model shared by many threads, each with its own session: every output equals the
// single-threaded output for the same input, bit for bit. Also built alone as qint8_thread_tests
// for the ThreadSanitizer run (scripts/sanitize.sh thread).

#include <doctest/doctest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <qint8/session.hpp>
#include <qint8/models/synthetic.hpp>

#include "support/scratch.hpp"
#include "support/tiny_model.hpp"

using namespace qint8;

namespace {

constexpr int threads = 8;

struct shared_run_result {
    std::size_t runs = 0, mismatches = 0;
    std::string first_error;
};

/// Runs `per_thread` inferences on each of `threads` threads sharing `net`; thread t's i-th run
/// takes input (t * per_thread + i): every run its own input. Compares each output with `want`.
shared_run_result run_shared(const model& net, const std::vector<float>& inputs, const std::vector<std::vector<float>>& want, int per_thread) {
    const std::size_t in_n = net.input_size(), out_n = net.output_size();
    std::atomic<std::size_t> runs{0}, mismatches{0};
    std::vector<std::string> errors(threads);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&, t] {
            try {
                session s(net);  // per thread: activations and scratchpad are not shared
                std::vector<float> out(out_n);
                for (int i = 0; i < per_thread; ++i) {
                    const std::size_t k = static_cast<std::size_t>(t) * static_cast<std::size_t>(per_thread) + static_cast<std::size_t>(i);
                    s.run(inputs.data() + k * in_n, out.data());
                    if (std::memcmp(out.data(), want[k].data(), out_n * sizeof(float)) != 0) ++mismatches;
                    ++runs;
                }
            } catch (const std::exception& e) {
                errors[static_cast<std::size_t>(t)] = e.what();
            }
        });
    for (auto& th : pool) th.join();
    shared_run_result r{runs.load(), mismatches.load(), {}};
    for (const auto& e : errors)
        if (!e.empty() && r.first_error.empty()) r.first_error = e;
    return r;
}

void check_shared(bool fp32, int per_thread) {
    test::single_thread one;
    const model_desc& desc = test::tiny_classifier();
    compile_options opt;
    opt.threads = 1;  // each session runs on its own thread only: the sharing is what is tested
    opt.force_fp32 = fp32;
    const model net(desc, opt, "tiny");
    const std::size_t total = static_cast<std::size_t>(threads) * static_cast<std::size_t>(per_thread);
    const std::vector<float> inputs = models::synthetic_images(desc, static_cast<int64_t>(total), 1234);
    std::vector<std::vector<float>> want(total);
    {
        session s(net);  // the reference: one thread, one session, in order
        for (std::size_t k = 0; k < total; ++k)
            want[k] = s.run(std::vector<float>(inputs.begin() + static_cast<std::ptrdiff_t>(k * net.input_size()),
                                               inputs.begin() + static_cast<std::ptrdiff_t>((k + 1) * net.input_size())));
    }
    // The inputs really differ: otherwise equal outputs would prove little.
    CHECK(want.front() != want.back());
    const shared_run_result r = run_shared(net, inputs, want, per_thread);
    CHECK(r.first_error == "");
    CHECK(r.runs == total);
    CHECK(r.mismatches == 0);
    MESSAGE((fp32 ? "FP32" : "INT8") << " on " << std::string(to_string(net.code_path())) << ": " << r.runs << " runs on " << threads
                                     << " threads, " << r.mismatches << " differing from the single-threaded run");
}

}  // namespace

TEST_SUITE("concurrency") {

TEST_CASE("8 threads share one INT8 model - 1000 runs each - every output equals the single-threaded one") {
    check_shared(false, 1000);
}

TEST_CASE("8 threads share one FP32 model - 250 runs each - every output equals the single-threaded one") {
    check_shared(true, 250);
}

TEST_CASE("sessions created and destroyed concurrently while others run") {
    test::single_thread one;
    compile_options opt;
    opt.threads = 1;
    const model net(test::tiny_classifier(), opt, "tiny");
    const std::vector<float> in = models::synthetic_images(test::tiny_classifier(), 1, 99);
    const std::vector<float> want = session(net).run(in);
    std::atomic<int> bad{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
        pool.emplace_back([&] {
            for (int i = 0; i < 25; ++i) {
                session s(net);
                if (s.run(in) != want) ++bad;
            }
        });
    for (auto& th : pool) th.join();
    CHECK(bad.load() == 0);
}

}  // TEST_SUITE
