// bench_models: FP32 vs INT8 images/s of the six topologies (synthetic weights unless
// --manifest is given), the performance table of the seed tutorial in one command.
//   bench_models --model=mobilenet_v2 --threads=20
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

#include "../tools/common/cli.hpp"
#include "../tools/common/stats.hpp"

namespace {

using qint8::tools::percentile;

struct result {
    std::string model, precision, isa;
    int threads = 1;
    int64_t batch = 1;
    double images_per_s = 0, p50 = 0, p99 = 0, mean = 0;
    int iterations = 0;
};


result measure(const qint8::model_desc& desc, const std::string& name, bool fp32, int64_t batch, int threads, int warmup, int iterations) {
    qint8::compile_options co;
    co.batch = batch;
    co.force_fp32 = fp32;
    co.threads = threads;
    qint8::model net(desc, co, name);
    qint8::session s(net);
    std::vector<float> in = qint8::models::synthetic_images(desc, batch, 7);
    std::vector<float> out(net.output_size() * static_cast<std::size_t>(batch));
    for (int i = 0; i < warmup; ++i) s.run(in.data(), out.data());
    std::vector<double> ms;
    for (int i = 0; i < iterations; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        s.run(in.data(), out.data());
        ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
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

}  // namespace

int main(int argc, char** argv) {
    qint8::tools::cli c("bench_models", "Measures FP32 and INT8 images/s of qint8 models and their ratio.\n"
                                        "Models use deterministic synthetic weights unless --manifest is given.");
    c.option("model", "all", "mobilenet_v1, mobilenet_v2, resnet50, resnet101, vgg16, vgg19, a comma list, or all")
        .option("manifest", "", "benchmark this converted model instead of a synthetic one")
        .option("threads", "1", "OpenMP threads", {"num_threads"})
        .option("batch", "1", "images per run", {"batch_size"})
        .option("precision", "fp32,int8", "precisions to run: fp32, int8 or both")
        .option("warmup", "3", "untimed runs before timing")
        .option("iterations", "20", "timed runs (images/s is from the median run)", {"iters"})
        .option("input-size", "224", "input height and width of synthetic models")
        .option("classes", "1000", "classes of synthetic models")
        .option("seed", "1", "seed of the synthetic weights")
        .option("json", "", "also write the results to this JSON file");
    try {
        c.parse(argc, argv);
        const int threads = static_cast<int>(c.integer("threads", 1, 1024));
        const int64_t batch = c.integer("batch", 1, 4096);
        const int warmup = static_cast<int>(c.integer("warmup", 0, 100000));
        const int iterations = static_cast<int>(c.integer("iterations", 1, 1000000));
        std::vector<std::string> precisions = c.list("precision");
        for (const auto& p : precisions)
            if (p != "fp32" && p != "int8") throw std::invalid_argument("--precision: expected fp32, int8 or fp32,int8, found \"" + p + "\"");
        const unsigned cores = std::thread::hardware_concurrency();
        if (cores && static_cast<unsigned>(threads) > cores)
            std::fprintf(stderr, "warning: --threads=%d exceeds the %u hardware threads of this machine; threads will share cores\n", threads, cores);

        std::vector<std::pair<std::string, qint8::model_desc>> todo;
        if (!c.str("manifest").empty()) {
            qint8::model_desc m = qint8::read_manifest(c.str("manifest"));
            todo.emplace_back(m.variant.empty() ? c.str("manifest") : m.variant, std::move(m));
        } else {
            std::vector<std::string> names = c.str("model") == "all" ? qint8::models::topology_names() : c.list("model");
            qint8::models::topology_request req;
            req.input_size = c.integer("input-size", 32, 4096);
            req.classes = c.integer("classes", 1, 1 << 20);
            for (const auto& n : names) {
                std::fprintf(stderr, "%s: synthesizing weights and calibrating...\n", n.c_str());
                qint8::models::synth_options so;
                so.progress = [&](const std::string& s) { std::fprintf(stderr, "  %s\n", s.c_str()); };
                todo.emplace_back(n, qint8::models::synthesize(qint8::models::structure_by_name(n, req), static_cast<uint32_t>(c.integer("seed", 0, UINT32_MAX)), so));
            }
        }

        std::vector<result> results;
        std::printf("%-14s %-18s %7s %5s %11s %11s %9s %17s %17s\n", "model", "isa", "threads", "batch", "fp32 img/s", "int8 img/s",
                    "int8/fp32", "fp32 p50/p99 ms", "int8 p50/p99 ms");
        for (const auto& [name, desc] : todo) {
            result f, q;
            bool have_f = false, have_q = false;
            for (const auto& p : precisions) {
                std::fprintf(stderr, "%s %s: %d warm-up + %d timed runs...\n", name.c_str(), p.c_str(), warmup, iterations);
                result r = measure(desc, name, p == "fp32", batch, threads, warmup, iterations);
                (p == "fp32" ? f : q) = r;
                (p == "fp32" ? have_f : have_q) = true;
                results.push_back(r);
            }
            char fs[32] = "-", qs[32] = "-", ratio[32] = "-", fl[40] = "-", ql[40] = "-";
            if (have_f) { std::snprintf(fs, sizeof fs, "%.2f", f.images_per_s); std::snprintf(fl, sizeof fl, "%.2f/%.2f", f.p50, f.p99); }
            if (have_q) { std::snprintf(qs, sizeof qs, "%.2f", q.images_per_s); std::snprintf(ql, sizeof ql, "%.2f/%.2f", q.p50, q.p99); }
            if (have_f && have_q) std::snprintf(ratio, sizeof ratio, "%.2fx", q.images_per_s / f.images_per_s);
            std::printf("%-14s %-18s %7d %5lld %11s %11s %9s %17s %17s\n", name.c_str(), (have_q ? q : f).isa.c_str(), threads,
                        static_cast<long long>(batch), fs, qs, ratio, fl, ql);
            std::fflush(stdout);
        }
        if (!c.str("json").empty()) {
            nlohmann::json j;
            j["results"] = nlohmann::json::array();
            for (const auto& r : results)
                j["results"].push_back({{"model", r.model}, {"precision", r.precision}, {"threads", r.threads}, {"batch", r.batch},
                                        {"images_per_s", r.images_per_s}, {"latency_ms_p50", r.p50}, {"latency_ms_p99", r.p99},
                                        {"latency_ms_mean", r.mean}, {"iterations", r.iterations}, {"isa", r.isa}});
            const qint8::cpu_info_t ci = qint8::cpu_info();
            j["machine"] = {{"cpu", ci.cpu_name}, {"hardware_threads", cores}, {"detected_isa", qint8::to_string(ci.detected)}};
            qint8::detail::write_file_atomically(c.str("json"), j.dump(2) + "\n");
        }
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "bench_models: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "bench_models: %s\n", e.what());
        return 1;
    }
    return 0;
}
