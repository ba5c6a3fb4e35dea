// Loads a manifest, prints how it was compiled, runs it on a mid-grey image and prints the top 5.
//   run_manifest model.json [--fp32]
#include <qint8/qint8.hpp>

#include <cstdio>
#include <cstring>
#include <vector>

int main(int argc, char** argv) {
    if (argc < 2 || std::strcmp(argv[1], "--help") == 0) {
        std::fprintf(stderr, "usage: %s MODEL.json [--fp32]\n", argv[0]);
        return argc < 2 ? 2 : 0;
    }
    try {
        qint8::compile_options opt;
        opt.force_fp32 = argc > 2 && std::strcmp(argv[2], "--fp32") == 0;
        qint8::model net = qint8::model::load(argv[1], opt);
        std::printf("%s (%s), %s path, %s\n", net.desc().variant.c_str(), net.desc().architecture.c_str(),
                    qint8::to_string(net.code_path()), opt.force_fp32 ? "fp32" : "as quantized");
        for (const auto& s : net.steps()) std::printf("  %-28s %s\n", s.layer.c_str(), s.what.c_str());
        qint8::session s(net);
        std::vector<float> image(net.input_size(), 0.f);  // mean pixel after normalisation
        std::vector<float> out = s.run(image);
        for (const auto& [cls, v] : qint8::kernels::top_k(out.data(), out.size(), 5)) std::printf("class %4d  %.5f\n", cls, v);
    } catch (const qint8::error& e) {
        std::fprintf(stderr, "%s\n", e.what());
        return 1;
    }
    return 0;
}
