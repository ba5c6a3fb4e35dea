// Whole topologies against the naive reference (include/qint8/ref): each of the six synthetic
// models, at 32x32 with reduced width so the suite stays fast, runs through the compiled runtime
// and through ref::run, and the INT8 logits must be equal bit for bit. The suite is registered
// once per code path (tests/CMakeLists.txt), so this holds on every path the CPU has; the paths
// it lacks report NOT RUN.
//
// Why bit-exact is possible: the reference repeats oneDNN's order of float operations on the
// requantization (int32 accumulator, + bias, * one f32 output scale per channel, post-ops, round
// half to even, saturate) and the 7-bit weight range of the AVX2 u8 path (ref::options). The FP32
// path sums in a different order than the reference's doubles, so it gets a relative bound.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <qint8/builder.hpp>
#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>

#include "support/chunk_everything.hpp"
#include "support/compare.hpp"
#include "support/scratch.hpp"

using namespace qint8;

namespace {

/// A small synthetic model of topology `name`: 32x32 input, 10 classes, a quarter of the width.
model_desc small_synthetic(const std::string& name, bool int8_weights) {
    models::topology_request r;
    r.input_size = 32;
    r.classes = 10;
    r.width = 0.25;
    r.hidden = 64;
    models::synth_options o;
    o.int8_weights = int8_weights;
    o.calibration_images = 4;
    return models::synthesize(models::structure_by_name(name, r), 11, o);
}

/// Runs `m` on `batch` synthetic images through the runtime and the reference.
struct both_runs {
    std::vector<float> got, want;
};

both_runs run_both(const model_desc& m, int64_t batch, bool fp32) {
    const std::vector<float> in = models::synthetic_images(m, batch, 77);
    compile_options co;
    co.batch = batch;
    co.force_fp32 = fp32;
    model net(m, co, "topology");
    session s(net);
    return {s.run(in), ref::run(m, in, batch, test::ref_options(fp32))};
}

/// Runs `m` on `in` and checks that session::read of every layer's output equals the
/// reference's value bit for bit; returns how many layers were compared.
std::size_t check_every_read(const model_desc& m, const std::vector<float>& in, compile_options co) {
    co.keep_intermediates = true;
    model net(m, co, "topology");
    session s(net);
    (void)s.run(in);
    const auto want = ref::run_all(m, in, co.batch, test::ref_options(false));
    std::size_t tensors = 0;
    for (const layer& l : m.layers) {
        CAPTURE(l.name);
        const std::vector<float> got = s.read(l.name);
        const ref::value& w = want.at(l.name);
        REQUIRE(got.size() == w.size());
        std::size_t differ = 0;
        for (std::size_t k = 0; k < got.size(); ++k) differ += got[k] != w.real(k);
        CHECK(differ == 0);
        ++tensors;
    }
    return tensors;
}

/// Calls f(name, int8_weights, model, two images, options for a batch of two) for each of the six
/// small synthetic topologies, with s8 and with f32 weights.
template <class F>
void for_each_small_topology(const F& f) {
    for (const auto& name : models::topology_names())
        for (bool int8_weights : {true, false}) {
            CAPTURE(name);
            CAPTURE(int8_weights);
            const model_desc m = small_synthetic(name, int8_weights);
            const std::vector<float> in = models::synthetic_images(m, 2, 78);
            compile_options co;
            co.batch = 2;
            f(name, int8_weights, m, in, co);
        }
}

/// The steps that convert the model's input for the layers reading it, as "what" texts.
std::vector<std::string> input_conversions(const model& net, const model_desc& m) {
    std::vector<std::string> r;
    for (const step_info& s : net.steps()) {
        const layer* l = m.find_layer(s.layer);
        const bool reads_input = l && std::find(l->inputs.begin(), l->inputs.end(), m.input.name) != l->inputs.end();
        if (reads_input && (s.what.rfind("reorder", 0) == 0 || s.what.rfind("quantize", 0) == 0)) r.push_back(s.what);
    }
    return r;
}

}  // namespace

TEST_SUITE("models") {

TEST_CASE("INT8: the six synthetic topologies equal the naive reference bit for bit") {
    test::single_thread one;
    for (const auto& name : models::topology_names())
        for (bool int8_weights : {false, true}) {
            CAPTURE(name);
            CAPTURE(int8_weights);
            const model_desc m = small_synthetic(name, int8_weights);
            const both_runs r = run_both(m, 2, false);
            REQUIRE(r.got.size() == r.want.size());
            REQUIRE(r.got.size() == 2 * 10);
            std::size_t differ = 0;
            double worst = 0;
            for (std::size_t i = 0; i < r.got.size(); ++i) {
                differ += r.got[i] != r.want[i];
                worst = std::max(worst, std::fabs(double(r.got[i]) - double(r.want[i])));
            }
            const std::string weights = int8_weights ? " (s8 weights)" : " (f32 weights)", path = to_string(cpu_info().chosen);
            MESSAGE(name << weights << " on " << path << ": " << differ << " of " << r.got.size() << " logits differ, worst " << worst);
            CHECK(differ == 0);
            // Not a vacuous match: the logits vary across classes and images.
            CHECK(*std::max_element(r.want.begin(), r.want.end()) > *std::min_element(r.want.begin(), r.want.end()));
        }
}

TEST_CASE("INT8: weights packed a chunk of channels at a time as they are quantized give the reference's logits bit for bit") {
    // Only VGG's classifier layers are large enough to be packed so by default
    // (detail::chunked_pack_from_bytes); here every INT8 convolution and fc is, one channel block
    // per chunk, wherever its codes are not the file's read in place.
    test::single_thread one;
    const test::chunk_everything scope;
    for_each_small_topology([](const std::string& name, bool int8_weights, const model_desc& m, const std::vector<float>& in, compile_options co) {
        const model net(m, co, "topology");
        std::size_t chunked = 0;
        for (const step_info& st : net.steps()) chunked += st.what.find("(weights packed in chunks)") != std::string::npos;
        const std::string weights = int8_weights ? " (s8 weights)" : " (f32 weights)";
        MESSAGE(name << weights << ": " << chunked << " layers packed in chunks");
        // f32 weights are always quantized here; s8 ones are read in place where the path keeps them.
        if (!int8_weights) CHECK(chunked > 0);
        session s(net);
        const std::vector<float> got = s.run(in), want = ref::run(m, in, 2, test::ref_options(false));
        CHECK(got == want);
    });
}

TEST_CASE("INT8: session::read gives every intermediate tensor of the six topologies as the reference computes it") {
    // read() is how calibration, --report and debugging see a model's insides: each layer's
    // output, after the whole run, must still be what that layer wrote (no buffer shared with a
    // later step), equal to the reference's value bit for bit.
    test::single_thread one;
    // f32 weights reach the extremes of the s8 range
    for_each_small_topology([](const std::string&, bool, const model_desc& m, const std::vector<float>& in, const compile_options& co) {
        CHECK(check_every_read(m, in, co) == m.layers.size());
    });
}

TEST_CASE("session::read of a signed 7x7 tensor with 64 channels equals the reference") {
    // On the u8 paths an s8 activation is stored as u8 with zero point 128. Reading it back
    // changes NHWC to NCHW, and oneDNN 2.6's jit:uni reorder dropped a source zero point on that
    // change at 7x7 with 64 or more channels (MobileNet-V2's features.17.conv.2 came back shifted
    // by scale * zero point), so read() dequantizes the codes itself. Every path: bit-exact.
    test::single_thread one;
    model_desc d;
    d.architecture = "custom";
    graph_builder b(d);
    auto x = b.input({16, 7, 7});
    auto y = b.conv2d("signed", x, 64, 1, 1, 0, 1, activation::none);
    y = b.conv2d("relu", y, 64, 1, 1, 0, 1, activation::relu);
    y = b.global_avg_pool2d("gap", y);
    b.fc("fc", y, 10);
    const model_desc m = models::synthesize(std::move(d), 3, {});
    REQUIRE(m.layers.front().act);
    CHECK(m.layers.front().act->type == dtype::s8);  // the case under test: a signed activation
    CHECK(check_every_read(m, models::synthetic_images(m, 1, 5), {}) == m.layers.size());
}

TEST_CASE("FP32: the six synthetic topologies equal the naive reference within 1e-4 relative") {
    test::single_thread one;
    for (const auto& name : models::topology_names()) {
        CAPTURE(name);
        const model_desc m = small_synthetic(name, false);
        const both_runs r = run_both(m, 2, true);
        REQUIRE(r.got.size() == r.want.size());
        double mag = 0, err = 0;
        for (std::size_t i = 0; i < r.got.size(); ++i) {
            mag = std::max(mag, std::fabs(double(r.want[i])));
            err = std::max(err, std::fabs(double(r.got[i]) - double(r.want[i])));
        }
        // f32 sums over up to a few thousand taps, in the backend's order vs the reference's doubles.
        CHECK(err <= 1e-4 * std::max(1.0, mag));
    }
}

}  // TEST_SUITE

namespace {

/// The reorder steps of `net` other than the conversion of the model's input (labelled with the
/// layer that reads it) and of its output (labelled "").
std::string reorders_between_layers(const model& net, const model_desc& m) {
    std::string r;
    for (const step_info& s : net.steps()) {
        if (s.what.rfind("reorder", 0) != 0 || s.layer.empty()) continue;
        const layer* l = m.find_layer(s.layer);
        const bool reads_input = l && std::find(l->inputs.begin(), l->inputs.end(), m.input.name) != l->inputs.end();
        if (!reads_input) r += (r.empty() ? "" : ", ") + s.layer + " (" + s.what + ")";
    }
    return r;
}

}  // namespace

TEST_SUITE("models") {

TEST_CASE("no reorder runs between layers of the six topologies - and the residuals added in place stay exact") {
    // A convolution that adds a residual writes into the residual's buffer when nothing reads it
    // later, instead of copying it there first (one reorder per ResNet / MobileNet-V2 block on
    // every inference). keep_intermediates turns that off, for session::read of every tensor.
    test::single_thread one;
    for (const auto& name : models::topology_names()) {
        for (bool fp32 : {false, true}) {
            CAPTURE(name);
            CAPTURE(fp32);
            const model_desc m = small_synthetic(name, !fp32);
            const std::vector<float> in = models::synthetic_images(m, 1, 79);
            compile_options co;
            co.force_fp32 = fp32;
            const model fast(m, co, "topology");
            CHECK(reorders_between_layers(fast, m) == "");
            if (!fp32) {
                // The input's codes are quantized straight into NHWC, the layout the first
                // convolution reads, and in the type it reads (s8, or u8 with the zero point + 128
                // where the path reads u8 codes): no reorder on the way.
                CHECK(input_conversions(fast, m).empty());
            }
            co.keep_intermediates = true;
            const model kept(m, co, "topology");
            session a(fast), b(kept);
            CHECK(a.run(in) == b.run(in));  // bit for bit: the same arithmetic, one copy less
            const bool residual = name.rfind("resnet", 0) == 0 || name == "mobilenet_v2";
            CHECK(reorders_between_layers(kept, m).empty() == !residual);  // the copies it saves
            if (!residual) continue;
            std::string overwritten;  // a tensor some layer adds as a residual
            for (const layer& l : m.layers)
                for (const auto& p : l.post_ops)
                    if (p.kind == post_op::sum && overwritten.empty()) overwritten = p.input;
            REQUIRE(!overwritten.empty());
            CHECK(b.read(overwritten).size() > 0);
            CHECK_THROWS_WITH_AS(a.read(overwritten), doctest::Contains("compile_options::keep_intermediates"), qint8::error);
        }
    }
}

}  // TEST_SUITE
