// bench_models: FP32 vs INT8 images/s of the six topologies (synthetic weights unless
// --manifest is given), the performance table of the seed tutorial in one command.
//   bench_models --model=mobilenet_v2 --threads=2 --precision=both
//   bench_models --model=all --threads=1 --json=results.json
//   bench_models --model=resnet50 --roofline --profile     (share of the hardware limit, per layer)
//   bench_models --model=mobilenet_v2 --duration=10 --csv=r.csv   (timed runs for 10 s; one CSV row per precision)

#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>
#include <qint8/qint8.hpp>

#include <algorithm>
#include <cmath>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <map>
#include <optional>

#include "common/app.hpp"
#include "common/file_kind.hpp"
#include "common/progress.hpp"
#include "common/threads.hpp"
#include "common/tuning.hpp"
#include "latency.hpp"
#include "macs.hpp"
#include "machine.hpp"
#include "report_files.hpp"

namespace {

using namespace qint8::bench;
using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) { return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count(); }

struct bench_args {
    std::string model = "all", manifest, precision = "fp32,int8", json, csv;
    int threads = 1, warmup = 3, iterations = 20;
    double duration_s = 0;  ///< > 0: timed runs until this many seconds have passed, instead of --iterations
    int64_t batch = 1, input_size = 224, classes = 1000;
    long long seed = 1;
    bool quiet = false, roofline = false, profile = false;
    qint8::tools::tuning_args tuning;
};

/// A model to measure: its description and, for a manifest, the time reading it took.
struct loaded {
    std::string name;
    qint8::model_desc desc;
    double read_ms = 0;
};

/// Milliseconds of each timed run: --iterations runs, or as many as fit in --duration seconds.
std::vector<double> time_runs(qint8::session& s, const std::vector<float>& in, std::vector<float>& out, const bench_args& a, const std::string& label) {
    std::vector<double> ms;
    const bool timed = a.duration_s > 0;
    // With --duration the progress counts seconds; the number of runs is not known in advance.
    qint8::tools::progress bar(label + (timed ? " (seconds)" : ""), timed ? static_cast<std::size_t>(std::ceil(a.duration_s))
                                                                          : static_cast<std::size_t>(a.iterations), a.quiet);
    const auto start = clock_type::now();
    std::size_t seconds = 0;
    for (int i = 0; timed || i < a.iterations; ++i) {
        const auto t0 = clock_type::now();
        s.run(in.data(), out.data());
        ms.push_back(ms_since(t0));
        if (!timed) {
            bar.tick();
            continue;
        }
        const double elapsed = ms_since(start) / 1000.0;
        const std::size_t whole = static_cast<std::size_t>(std::min(elapsed, a.duration_s));
        if (whole > seconds) bar.tick(whole - seconds);
        seconds = std::max(seconds, whole);
        if (elapsed >= a.duration_s) break;
    }
    bar.done();
    return ms;
}

/// Images/s, the limit of the hardware (with --roofline: probed again here, right after the
/// timed runs, and the best probe so far taken) and the per-step profile (with --profile).
void add_rates(result& r, const qint8::model& net, const loaded& ld, const bench_args& a, machine_peaks& peaks, const std::vector<float>& in) {
    r.images_per_s = 1000.0 * static_cast<double>(a.batch) / r.latency.p50;  // the median: robust on a shared machine
    const std::map<std::string, double> macs = layer_macs(ld.desc);
    for (const auto& [layer, n] : macs) r.macs += n;
    if (a.roofline) peaks.probe();
    if (a.profile) {
        qint8::session_options po;
        po.profile = true;
        qint8::session ps(net, po);
        const int runs = a.duration_s > 0 ? 20 : std::max(1, std::min(a.iterations, 20));
        r.profile = profile_steps(net, ps, in, runs, macs);
    }
    apply_peaks(r, peaks);
}

/// Compiles and times one model in one precision.
result measure(const loaded& ld, bool fp32, const bench_args& a, int threads, machine_peaks& peaks) {
    const bool reset = reset_peak_memory();
    result r;
    auto t0 = clock_type::now();
    qint8::compile_options co;
    co.batch = a.batch;
    co.force_fp32 = fp32;
    co.threads = threads;
    qint8::tools::apply_tuning(a.tuning, co);
    qint8::model net(ld.desc, co, ld.name);
    qint8::session s(net);
    r.compile_ms = ms_since(t0);
    if (!a.quiet && (a.tuning.tune || !a.tuning.cache.empty())) qint8::tools::report_choices("bench_models", net);
    r.read_ms = ld.read_ms;
    std::vector<float> in = qint8::models::synthetic_images(ld.desc, a.batch, 7);
    std::vector<float> out(net.output_size() * static_cast<std::size_t>(a.batch));
    t0 = clock_type::now();
    s.run(in.data(), out.data());
    r.first_run_ms = ms_since(t0);
    for (int i = 1; i < a.warmup; ++i) s.run(in.data(), out.data());
    r.model = ld.name;
    r.precision = fp32 ? "fp32" : "int8";
    r.ms = time_runs(s, in, out, a, ld.name + " " + r.precision + " timed runs");
    r.latency = summarize(r.ms);
    r.isa = qint8::to_string(net.code_path());
    r.threads = net.threads();
    r.batch = a.batch;
    r.memory = read_peak_memory(reset);  // before the profiled session adds its buffers
    add_rates(r, net, ld, a, peaks, in);
    return r;
}

/// --precision as a list: "both" and "fp32,int8" are the same.
std::vector<std::string> precisions_of(const std::string& p) {
    if (p == "both" || p == "fp32,int8" || p == "int8,fp32") return {"fp32", "int8"};
    return {p};
}

/// The topology names asked for (checked before any work starts), or the manifest.
std::vector<std::string> names_of(const bench_args& a) {
    if (!a.manifest.empty()) {
        qint8::tools::expect_manifest(a.manifest, "--manifest");
        return {a.manifest};
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
    return names;
}

/// Reads the manifest or synthesizes the topology `name`, one model at a time so that each
/// model's peak memory is its own.
loaded load(const bench_args& a, const std::string& name) {
    loaded ld;
    if (!a.manifest.empty()) {
        const auto t0 = clock_type::now();
        ld.desc = qint8::read_manifest(a.manifest);
        ld.read_ms = ms_since(t0);
        ld.name = ld.desc.variant.empty() ? a.manifest : ld.desc.variant;
        return ld;
    }
    qint8::models::topology_request req;
    req.input_size = a.input_size;
    req.classes = a.classes;
    if (!a.quiet) std::fprintf(stderr, "%s: synthesizing weights and calibrating...\n", name.c_str());
    qint8::models::synth_options so;
    if (!a.quiet) so.progress = [&](const std::string& s) { std::fprintf(stderr, "  %s\n", s.c_str()); };
    ld.name = name;
    ld.desc = qint8::models::synthesize(qint8::models::structure_by_name(name, req), static_cast<uint32_t>(a.seed), so);
    return ld;
}

/// Writes `text` to `path` atomically; a failure is an output error (exit status 4).
void write_output(const std::string& path, const std::string& text) {
    try {
        qint8::io::write_file_atomically(path, text);
    } catch (const qint8::error& e) {
        throw qint8::tools::output_error(e.what());
    }
}

/// Two or more threads on a machine already busy: spinning OpenMP threads then wait at every
/// barrier for a preempted partner (docs/performance.md measured 2 threads at a twelfth of one
/// thread's speed). libgomp reads its wait policy at start-up, so this can only be said.
void warn_if_shared(int threads) {
    double load[1] = {0};
    if (threads < 2 || std::getenv("OMP_WAIT_POLICY") || getloadavg(load, 1) != 1 || load[0] < 1.0) return;
    std::fprintf(stderr, "note: load average %.1f before starting: with other processes on the cores, %d spinning OpenMP threads can be "
                         "slower than one; OMP_WAIT_POLICY=passive avoids that (docs/performance.md, Threads)\n", load[0], threads);
}

/// The limit of the run's threads together, and how much they add to one thread.
void print_thread_peaks(const machine_peaks& p) {
    std::printf("roofline (%d threads at once): INT8 %.1f GMAC/s (%.2fx one thread), FP32 %.1f GMAC/s\n", p.threads, p.int8_all.gmacs,
                p.int8_scaling(), p.fp32_all.gmacs);
    if (p.int8_scaling() < 0.75 * p.threads)
        std::printf("note: %d threads together reach %.2fx one thread's INT8 rate: they share cores (hardware threads of one core, or a "
                    "host running the vCPUs on fewer cores); the limits and shares use their rate together\n",
                    p.threads, p.int8_scaling());
}

/// The start-up probe: three rounds, so that one slow stretch of a shared core is not the peak.
/// With several threads the limit is their probe together, and a note says when they add little
/// to one thread's rate (hardware threads of one core, or a host that runs the vCPUs on one).
machine_peaks probe_peaks(int threads) {
    machine_peaks p;
    p.threads = threads;
    p.probe(3);
    std::printf("roofline (one core, %.0f ms probe): INT8 %.1f GMAC/s (%s), FP32 %.1f GMAC/s (%s)\n", p.probe_ms, p.int8.gmacs, p.int8.how,
                p.fp32.gmacs, p.fp32.how);
    if (threads > 1) print_thread_peaks(p);
    return p;
}

/// The peaks over the whole run, which the JSON and CSV files use. The table's lines used the
/// best probe up to each line, so an earlier line can show a higher share than the files.
void print_run_peaks(const machine_peaks& p) {
    std::printf("roofline over the run (%d probes, best / lowest): INT8 %.1f / %.1f GMAC/s, FP32 %.1f / %.1f GMAC/s\n", p.probes, p.int8.gmacs,
                p.int8_lowest, p.fp32.gmacs, p.fp32_lowest);
    if (p.threads > 1) print_thread_peaks(p);
}

/// The table of images/s, one line per model, printed as each model finishes. The header waits
/// for the first line, so a run that fails before any model is measured prints no empty table,
/// and the model column is as wide as the longest name.
class speed_table {
public:
    speed_table(bool roofline, std::size_t name_width) : roofline_(roofline), w_(static_cast<int>(std::max<std::size_t>(name_width, 5))) {}

    /// One line; `f` and `q` are null for a precision not run.
    void line(const result* f, const result* q) {
        if (!header_done_) header();
        const result& any = q ? *q : *f;
        std::printf("%-*s %-18s %7d %5lld %11s %11s %9s %17s %17s", w_, any.model.c_str(), any.isa.c_str(), any.threads,
                    static_cast<long long>(any.batch), fmt(f, "%.2f", f ? f->images_per_s : 0).c_str(), fmt(q, "%.2f", q ? q->images_per_s : 0).c_str(),
                    f && q ? fmt(q, "%.2fx", q->images_per_s / f->images_per_s).c_str() : "-", p50_p99(f).c_str(), p50_p99(q).c_str());
        if (roofline_)
            std::printf(" %8.3f %10s %10s", any.macs / 1e9, fmt(f, "%.0f%%", f ? 100 * f->share : 0).c_str(),
                        fmt(q, "%.0f%%", q ? 100 * q->share : 0).c_str());
        // Loading (manifest read + compilation) and the first run, in steady-state runs; peak memory.
        std::printf(" %9s %9s %8s %8s\n", fmt(f, "%.1fx", f ? f->load_over_steady() : 0).c_str(), fmt(q, "%.1fx", q ? q->load_over_steady() : 0).c_str(),
                    fmt(f, "%.0f", f ? f->memory.mib : 0).c_str(), fmt(q, "%.0f", q ? q->memory.mib : 0).c_str());
        std::fflush(stdout);
    }

private:
    void header() {
        header_done_ = true;
        std::printf("%-*s %-18s %7s %5s %11s %11s %9s %17s %17s", w_, "model", "isa", "threads", "batch", "fp32 img/s", "int8 img/s", "int8/fp32",
                    "fp32 p50/p99 ms", "int8 p50/p99 ms");
        if (roofline_) std::printf(" %8s %10s %10s", "GMAC/img", "fp32 limit", "int8 limit");
        std::printf(" %9s %9s %8s %8s\n", "fp32 load", "int8 load", "fp32 MiB", "int8 MiB");
    }
    static std::string fmt(const result* r, const char* f, double v) {
        if (!r) return "-";
        char b[40];
        std::snprintf(b, sizeof b, f, v);
        return b;
    }
    static std::string p50_p99(const result* r) {
        if (!r) return "-";
        char b[48];
        std::snprintf(b, sizeof b, "%.2f/%.2f", r->latency.p50, r->latency.p99);
        return b;
    }
    bool roofline_, header_done_ = false;
    int w_;
};

/// Every result's run-time summary, after the speed table (the figures benchmark tools print).
void print_latency(const std::vector<result>& results) {
    if (results.empty()) return;
    std::size_t w = 5;
    for (const auto& r : results) w = std::max(w, r.model.size());
    const int wi = static_cast<int>(w);
    std::printf("\nms per run (batch %lld):\n%-*s %-4s %6s %9s %9s %9s %9s %9s %9s %9s %9s\n", static_cast<long long>(results[0].batch), wi, "model", "prec", "runs", "min", "mean", "stddev", "p50", "p90", "p95", "p99", "max");
    for (const auto& r : results) {
        const latency_summary& l = r.latency;
        std::printf("%-*s %-4s %6zu %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f\n", wi, r.model.c_str(), r.precision.c_str(), l.runs, l.min,
                    l.mean, l.stddev, l.p50, l.p90, l.p95, l.p99, l.max);
    }
}

/// The longest name the table will show: the topology names, or for a manifest its model name.
std::size_t name_width(const std::vector<std::string>& names, const bench_args& a) {
    std::size_t w = 0;
    for (const auto& n : names) w = std::max(w, a.manifest.empty() ? n.size() : std::size_t{0});
    return w;
}

void bench(const bench_args& a, const provenance& prov) {
    if (!a.json.empty()) qint8::tools::prepare_output(a.json, "--json");
    if (!a.csv.empty()) qint8::tools::prepare_output(a.csv, "--csv");
    const std::vector<std::string> precisions = precisions_of(a.precision);
    const int threads = qint8::tools::usable_threads(a.threads, "bench_models");
    warn_if_shared(threads);
    const std::vector<std::string> names = names_of(a);
    machine_peaks peaks = a.roofline ? probe_peaks(threads) : machine_peaks{};
    if (!a.quiet) std::fprintf(stderr, "cpu: %s; qint8 %s, oneDNN %s\n", prov.cpu.c_str(), qint8::version_string, onednn_version().c_str());
    std::vector<result> results;
    std::optional<speed_table> table;
    for (const auto& name : names) {
        const loaded ld = load(a, name);
        if (!table) table.emplace(a.roofline, std::max(name_width(names, a), ld.name.size()));
        std::optional<result> f, q;
        for (const auto& p : precisions) {
            if (!a.quiet) std::fprintf(stderr, "%s %s: compiling, %d warm-up runs...\n", ld.name.c_str(), p.c_str(), a.warmup);
            (p == "fp32" ? f : q) = measure(ld, p == "fp32", a, threads, peaks);
            results.push_back(p == "fp32" ? *f : *q);
        }
        for (auto* r : {f ? &*f : nullptr, q ? &*q : nullptr})
            if (r) apply_peaks(*r, peaks);  // with the probe taken after the last of them
        table->line(f ? &*f : nullptr, q ? &*q : nullptr);
        for (const auto* r : {f ? &*f : nullptr, q ? &*q : nullptr})
            if (r && !r->profile.empty())
                print_profile(r->model + " " + r->precision + " (" + r->isa + ", " + std::to_string(r->threads) + " thread(s), batch " +
                                  std::to_string(r->batch) + "), per step:", r->profile, a.roofline);
    }
    print_latency(results);
    if (peaks.measured()) {
        print_run_peaks(peaks);
        for (result& r : results) apply_peaks(r, peaks);
    }
    std::printf("\ncpu: %s; qint8 %s, oneDNN %s\n", prov.cpu.c_str(), qint8::version_string, onednn_version().c_str());
    if (!a.json.empty()) write_output(a.json, results_json(results, peaks, prov));
    if (!a.csv.empty()) write_output(a.csv, results_csv(results, prov));
}

/// The options; kept apart from main() so that adding one is one line here.
void declare_options(CLI::App& app, bench_args& a) {
    using qint8::tools::in_range;
    auto* model = app.add_option("--model", a.model, qint8::models::topology_list() + ", a comma list, or all");
    auto* manifest = app.add_option("--manifest", a.manifest, "benchmark this converted model (model.json) instead of synthetic ones");
    model->excludes(manifest);
    app.add_option("--threads,--num_threads", a.threads, "threads each model is built and run with (at most the processors available)")->check(in_range(1, 1024));
    app.add_option("--batch,--batch_size", a.batch, "images per run")->check(in_range(int64_t{1}, int64_t{4096}));
    app.add_option("--precision", a.precision, "precisions to run: fp32, int8, or both (also written fp32,int8)")
        ->check(qint8::tools::one_of({"fp32", "int8", "both"}, {"fp32,int8", "int8,fp32"}))
        ->default_str("both");
    app.add_option("--warmup", a.warmup, "untimed runs before timing (at least one is made: it is reported as the first run)")->check(in_range(0, 100000));
    auto* iterations = app.add_option("--iterations,--iters", a.iterations, "timed runs (images/s is from the median run)")->check(in_range(1, 1000000));
    app.add_option("--duration", a.duration_s, "instead of --iterations: timed runs until this many seconds have passed (at least one run)")
        ->check(in_range(0.001, 86400.0))
        ->excludes(iterations);
    auto* size = app.add_option("--input-size", a.input_size, "input height and width of synthetic models")->check(in_range(int64_t{32}, int64_t{4096}));
    auto* classes = app.add_option("--classes", a.classes, "classes of synthetic models")->check(in_range(int64_t{1}, int64_t{1} << 20));
    auto* seed = app.add_option("--seed", a.seed, "seed of the synthetic weights")->check(in_range(0LL, 0xffffffffLL));
    for (auto* o : {size, classes, seed}) o->excludes(manifest);
    app.add_flag("--roofline", a.roofline, "probe this core's INT8 and FP32 peak, and with --threads above 1 the threads' peak together (at start-up and after every model: the best probe is the peak), and print each model's share of its limit");
    app.add_flag("--profile", a.profile, "per-step time, GMAC/s, share of the limit (with --roofline) and implementation");
    app.add_option("--json", a.json, "also write the results to this JSON file: versions, command line, time, CPU, every run's time "
                                     "(its directory is created)");
    app.add_option("--csv", a.csv, "also write one CSV line per model and precision to this file (its directory is created)");
    app.add_flag("--quiet,-q", a.quiet, "no progress on stderr");
    qint8::tools::add_tuning_options(app, a.tuning);  // with --tune, the load column includes the measuring
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("Measures FP32 and INT8 images/s of qint8 models and their ratio, and the time per run (min, mean,\n"
                 "stddev, p50/p90/p95/p99, max). Models use deterministic synthetic weights (as qint8-synth makes them)\n"
                 "unless --manifest names a converted model.",
                 "bench_models");
    qint8::tools::conventions(app, "bench_models --model resnet50,mobilenet_v2 --threads 1 --precision both --roofline --json results/qint8.json");
    bench_args a;
    declare_options(app, a);
    const provenance prov{command_line(argc, argv), utc_timestamp(), cpu_name()};
    return qint8::tools::run(app, argc, argv, [&] { bench(a, prov); });
}
