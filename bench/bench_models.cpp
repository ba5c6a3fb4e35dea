// bench_models: FP32 vs INT8 images/s of the six topologies (synthetic weights unless
// --manifest is given), the performance table of the seed tutorial in one command.
//   bench_models --model=mobilenet_v2 --threads=2 --precision=both
//   bench_models --model=all --threads=1 --json=results.json
//   bench_models --model=resnet50 --roofline --profile     (share of the hardware limit, per layer)

#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>
#include <qint8/qint8.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/app.hpp"
#include "common/file_kind.hpp"
#include "common/progress.hpp"
#include "common/stats.hpp"
#include "macs.hpp"
#include "memory.hpp"
#include "profile.hpp"
#include "roofline.hpp"

namespace {

using qint8::tools::percentile;
using clock_type = std::chrono::steady_clock;

double ms_since(clock_type::time_point t0) { return std::chrono::duration<double, std::milli>(clock_type::now() - t0).count(); }

struct bench_args {
    std::string model = "all", manifest, precision = "fp32,int8", json;
    int threads = 1, warmup = 3, iterations = 20;
    int64_t batch = 1, input_size = 224, classes = 1000;
    long long seed = 1;
    bool quiet = false, roofline = false, profile = false;
};

/// The machine's one-core peaks (--roofline); zero when not measured.
struct machine_peaks {
    qint8::bench::probe_result int8, fp32;
    double probe_ms = 0;
    double for_precision(bool fp32_run) const { return fp32_run ? fp32.gmacs : int8.gmacs; }
};

struct result {
    std::string model, precision, isa;
    int threads = 1;
    int64_t batch = 1;
    double images_per_s = 0, p50 = 0, p99 = 0, mean = 0;
    int iterations = 0;
    double read_ms = 0, compile_ms = 0, first_run_ms = 0;  ///< loading: manifest read, model compilation, first run
    qint8::bench::peak_memory memory;
    double macs = 0, limit_images_per_s = 0, share = 0;   ///< per image; limit and share with --roofline
    std::vector<qint8::bench::profile_row> profile;
};

/// A model to measure: its description and, for a manifest, the time reading it took.
struct loaded {
    std::string name;
    qint8::model_desc desc;
    double read_ms = 0;
};

/// Milliseconds of each of `iterations` timed runs.
std::vector<double> time_runs(qint8::session& s, const std::vector<float>& in, std::vector<float>& out, int iterations, const std::string& label, bool quiet) {
    std::vector<double> ms;
    qint8::tools::progress bar(label, static_cast<std::size_t>(iterations), quiet);
    for (int i = 0; i < iterations; ++i) {
        const auto t0 = clock_type::now();
        s.run(in.data(), out.data());
        ms.push_back(ms_since(t0));
        bar.tick();
    }
    bar.done();
    return ms;
}

/// Compiles and times one model in one precision (plus its profile with --profile).
result measure(const loaded& ld, bool fp32, const bench_args& a, int threads, const machine_peaks& peaks) {
    const bool reset = qint8::bench::reset_peak_memory();
    result r;
    auto t0 = clock_type::now();
    qint8::compile_options co;
    co.batch = a.batch;
    co.force_fp32 = fp32;
    co.threads = threads;
    qint8::model net(ld.desc, co, ld.name);
    qint8::session s(net);
    r.compile_ms = ms_since(t0);
    r.read_ms = ld.read_ms;
    std::vector<float> in = qint8::models::synthetic_images(ld.desc, a.batch, 7);
    std::vector<float> out(net.output_size() * static_cast<std::size_t>(a.batch));
    t0 = clock_type::now();
    s.run(in.data(), out.data());
    r.first_run_ms = ms_since(t0);
    for (int i = 1; i < a.warmup; ++i) s.run(in.data(), out.data());
    const std::vector<double> ms = time_runs(s, in, out, a.iterations, ld.name + " " + (fp32 ? "fp32" : "int8") + " timed runs", a.quiet);
    r.model = ld.name;
    r.precision = fp32 ? "fp32" : "int8";
    r.isa = qint8::to_string(net.code_path());
    r.threads = net.threads();
    r.batch = a.batch;
    r.p50 = percentile(ms, 0.5);
    r.p99 = percentile(ms, 0.99);
    double sum = 0;
    for (double m : ms) sum += m;
    r.mean = sum / static_cast<double>(ms.size());
    r.images_per_s = 1000.0 * static_cast<double>(a.batch) / r.p50;  // the median: robust on a shared machine
    r.iterations = a.iterations;
    const std::map<std::string, double> macs = qint8::bench::layer_macs(ld.desc);
    for (const auto& [layer, n] : macs) r.macs += n;
    // One probe per core: the limit of N threads is taken as N times one core's peak.
    const double limit_gmacs = peaks.for_precision(fp32) * r.threads;
    if (limit_gmacs > 0 && r.macs > 0) {
        r.limit_images_per_s = limit_gmacs * 1e9 / r.macs;
        r.share = r.images_per_s / r.limit_images_per_s;
    }
    r.memory = qint8::bench::read_peak_memory(reset);  // before the profiled session adds its buffers
    if (a.profile) {
        qint8::session_options po;
        po.profile = true;
        qint8::session ps(net, po);
        r.profile = qint8::bench::profile_steps(net, ps, in, std::max(1, std::min(a.iterations, 20)), macs, limit_gmacs);
    }
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

nlohmann::json to_json(const result& r) {
    nlohmann::json j = {{"model", r.model}, {"precision", r.precision}, {"threads", r.threads}, {"batch", r.batch},
                        {"images_per_s", r.images_per_s}, {"latency_ms_p50", r.p50}, {"latency_ms_p99", r.p99},
                        {"latency_ms_mean", r.mean}, {"iterations", r.iterations}, {"isa", r.isa},
                        {"macs_per_image", r.macs},
                        {"load", {{"manifest_read_ms", r.read_ms}, {"compile_ms", r.compile_ms}, {"first_run_ms", r.first_run_ms},
                                  {"load_and_first_run_over_steady", (r.read_ms + r.compile_ms + r.first_run_ms) / r.p50}}},
                        {"peak_resident_mib", r.memory.mib}, {"peak_resident_is_per_model", r.memory.since_reset}};
    if (r.limit_images_per_s > 0) {
        j["limit_images_per_s"] = r.limit_images_per_s;
        j["share_of_limit"] = r.share;
    }
    if (!r.profile.empty()) {
        j["profile"] = nlohmann::json::array();
        for (const auto& p : r.profile)
            j["profile"].push_back({{"layer", p.layer}, {"implementation", p.what}, {"ms", p.ms}, {"macs", p.macs}, {"gmacs_per_s", p.gmacs}, {"share_of_limit", p.share}});
    }
    return j;
}

void write_json(const std::string& path, const std::vector<result>& results, const machine_peaks& peaks) {
    nlohmann::json j;
    j["results"] = nlohmann::json::array();
    for (const auto& r : results) j["results"].push_back(to_json(r));
    const qint8::cpu_info_t ci = qint8::cpu_info();
    j["machine"] = {{"cpu", ci.cpu_name}, {"hardware_threads", std::thread::hardware_concurrency()}, {"detected_isa", qint8::to_string(ci.detected)}};
    if (peaks.int8.gmacs > 0)
        j["roofline"] = {{"int8_gmacs_per_core", peaks.int8.gmacs}, {"int8_instructions", peaks.int8.how},
                         {"fp32_gmacs_per_core", peaks.fp32.gmacs}, {"fp32_instructions", peaks.fp32.how}, {"probe_ms", peaks.probe_ms}};
    try {
        qint8::io::write_file_atomically(path, j.dump(2) + "\n");
    } catch (const qint8::error& e) {
        throw qint8::tools::output_error(e.what());
    }
}

/// The thread count to run with: --threads, lowered to the processors OpenMP may use.
int usable_threads(int asked) {
    const int procs = omp_get_num_procs();
    if (asked <= procs) return asked;
    std::fprintf(stderr, "warning: --threads=%d exceeds the %d processors this process may use; running with %d threads "
                         "(more threads than processors only share cores)\n", asked, procs, procs);
    return procs;
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

machine_peaks probe_peaks() {
    machine_peaks p;
    const auto t0 = clock_type::now();
    p.int8 = qint8::bench::int8_peak();
    p.fp32 = qint8::bench::fp32_peak();
    p.probe_ms = ms_since(t0);
    std::printf("roofline (one core, %.0f ms probe): INT8 %.1f GMAC/s (%s), FP32 %.1f GMAC/s (%s)\n", p.probe_ms, p.int8.gmacs, p.int8.how,
                p.fp32.gmacs, p.fp32.how);
    return p;
}

void print_header(bool roofline) {
    std::printf("%-14s %-18s %7s %5s %11s %11s %9s %17s %17s", "model", "isa", "threads", "batch", "fp32 img/s", "int8 img/s", "int8/fp32",
                "fp32 p50/p99 ms", "int8 p50/p99 ms");
    if (roofline) std::printf(" %8s %10s %10s", "GMAC/img", "fp32 limit", "int8 limit");
    std::printf(" %10s %8s\n", "load+1st", "peak MiB");
}

/// One line per model; `f` and `q` are null for a precision not run.
void print_line(const result* f, const result* q, bool roofline) {
    const result& any = q ? *q : *f;
    char fs[32] = "-", qs[32] = "-", ratio[32] = "-", fl[40] = "-", ql[40] = "-", fr[32] = "-", qr[32] = "-";
    if (f) { std::snprintf(fs, sizeof fs, "%.2f", f->images_per_s); std::snprintf(fl, sizeof fl, "%.2f/%.2f", f->p50, f->p99); }
    if (q) { std::snprintf(qs, sizeof qs, "%.2f", q->images_per_s); std::snprintf(ql, sizeof ql, "%.2f/%.2f", q->p50, q->p99); }
    if (f && q) std::snprintf(ratio, sizeof ratio, "%.2fx", q->images_per_s / f->images_per_s);
    std::printf("%-14s %-18s %7d %5lld %11s %11s %9s %17s %17s", any.model.c_str(), any.isa.c_str(), any.threads,
                static_cast<long long>(any.batch), fs, qs, ratio, fl, ql);
    if (roofline) {
        if (f) std::snprintf(fr, sizeof fr, "%.0f%%", 100 * f->share);
        if (q) std::snprintf(qr, sizeof qr, "%.0f%%", 100 * q->share);
        std::printf(" %8.3f %10s %10s", any.macs / 1e9, fr, qr);
    }
    // Loading (manifest read + compilation) and the first run, in steady-state runs.
    std::printf(" %9.1fx %8.0f\n", (any.read_ms + any.compile_ms + any.first_run_ms) / any.p50, any.memory.mib);
    std::fflush(stdout);
}

void bench(const bench_args& a) {
    if (!a.json.empty()) qint8::tools::prepare_output(a.json, "--json");
    const std::vector<std::string> precisions = precisions_of(a.precision);
    const int threads = usable_threads(a.threads);
    warn_if_shared(threads);
    const std::vector<std::string> names = names_of(a);
    const machine_peaks peaks = a.roofline ? probe_peaks() : machine_peaks{};
    std::vector<result> results;
    print_header(a.roofline);
    for (const auto& name : names) {
        const loaded ld = load(a, name);
        std::optional<result> f, q;
        for (const auto& p : precisions) {
            if (!a.quiet) std::fprintf(stderr, "%s %s: compiling, %d warm-up runs...\n", ld.name.c_str(), p.c_str(), a.warmup);
            (p == "fp32" ? f : q) = measure(ld, p == "fp32", a, threads, peaks);
            results.push_back(p == "fp32" ? *f : *q);
        }
        print_line(f ? &*f : nullptr, q ? &*q : nullptr, a.roofline);
        for (const auto* r : {f ? &*f : nullptr, q ? &*q : nullptr})
            if (r && !r->profile.empty())
                qint8::bench::print_profile(r->model + " " + r->precision + " (" + r->isa + ", " + std::to_string(r->threads) + " thread(s), batch " +
                                                std::to_string(r->batch) + "), per step:", r->profile);
    }
    if (!a.json.empty()) write_json(a.json, results, peaks);
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("Measures FP32 and INT8 images/s of qint8 models and their ratio. Models use deterministic synthetic\n"
                 "weights (as qint8-synth makes them) unless --manifest names a converted model.",
                 "bench_models");
    qint8::tools::conventions(app, "bench_models --model resnet50,mobilenet_v2 --threads 1 --precision both --roofline --json results/qint8.json");
    bench_args a;
    auto* model = app.add_option("--model", a.model, qint8::models::topology_list() + ", a comma list, or all");
    auto* manifest = app.add_option("--manifest", a.manifest, "benchmark this converted model (model.json) instead of synthetic ones");
    model->excludes(manifest);
    app.add_option("--threads,--num_threads", a.threads, "threads each model is built and run with (at most the processors available)")->check(CLI::Range(1, 1024));
    app.add_option("--batch,--batch_size", a.batch, "images per run")->check(CLI::Range(int64_t{1}, int64_t{4096}));
    app.add_option("--precision", a.precision, "precisions to run: fp32, int8, or both (also written fp32,int8)")
        ->check(CLI::IsMember({"fp32", "int8", "both", "fp32,int8", "int8,fp32"}));
    app.add_option("--warmup", a.warmup, "untimed runs before timing (at least one is made: it is reported as the first run)")->check(CLI::Range(0, 100000));
    app.add_option("--iterations,--iters", a.iterations, "timed runs (images/s is from the median run)")->check(CLI::Range(1, 1000000));
    auto* size = app.add_option("--input-size", a.input_size, "input height and width of synthetic models")->check(CLI::Range(int64_t{32}, int64_t{4096}));
    auto* classes = app.add_option("--classes", a.classes, "classes of synthetic models")->check(CLI::Range(int64_t{1}, int64_t{1} << 20));
    auto* seed = app.add_option("--seed", a.seed, "seed of the synthetic weights")->check(CLI::Range(0LL, 0xffffffffLL));
    for (auto* o : {size, classes, seed}) o->excludes(manifest);
    app.add_flag("--roofline", a.roofline, "probe this core's INT8 and FP32 peak at start-up and print each model's share of its limit");
    app.add_flag("--profile", a.profile, "per-step time, GMAC/s, share of the limit (with --roofline) and implementation");
    app.add_option("--json", a.json, "also write the results to this JSON file (its directory is created)");
    app.add_flag("--quiet,-q", a.quiet, "no progress on stderr");
    return qint8::tools::run(app, argc, argv, [&] { bench(a); });
}
