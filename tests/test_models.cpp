// The topology templates (include/qint8/models, the public topology headers), the synthetic
// weights and calibration, qint8::classifier and the topology check. The 224x224 models are
// built as structures only; every model that runs is 32x32 (10 classes unless a test says otherwise).

#include <doctest/doctest.h>

#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <qint8/builder.hpp>
#include <qint8/classifier.hpp>
#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>

#include "support/scratch.hpp"

using namespace qint8;

namespace {

namespace fs = std::filesystem;

using test::scratch_dir;
using test::single_thread;

const std::vector<std::string>& all_models = models::topology_names();

template <class T>
typename T::params_type sized(int64_t hw, int64_t classes) {
    auto p = T::defaults();
    p.input_height = p.input_width = hw;
    p.num_classes = classes;
    return p;
}

/// The structure of a model by name; small VGGs get a 256-wide classifier (the 4096-wide one
/// only adds time to every test that runs them).
model_desc structure(const std::string& name, int64_t hw, int64_t classes) {
    models::topology_request r;
    r.input_size = hw;
    r.classes = classes;
    if (hw < 224) r.hidden = 256;
    return models::structure_by_name(name, r);
}

/// The small synthetic models, built once per process (synthesis is the slow part).
const model_desc& small_model(const std::string& name) {
    static std::map<std::string, model_desc> cache;
    auto it = cache.find(name);
    if (it == cache.end()) {
        models::synth_options o;
        o.calibration_images = 16;  // small maps: more images for a representative abs-max
        it = cache.emplace(name, models::synthesize(structure(name, 32, 10), 42, o)).first;
    }
    return it->second;
}

const layer& find(const model_desc& m, const std::string& name) {
    const layer* l = m.find_layer(name);
    INFO("layer ", name);
    REQUIRE(l != nullptr);
    return *l;
}

std::string error_of(const std::function<void()>& f, errc* code = nullptr) {
    try {
        f();
    } catch (const error& e) {
        if (code) *code = e.code();
        return e.what();
    }
    return "(no error)";
}

}  // namespace

TEST_SUITE("models") {

TEST_CASE("each topology builds at 224x224 with 1000 classes and at 32x32 with 10") {
    for (const auto& name : all_models) {
        CAPTURE(name);
        for (int64_t hw : {224, 32}) {
            const int64_t classes = hw == 224 ? 1000 : 10;
            CAPTURE(hw);
            model_desc m = structure(name, hw, classes);
            CHECK(m.tensors.empty());
            CHECK(m.input.shape == std::vector<int64_t>{3, hw, hw});
            CHECK(m.classes.count == classes);
            CHECK(m.layers.back().out_shape == std::vector<int64_t>{classes});
            CHECK(m.attributes.at("num_classes") == std::to_string(classes));
            CHECK(m.attributes.at("input_height") == std::to_string(hw));
            CHECK(!m.architecture.empty());
            std::set<std::string> names;
            for (const layer& l : m.layers) {
                CHECK(names.insert(l.name).second);
                CHECK(!l.out_shape.empty());
            }
        }
    }
}

TEST_CASE("final feature maps and key layers at 224x224 carry the reference names and shapes") {
    const model_desc r50 = resnet50::structure();
    CHECK(r50.variant == "resnet50");
    CHECK(find(r50, "conv1").out_shape == std::vector<int64_t>{64, 112, 112});
    CHECK(find(r50, "maxpool").out_shape == std::vector<int64_t>{64, 56, 56});
    CHECK(find(r50, "layer1.0.downsample.0").out_shape == std::vector<int64_t>{256, 56, 56});
    CHECK(find(r50, "layer3.5.conv2").out_shape == std::vector<int64_t>{256, 14, 14});
    CHECK(find(r50, "layer4.2.conv3").out_shape == std::vector<int64_t>{2048, 7, 7});
    CHECK(find(r50, "avgpool").out_shape == std::vector<int64_t>{2048, 1, 1});
    CHECK(r50.find_layer("layer3.6.conv1") == nullptr);
    const model_desc r101 = resnet101::structure();
    CHECK(r101.variant == "resnet101");
    CHECK(find(r101, "layer3.22.conv3").out_shape == std::vector<int64_t>{1024, 14, 14});

    const model_desc v2 = mobilenet_v2::structure();
    CHECK(find(v2, "features.0").out_shape == std::vector<int64_t>{32, 112, 112});
    CHECK(find(v2, "features.1.conv.0").kind == op::depthwise_conv2d);  // t=1: no expansion
    CHECK(find(v2, "features.3.conv.0").out_shape == std::vector<int64_t>{144, 56, 56});
    CHECK(find(v2, "features.3.conv.1").kind == op::depthwise_conv2d);
    CHECK(find(v2, "features.17.conv.2").out_shape == std::vector<int64_t>{320, 7, 7});
    CHECK(find(v2, "features.18").out_shape == std::vector<int64_t>{1280, 7, 7});
    CHECK(find(v2, "classifier.1").kind == op::fc);

    const model_desc v1 = mobilenet_v1::structure();
    CHECK(find(v1, "Conv2d_0").out_shape == std::vector<int64_t>{32, 112, 112});
    CHECK(find(v1, "Conv2d_13_pointwise").out_shape == std::vector<int64_t>{1024, 7, 7});
    CHECK(find(v1, "Logits/Conv2d_1c_1x1").out_shape == std::vector<int64_t>{1000});

    const model_desc g16 = vgg16::structure(), g19 = vgg19::structure();
    CHECK(find(g16, "features.28").out_shape == std::vector<int64_t>{512, 14, 14});
    CHECK(find(g16, "features.30").kind == op::max_pool2d);
    CHECK(find(g16, "features.30").out_shape == std::vector<int64_t>{512, 7, 7});
    CHECK(g16.find_layer("avgpool") == nullptr);  // already 7x7: torchvision's adaptive pool is the identity
    CHECK(find(g16, "classifier.6").out_shape == std::vector<int64_t>{1000});
    CHECK(find(g19, "features.34").out_shape == std::vector<int64_t>{512, 14, 14});
    CHECK(find(g19, "features.36").out_shape == std::vector<int64_t>{512, 7, 7});
}

TEST_CASE("parameter counts match the published ones (BN folded: one bias per channel)") {
    struct published { std::string name; int64_t folded; double paper; };
    // `folded` is what these templates give (pinned exactly); `paper` the published count
    // (torchvision's, which also counts BN's second parameter per channel).
    const std::vector<published> want{
        {"resnet50", 25530472, 25557032}, {"resnet101", 44496488, 44549160}, {"mobilenet_v2", 3487816, 3504872},
        {"mobilenet_v1", 4221032, 4231976}, {"vgg16", 138357544, 138357544}, {"vgg19", 143667240, 143667240}};
    for (const auto& w : want) {
        CAPTURE(w.name);
        const int64_t n = parameter_count(structure(w.name, 224, 1000));
        MESSAGE(w.name << ": " << n << " parameters (published " << int64_t(w.paper) << ")");
        CHECK(n == w.folded);
        CHECK(std::fabs(double(n) - w.paper) <= 0.005 * w.paper);
    }
}

TEST_CASE("MobileNet width multipliers round channels as the reference implementations do") {
    CHECK(models::make_divisible(18) == 24);  // 16 would be more than 10% below 18
    CHECK(models::make_divisible(24) == 24);
    CHECK(models::make_divisible(8 * 0.35) == 8);
    auto p2 = mobilenet_v2::defaults();
    p2.width = 0.75;
    const model_desc v2 = mobilenet_v2::structure(p2);
    CHECK(find(v2, "features.0").out_channels == 24);
    CHECK(find(v2, "features.2.conv.2").out_channels == 24);  // make_divisible(24 * 0.75)
    CHECK(find(v2, "features.17.conv.2").out_channels == 240);
    CHECK(find(v2, "features.18").out_channels == 1280);      // the last conv never shrinks
    CHECK(v2.attributes.at("width_multiplier") == "0.75");
    for (double w : {0.25, 0.5, 0.75, 1.0}) {
        auto p1 = mobilenet_v1::defaults();
        p1.width = w;
        const model_desc v1 = mobilenet_v1::structure(p1);
        CAPTURE(w);
        CHECK(find(v1, "Conv2d_0").out_channels == std::max<int64_t>(int64_t(32 * w), 8));
        CHECK(find(v1, "Conv2d_13_pointwise").out_channels == int64_t(1024 * w));
    }
    auto p = mobilenet_v1::defaults();
    p.width = 0.25;
    const int64_t quarter = parameter_count(mobilenet_v1::structure(p));
    CHECK(quarter > 400000);  // the paper's 0.47M, BN folded
    CHECK(quarter < 480000);
}

TEST_CASE("ResNet stride placement / classifier kinds / background class / softmax / VGG pooling") {
    auto p = resnet50::defaults();
    p.stride_at = models::resnet_stride::in_1x1;
    const model_desc v1 = resnet50::structure(p);
    CHECK(find(v1, "layer2.0.conv1").stride == std::array<int64_t, 2>{2, 2});
    CHECK(find(v1, "layer2.0.conv2").stride == std::array<int64_t, 2>{1, 1});
    const model_desc v15 = resnet50::structure();
    CHECK(find(v15, "layer2.0.conv1").stride == std::array<int64_t, 2>{1, 1});
    CHECK(find(v15, "layer2.0.conv2").stride == std::array<int64_t, 2>{2, 2});
    CHECK(find(v15, "layer2.0.downsample.0").stride == std::array<int64_t, 2>{2, 2});
    const layer& c3 = find(v15, "layer2.1.conv3");  // identity shortcut, fused
    REQUIRE(c3.post_ops.size() == 2);
    CHECK(c3.post_ops[0].kind == post_op::sum);
    CHECK(c3.post_ops[0].input == "layer2.0.conv3");
    CHECK(c3.post_ops[1].kind == post_op::relu);
    CHECK(find(v15, "layer2.0.conv3").post_ops[0].input == "layer2.0.downsample.0");

    auto q = mobilenet_v2::defaults();
    q.classifier = models::classifier_kind::conv1x1;
    q.background_class = true;
    q.softmax = true;
    const model_desc v2 = mobilenet_v2::structure(q);
    CHECK(find(v2, "classifier.1").kind == op::conv2d);
    CHECK(find(v2, "classifier.1").out_shape == std::vector<int64_t>{1001, 1, 1});
    CHECK(v2.layers.back().kind == op::softmax);
    CHECK(v2.classes.count == 1001);
    CHECK(v2.classes.background_class);
    const layer& proj = find(v2, "features.5.conv.2");  // linear bottleneck: sum, no activation
    REQUIRE(proj.post_ops.size() == 1);
    CHECK(proj.post_ops[0].kind == post_op::sum);
    CHECK(find(v2, "features.4.conv.2").post_ops.empty());  // stride 2: no residual

    auto g = vgg16::defaults();
    g.input_height = g.input_width = 448;
    g.hidden = 1024;
    g.classifier = models::classifier_kind::conv1x1;
    const model_desc v448 = vgg16::structure(g);
    CHECK(find(v448, "avgpool").kernel == std::array<int64_t, 2>{2, 2});
    CHECK(find(v448, "classifier.0").kernel == std::array<int64_t, 2>{7, 7});
    CHECK(find(v448, "classifier.0").out_shape == std::vector<int64_t>{1024, 1, 1});
    const int64_t head4096 = 25088 * 4096 + 4096 + 4096 * 4096 + 4096 + 4096 * 1000 + 1000;
    const int64_t head1024 = 25088 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 1000 + 1000;
    CHECK(parameter_count(vgg16::structure()) - parameter_count(vgg16::structure(g)) == head4096 - head1024);

    auto bad = resnet50::defaults();
    bad.input_height = 31;
    errc code{};
    CHECK(error_of([&] { resnet50::structure(bad); }, &code).find("expected 32..8192") != std::string::npos);
    CHECK(code == errc::invalid_argument);
}

TEST_CASE("graph_builder: shapes / SAME padding / errors naming the layer") {
    model_desc m;
    graph_builder b(m);
    auto x = b.input({3, 32, 32});
    auto y = b.conv2d("c", x, 8, 3, 2, padding::same());  // TF SAME: the odd pixel goes bottom/right
    CHECK(b.shape(y) == std::vector<int64_t>{8, 16, 16});
    CHECK(find(m, "c").pad == std::array<int64_t, 4>{0, 0, 1, 1});
    auto z = b.conv2d("d", y, 8, 3, 1, padding::same());
    CHECK(find(m, "d").pad == std::array<int64_t, 4>{1, 1, 1, 1});
    auto e = b.depthwise_conv2d("e", z, 3, 2, padding::same());
    CHECK(b.shape(e) == std::vector<int64_t>{8, 8, 8});
    CHECK(find(m, "e").pad == std::array<int64_t, 4>{0, 0, 1, 1});
    CHECK(find(m, "e").groups == 8);
    auto f = b.fc("f", e, 5, activation::relu);
    CHECK(b.shape(f) == std::vector<int64_t>{5});
    CHECK(b.shape(b.softmax("s", f)) == std::vector<int64_t>{5});

    std::string msg = error_of([&] { b.conv2d_residual("r", x, y, 8, 1); });
    CHECK(msg.find("'r'") != std::string::npos);
    CHECK(msg.find("[8,32,32]") != std::string::npos);
    CHECK(msg.find("[8,16,16]") != std::string::npos);
    CHECK(error_of([&] { b.conv2d("big", e, 4, 9); }).find("'big': kernel [9,9] is larger") != std::string::npos);
    CHECK(error_of([&] { b.max_pool2d("p", "nope", 2, 2); }).find("'nope'") != std::string::npos);
    CHECK(error_of([&] { b.fc("f", e, 3); }).find("'f' is used twice") != std::string::npos);
    CHECK(error_of([&] { b.conv2d("g", x, 8, 3, 1, 1, 2); }).find("groups (2)") != std::string::npos);
}

TEST_CASE("synthesize: deterministic / complete / as many weights as parameter_count") {
    single_thread one;
    const model_desc& a = small_model("mobilenet_v2");
    models::synth_options o;
    o.calibration_images = 16;
    const model_desc b = models::synthesize(structure("mobilenet_v2", 32, 10), 42, o);
    o.calibration_images = 2;
    const model_desc c = models::synthesize(structure("mobilenet_v2", 32, 10), 43, o);
    const tensor& ta = a.tensors.at("features.3.conv.1.weight");
    const tensor& tb = b.tensors.at("features.3.conv.1.weight");
    REQUIRE(ta.bytes == tb.bytes);
    CHECK(std::memcmp(ta.data, tb.data, ta.bytes) == 0);
    CHECK(std::memcmp(ta.data, c.tensors.at("features.3.conv.1.weight").data, ta.bytes) != 0);
    CHECK(*a.find_layer("classifier.1")->act == *b.find_layer("classifier.1")->act);

    int64_t n = 0;
    for (const auto& [name, t] : a.tensors)
        if (name.find(".scales") == std::string::npos) n += int64_t(t.elements());
    CHECK(n == parameter_count(a));
    CHECK(a.input.act.has_value());
    for (const layer& l : a.layers) {
        CAPTURE(l.name);
        CHECK(l.act.has_value() == (l.kind != op::softmax));
        if (!l.post_ops.empty() && l.post_ops.back().kind == post_op::clip) CHECK(l.act->type == dtype::u8);
    }
    CHECK(find(a, "classifier.1").act->type == dtype::s8);
    CHECK(find(a, "features.5.conv.2").act->type == dtype::s8);  // residual sum, no activation

    models::synth_options q;
    q.int8_weights = true;
    q.calibration_images = 2;
    const model_desc s8 = models::synthesize(structure("mobilenet_v1", 32, 10), 1, q);
    CHECK(s8.tensors.at("Conv2d_1_pointwise.weight").type == dtype::s8);
    CHECK(s8.tensors.count("Conv2d_1_pointwise.weight.scales") == 1);
    CHECK_NOTHROW(model{s8});
}

TEST_CASE("run_layerwise_fp32 agrees with the compiled FP32 model") {
    single_thread one;
    const model_desc& m = small_model("resnet50");
    const int64_t n = 2;
    const std::vector<float> in = models::synthetic_images(m, n, 7);
    std::vector<float> last;
    std::size_t layers = 0;
    models::run_layerwise_fp32(m, in, n, [&](const layer& l, const std::vector<float>& v) {
        ++layers;
        if (l.name == m.output_name()) last = v;
    });
    CHECK(layers == m.layers.size());
    compile_options co;
    co.batch = n;
    co.force_fp32 = true;
    model net(m, co);
    session s(net);
    const std::vector<float> want = s.run(in);
    REQUIRE(last.size() == want.size());
    double err = 0, mag = 0;
    for (std::size_t i = 0; i < want.size(); ++i) {
        err = std::max(err, std::fabs(double(last[i]) - want[i]));
        mag = std::max(mag, std::fabs(double(want[i])));
    }
    CHECK(err <= 1e-4 * std::max(1.0, mag));
}

TEST_CASE("INT8 tracks FP32 on the synthetic 32x32 models of all six topologies") {
    single_thread one;
    // 16 fixed images, not the calibration ones. Thresholds are set for the AVX2 path (7-bit
    // weights on the u8 path) with margin; random networks are harsher than trained ones: their
    // logits are centred on the calibration images, so only the input-dependent part, which
    // INT8 noise is compared against, remains (see synthesize). Chance agreement is 10%.
    const double min_top1 = 0.6, min_mean_cos = 0.93, min_cos = 0.75;
    const int64_t n = 16;
    for (const auto& name : all_models) {
        CAPTURE(name);
        const model_desc& m = small_model(name);
        const std::vector<float> in = models::synthetic_images(m, n, 2024);
        compile_options ci;
        ci.batch = n;
        compile_options cf = ci;
        cf.force_fp32 = true;
        model mi(m, ci), mf(m, cf);
        session si(mi), sf(mf);
        const std::vector<float> yi = si.run(in), yf = sf.run(in);
        const std::size_t k = mi.output_size();
        REQUIRE(k == 10);
        int agree = 0;
        double sum_cos = 0, worst = 1;
        for (int64_t i = 0; i < n; ++i) {
            const float* a = yi.data() + std::size_t(i) * k;
            const float* b = yf.data() + std::size_t(i) * k;
            agree += kernels::top_k(a, k, 1)[0].first == kernels::top_k(b, k, 1)[0].first;
            double ab = 0, aa = 0, bb = 0;
            for (std::size_t j = 0; j < k; ++j) {
                ab += double(a[j]) * b[j];
                aa += double(a[j]) * a[j];
                bb += double(b[j]) * b[j];
            }
            const double cos = ab / std::sqrt(aa * bb);
            sum_cos += cos;
            worst = std::min(worst, cos);
        }
        const double top1 = double(agree) / double(n), mean_cos = sum_cos / double(n);
        MESSAGE(name << " (" << std::string(to_string(mi.code_path())) << "): top-1 agreement " << agree << "/" << n << ", logits cosine mean "
                     << mean_cos << ", min " << worst);
        CHECK(top1 >= min_top1);
        CHECK(mean_cos >= min_mean_cos);
        CHECK(worst >= min_cos);
    }
}

TEST_CASE("the topology list: six names - ResNets and VGGs as instances of one template - unknown names refused") {
    CHECK(models::topology_names() == std::vector<std::string>{"mobilenet_v1", "mobilenet_v2", "resnet50", "resnet101", "vgg16", "vgg19"});
    CHECK(std::is_same_v<resnet50, models::resnet_topology<3, 4, 6, 3>>);
    CHECK(std::is_same_v<resnet101, models::resnet_topology<3, 4, 23, 3>>);
    CHECK(std::is_same_v<vgg19, models::vgg_topology<19>>);
    CHECK(std::string(models::resnet_topology<3, 8, 36, 3>::name) == "resnet152");
    CHECK(models::architecture_of("resnet101") == "resnet");
    for (const auto& name : models::topology_names()) {
        CAPTURE(name);
        const model_desc m = structure(name, 32, 10);
        CHECK(m.variant.rfind(name, 0) == 0);  // mobilenet_v2_1.0 for mobilenet_v2
        CHECK(models::structure_from(name, m).layers.size() == m.layers.size());
    }
    errc code{};
    const model_desc r50 = structure("resnet50", 32, 10);
    // An unknown family is an error, never some other topology.
    CHECK(error_of([&] { models::structure_from("vgg11", r50); }, &code).find("unknown model \"vgg11\" (expected one of: mobilenet_v1, ") != std::string::npos);
    CHECK(code == errc::invalid_argument);
    CHECK(error_of([&] { models::structure_by_name("alexnet"); }).find("unknown model \"alexnet\"") != std::string::npos);
}

TEST_CASE("check_topology names the first differing layer") {
    const model_desc r50 = resnet50::structure(sized<resnet50>(32, 10));
    errc code{};
    std::string msg = error_of([&] { check_topology(r50, resnet101::structure(resnet101::params_from(r50)), "r50.json"); }, &code);
    CHECK(code == errc::topology);
    CHECK(msg.find("r50.json (resnet50): does not match resnet101") != std::string::npos);
    CHECK(msg.find("expected 'layer3.6.conv1' (conv2d, output [256,2,2]), found 'layer4.0.conv1' (conv2d, output [512,2,2])") !=
          std::string::npos);

    model_desc k = r50;
    for (layer& l : k.layers)
        if (l.name == "layer1.0.conv2") {  // same output shape, other kernel
            l.kernel = {1, 1};
            l.pad = {0, 0, 0, 0};
        }
    msg = error_of([&] { check_topology(k, r50); });
    CHECK(msg.find("'layer1.0.conv2' (conv2d): kernel: expected [3,3], found [1,1]") != std::string::npos);

    model_desc s = r50;
    s.layers.pop_back();
    msg = error_of([&] { check_topology(s, r50); });
    CHECK(msg.find("expected 'fc' (fc, output [10]), found the end of the model") != std::string::npos);

    model_desc bare = r50;  // a converter that wrote no attributes: rebuilt from input and classes
    bare.attributes.clear();
    CHECK_NOTHROW(check_topology(bare, resnet50::structure(resnet50::params_from(bare))));
    model_desc v1 = r50;  // the attributes decide v1 vs v1.5
    v1.attributes["stride_in"] = "1x1";
    msg = error_of([&] { check_topology(r50, resnet50::structure(resnet50::params_from(v1))); });
    CHECK(msg.find("layer 12: expected 'layer2.0.conv1' (conv2d, output [128,4,4]), found 'layer2.0.conv1' (conv2d, output [128,8,8])") !=
          std::string::npos);
}

TEST_CASE("a manifest of one topology loaded as another fails naming the first mismatching layer") {
    single_thread one;
    scratch_dir dir;
    const std::string v2 = dir / "v2.json";
    write_manifest(small_model("mobilenet_v2"), v2);
    errc code{};
    std::string msg = error_of([&] { load<resnet50>(v2); }, &code);
    CHECK(code == errc::topology);
    CHECK(msg.find("(mobilenet_v2_1.0): does not match resnet50: layer 0: expected 'conv1' (conv2d, output [64,16,16]), found "
                   "'features.0' (conv2d, output [32,16,16])") != std::string::npos);
    msg = error_of([&] { load<mobilenet_v1>(v2); });
    CHECK(msg.find("expected 'Conv2d_0' (conv2d, output [32,16,16]), found 'features.0' (conv2d, output [32,16,16])") != std::string::npos);
    msg = error_of([&] { load<vgg19>(v2); });
    CHECK(msg.find("expected 'features.0' (conv2d, output [64,32,32]), found 'features.0' (conv2d, output [32,16,16])") !=
          std::string::npos);

    const std::string g16 = dir / "vgg16.json";
    auto p = sized<vgg16>(32, 10);
    p.hidden = 16;
    models::synth_options o;
    o.int8_weights = true;
    o.calibration_images = 2;
    write_manifest(models::synthesize(vgg16::structure(p), 5, o), g16);
    CHECK_NOTHROW(load<vgg16>(g16));
    msg = error_of([&] { load<vgg19>(g16); });
    CHECK(msg.find("layer 9: expected 'features.16' (conv2d, output [256,8,8]), found 'features.16' (max_pool2d, output [256,4,4])") !=
          std::string::npos);
}

TEST_CASE("a small model round-trips through write_manifest / read_manifest / classifier") {
    single_thread one;
    scratch_dir dir;
    const model_desc& m = small_model("mobilenet_v2");
    const std::string path = dir / "m.json";
    write_manifest(m, path);
    const model_desc back = read_manifest(path);
    CHECK(back.architecture == "mobilenet_v2");
    CHECK(back.attributes == m.attributes);
    CHECK_NOTHROW(check_topology(back, m));

    classifier direct(m);
    classifier loaded = load<mobilenet_v2>(path);
    CHECK(loaded.num_outputs() == 10);
    CHECK(loaded.input_size() == 3 * 32 * 32);
    const std::vector<float> img = models::synthetic_images(m, 1, 99);
    const std::vector<float> a = direct.run(img.data()), b = loaded.run(img.data());
    CHECK(a == b);

    const auto top = loaded.classify(img.data(), 3);
    REQUIRE(top.size() == 3);
    const std::vector<float> probs = loaded.probabilities(img.data());
    double sum = 0;
    for (float x : probs) sum += x;
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-4));
    CHECK(top[0].index == kernels::top_k(a.data(), a.size(), 1)[0].first);
    CHECK(top[0].class_id == top[0].index);
    CHECK(top[0].probability == doctest::Approx(probs[std::size_t(top[0].index)]));
    CHECK(top[0].probability >= top[1].probability);
    CHECK(top[1].probability >= top[2].probability);

    classifier_options bo;
    bo.batch = 2;
    bo.force_fp32 = true;
    classifier batch2 = classifier::load(path, bo);
    const std::vector<float> two = models::synthetic_images(m, 2, 99);
    CHECK(batch2.classify_batch(two.data(), 2).size() == 2);
    errc code{};
    CHECK(error_of([&] { batch2.classify(two.data()); }, &code).find("classify_batch") != std::string::npos);
    CHECK(code == errc::invalid_argument);
}

TEST_CASE("classifier: softmax models output probabilities / background class shifts class ids") {
    single_thread one;
    auto p = sized<mobilenet_v1>(32, 4);
    p.width = 0.25;
    p.background_class = true;
    p.softmax = true;
    p.classifier = models::classifier_kind::conv1x1;
    models::synth_options o;
    o.calibration_images = 4;
    const model_desc m = models::synthesize(mobilenet_v1::structure(p), 3, o);
    CHECK(m.classes.count == 5);
    classifier c(m);
    CHECK(c.outputs_probabilities());
    const std::vector<float> img = models::synthetic_images(m, 1, 11);
    const std::vector<float> out = c.run(img.data());
    REQUIRE(out.size() == 5);
    double sum = 0;
    for (float x : out) sum += x;
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-4));
    CHECK(c.probabilities(img.data()) == out);
    for (const auto& pr : c.classify(img.data(), 5)) CHECK(pr.class_id == pr.index - 1);
    CHECK(mobilenet_v1::params_from(m).width == 0.25);
}

}  // TEST_SUITE
