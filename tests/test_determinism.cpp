// Determinism: the same image gives the same output however it is run. INT8 outputs are
// bit-identical across repeated runs, fresh sessions and compilations, OpenMP thread counts
// (1, 2) and batch sizes (1, 7, 16, at any position in the batch): every integer accumulation is
// exact and every rescaling is per element. FP32 is compared within a tolerance (relative 1e-5 of
// the largest output, absolute 1e-6), since oneDNN may sum in another order when the batch or
// the thread count changes its blocking.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include <qint8/session.hpp>
#include <qint8/models/synthetic.hpp>

#include "support/tiny_model.hpp"

using namespace qint8;

namespace {

constexpr int64_t images = 16;

struct config {
    int threads;
    int64_t batch;
};

/// Output of image `img` of `all` when run in batch `c.batch` with `c.threads` OpenMP threads,
/// the image placed at position img % batch and the other slots filled with other images.
std::vector<float> output_of(const model_desc& desc, bool fp32, const config& c, const std::vector<float>& all, int64_t img) {
    compile_options opt;
    opt.batch = c.batch;
    opt.threads = c.threads;
    opt.force_fp32 = fp32;
    const model net(desc, opt, "tiny");
    session s(net);
    const std::size_t in_n = net.input_size(), out_n = net.output_size();
    std::vector<float> in(in_n * static_cast<std::size_t>(c.batch));
    const int64_t pos = img % c.batch;
    for (int64_t b = 0; b < c.batch; ++b) {
        const int64_t src = b == pos ? img : (img + 1 + b) % images;
        std::copy_n(all.data() + static_cast<std::size_t>(src) * in_n, in_n, in.data() + static_cast<std::size_t>(b) * in_n);
    }
    std::vector<float> out = s.run(in);
    std::vector<float> again = s.run(in);  // a repeated run in the same session
    if (std::memcmp(out.data(), again.data(), out.size() * sizeof(float)) != 0 && !fp32) return {};
    return std::vector<float>(out.begin() + pos * static_cast<int64_t>(out_n), out.begin() + (pos + 1) * static_cast<int64_t>(out_n));
}

const std::vector<config> configs{{1, 1}, {2, 1}, {1, 7}, {2, 7}, {1, 16}, {2, 16}};

}  // namespace

TEST_SUITE("determinism") {

TEST_CASE("INT8 outputs are bit-identical across repeated runs - thread counts 1/2 and batch sizes 1/7/16") {
    const model_desc& desc = test::tiny_classifier();
    const std::vector<float> all = models::synthetic_images(desc, images, 555);
    for (int64_t img : {int64_t{0}, int64_t{5}, int64_t{13}}) {
        CAPTURE(img);
        const std::vector<float> want = output_of(desc, false, configs[0], all, img);
        REQUIRE(want.size() == 10);
        for (const config& c : configs) {
            CAPTURE(c.threads);
            CAPTURE(c.batch);
            const std::vector<float> got = output_of(desc, false, c, all, img);
            REQUIRE(got.size() == want.size());  // empty: two runs in one session differed
            CHECK(std::memcmp(got.data(), want.data(), want.size() * sizeof(float)) == 0);
        }
    }
}

TEST_CASE("FP32 outputs agree within 1e-5 of the largest output across thread counts 1/2 and batch sizes 1/7/16") {
    const model_desc& desc = test::tiny_classifier();
    const std::vector<float> all = models::synthetic_images(desc, images, 555);
    double worst = 0;
    for (int64_t img : {int64_t{0}, int64_t{5}, int64_t{13}}) {
        CAPTURE(img);
        const std::vector<float> want = output_of(desc, true, configs[0], all, img);
        REQUIRE(want.size() == 10);
        const float top = *std::max_element(want.begin(), want.end(), [](float a, float b) { return std::fabs(a) < std::fabs(b); });
        for (const config& c : configs) {
            CAPTURE(c.threads);
            CAPTURE(c.batch);
            const std::vector<float> got = output_of(desc, true, c, all, img);
            REQUIRE(got.size() == want.size());
            for (std::size_t k = 0; k < want.size(); ++k) {
                const double d = std::fabs(double(got[k]) - double(want[k]));
                worst = std::max(worst, d);
                CHECK(d <= 1e-5 * std::fabs(top) + 1e-6);
            }
        }
    }
    MESSAGE("FP32: largest difference across configurations " << worst);
}

TEST_CASE("INT8 output of a fresh compilation equals the first one's") {
    const model_desc& desc = test::tiny_classifier();
    const std::vector<float> all = models::synthetic_images(desc, images, 556);
    for (int rep = 0; rep < 3; ++rep) {
        CAPTURE(rep);
        CHECK(output_of(desc, false, {1, 1}, all, 3) == output_of(desc, false, {2, 16}, all, 3));
    }
}

}  // TEST_SUITE
