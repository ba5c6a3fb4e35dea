#include <qint8/image_file.hpp>  // read_image: JPEG, PNG, BMP, ... decoded by stb (link -lstb)
#include <qint8/resnet50.hpp>

#include <cstdio>

int main(int argc, char** argv) try {
    if (argc != 3) return std::fprintf(stderr, "usage: %s model.json photo.jpg\n", argv[0]), 1;
    auto net = qint8::load<qint8::resnet50>(argv[1]);            // validates, checks the topology, compiles once
    const qint8::rgb_image photo = qint8::read_image(argv[2]);   // 8-bit RGB, any size
    for (const auto& p : net.classify(photo, 5))                  // resized, cropped, normalized as the manifest says
        std::printf("class %lld: %.3f\n", (long long)p.class_id, p.probability);
    return 0;
} catch (const qint8::error& e) {                                 // "[qint8.code] file: what, expected, found"
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
}
