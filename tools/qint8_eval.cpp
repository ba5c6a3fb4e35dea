// qint8-eval: accuracy and speed of a model on a labelled data file (the seed's C++ tester).
//   qint8-eval --model model.json --data data.bin --batch-size 50 --threads 1 --precision int8

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <vector>

#include <nlohmann/json.hpp>
#include <qint8/qint8.hpp>

#include "common/cli.hpp"
#include "common/dataset.hpp"
#include "common/progress.hpp"
#include "common/stats.hpp"

using namespace qint8;
using namespace qint8::tools;


int main(int argc, char** argv) {
    cli c("qint8-eval", "Runs a model over a labelled data file (from qint8-preprocess) and prints top-1/top-5 accuracy,\n"
                        "images/s and batch latency; with --profile, time per layer.");
    c.option("model", "", "manifest (model.json)", {"infer_model"})
        .option("data", "", "data file: int64 N, N float32 CHW images, N int64 labels", {"infer_data"})
        .option("batch-size", "50", "images per run", {"batch_size"})
        .option("iterations", "0", "batches to run (0: the whole file)")
        .option("threads", "1", "OpenMP threads", {"num_threads"})
        .option("precision", "int8", "int8 (as the manifest quantizes it) or fp32 (the same model in f32)")
        .option("label-offset", "auto", "added to data labels before comparing with model outputs; auto: 1 for models with a background class, else 0")
        .option("warmup", "1", "untimed batches before timing (not counted in speed, counted in accuracy)")
        .option("json", "", "also write the results to this JSON file")
        .flag("profile", "print time per layer", {"use_profile"})
        .flag("with_accuracy_layer", "accepted for compatibility (accuracy is always computed)");
    try {
        c.parse(argc, argv);
        if (c.str("model").empty() || c.str("data").empty()) throw std::invalid_argument("--model and --data are required (see --help)");
        const int64_t batch = c.integer("batch-size", 1, 65536);
        const int threads = static_cast<int>(c.integer("threads", 1, 1024));
        const std::string prec = c.str("precision");
        if (prec != "int8" && prec != "fp32") throw std::invalid_argument("--precision: expected int8 or fp32, found \"" + prec + "\"");

        compile_options co;
        co.batch = batch;
        co.force_fp32 = prec == "fp32";
        co.threads = threads;  // the one thread setting: sessions run with the model's count
        std::fprintf(stderr, "loading %s...\n", c.str("model").c_str());
        model net = model::load(c.str("model"), co);
        int64_t offset = net.desc().classes.background_class ? 1 : 0;
        if (c.str("label-offset") != "auto") offset = c.integer("label-offset", -1000000, 1000000);
        const std::size_t in_floats = net.input_size(), classes = net.output_size();
        dataset_reader data(c.str("data"), in_floats);
        std::size_t n = data.size();
        const long long iters = c.integer("iterations", 0, 1LL << 40);
        if (iters > 0) n = std::min<std::size_t>(n, static_cast<std::size_t>(iters) * static_cast<std::size_t>(batch));
        if (n == 0) throw std::invalid_argument(c.str("data") + ": no images");

        session_options so;
        so.threads = threads;
        so.profile = c.on("profile");
        session s(net, so);
        std::vector<float> in(in_floats * static_cast<std::size_t>(batch)), out(classes * static_cast<std::size_t>(batch));
        const int warmup = static_cast<int>(c.integer("warmup", 0, 1000));
        for (int i = 0; i < warmup; ++i) s.run(in.data(), out.data());
        std::vector<double> saved_profile = s.step_times_ms();

        std::size_t top1 = 0, top5 = 0, bad_labels = 0;
        std::vector<double> lat;
        double total_ms = 0;
        progress bar("evaluating", n);
        for (std::size_t first = 0; first < n; first += static_cast<std::size_t>(batch)) {
            const std::size_t cnt = std::min<std::size_t>(static_cast<std::size_t>(batch), n - first);
            data.read(first, cnt, in.data());
            if (cnt < static_cast<std::size_t>(batch)) std::fill(in.begin() + static_cast<std::ptrdiff_t>(cnt * in_floats), in.end(), 0.f);
            const auto t0 = std::chrono::steady_clock::now();
            s.run(in.data(), out.data());
            const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
            if (cnt == static_cast<std::size_t>(batch)) lat.push_back(ms);
            total_ms += ms;
            for (std::size_t i = 0; i < cnt; ++i) {
                const int64_t want = data.label(first + i) + offset;
                if (want < 0 || want >= static_cast<int64_t>(classes)) { ++bad_labels; continue; }
                const auto t = kernels::top_k(out.data() + i * classes, classes, 5);
                if (!t.empty() && t[0].first == want) ++top1;
                for (const auto& p : t) top5 += p.first == want;
            }
            bar.tick(cnt);
        }
        bar.done();
        if (bad_labels)
            std::fprintf(stderr, "warning: %zu labels (after offset %lld) fall outside the model's %zu outputs; counted as wrong\n", bad_labels,
                         static_cast<long long>(offset), classes);

        const double t1 = static_cast<double>(top1) / static_cast<double>(n), t5 = static_cast<double>(top5) / static_cast<double>(n);
        const double ips = 1000.0 * static_cast<double>(n) / total_ms;
        const double p50 = percentile(lat, 0.5), p99 = percentile(lat, 0.99);
        std::printf("model:        %s (%s, %s path, %d thread%s, batch %lld)\n", c.str("model").c_str(), prec.c_str(),
                    to_string(net.code_path()), threads, threads == 1 ? "" : "s", static_cast<long long>(batch));
        std::printf("images:       %zu\n", n);
        std::printf("top-1:        %.4f (%.2f%%)\n", t1, 100 * t1);
        std::printf("top-5:        %.4f (%.2f%%)\n", t5, 100 * t5);
        std::printf("images/s:     %.2f\n", ips);
        std::printf("batch ms:     p50 %.3f  p99 %.3f\n", p50, p99);

        nlohmann::json prof = nlohmann::json::array();
        if (c.on("profile")) {
            const auto steps = net.steps();
            const auto& t = s.step_times_ms();
            std::map<std::string, std::pair<double, std::string>> per;
            std::vector<std::string> order;
            double sum = 0;
            for (std::size_t i = 0; i < steps.size(); ++i) {
                const std::string key = steps[i].layer.empty() ? "(input/output)" : steps[i].layer;
                if (!per.count(key)) order.push_back(key);
                auto& e = per[key];
                const double runs_ms = (t[i] - (i < saved_profile.size() ? saved_profile[i] : 0.0)) / static_cast<double>((n + static_cast<std::size_t>(batch) - 1) / static_cast<std::size_t>(batch));
                e.first += runs_ms;
                if (e.second.empty() || steps[i].what.rfind("reorder", 0) != 0) e.second = steps[i].what;
                sum += runs_ms;
            }
            std::printf("\n%-34s %10s %7s  %s\n", "layer", "ms/batch", "share", "implementation");
            for (const auto& k : order) {
                std::printf("%-34s %10.3f %6.1f%%  %s\n", k.c_str(), per[k].first, sum > 0 ? 100 * per[k].first / sum : 0.0, per[k].second.c_str());
                prof.push_back({{"layer", k}, {"ms_per_batch", per[k].first}, {"implementation", per[k].second}});
            }
        }
        if (!c.str("json").empty()) {
            nlohmann::json j = {{"model", c.str("model")}, {"precision", prec}, {"top1", t1}, {"top5", t5}, {"images", n},
                                {"images_per_s", ips}, {"batch", batch}, {"threads", threads}, {"latency_ms_p50", p50},
                                {"latency_ms_p99", p99}, {"isa", to_string(net.code_path())}, {"label_offset", offset}};
            if (c.on("profile")) j["profile"] = prof;
            detail::write_file_atomically(c.str("json"), j.dump(2) + "\n");
        }
    } catch (const std::invalid_argument& e) {
        std::fprintf(stderr, "qint8-eval: %s\n", e.what());
        return 2;
    } catch (const std::exception& e) {
        std::fprintf(stderr, "qint8-eval: %s\n", e.what());
        return 1;
    }
    return 0;
}
