// bench_models: FP32 vs INT8 images/s of the six topologies (synthetic weights unless
// --manifest is given), the performance table of the seed tutorial in one command.
//   bench_models --model=mobilenet_v2 --threads=2 --precision=both
//   bench_models --model=all --threads=1 --json=results.json

#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>
#include <qint8/qint8.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/app.hpp"
#include "common/file_kind.hpp"
#include "common/progress.hpp"
#include "common/stats.hpp"

namespace {

using qint8::tools::percentile;

struct result {
    std::string model, precision, isa;
    int threads = 1;
    int64_t batch = 1;
    double images_per_s = 0, p50 = 0, p99 = 0, mean = 0;
    int iterations = 0;
};


result measure(const qint8::model_desc& desc, const std::string& name, bool fp32, int64_t batch, int threads, int warmup, int iterations, bool quiet) {
    qint8::compile_options co;
    co.batch = batch;
    co.force_fp32 = fp32;
    co.threads = threads;
    qint8::model net(desc, co, name);
    qint8::session_options so;
    so.threads = threads;
    qint8::session s(net, so);
    std::vector<float> in = qint8::models::synthetic_images(desc, batch, 7);
    std::vector<float> out(net.output_size() * static_cast<std::size_t>(batch));
    for (int i = 0; i < warmup; ++i) s.run(in.data(), out.data());
    std::vector<double> ms;
    qint8::tools::progress bar(name + " " + (fp32 ? "fp32" : "int8") + " timed runs", static_cast<std::size_t>(iterations), quiet);
    for (int i = 0; i < iterations; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        s.run(in.data(), out.data());
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
        bar.tick();
    }
    bar.done();
    result r;
    r.model = name;
    r.precision = fp32 ? "fp32" : "int8";
    r.isa = qint8::to_string(net.code_path());
    r.threads = threads;
    r.batch = batch;
    r.p50 = percentile(ms, 0.5);
    r.p99 = percentile(ms, 0.99);
    double sum = 0;
    for (double m : ms) sum += m;
    r.mean = sum / static_cast<double>(ms.size());
    r.images_per_s = 1000.0 * static_cast<double>(batch) / r.p50;  // the median: robust on a shared machine
    r.iterations = iterations;
    return r;
}

struct bench_args {
    std::string model = "all", manifest, precision = "fp32,int8", json;
    int threads = 1, warmup = 3, iterations = 20;
    int64_t batch = 1, input_size = 224, classes = 1000;
    long long seed = 1;
    bool quiet = false;
};

/// --precision as a list: "both" and "fp32,int8" are the same.
std::vector<std::string> precisions_of(const std::string& p) {
    if (p == "both" || p == "fp32,int8" || p == "int8,fp32") return {"fp32", "int8"};
    return {p};
}

/// The models to measure: a converted manifest, or the synthetic topologies asked for.
std::vector<std::pair<std::string, qint8::model_desc>> models_of(const bench_args& a) {
    std::vector<std::pair<std::string, qint8::model_desc>> todo;
    if (!a.manifest.empty()) {
        qint8::tools::expect_manifest(a.manifest, "--manifest");
        qint8::model_desc m = qint8::read_manifest(a.manifest);
        todo.emplace_back(m.variant.empty() ? a.manifest : m.variant, std::move(m));
        return todo;
    }
    std::vector<std::string> names;
    if (a.model == "all") names = qint8::models::topology_names();
    else
        for (std::size_t from = 0; from <= a.model.size();) {
            const std::size_t comma = std::min(a.model.find(',', from), a.model.size());
            if (comma > from) names.push_back(a.model.substr(from, comma - from));
            from = comma + 1;
        }
    for (const auto& n : names) {
        const auto& known = qint8::models::topology_names();
        if (std::find(known.begin(), known.end(), n) == known.end())
            throw qint8::tools::usage_error("--model: expected all or a comma list of " + qint8::models::topology_list() + "; found \"" + n + "\"");
    }
    qint8::models::topology_request req;
    req.input_size = a.input_size;
    req.classes = a.classes;
    for (const auto& n : names) {
        if (!a.quiet) std::fprintf(stderr, "%s: synthesizing weights and calibrating...\n", n.c_str());
        qint8::models::synth_options so;
        if (!a.quiet) so.progress = [&](const std::string& s) { std::fprintf(stderr, "  %s\n", s.c_str()); };
        todo.emplace_back(n, qint8::models::synthesize(qint8::models::structure_by_name(n, req), static_cast<uint32_t>(a.seed), so));
    }
    return todo;
}

void write_json(const std::string& path, const std::vector<result>& results) {
    nlohmann::json j;
    j["results"] = nlohmann::json::array();
    for (const auto& r : results)
        j["results"].push_back({{"model", r.model}, {"precision", r.precision}, {"threads", r.threads}, {"batch", r.batch},
                                {"images_per_s", r.images_per_s}, {"latency_ms_p50", r.p50}, {"latency_ms_p99", r.p99},
                                {"latency_ms_mean", r.mean}, {"iterations", r.iterations}, {"isa", r.isa}});
    const qint8::cpu_info_t ci = qint8::cpu_info();
    j["machine"] = {{"cpu", ci.cpu_name}, {"hardware_threads", std::thread::hardware_concurrency()}, {"detected_isa", qint8::to_string(ci.detected)}};
    try {
        qint8::detail::write_file_atomically(path, j.dump(2) + "\n");
    } catch (const qint8::error& e) {
        throw qint8::tools::output_error(e.what());
    }
}

void bench(const bench_args& a) {
    if (!a.json.empty()) qint8::tools::prepare_output(a.json, "--json");
    const std::vector<std::string> precisions = precisions_of(a.precision);
    const unsigned cores = std::thread::hardware_concurrency();
    if (cores && static_cast<unsigned>(a.threads) > cores)
        std::fprintf(stderr, "warning: --threads=%d exceeds the %u hardware threads of this machine; threads will share cores\n", a.threads, cores);
    const auto todo = models_of(a);
    std::vector<result> results;
    std::printf("%-14s %-18s %7s %5s %11s %11s %9s %17s %17s\n", "model", "isa", "threads", "batch", "fp32 img/s", "int8 img/s", "int8/fp32",
                "fp32 p50/p99 ms", "int8 p50/p99 ms");
    for (const auto& [name, desc] : todo) {
        result f, q;
        bool have_f = false, have_q = false;
        for (const auto& p : precisions) {
            if (!a.quiet) std::fprintf(stderr, "%s %s: compiling, %d warm-up runs...\n", name.c_str(), p.c_str(), a.warmup);
            result r = measure(desc, name, p == "fp32", a.batch, a.threads, a.warmup, a.iterations, a.quiet);
            (p == "fp32" ? f : q) = r;
            (p == "fp32" ? have_f : have_q) = true;
            results.push_back(r);
        }
        char fs[32] = "-", qs[32] = "-", ratio[32] = "-", fl[40] = "-", ql[40] = "-";
        if (have_f) { std::snprintf(fs, sizeof fs, "%.2f", f.images_per_s); std::snprintf(fl, sizeof fl, "%.2f/%.2f", f.p50, f.p99); }
        if (have_q) { std::snprintf(qs, sizeof qs, "%.2f", q.images_per_s); std::snprintf(ql, sizeof ql, "%.2f/%.2f", q.p50, q.p99); }
        if (have_f && have_q) std::snprintf(ratio, sizeof ratio, "%.2fx", q.images_per_s / f.images_per_s);
        std::printf("%-14s %-18s %7d %5lld %11s %11s %9s %17s %17s\n", name.c_str(), (have_q ? q : f).isa.c_str(), a.threads,
                    static_cast<long long>(a.batch), fs, qs, ratio, fl, ql);
        std::fflush(stdout);
    }
    if (!a.json.empty()) write_json(a.json, results);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("Measures FP32 and INT8 images/s of qint8 models and their ratio. Models use deterministic synthetic\n"
                 "weights (as qint8-synth makes them) unless --manifest names a converted model.",
                 "bench_models");
    qint8::tools::conventions(app, "bench_models --model resnet50,mobilenet_v2 --threads 1 --precision both --json results/qint8.json");
    bench_args a;
    auto* model = app.add_option("--model", a.model, qint8::models::topology_list() + ", a comma list, or all");
    auto* manifest = app.add_option("--manifest", a.manifest, "benchmark this converted model (model.json) instead of synthetic ones");
    model->excludes(manifest);
    app.add_option("--threads,--num_threads", a.threads, "threads each model is built and run with")->check(CLI::Range(1, 1024));
    app.add_option("--batch,--batch_size", a.batch, "images per run")->check(CLI::Range(int64_t{1}, int64_t{4096}));
    app.add_option("--precision", a.precision, "precisions to run: fp32, int8, or both (also written fp32,int8)")
        ->check(CLI::IsMember({"fp32", "int8", "both", "fp32,int8", "int8,fp32"}));
    app.add_option("--warmup", a.warmup, "untimed runs before timing")->check(CLI::Range(0, 100000));
    app.add_option("--iterations,--iters", a.iterations, "timed runs (images/s is from the median run)")->check(CLI::Range(1, 1000000));
    auto* size = app.add_option("--input-size", a.input_size, "input height and width of synthetic models")->check(CLI::Range(int64_t{32}, int64_t{4096}));
    auto* classes = app.add_option("--classes", a.classes, "classes of synthetic models")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    auto* seed = app.add_option("--seed", a.seed, "seed of the synthetic weights")->check(CLI::Range(0LL, 0xffffffffLL));
    for (auto* o : {size, classes, seed}) o->excludes(manifest);
    app.add_option("--json", a.json, "also write the results to this JSON file (its directory is created)");
    app.add_flag("--quiet,-q", a.quiet, "no progress on stderr");
    return qint8::tools::run(app, argc, argv, [&] { bench(a); });
}
