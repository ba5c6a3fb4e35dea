// Real-data accuracy of the TFLite import: the six ImageNet MobileNets under ../shared/data/tflite
// (five uint8 QAT files and one float file) on the 1000 labelled ImageNet sample images, against
// the reference top-1 published beside them (../shared/data/README.md, computed by an independent
// float simulation of each file). Third-party files are read where they are, never copied; the
// directory is QINT8_DATA_DIR, or ../shared/data beside the source tree. Without it the tests
// say that they did not run. Suite "imagenet" (ctest -L imagenet; -LE imagenet skips it).

#include <doctest/doctest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <qint8/classifier.hpp>
#include <qint8/session.hpp>

#include "common/image.hpp"
#include <qint8/convert/convert.hpp>
#include "support/shared_data.hpp"

using namespace qint8;

namespace {

bool skip_without_data() {
    if (test::imagenet_data_dir()) return false;
    MESSAGE("NOT RUN: no imagenet-samples/val_list.txt and tflite/ under " << test::shared_data_dir()
                                                                          << " (set QINT8_DATA_DIR to the data directory); nothing was checked");
    return true;
}

struct samples {
    std::vector<float> images;  // N x 3 x S x S
    std::vector<int64_t> labels;
    std::size_t size() const { return labels.size(); }
};

/// The samples prepared as qint8-preprocess --preset inception --crop S does it (centre crop of
/// 0.875 of the short side, PIL-style bilinear resize, (p/255 - 0.5)/0.5), cached per size.
const samples& imagenet(int s) {
    static std::map<int, samples> cache;
    auto it = cache.find(s);
    if (it != cache.end()) return it->second;
    const std::string dir = *test::imagenet_data_dir() + "/imagenet-samples";
    std::ifstream list(dir + "/val_list.txt");
    REQUIRE(list);
    tools::preprocess_spec spec;
    spec.crop = s;
    spec.crop_fraction = 0.875;
    spec.antialias = true;
    for (int c = 0; c < 3; ++c) spec.mean[c] = spec.std[c] = 0.5f;
    samples r;
    std::string line;
    while (std::getline(list, line)) {
        std::istringstream ls(line);
        std::string file;
        int64_t label = -1;
        if (!(ls >> file >> label)) continue;
        const std::vector<float> x = tools::preprocess(tools::load_rgb(dir + "/" + file), spec);
        r.images.insert(r.images.end(), x.begin(), x.end());
        r.labels.push_back(label);
    }
    REQUIRE(r.size() == 1000);
    return cache.emplace(s, std::move(r)).first->second;
}

struct accuracy {
    double top1 = 0, top5 = 0;
};

/// Top-1/top-5 in % over images [first, first + count) (0-based ImageNet labels; a 1001-class
/// model's output 0 is background).
accuracy evaluate(const model_desc& d, const samples& data, bool fp32, std::size_t first = 0, std::size_t count = 1000) {
    const int64_t batch = 25;
    compile_options co;
    co.batch = batch;
    co.force_fp32 = fp32;
    model net(d, co, "imagenet test");
    session s(net);
    const std::size_t per = data.images.size() / data.size(), classes = static_cast<std::size_t>(d.classes.count);
    const int64_t offset = d.classes.background_class ? 1 : 0;
    std::vector<float> out(classes * batch);
    std::size_t top1 = 0, top5 = 0;
    for (std::size_t i = first; i < first + count; i += batch) {
        s.run(data.images.data() + i * per, out.data());
        for (std::size_t b = 0; b < static_cast<std::size_t>(batch); ++b) {
            const float* o = out.data() + b * classes;
            // The label's rank as an argmax ranks it (np.argmax, qint8-eval's top_k): a tie with a
            // lower class index ranks above it. The outputs of a quantized file are rounded, so
            // ties are common; counting them as hits overstated top-1 by 1.5 pt on MobileNet-V1 0.25.
            const std::size_t label = static_cast<std::size_t>(data.labels[i + b] + offset);
            std::size_t rank = 0;
            for (std::size_t c = 0; c < classes; ++c) rank += o[c] > o[label] || (o[c] == o[label] && c < label);
            top1 += rank == 0;
            top5 += rank < 5;
        }
    }
    return {100.0 * top1 / count, 100.0 * top5 / count};
}

convert::result convert_file(const std::string& file, const std::vector<float>* calib = nullptr, std::size_t calib_images = 0) {
    convert::options o;
    o.input = *test::imagenet_data_dir() + "/tflite/" + file;
    if (calib) {
        o.images = calib;
        o.calib_images = calib_images;
    }
    return convert::convert_graph(convert::import_file(o.input), o);
}

}  // namespace

TEST_SUITE("imagenet") {

TEST_CASE("TFLite uint8 QAT MobileNets: INT8 top-1 no more than 1.5 pt below the reference on the ImageNet samples") {
    if (skip_without_data()) return;
    struct row {
        const char* file;
        int size;
        const char* family;
        double ref_top1;  // ../shared/data/README.md
    };
    const row rows[] = {
        {"mobilenet_v1_0.25_128_quant.tflite", 128, "mobilenet_v1", 45.3}, {"mobilenet_v1_0.5_160_quant.tflite", 160, "mobilenet_v1", 68.4},
        {"mobilenet_v1_0.75_192_quant.tflite", 192, "mobilenet_v1", 80.4}, {"mobilenet_v2_1.0_224_quant.tflite", 224, "mobilenet_v2", 88.8},
        {"mobilenet_v1_0.25_224_quant.tflite", 224, "mobilenet_v1", 55.3},
    };
    for (const row& r : rows) {
        CAPTURE(r.file);
        const convert::result res = convert_file(r.file);
        CHECK(res.family == r.family);
        CHECK(res.qat);
        CHECK(res.m.classes.count == 1001);
        CHECK(res.m.classes.background_class);
        const accuracy i8 = evaluate(res.m, imagenet(r.size), false), f = evaluate(res.m, imagenet(r.size), true);
        MESSAGE(std::string(r.file) << ": INT8 top-1 " << i8.top1 << " top-5 " << i8.top5 << ", FP32 top-1 " << f.top1 << " top-5 " << f.top5 << ", reference top-1 "
                       << r.ref_top1);
        // Within 1.5 pt of TFLite's own top-1 either way (measured on AMX: +0.3, +0.1, 0, +0.3 and
        // -0.5 in this order); TFLite requantizes in fixed point where qint8 uses floats.
        CHECK(i8.top1 >= r.ref_top1 - 1.5);
        CHECK(i8.top1 <= r.ref_top1 + 1.5);
    }
}

TEST_CASE("the float TFLite MobileNet-V1 0.25: FP32 matches the reference and post-training INT8 with bias correction stays within 2 pt") {
    if (skip_without_data()) return;
    const samples& data = imagenet(224);
    const char* file = "mobilenet_v1_0.25_224_float.tflite";
    convert::options fo;
    fo.input = *test::imagenet_data_dir() + "/tflite/" + file;
    fo.fp32 = true;
    const convert::result f = convert::convert_graph(convert::import_file(fo.input), fo);
    const accuracy fa = evaluate(f.m, data, true);
    MESSAGE(std::string(file) << ": FP32 top-1 " << fa.top1 << " top-5 " << fa.top5 << " (reference 57.3 / 81.2)");
    CHECK(std::fabs(fa.top1 - 57.3) <= 1.0);
    // Calibrate on the last 500 images, compare INT8 with FP32 on the first 500 (held out).
    const std::size_t per = data.images.size() / data.size();
    const std::vector<float> calib(data.images.begin() + static_cast<std::ptrdiff_t>(500 * per), data.images.end());
    convert::options qo;
    qo.input = fo.input;
    qo.images = &calib;
    qo.calib_images = 500;
    qo.bias_correction = false;
    const convert::result plain = convert::convert_graph(convert::import_file(qo.input), qo);
    CHECK_FALSE(plain.qat);
    CHECK(plain.calibration_images == 500);
    qo.bias_correction = true;
    const convert::result corrected = convert::convert_graph(convert::import_file(qo.input), qo);
    CHECK(corrected.bias_corrected == 28);  // every conv layer (27) and the 1x1 classifier
    const accuracy held_f = evaluate(f.m, data, true, 0, 500), held_plain = evaluate(plain.m, data, false, 0, 500),
                   held_bc = evaluate(corrected.m, data, false, 0, 500);
    MESSAGE(std::string(file) << ": held-out 500: FP32 top-1 " << held_f.top1 << ", post-training INT8 (abs_max) " << held_plain.top1
                              << ", with --bias-correction " << held_bc.top1);
    CHECK(held_f.top1 - held_bc.top1 <= 2.0);
    CHECK(held_bc.top1 > held_plain.top1);
}

TEST_CASE("the burger photo comes out as cheeseburger") {
    if (skip_without_data()) return;
    const std::string dir = *test::imagenet_data_dir();
    for (const char* file : {"mobilenet_v1_0.25_224_quant.tflite", "mobilenet_v2_1.0_224_quant.tflite"}) {
        CAPTURE(file);
        convert::result res = convert_file(file);
        const model_desc& d = res.m;
        tools::preprocess_spec spec;
        spec.crop = static_cast<int>(d.input.shape[1]);
        spec.crop_fraction = d.input.preprocess.crop_fraction;
        for (int c = 0; c < 3; ++c) {
            spec.mean[c] = d.input.preprocess.mean[static_cast<std::size_t>(c)];
            spec.std[c] = d.input.preprocess.std[static_cast<std::size_t>(c)];
        }
        const std::vector<float> x = tools::preprocess(tools::load_rgb(dir + "/photos/burger.jpg"), spec);
        classifier net(d);
        const auto top = net.classify(x.data(), 5);
        REQUIRE(!top.empty());
        MESSAGE(std::string(file) << ": top-1 class " << top[0].index << " p=" << top[0].probability);
        CHECK(top[0].index == 934);  // TF 1001-class index of ImageNet 933 "cheeseburger"
        CHECK(top[0].probability > 0.5f);
        std::ifstream labels(dir + "/imagenet_labels_1001.txt");
        std::string line;
        for (int i = 0; i <= 934 && std::getline(labels, line);) ++i;
        CHECK(line == "cheeseburger");
    }
}

}  // TEST_SUITE
