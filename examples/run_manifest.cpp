// Loads a manifest, prints how it was compiled, runs it on a mid-grey image and prints the top 5.
//   run_manifest model.json [--fp32] [--threads N]
#include <qint8/qint8.hpp>

#include <cstdio>
#include <vector>

#include "common/app.hpp"
#include "common/file_kind.hpp"

int main(int argc, char** argv) {
    CLI::App app("Loads a manifest, prints the oneDNN primitive chosen for each layer, runs the model once on a\n"
                 "mid-grey image and prints the top 5 outputs.",
                 "run_manifest");
    qint8::tools::conventions(app, "run_manifest out/model.json --fp32");
    std::string path;
    bool fp32 = false;
    int threads = 1;
    // One option, two spellings: the positional is the one --help shows; --model (hidden) is
    // accepted as the other tools spell it. A single "model,--model" option would be listed twice,
    // both times as required.
    auto* positional = app.add_option("model", path, "manifest (model.json)");
    app.add_option("--model", path, "manifest (model.json)")->group("")->excludes(positional);
    app.add_flag("--fp32", fp32, "compile the FP32 baseline instead of INT8");
    app.add_option("--threads", threads, "threads the model is built and run with")->check(qint8::tools::in_range(1, 1024));
    return qint8::tools::run(app, argc, argv, [&] {
        if (path.empty()) throw qint8::tools::usage_error("model: the manifest to run is required (run_manifest model.json)");
        qint8::tools::expect_manifest(path, "model");
        qint8::compile_options opt;
        opt.force_fp32 = fp32;
        opt.threads = threads;
        qint8::model net = qint8::model::load(path, opt);
        std::printf("%s (%s), %s path, %s\n", net.desc().variant.c_str(), net.desc().architecture.c_str(),
                    qint8::to_string(net.code_path()), fp32 ? "fp32" : "as quantized");
        for (const auto& s : net.steps()) std::printf("  %-28s %s\n", s.layer.c_str(), s.what.c_str());
        qint8::session_options so;
        so.threads = threads;
        qint8::session s(net, so);
        std::vector<float> image(net.input_size(), 0.f);  // the mean pixel after normalisation
        std::vector<float> out = s.run(image);
        for (const auto& [cls, v] : qint8::kernels::top_k(out.data(), out.size(), 5)) std::printf("class %4d  %.5f\n", cls, v);
    });
}
