// qint8-chart: SVG charts for the docs from the JSON the tools write.
//   qint8-chart speed --qint8 qint8.json [--peers peers.json] [--limits limits.json] --output speed.svg
//   qint8-chart accuracy --eval-dir quickstart-out models/fashion_mnist/*/accuracy.json --output accuracy.svg

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <qint8/io/manifest.hpp>

#include "chart/accuracy.hpp"
#include "chart/speed.hpp"
#include "common/app.hpp"

using namespace qint8;
using namespace qint8::tools;

namespace {

nlohmann::json read_json(const std::string& path, const std::string& option) {
    std::ifstream f(path);
    if (!f) qint8::fail(errc::io, path + ": " + option + ": cannot open");
    try {
        return nlohmann::json::parse(f);
    } catch (const nlohmann::json::exception& e) {
        qint8::fail(errc::data, path + ": " + option + ": expected JSON, found a parse error (" + e.what() + ")");
    }
}

bool quiet = false;  // --quiet

/// Writes the chart and says so: a tool that succeeds without a word leaves the user looking for
/// what it did.
void write_svg(const std::string& path, const std::string& svg, const std::string& what) {
    try {
        qint8::io::write_file_atomically(path, svg);
    } catch (const qint8::error& e) {
        throw output_error(e.what());
    }
    if (!quiet) std::fprintf(stderr, "qint8-chart: wrote %s (%s)\n", path.c_str(), what.c_str());
}

struct speed_args {
    std::string qint8, peers, limits, output, title, subtitle;
};

void speed(const speed_args& a) {
    prepare_output(a.output, "--output");
    const nlohmann::json q = read_json(a.qint8, "--qint8");
    const nlohmann::json p = a.peers.empty() ? nlohmann::json() : read_json(a.peers, "--peers");
    const nlohmann::json l = a.limits.empty() ? nlohmann::json() : read_json(a.limits, "--limits");
    const auto groups = chart::speed_groups(q, a.qint8, p, a.peers, l, a.limits);
    if (groups.empty()) qint8::fail(errc::data, a.qint8 + ": results: expected at least one result, found none");
    std::string sub = a.subtitle;
    if (sub.empty()) {
        const auto& r0 = q["results"][0];
        const auto m = q.value("machine", nlohmann::json::object());
        sub = m.value("cpu", std::string("unknown CPU")) + ", qint8 " + r0.value("isa", std::string("?")) + " path, " +
              std::to_string(r0.value("threads", 1)) + " thread(s), batch " + std::to_string(r0.value("batch", 1));
    }
    write_svg(a.output, chart::speed_chart(groups, a.title, sub, !l.is_null()), count_of(groups.size(), "model"));
}

struct accuracy_args {
    std::vector<std::string> files;
    std::string eval_dir, output, title, subtitle;
};

/// top1 of a qint8-eval --json file, in percent; false when the file is absent.
bool eval_top1(const std::string& path, double& top1) {
    if (!std::filesystem::exists(path)) return false;
    const nlohmann::json j = read_json(path, "--eval-dir");
    top1 = 100 * chart::number_at(j, "top1", path);
    return true;
}

void accuracy(const accuracy_args& a) {
    prepare_output(a.output, "--output");
    std::vector<chart::accuracy_row> rows;
    for (const auto& f : a.files) {
        const nlohmann::json j = read_json(f, "accuracy file");
        if (!j.contains("pytorch") || !j.contains("model"))
            qint8::fail(errc::data, f + ": expected an accuracy.json of models/fashion_mnist (fields model, pytorch), found neither");
        chart::accuracy_row r{j["model"].get<std::string>(), {}};
        if (j.contains("width") && j["width"].is_number()) {
            char w[32];
            std::snprintf(w, sizeof w, " (width %g)", j["width"].get<double>());
            r.model += w;
        }
        const auto& pt = j["pytorch"];
        const std::pair<const char*, const char*> keys[] = {{"fp32", "PyTorch FP32"}, {"qat_fakequant", "PyTorch QAT (fake-quant)"}, {"int8_onednn", "PyTorch INT8 (oneDNN)"}};
        for (const auto& [key, name] : keys)
            if (pt.contains(key)) r.points.push_back({name, chart::number_at(pt[key], "top1", f)});
        double t = 0;
        const std::string dir = a.eval_dir + "/" + j["model"].get<std::string>() + "/";
        if (!a.eval_dir.empty() && eval_top1(dir + "eval_fp32.json", t)) r.points.push_back({"qint8 FP32", t});
        if (!a.eval_dir.empty() && eval_top1(dir + "eval_int8.json", t)) r.points.push_back({"qint8 INT8 (QAT)", t});
        rows.push_back(std::move(r));
    }
    write_svg(a.output, chart::accuracy_chart(rows, a.title, a.subtitle), count_of(rows.size(), "model"));
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app("Draws the SVG charts of docs/performance.md and docs/accuracy.md from the tools' JSON output.", "qint8-chart");
    conventions(app, "qint8-chart speed --qint8 r/qint8.json --peers r/peers.json --limits docs/results/limits-avx2-1thread.json --output docs/charts/speed.svg");
    app.require_subcommand(1);
    app.add_flag("--quiet,-q", quiet, "do not say which file was written");
    app.fallthrough();  // -q after the subcommand too
    speed_args s;
    auto* sp = app.add_subcommand("speed", "bar chart of images/s: qint8 FP32 and INT8 per model, peers beside, share of the hardware limit");
    sp->add_option("--qint8", s.qint8, "bench_models --json output")->required();
    sp->add_option("--peers", s.peers, "bench/peers/peers.py --json output of the same run");
    sp->add_option("--limits", s.limits, "hardware limits: {\"gmac_per_s\": {\"fp32\": F, \"int8\": I}, \"gmac_per_image\": {MODEL: G}}");
    sp->add_option("--output", s.output, "SVG file to write (its directory is created)")->required();
    sp->add_option("--title", s.title, "chart title")->default_val("Images/s: qint8 FP32 vs INT8, and its peers");
    sp->add_option("--subtitle", s.subtitle, "second line (default: CPU, code path, threads, batch from the JSON)");
    accuracy_args acc;
    auto* ac = app.add_subcommand("accuracy", "dot chart of top-1 per model: the training recipe's PyTorch numbers and qint8's");
    ac->add_option("files", acc.files, "accuracy.json files (models/fashion_mnist/*/accuracy.json)")->required();
    ac->add_option("--eval-dir", acc.eval_dir, "directory with MODEL/eval_fp32.json and MODEL/eval_int8.json from qint8-eval (scripts/quickstart.sh --out)");
    ac->add_option("--output", acc.output, "SVG file to write (its directory is created)")->required();
    ac->add_option("--title", acc.title, "chart title")->default_val("Fashion-MNIST top-1: PyTorch and qint8");
    ac->add_option("--subtitle", acc.subtitle, "second line")->default_val("10 000 test images; reduced-width models trained by models/fashion_mnist/train.py");
    for (auto* sub : {sp, ac}) sub->footer(app.get_footer());
    return run(app, argc, argv, [&] {
        if (sp->parsed()) speed(s);
        else accuracy(acc);
    });
}
