// The README's embedding lines, as a consumer writes them: load a manifest as a topology and
// classify one preprocessed image held in a std::vector<float>. Built and run by the
// add_subdirectory and pkg-config consumer tests on a model qint8-synth makes.
#include <qint8/mobilenet_v1.hpp>

#include <cstdio>
#include <vector>

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: consumer MODEL.json\n");
        return 1;
    }
    auto net = qint8::load<qint8::mobilenet_v1>(argv[1]);  // validates, checks the topology, compiles once
    const std::vector<float> image_nchw(net.input_size(), 0.25f);  // preprocessed floats, 3 x H x W
    for (const auto& p : net.classify(image_nchw, 5))
        std::printf("class %lld: %.3f\n", (long long)p.class_id, p.probability);
    return 0;
}
