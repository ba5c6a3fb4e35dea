// qint8-eval: accuracy and speed of a model on a labelled data file (the seed's C++ tester).
//   qint8-eval --model model.json --data data.bin --batch-size 50 --threads 1 --precision int8

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <vector>

#include <nlohmann/json.hpp>
#include <qint8/qint8.hpp>

#include "common/app.hpp"
#include "common/dataset.hpp"
#include "common/file_kind.hpp"
#include "common/progress.hpp"
#include "common/stats.hpp"
#include "common/threads.hpp"
#include "common/tuning.hpp"

using namespace qint8;
using namespace qint8::tools;

namespace {

struct eval_args {
    std::string model, data, precision = "int8", label_offset = "auto", json;
    int64_t batch = 50;
    long long iterations = 0;
    int threads = 1, warmup = 1;
    bool profile = false, quiet = false, with_accuracy_layer = false;
    tuning_args tuning;
};

struct eval_result {
    std::size_t images = 0, top1 = 0, top5 = 0, bad_labels = 0, batches = 0;
    std::vector<double> latency_ms;  ///< per batch, partial last batch included (it runs a full batch)
    double total_ms = 0;
};

/// Runs every image of `data` (up to n) through `s`, counting top-1/top-5 hits and timing batches.
eval_result evaluate(const model& net, session& s, dataset_reader& data, std::size_t n, int64_t batch, int64_t offset, bool quiet) {
    const std::size_t in_floats = net.input_size(), classes = net.output_size();
    const std::size_t b = static_cast<std::size_t>(batch);
    std::vector<float> in(in_floats * b), out(classes * b);
    eval_result r;
    r.images = n;
    progress bar("evaluating images", n, quiet);
    for (std::size_t first = 0; first < n; first += b) {
        const std::size_t cnt = std::min(b, n - first);
        data.read(first, cnt, in.data());
        if (cnt < b) std::fill(in.begin() + static_cast<std::ptrdiff_t>(cnt * in_floats), in.end(), 0.f);
        const auto t0 = std::chrono::steady_clock::now();
        s.run(in.data(), out.data());
        const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
        r.latency_ms.push_back(ms);
        r.total_ms += ms;
        ++r.batches;
        for (std::size_t i = 0; i < cnt; ++i) {
            const int64_t want = data.label(first + i) + offset;
            if (want < 0 || want >= static_cast<int64_t>(classes)) { ++r.bad_labels; continue; }
            const auto t = kernels::top_k(out.data() + i * classes, classes, 5);
            if (!t.empty() && t[0].first == want) ++r.top1;
            for (const auto& p : t) r.top5 += p.first == want;
        }
        bar.tick(cnt);
    }
    bar.done();
    return r;
}

/// Time per layer (ms per batch, warm-up runs excluded), printed and returned for the JSON.
nlohmann::json print_profile(const model& net, const session& s, const std::vector<double>& before, std::size_t batches) {
    const auto steps = net.steps();
    const auto& t = s.step_times_ms();
    std::map<std::string, std::pair<double, std::string>> per;
    std::vector<std::string> order;
    double sum = 0;
    for (std::size_t i = 0; i < steps.size(); ++i) {
        const std::string key = steps[i].layer.empty() ? "(input/output)" : steps[i].layer;
        if (!per.count(key)) order.push_back(key);
        auto& e = per[key];
        const double ms = (t[i] - (i < before.size() ? before[i] : 0.0)) / static_cast<double>(batches);
        e.first += ms;
        if (e.second.empty() || steps[i].what.rfind("reorder", 0) != 0) e.second = steps[i].what;
        sum += ms;
    }
    nlohmann::json prof = nlohmann::json::array();
    std::printf("\n%-34s %10s %7s  %s\n", "layer", "ms/batch", "share", "implementation");
    for (const auto& k : order) {
        std::printf("%-34s %10.3f %6.1f%%  %s\n", k.c_str(), per[k].first, sum > 0 ? 100 * per[k].first / sum : 0.0, per[k].second.c_str());
        prof.push_back({{"layer", k}, {"ms_per_batch", per[k].first}, {"implementation", per[k].second}});
    }
    return prof;
}

void run_eval(const eval_args& a) {
    expect_manifest(a.model, "--model");
    if (!a.json.empty()) prepare_output(a.json, "--json");  // fail now, not after the whole run
    read_options ro;
    const model_desc desc = read_manifest(a.model, ro);
    std::size_t in_floats = 1;
    for (const int64_t d : desc.input.shape) in_floats *= static_cast<std::size_t>(d);
    expect_data_file(a.data, "--data");
    dataset_reader data(a.data, in_floats);
    std::size_t n = data.size();
    if (a.iterations > 0) n = std::min<std::size_t>(n, static_cast<std::size_t>(a.iterations) * static_cast<std::size_t>(a.batch));
    if (n == 0) qint8::fail(errc::data, a.data + ": --data: expected at least one image, found none");
    int64_t batch = a.batch;
    if (static_cast<std::size_t>(batch) > n) {
        batch = static_cast<int64_t>(n);  // a larger batch would time padding, not images
        if (!a.quiet) std::fprintf(stderr, "qint8-eval: note: --batch-size %lld is larger than the %s to evaluate; using %lld\n",
                                   static_cast<long long>(a.batch), count_of(n, "image").c_str(), static_cast<long long>(batch));
    }
    const int threads = usable_threads(a.threads, "qint8-eval");
    compile_options co;
    co.batch = batch;
    co.force_fp32 = a.precision == "fp32";
    co.threads = threads;
    apply_tuning(a.tuning, co);
    if (!a.quiet) std::fprintf(stderr, "qint8-eval: compiling %s%s...\n", a.model.c_str(), a.tuning.tune ? " (timing each layer's candidates)" : "");
    const model net(desc, co, a.model);
    if (!a.quiet && (a.tuning.tune || !a.tuning.cache.empty())) report_choices("qint8-eval", net);
    const int64_t offset = a.label_offset == "auto" ? (net.desc().classes.background_class ? 1 : 0) : std::stoll(a.label_offset);

    session_options so;
    so.threads = threads;
    so.profile = a.profile;
    session s(net, so);
    {
        std::vector<float> in(net.input_size() * static_cast<std::size_t>(batch)), out(net.output_size() * static_cast<std::size_t>(batch));
        for (int i = 0; i < a.warmup; ++i) s.run(in.data(), out.data());
    }
    const std::vector<double> before = s.step_times_ms();
    const eval_result r = evaluate(net, s, data, n, batch, offset, a.quiet);
    if (r.bad_labels)
        std::fprintf(stderr, "qint8-eval: warning: %zu labels (after offset %lld) fall outside the model's %zu outputs; counted as wrong\n",
                     r.bad_labels, static_cast<long long>(offset), net.output_size());

    const double t1 = static_cast<double>(r.top1) / static_cast<double>(n), t5 = static_cast<double>(r.top5) / static_cast<double>(n);
    const double ips = 1000.0 * static_cast<double>(n) / r.total_ms;
    const double p50 = percentile(r.latency_ms, 0.5), p99 = percentile(r.latency_ms, 0.99);
    std::printf("model:        %s (%s, %s path, %d thread%s, batch %lld)\n", a.model.c_str(), a.precision.c_str(), to_string(net.code_path()),
                net.threads(), net.threads() == 1 ? "" : "s", static_cast<long long>(batch));
    std::printf("images:       %zu\n", n);
    std::printf("top-1:        %.4f (%.2f%%)\n", t1, 100 * t1);
    std::printf("top-5:        %.4f (%.2f%%)\n", t5, 100 * t5);
    std::printf("images/s:     %.2f\n", ips);
    std::printf("batch ms:     p50 %.3f  p99 %.3f  (%s)\n", p50, p99, count_of(r.batches, "batch").c_str());
    nlohmann::json prof = a.profile ? print_profile(net, s, before, r.batches) : nlohmann::json::array();
    if (!a.json.empty()) {
        nlohmann::json j = {{"model", a.model}, {"precision", a.precision}, {"top1", t1}, {"top5", t5}, {"images", n},
                            {"images_per_s", ips}, {"batch", batch}, {"threads", net.threads()}, {"latency_ms_p50", p50},
                            {"latency_ms_p99", p99}, {"batches", r.batches}, {"isa", to_string(net.code_path())}, {"label_offset", offset}};
        if (a.profile) j["profile"] = prof;
        try {
            qint8::io::write_file_atomically(a.json, j.dump(2) + "\n");
        } catch (const qint8::error& e) {
            throw output_error(e.what());
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("Runs a model over a labelled data file (from qint8-preprocess) and prints top-1/top-5 accuracy,\n"
                 "images/s and batch latency; with --profile, time per layer.",
                 "qint8-eval");
    conventions(app, "qint8-eval --model out/model.json --data fmnist_test.bin --batch-size 100 --threads 1 --json out/eval.json");
    eval_args a;
    app.add_option("--model,--infer_model", a.model, "manifest (model.json)")->required();
    app.add_option("--data,--infer_data", a.data, "data file: int64 N, N float32 CHW images, N int64 labels")->required();
    app.add_option("--batch-size,--batch_size", a.batch, "images per run (at most the images evaluated)")->check(in_range(1, 65536));
    app.add_option("--iterations", a.iterations, "batches to run (0: the whole file)")->check(at_least(0LL));
    app.add_option("--threads,--num_threads", a.threads, "threads the model is built and run with")->check(in_range(1, 1024));
    app.add_option("--precision", a.precision, "int8 (as the manifest quantizes it) or fp32 (the same model in f32)")
        ->check(one_of({"int8", "fp32"}));
    app.add_option("--label-offset", a.label_offset,
                   "added to data labels before comparing with model outputs; auto: 1 for models with a background class, else 0")
        ->check(CLI::Validator(
            [](std::string& t) -> std::string {
                return t == "auto" || in_range(-1000000, 1000000)(t).empty() ? "" : "expected auto or a whole number from -1000000 to 1000000, found \"" + t + "\"";
            },
            "auto|-1000000..1000000"));
    app.add_option("--warmup", a.warmup, "untimed runs on zeros before timing")->check(in_range(0, 1000));
    app.add_option("--json", a.json, "also write the results to this JSON file (its directory is created)");
    app.add_flag("--profile,--use_profile", a.profile, "print time per layer");
    app.add_flag("--with_accuracy_layer", a.with_accuracy_layer, "accepted for compatibility (accuracy is always computed)");
    app.add_flag("--quiet,-q", a.quiet, "no progress or notes on stderr");
    add_tuning_options(app, a.tuning);
    return run(app, argc, argv, [&] { run_eval(a); });
}
