// Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from the small valid
// sources the test suite builds: run once after changing them, and commit the files.
//   make_seeds DIR

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <qint8/io/manifest.hpp>

#include "support/small_sources.hpp"
#include "support/tiny_model.hpp"

namespace {

namespace fs = std::filesystem;

void put(const fs::path& p, const std::string& bytes) {
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    std::printf("%s: %zu bytes\n", p.c_str(), bytes.size());
}

std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// fuzz_manifest's input: u32 JSON length, the JSON, the weights.
std::string manifest_seed(const qint8::model_desc& m, const fs::path& tmp) {
    qint8::write_manifest(m, (tmp / "m.json").string());
    const std::string j = slurp(tmp / "m.json"), w = slurp(tmp / "m.q8w");
    const auto n = static_cast<uint32_t>(j.size());
    return std::string(reinterpret_cast<const char*>(&n), 4) + j + w;
}

std::string image_seed(int (*write)(stbi_write_func*, void*, int, int, int, const void*)) {
    std::vector<unsigned char> px(12 * 9 * 3);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>(i * 13);
    std::string out;
    auto sink = [](void* ctx, void* data, int n) { static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<std::size_t>(n)); };
    write(sink, &out, 12, 9, 3, px.data());
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: make_seeds DIR\n");
        return 2;
    }
    const fs::path dir = argv[1], tmp = fs::temp_directory_path() / "qint8_make_seeds";
    fs::create_directories(tmp);
    using namespace qint8;

    put(dir / "manifest/tiny_f32", manifest_seed(test::tiny_classifier(), tmp));
    model_desc s8 = test::tiny_classifier();
    models::fill_weights(s8, 7, true);
    put(dir / "manifest/tiny_s8", manifest_seed(s8, tmp));

    std::string b;
    test::small_onnx().SerializeToString(&b);
    put(dir / "onnx/small", b);
    onnx::ModelProto mp = test::small_onnx();
    mp.mutable_graph()->mutable_node(1)->set_op_type("Clip");
    test::attr_ints(mp.mutable_graph()->mutable_node(0), "strides", {2, 2});
    mp.SerializeToString(&b);
    put(dir / "onnx/small_stride2_clip", b);

    const std::vector<uint8_t> t = test::tflite_build::build(test::small_tflite());
    put(dir / "tflite/small", std::string(t.begin(), t.end()));

    std::string data(1, static_cast<char>(47));  // 48 floats per image
    const int64_t n = 2;
    data.append(reinterpret_cast<const char*>(&n), 8);
    for (int i = 0; i < 2 * 48; ++i) {
        const float v = static_cast<float>(i) / 10.f;
        data.append(reinterpret_cast<const char*>(&v), 4);
    }
    const int64_t labels[2] = {3, 7};
    data.append(reinterpret_cast<const char*>(labels), 16);
    put(dir / "datafile/two_images", data);

    put(dir / "image/small.jpg", test::jpeg_bytes());
    put(dir / "image/small.png", image_seed([](stbi_write_func* f, void* c, int w, int h, int k, const void* p) {
            return stbi_write_png_to_func(f, c, w, h, k, p, w * k);
        }));
    put(dir / "image/small.bmp", image_seed(stbi_write_bmp_to_func));
    put(dir / "image/small.tga", image_seed(stbi_write_tga_to_func));
    put(dir / "image/small.ppm", "P6\n2 2\n255\n\x10\x20\x30\x40\x50\x60\x70\x80\x90\xa0\xb0\xc0");
    fs::remove_all(tmp);
    return 0;
}
