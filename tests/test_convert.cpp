// The ONNX converter (tools/convert): front end, passes, recognition and the driver. Every ONNX
// graph is built here with the protobuf API (nothing is committed), converted in memory or
// through convert::run into a scratch directory, and checked against plain float loops written
// in the test, or for structure.

#include <doctest/doctest.h>

#include <omp.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include <qint8/classifier.hpp>
#include <qint8/mobilenet_v1.hpp>
#include <qint8/mobilenet_v2.hpp>
#include <qint8/resnet50.hpp>

#include <qint8/convert/convert.hpp>
#include "support/scratch.hpp"
#include "support/builder.hpp"

using namespace qint8;
using namespace qint8::convert;

namespace {

namespace fs = std::filesystem;

using test::scratch_dir;
using test::single_thread;

std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const qint8::error& e) {
        return e.what();
    }
    return "(no error)";
}

// ---------------------------------------------------------------------------------------------
// Building ONNX models with the protobuf API

onnx::AttributeProto* add_attr(onnx::NodeProto* n, const std::string& name) {
    auto* a = n->add_attribute();
    a->set_name(name);
    return a;
}
void attr_i(onnx::NodeProto* n, const std::string& name, int64_t v) {
    auto* a = add_attr(n, name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
}
void attr_f(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = add_attr(n, name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
}
void attr_s(onnx::NodeProto* n, const std::string& name, const std::string& v) {
    auto* a = add_attr(n, name);
    a->set_type(onnx::AttributeProto::STRING);
    a->set_s(v);
}
void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = add_attr(n, name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
}

/// An ONNX model under construction: one NCHW float input with a dynamic batch.
struct onnx_model {
    onnx::ModelProto mp;
    onnx::GraphProto* g;
    int counter = 0;
    test::rng r{7};

    explicit onnx_model(std::vector<int64_t> chw, int opset = 13) {
        mp.set_ir_version(8);
        mp.set_producer_name("qint8 tests");
        auto* o = mp.add_opset_import();
        o->set_domain("");
        o->set_version(opset);
        g = mp.mutable_graph();
        g->set_name("test");
        auto* in = g->add_input();
        in->set_name("x");
        auto* tt = in->mutable_type()->mutable_tensor_type();
        tt->set_elem_type(onnx::TensorProto::FLOAT);
        tt->mutable_shape()->add_dim()->set_dim_param("N");
        for (int64_t d : chw) tt->mutable_shape()->add_dim()->set_dim_value(d);
    }
    std::string fresh(const std::string& base) { return base + "_" + std::to_string(++counter); }

    std::string init_f(const std::string& name, const std::vector<int64_t>& shape, const std::vector<float>& v) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::FLOAT);
        for (int64_t d : shape) t->add_dims(d);
        t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
        return name;
    }
    std::string init_i8(const std::string& name, const std::vector<int64_t>& shape, const std::vector<int8_t>& v) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::INT8);
        for (int64_t d : shape) t->add_dims(d);
        for (int8_t x : v) t->add_int32_data(x);  // the typed field, not raw_data: both encodings are read
        return name;
    }
    std::string init_u8(const std::string& name, const std::vector<int64_t>& shape, const std::vector<uint8_t>& v) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::UINT8);
        for (int64_t d : shape) t->add_dims(d);
        t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size()));
        return name;
    }
    std::string init_i32(const std::string& name, const std::vector<int32_t>& v) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::INT32);
        t->add_dims(static_cast<int64_t>(v.size()));
        t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
        return name;
    }
    std::string init_i64(const std::string& name, const std::vector<int64_t>& v) {
        auto* t = g->add_initializer();
        t->set_name(name);
        t->set_data_type(onnx::TensorProto::INT64);
        t->add_dims(static_cast<int64_t>(v.size()));
        for (int64_t x : v) t->add_int64_data(x);
        return name;
    }
    std::string random_f(const std::string& name, const std::vector<int64_t>& shape, float lo, float hi) {
        std::size_t n = 1;
        for (int64_t d : shape) n *= static_cast<std::size_t>(d);
        return init_f(name, shape, r.floats(n, lo, hi));
    }
    /// Adds a node; returns it (its output is `name` + ":0").
    onnx::NodeProto* node(const std::string& op, const std::vector<std::string>& inputs, const std::string& name) {
        auto* n = g->add_node();
        n->set_op_type(op);
        n->set_name(name);
        for (const auto& i : inputs) n->add_input(i);
        n->add_output(name + ":0");
        return n;
    }
    std::string out(onnx::NodeProto* n) const { return n->output(0); }
    void output(const std::string& t) { g->add_output()->set_name(t); }

    /// QuantizeLinear -> DequantizeLinear of `t` (per tensor); returns the dequantized tensor.
    std::string qdq(const std::string& t, float scale, int zp, bool u8, bool with_zp = true) {
        const std::string s = init_f(fresh("scale"), {}, {scale});
        std::vector<std::string> ins{t, s};
        if (with_zp) ins.push_back(u8 ? init_u8(fresh("zp"), {}, {static_cast<uint8_t>(zp)}) : init_i8(fresh("zp"), {}, {static_cast<int8_t>(zp)}));
        auto* q = node("QuantizeLinear", ins, fresh("q"));
        ins[0] = out(q);
        return out(node("DequantizeLinear", ins, fresh("dq")));
    }

    import_graph parse() const { return onnx_frontend::from_model(mp, "test.onnx"); }
};

/// Converts in memory with `images` (batch of random inputs) for calibration.
result convert_with(const onnx_model& om, options o, const std::vector<float>* images = nullptr) {
    o.input = "test.onnx";
    o.mean = {0.f};
    o.std = {1.f};
    if (images) o.images = images;
    return convert_graph(om.parse(), o);
}

options fp32_options() {
    options o;
    o.fp32 = true;
    o.arch = "custom";
    return o;
}

/// Runs a converted model (batch 1) on `in`.
std::vector<float> run_model(const model_desc& m, const std::vector<float>& in, bool fp32) {
    compile_options co;
    co.force_fp32 = fp32;
    model net(m, co, "test");
    session s(net);
    return s.run(in);
}

/// Plain NCHW convolution (batch 1), bias, zero padding [t, l, b, r].
std::vector<float> conv_ref(const std::vector<float>& x, int64_t c, int64_t h, int64_t w, const std::vector<float>& wt, int64_t o, int64_t k,
                            int64_t s, std::array<int64_t, 4> p, const std::vector<float>& bias, int64_t& oh, int64_t& ow) {
    oh = (h + p[0] + p[2] - k) / s + 1;
    ow = (w + p[1] + p[3] - k) / s + 1;
    std::vector<float> y(static_cast<std::size_t>(o * oh * ow));
    for (int64_t oc = 0; oc < o; ++oc)
        for (int64_t yy = 0; yy < oh; ++yy)
            for (int64_t xx = 0; xx < ow; ++xx) {
                double acc = bias.empty() ? 0.0 : bias[static_cast<std::size_t>(oc)];
                for (int64_t ic = 0; ic < c; ++ic)
                    for (int64_t ky = 0; ky < k; ++ky)
                        for (int64_t kx = 0; kx < k; ++kx) {
                            const int64_t iy = yy * s - p[0] + ky, ix = xx * s - p[1] + kx;
                            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                            acc += double(x[static_cast<std::size_t>((ic * h + iy) * w + ix)]) * wt[static_cast<std::size_t>(((oc * c + ic) * k + ky) * k + kx)];
                        }
                y[static_cast<std::size_t>((oc * oh + yy) * ow + xx)] = static_cast<float>(acc);
            }
    return y;
}

double max_rel_diff(const std::vector<float>& a, const std::vector<float>& b) {
    REQUIRE(a.size() == b.size());
    double scale = 0, d = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        scale = std::max(scale, std::fabs(double(b[i])));
        d = std::max(d, std::fabs(double(a[i]) - b[i]));
    }
    return d / std::max(scale, 1e-12);
}

const layer& find(const model_desc& m, const std::string& name) {
    const layer* l = m.find_layer(name);
    INFO("layer ", name);
    REQUIRE(l != nullptr);
    return *l;
}

/// A weight or bias as real values: f32 as stored, s8 times its per-channel scales.
std::vector<float> tensor_values(const model_desc& m, const std::string& name) {
    const tensor& t = m.tensors.at(name);
    std::vector<float> v(t.elements());
    if (t.type == dtype::s8) {
        const tensor& sc = m.tensors.at(name + ".scales");
        const std::size_t per = v.size() / sc.elements();
        for (std::size_t i = 0; i < v.size(); ++i) v[i] = sc.as<float>()[i / per] * static_cast<float>(t.as<int8_t>()[i]);
        return v;
    }
    REQUIRE(t.type == dtype::f32);
    std::memcpy(v.data(), t.data, t.bytes);
    return v;
}

// ---------------------------------------------------------------------------------------------
// ONNX from a qint8 structure (the recognition tests): every conv gets random weights and a
// BatchNormalization, post-ops become Relu / Clip / Add nodes, fc becomes Flatten + Gemm.

void emit_onnx(onnx_model& om, const model_desc& s) {
    std::map<std::string, std::string> t{{s.input.name, "x"}};
    std::map<std::string, std::vector<int64_t>> shape{{s.input.name, s.input.shape}};
    for (const layer& l : s.layers) shape[l.name] = l.out_shape;
    for (const layer& l : s.layers) {
        const std::string in = t.at(l.inputs[0]);
        const auto& is = shape.at(l.inputs[0]);
        std::string x;
        switch (l.kind) {
            case op::conv2d:
            case op::depthwise_conv2d: {
                const int64_t groups = l.kind == op::depthwise_conv2d ? is[0] : l.groups, cin = is[0] / groups;
                const float a = std::sqrt(3.f / static_cast<float>(cin * l.kernel[0] * l.kernel[1]));
                const std::string w = om.random_f(l.name + ".w", {l.out_channels, cin, l.kernel[0], l.kernel[1]}, -a, a);
                auto* c = om.node("Conv", {in, w}, l.name + "/conv");
                attr_ints(c, "kernel_shape", {l.kernel[0], l.kernel[1]});
                attr_ints(c, "strides", {l.stride[0], l.stride[1]});
                attr_ints(c, "pads", {l.pad[0], l.pad[1], l.pad[2], l.pad[3]});
                attr_i(c, "group", groups);
                const int64_t o = l.out_channels;
                const bool residual_branch = !l.post_ops.empty() && l.post_ops[0].kind == post_op::sum;
                const float gain = residual_branch ? 0.3f : 1.f;  // keep residual sums O(1)
                auto* bn = om.node("BatchNormalization",
                                   {om.out(c), om.random_f(l.name + ".gamma", {o}, 0.5f * gain, 1.5f * gain), om.random_f(l.name + ".beta", {o}, -0.1f, 0.1f),
                                    om.random_f(l.name + ".mean", {o}, -0.1f, 0.1f), om.random_f(l.name + ".var", {o}, 0.5f, 1.5f)},
                                   l.name + "/bn");
                attr_f(bn, "epsilon", 1e-5f);
                x = om.out(bn);
                break;
            }
            case op::max_pool2d:
            case op::avg_pool2d: {
                auto* p = om.node(l.kind == op::max_pool2d ? "MaxPool" : "AveragePool", {in}, l.name + "/pool");
                attr_ints(p, "kernel_shape", {l.kernel[0], l.kernel[1]});
                attr_ints(p, "strides", {l.stride[0], l.stride[1]});
                attr_ints(p, "pads", {l.pad[0], l.pad[1], l.pad[2], l.pad[3]});
                if (l.kind == op::avg_pool2d) attr_i(p, "count_include_pad", l.count_include_pad);
                x = om.out(p);
                break;
            }
            case op::global_avg_pool2d:
                x = om.out(om.node("GlobalAveragePool", {in}, l.name + "/gap"));
                break;
            case op::fc: {
                std::string a = in;
                int64_t k = 1;
                for (int64_t d : is) k *= d;
                if (is.size() == 3) a = om.out(om.node("Flatten", {in}, l.name + "/flatten"));
                const float b = std::sqrt(3.f / static_cast<float>(k));
                auto* gm = om.node("Gemm", {a, om.random_f(l.name + ".w", {l.out_channels, k}, -b, b), om.random_f(l.name + ".b", {l.out_channels}, -0.1f, 0.1f)},
                                   l.name + "/gemm");
                attr_i(gm, "transB", 1);
                x = om.out(gm);
                break;
            }
            case op::softmax: {
                auto* sm = om.node("Softmax", {in}, l.name + "/softmax");
                attr_i(sm, "axis", 1);
                x = om.out(sm);
                break;
            }
            case op::add:
                x = om.out(om.node("Add", {in, t.at(l.inputs[1])}, l.name + "/add"));
                break;
        }
        for (std::size_t k = 0; k < l.post_ops.size(); ++k) {
            const post_op& p = l.post_ops[k];
            const std::string nm = l.name + "/post" + std::to_string(k);
            if (p.kind == post_op::sum) x = om.out(om.node("Add", {x, t.at(p.input)}, nm));
            else if (p.kind == post_op::relu) x = om.out(om.node("Relu", {x}, nm));
            else x = om.out(om.node("Clip", {x, om.init_f(nm + ".min", {}, {p.lo}), om.init_f(nm + ".max", {}, {p.hi})}, nm));
        }
        t[l.name] = x;
    }
    om.output(t.at(s.output_name()));
}

}  // namespace

TEST_SUITE("convert") {

TEST_CASE("BatchNormalization folds into the conv: FP32 output equals conv then BN evaluated directly") {
    single_thread one;
    for (bool with_bias : {true, false}) {
        CAPTURE(with_bias);
        onnx_model om({3, 7, 6});
        const int64_t o = 5, k = 3;
        test::rng r(11);
        const std::vector<float> w = r.floats(static_cast<std::size_t>(o * 3 * k * k), -0.5f, 0.5f), b = r.floats(o, -0.3f, 0.3f);
        const std::vector<float> gamma = r.floats(o, 0.5f, 2.f), beta = r.floats(o, -1.f, 1.f), mean = r.floats(o, -0.5f, 0.5f), var = r.floats(o, 0.1f, 2.f);
        std::vector<std::string> ins{"x", om.init_f("w", {o, 3, k, k}, w)};
        if (with_bias) ins.push_back(om.init_f("b", {o}, b));
        auto* c = om.node("Conv", ins, "conv");
        attr_ints(c, "pads", {1, 0, 2, 1});
        attr_ints(c, "strides", {2, 1});  // exercise both attributes, the reference below uses stride 2 along H only
        auto* bn = om.node("BatchNormalization",
                           {om.out(c), om.init_f("g", {o}, gamma), om.init_f("be", {o}, beta), om.init_f("m", {o}, mean), om.init_f("v", {o}, var)}, "bn");
        attr_f(bn, "epsilon", 1e-3f);
        om.output(om.out(bn));
        const result res = convert_with(om, fp32_options());
        REQUIRE(res.m.layers.size() == 1);
        CHECK(res.m.layers[0].kind == op::conv2d);
        CHECK(res.m.layers[0].pad == std::array<int64_t, 4>{1, 0, 2, 1});

        const std::vector<float> x = r.floats(3 * 7 * 6, -1.f, 1.f);
        // Reference: stride 1 conv, then keep every other row (stride 2 along H).
        int64_t oh = 0, ow = 0;
        const auto full = conv_ref(x, 3, 7, 6, w, o, k, 1, {1, 0, 2, 1}, with_bias ? b : std::vector<float>{}, oh, ow);
        std::vector<float> want;
        for (int64_t oc = 0; oc < o; ++oc)
            for (int64_t yy = 0; yy < oh; yy += 2)
                for (int64_t xx = 0; xx < ow; ++xx) {
                    const double v = full[static_cast<std::size_t>((oc * oh + yy) * ow + xx)];
                    const std::size_t c_ = static_cast<std::size_t>(oc);
                    want.push_back(static_cast<float>((v - mean[c_]) / std::sqrt(double(var[c_]) + 1e-3) * gamma[c_] + beta[c_]));
                }
        const auto got = run_model(res.m, x, true);
        CHECK(max_rel_diff(got, want) < 1e-4);
    }
}

TEST_CASE("QDQ: a bias the file adds in float stays unrounded - a BatchNormalization after the conv's own Q/DQ keeps that rounding") {
    // x -> Q/DQ -> Conv(fake-quantized w1, b1) -> Div -> BatchNormalization -> Q/DQ (a1)
    //   -> Conv(w2, b2) -> Q/DQ (a2) -> BatchNormalization -> Q/DQ (out), evaluated below in double.
    single_thread one;
    const int64_t c = 2, h = 16, w = 16;
    onnx_model om({c, h, w});
    test::rng r(21);
    const std::vector<float> w1 = r.floats(4, -0.6f, 0.6f), w2 = r.floats(4, -0.6f, 0.6f), b1 = r.floats(2, -0.2f, 0.2f), b2 = r.floats(2, -0.2f, 0.2f);
    const std::vector<float> g1{1.3f, 0.7f}, be1{0.1f, -0.2f}, m1{0.05f, -0.1f}, v1{0.8f, 1.4f};
    const std::vector<float> g2{-0.9f, 1.6f}, be2{0.3f, 0.05f}, m2{0.2f, -0.3f}, v2{1.1f, 0.6f};
    const float div = 1.7f;
    const auto bn = [&](const std::string& in, const std::vector<float>& g, const std::vector<float>& be, const std::vector<float>& m,
                        const std::vector<float>& v) {
        return om.out(om.node("BatchNormalization", {in, om.init_f(om.fresh("g"), {c}, g), om.init_f(om.fresh("b"), {c}, be),
                                                     om.init_f(om.fresh("m"), {c}, m), om.init_f(om.fresh("v"), {c}, v)}, om.fresh("bn")));
    };
    const std::string xq = om.qdq("x", 1.f / 64.f, 128, true);
    auto* conv1 = om.node("Conv", {xq, om.qdq(om.init_f("w1", {c, c, 1, 1}, w1), 0.01f, 0, false), om.init_f("b1", {c}, b1)}, "conv1");
    auto* d = om.node("Div", {om.out(conv1), om.init_f("div", {}, {div})}, "div");
    const std::string a1 = om.qdq(bn(om.out(d), g1, be1, m1, v1), 0.05f, 120, true);
    auto* conv2 = om.node("Conv", {a1, om.qdq(om.init_f("w2", {c, c, 1, 1}, w2), 0.01f, 0, false), om.init_f("b2", {c}, b2)}, "conv2");
    const std::string a2 = om.qdq(om.out(conv2), 0.04f, 128, true);
    om.output(om.qdq(bn(a2, g2, be2, m2, v2), 0.03f, 100, true));
    options o;
    o.arch = "custom";
    const result res = convert_with(om, o);
    REQUIRE(res.m.layers.size() == 3);
    CHECK(res.m.layers[0].float_bias);   // Div and BatchNormalization between the conv and its Q/DQ
    CHECK_FALSE(res.m.layers[1].float_bias);  // the conv feeds its Q/DQ directly: an integer bias, as a fused QLinearConv
    CHECK(res.m.layers[2].kind == op::depthwise_conv2d);  // the BatchNormalization, after conv2's own rounding
    CHECK(res.m.layers[2].float_bias);
    REQUIRE(res.m.layers[1].act);
    CHECK(res.m.layers[1].act->scale == 0.04f);

    // The file's arithmetic in double: every Q rounds half to even and saturates.
    const auto q = [](double v, double s, int zp) { return std::min(255.0, std::max(0.0, std::nearbyint(v / s) + zp)); };
    // Within a hair of a half step, float and double may round apart: such pixels are not compared.
    std::vector<bool> tie(static_cast<std::size_t>(h * w), false);
    const auto near_half = [](double v, double s) { return std::fabs(std::fabs(v / s - std::floor(v / s)) - 0.5) < 1e-4; };
    const auto wq = [](float v) { return std::min(127.0, std::max(-128.0, std::nearbyint(double(v) / double(0.01f)))) * double(0.01f); };
    const auto bnv = [](double v, std::size_t k, const std::vector<float>& g, const std::vector<float>& be, const std::vector<float>& m,
                        const std::vector<float>& var) { return (v - m[k]) / std::sqrt(double(var[k]) + 1e-5) * g[k] + be[k]; };
    const std::vector<float> x = r.floats(static_cast<std::size_t>(c * h * w), -1.5f, 1.5f);
    const std::size_t px = static_cast<std::size_t>(h * w);
    std::vector<double> xr(x.size()), r1(x.size()), r2(x.size());
    std::vector<float> want(x.size()), folded(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) xr[i] = (q(x[i], 1.0 / 64, 128) - 128) / 64.0;
    for (std::size_t k = 0; k < 2; ++k)
        for (std::size_t p = 0; p < px; ++p) {
            const double v = (xr[p] * wq(w1[k * 2]) + xr[px + p] * wq(w1[k * 2 + 1]) + b1[k]) / double(div);
            r1[k * px + p] = (q(bnv(v, k, g1, be1, m1, v1), double(0.05f), 120) - 120) * double(0.05f);
            if (near_half(bnv(v, k, g1, be1, m1, v1), double(0.05f))) tie[p] = true;
        }
    for (std::size_t k = 0; k < 2; ++k)
        for (std::size_t p = 0; p < px; ++p) {
            // conv2 feeds its Q/DQ directly: its bias in int32 accumulator units, as ONNX Runtime's fused QLinearConv has it.
            const double acc_unit = double(0.05f) * double(0.01f);
            const double v = r1[p] * wq(w2[k * 2]) + r1[px + p] * wq(w2[k * 2 + 1]) + std::nearbyint(b2[k] / acc_unit) * acc_unit;
            const double a2v = (q(v, double(0.04f), 128) - 128) * double(0.04f);
            if (near_half(v, double(0.04f)) || near_half(bnv(a2v, k, g2, be2, m2, v2), double(0.03f))) tie[p] = true;
            want[k * px + p] = float((q(bnv(a2v, k, g2, be2, m2, v2), double(0.03f), 100) - 100) * double(0.03f));
            folded[k * px + p] = float((q(bnv(v, k, g2, be2, m2, v2), double(0.03f), 100) - 100) * double(0.03f));  // a2's rounding dropped
        }
    const std::vector<float> got = run_model(res.m, x, false);
    REQUIRE(got.size() == want.size());
    std::size_t equal = 0, differs_if_folded = 0, ties = 0;
    double worst = 0;
    for (std::size_t i = 0; i < got.size(); ++i) {
        if (tie[i % px]) {
            ++ties;
            continue;
        }
        const double steps = std::fabs(double(got[i]) - want[i]) / double(0.03f);
        worst = std::max(worst, steps);
        equal += steps < 1e-3;
        differs_if_folded += std::fabs(double(folded[i]) - want[i]) > 1e-6;
    }
    MESSAGE(equal << " of " << got.size() - ties << " outputs equal the file's arithmetic (" << ties
                  << " at a rounding tie not compared); folding the BatchNormalization across a2 would change " << differs_if_folded);
    CHECK(ties < got.size() / 20);
    CHECK(differs_if_folded > 20);  // the intermediate rounding matters here
    CHECK(worst == 0);
    CHECK(equal == got.size() - ties);
}

namespace {

/// One form of QDQ model: activation type, zero points, weight granularity, and whether weights
/// come as float initializers fake-quantized or as int8 initializers.
struct qdq_variant { bool u8_act, with_zp, per_channel, int8_initializer; };

/// What the QDQ model was built from, to check the converted manifest against.
struct qdq_source {
    float s_in = 0.02f, s_conv = 0.05f, s_fc = 0.1f;
    int zp_in = 0;
    std::vector<float> ws;           ///< conv weight scales (one, or per output channel)
    std::vector<int8_t> wq;          ///< conv weight integers
    std::vector<int32_t> bq{-40, 7, 0, 1234};
    std::vector<float> bs{0.001f, 0.002f, 0.003f, 0.0005f};
    std::vector<uint8_t> fq{10, 200, 128, 0, 255, 77, 128, 129};  ///< fc weights, zero point 128, scale 0.03
};

/// The conv's weights: a float initializer fake-quantized (QuantizeLinear -> DequantizeLinear),
/// or int8 integers -> DequantizeLinear; per output channel or per tensor. Returns the tensor.
std::string qdq_conv_weights(onnx_model& om, const qdq_variant& v, qdq_source& src, int64_t o) {
    test::rng r(3);
    const std::vector<float> w = r.floats(static_cast<std::size_t>(o * 2 * 9), -1.f, 1.f);
    src.ws.assign(v.per_channel ? static_cast<std::size_t>(o) : 1, 0.f);
    for (std::size_t c = 0; c < src.ws.size(); ++c) src.ws[c] = 0.01f * static_cast<float>(c + 1);
    std::vector<int8_t> wz(src.ws.size(), 0);
    src.wq.resize(w.size());
    for (std::size_t e = 0; e < w.size(); ++e)
        src.wq[e] = static_cast<int8_t>(std::max(-128.0, std::min(127.0, std::nearbyint(double(w[e]) / src.ws[v.per_channel ? e / 18 : 0]))));
    const std::string sc = om.init_f("w_scale", {static_cast<int64_t>(src.ws.size())}, src.ws);
    std::vector<int64_t> sshape = v.per_channel ? std::vector<int64_t>{o} : std::vector<int64_t>{};
    if (!v.per_channel) om.g->mutable_initializer(om.g->initializer_size() - 1)->clear_dims();
    const std::string zp = om.init_i8("w_zp", sshape, wz);
    if (v.int8_initializer) {
        auto* dq = om.node("DequantizeLinear", {om.init_i8("w_q", {o, 2, 3, 3}, src.wq), sc, zp}, "w_dq");
        attr_i(dq, "axis", 0);
        return om.out(dq);
    }
    auto* q = om.node("QuantizeLinear", {om.init_f("w", {o, 2, 3, 3}, w), sc, zp}, "w_q");
    attr_i(q, "axis", 0);
    auto* dq = om.node("DequantizeLinear", {om.out(q), sc, zp}, "w_dq");
    attr_i(dq, "axis", 0);
    return om.out(dq);
}

/// QDQ input -> Conv 3x3 (+ bias) -> Relu -> QDQ -> GlobalAveragePool -> Flatten -> Gemm with
/// uint8 weights -> QDQ.
void build_qdq_model(onnx_model& om, const qdq_variant& v, qdq_source& src) {
    const int64_t o = 4;
    // Input: u8 with zero point 128, or s8 with zero point -3 (or no zero point: uint8 0).
    src.zp_in = v.with_zp ? (v.u8_act ? 128 : -3) : 0;
    std::string x = om.qdq("x", src.s_in, src.zp_in, v.u8_act || !v.with_zp, v.with_zp);
    const std::string wdq = qdq_conv_weights(om, v, src, o);
    // The bias: float, or (with int8 initializers) int32 -> DequantizeLinear as QDQ exporters write it.
    std::string bias = om.random_f("cb", {o}, -0.1f, 0.1f);
    if (v.int8_initializer) {
        auto* bdq = om.node("DequantizeLinear", {om.init_i32("cb_q", src.bq), om.init_f("cb_s", {o}, src.bs)}, "cb_dq");
        attr_i(bdq, "axis", 0);
        bias = om.out(bdq);
    }
    auto* conv = om.node("Conv", {x, wdq, bias}, "/conv/Conv");
    attr_ints(conv, "pads", {1, 1, 1, 1});
    auto* relu = om.node("Relu", {om.out(conv)}, "/conv/Relu");
    // The relu output: u8 zero point 0, or s8 zero point -128 (the same grid).
    x = om.qdq(om.out(relu), src.s_conv, v.u8_act ? 0 : -128, v.u8_act, v.with_zp || !v.u8_act);
    x = om.out(om.node("GlobalAveragePool", {x}, "/gap/GlobalAveragePool"));
    x = om.out(om.node("Flatten", {x}, "/flatten/Flatten"));
    const std::string fw = om.out(om.node("DequantizeLinear", {om.init_u8("fw", {2, 4}, src.fq), om.init_f("fws", {}, {0.03f}), om.init_u8("fwz", {}, {128})}, "fw_dq"));
    auto* gemm = om.node("Gemm", {x, fw, om.init_f("fb", {2}, {0.5f, -0.5f})}, "/fc/Gemm");
    attr_i(gemm, "transB", 1);
    x = om.qdq(om.out(gemm), src.s_fc, v.u8_act ? 100 : 5, v.u8_act);
    om.output(x);
}

/// Every fake-quant node gone, the scales on the right layers, the weights exactly scale * q.
void check_qdq_manifest(const result& res, const qdq_variant& v, const qdq_source& src) {
    const model_desc& m = res.m;
    CHECK(res.qat);
    CHECK(res.calibrated == 0);
    REQUIRE(m.layers.size() == 3);  // conv, global pool, fc
    CHECK(m.layers[0].kind == op::conv2d);
    CHECK(m.layers[1].kind == op::global_avg_pool2d);
    CHECK(m.layers[2].kind == op::fc);
    CHECK(m.layers[0].name == "conv");
    REQUIRE(m.input.act);
    CHECK(m.input.act->type == ((v.u8_act || !v.with_zp) ? dtype::u8 : dtype::s8));
    CHECK(m.input.act->scale == src.s_in);
    CHECK(m.input.act->zero_point == src.zp_in);
    // Relu output: u8 either way (s8 zero point -128 is u8 zero point 0).
    REQUIRE(m.layers[0].act);
    CHECK(m.layers[0].act->type == dtype::u8);
    CHECK(m.layers[0].act->scale == src.s_conv);
    CHECK(m.layers[0].act->zero_point == 0);
    CHECK(m.layers[1].act == m.layers[0].act);  // the pool inherits the conv's quantization
    REQUIRE(m.layers[2].act);
    CHECK(m.layers[2].act->scale == src.s_fc);
    CHECK(m.layers[2].act->type == (v.u8_act ? dtype::u8 : dtype::s8));
    for (const auto& l : m.layers) CHECK(l.prec == precision::int8);
    const auto cw = tensor_values(m, "conv.weight");
    for (std::size_t e = 0; e < cw.size(); ++e) REQUIRE(cw[e] == src.ws[v.per_channel ? e / 18 : 0] * static_cast<float>(src.wq[e]));
    if (v.int8_initializer) {
        const auto cb = tensor_values(m, "conv.bias");
        for (std::size_t c = 0; c < cb.size(); ++c) REQUIRE(cb[c] == src.bs[c] * static_cast<float>(src.bq[c]));
    }
    const auto fcw = tensor_values(m, m.layers[2].name + ".weight");
    for (std::size_t e = 0; e < fcw.size(); ++e) REQUIRE(fcw[e] == 0.03f * static_cast<float>(int(src.fq[e]) - 128));
}

}  // namespace

TEST_CASE("QDQ pairs: activation scales land on the right layers and weights are dequantized exactly") {
    single_thread one;
    for (const qdq_variant v : {qdq_variant{true, true, true, false}, qdq_variant{false, true, true, false}, qdq_variant{true, false, false, false},
                                qdq_variant{false, true, false, true}, qdq_variant{true, true, true, true}}) {
        CAPTURE(v.u8_act);
        CAPTURE(v.with_zp);
        CAPTURE(v.per_channel);
        CAPTURE(v.int8_initializer);
        onnx_model om({2, 6, 6});
        qdq_source src;
        build_qdq_model(om, v, src);
        options o_;
        o_.arch = "custom";
        const result res = convert_with(om, o_);
        check_qdq_manifest(res, v, src);
        // An s8 manifest keeps the trained integers of the conv as they are.
        options s8 = o_;
        s8.weights_s8 = true;
        const result r8 = convert_with(om, s8);
        const tensor& q = r8.m.tensors.at("conv.weight");
        REQUIRE(q.type == dtype::s8);
        for (std::size_t e = 0; e < src.wq.size(); ++e) REQUIRE(q.as<int8_t>()[e] == src.wq[e]);
        const tensor& qs = r8.m.tensors.at("conv.weight.scales");
        for (std::size_t c = 0; c < 4; ++c) REQUIRE(qs.as<float>()[c] == src.ws[v.per_channel ? c : 0]);
        // And the model compiles and runs in INT8.
        const auto y = run_model(res.m, test::rng(5).floats(2 * 6 * 6, -1.f, 1.f), false);
        CHECK(y.size() == 2);
    }
}

TEST_CASE("a tensor quantized twice: exact when the second grid gives every code back - a departure otherwise") {
    // Q(DQ(q)) in ONNX's arithmetic for all 256 codes; the largest distance from the zero point
    // here is 255 - 73 = 182 steps, so a scale ratio r keeps every code while 182 * |1/r - 1| < 0.5.
    const quantization held{dtype::u8, {0.01f}, {73}, -1};
    const auto then = [](float scale, int32_t zp, dtype t = dtype::u8) { return quantization{t, {scale}, {zp}, -1}; };
    CHECK(requantizes_to_itself(held, then(0.01f, 73)));
    CHECK(requantizes_to_itself(held, then(std::nextafter(0.01f, 1.f), 73)));  // PyTorch's eager export: one ulp apart
    CHECK(requantizes_to_itself(held, then(0.01f * 1.0025f, 73)));             // 182 / 1.0025 = 181.55: still 182
    CHECK_FALSE(requantizes_to_itself(held, then(0.01f * 1.004f, 73)));        // 182 / 1.004 = 181.27: 181
    CHECK_FALSE(requantizes_to_itself(held, then(0.01f, 72)));
    CHECK_FALSE(requantizes_to_itself(held, then(0.01f, 73, dtype::s8)));
    const quantization s8{dtype::s8, {0.5f}, {0}, -1};
    CHECK(requantizes_to_itself(s8, then(0.5f, 0, dtype::s8)));
    CHECK_FALSE(requantizes_to_itself(s8, then(0.25f, 0, dtype::s8)));  // codes double: 1 becomes 2
}

TEST_CASE("Relu and Clip fuse as post-ops and a residual Add fuses into the deeper conv") {
    onnx_model om({4, 8, 8});
    auto conv = [&](const std::string& in, const std::string& name, int64_t cin, int64_t cout) {
        auto* c = om.node("Conv", {in, om.random_f(name + ".w", {cout, cin, 3, 3}, -0.3f, 0.3f), om.random_f(name + ".b", {cout}, -0.1f, 0.1f)}, name);
        attr_ints(c, "pads", {1, 1, 1, 1});
        return om.out(c);
    };
    const std::string stem = om.out(om.node("Relu", {conv("x", "stem", 4, 4)}, "stem_relu"));
    // Shortcut (shallow): one conv; branch (deep): two convs. Emitted branch first, as PyTorch does.
    const std::string b1 = om.out(om.node("Clip", {conv(stem, "b1", 4, 4), om.init_f("lo", {}, {0.f}), om.init_f("hi", {}, {6.f})}, "b1_relu6"));
    const std::string b2 = conv(b1, "b2", 4, 4);
    const std::string sc = conv(stem, "shortcut", 4, 4);
    const std::string sum = om.out(om.node("Add", {sc, b2}, "add"));
    const std::string act = om.out(om.node("Relu", {sum}, "add_relu"));
    const std::string c3 = om.out(om.node("Clip", {conv(act, "c3", 4, 4), om.init_f("lo3", {}, {0.f}), om.init_f("hi3", {}, {3.f})}, "c3_clip"));
    // Two pools of one tensor: their Add has no conv to fuse into, so it stays a layer (with its Relu).
    auto* p1 = om.node("MaxPool", {c3}, "p1");
    attr_ints(p1, "kernel_shape", {2, 2});
    auto* p2 = om.node("AveragePool", {c3}, "p2");
    attr_ints(p2, "kernel_shape", {2, 2});
    om.output(om.out(om.node("Relu", {om.out(om.node("Add", {om.out(p1), om.out(p2)}, "add2"))}, "add2_relu")));

    const result res = convert_with(om, fp32_options());
    const model_desc& m = res.m;
    auto post = [&](const std::string& n) { return qint8::detail::post_ops_str(find(m, n)); };
    CHECK(post("stem") == "[relu]");
    CHECK(post("b1") == "[relu6]");
    CHECK(post("b2") == "[sum(shortcut), relu]");
    CHECK(post("shortcut") == "[]");
    CHECK(post("c3") == "[clip(0.000000, 3.000000)]");
    CHECK(find(m, "add2").kind == op::add);
    CHECK(post("add2") == "[relu]");
    CHECK(m.layers.size() == 8);
    // The fused conv runs after its residual's producer.
    std::map<std::string, std::size_t> pos;
    for (std::size_t k = 0; k < m.layers.size(); ++k) pos[m.layers[k].name] = k;
    CHECK(pos["shortcut"] < pos["b2"]);

    // Numerically the same graph: relu(b2 + shortcut) against an unfused evaluation by layer.
    single_thread one;
    const std::vector<float> x = test::rng(9).floats(4 * 8 * 8, -1.f, 1.f);
    model_desc probe = m;
    probe.output = "b2";
    probe.classes = {};
    const auto fused = run_model(probe, x, true);
    model_desc parts = m;
    parts.classes = {};
    for (auto& l : parts.layers)
        if (l.name == "b2") l.post_ops.clear();
    parts.output = "b2";
    const auto branch = run_model(parts, x, true);
    parts.output = "shortcut";
    const auto shortcut = run_model(parts, x, true);
    std::vector<float> want(branch.size());
    for (std::size_t k = 0; k < want.size(); ++k) want[k] = std::max(0.f, branch[k] + shortcut[k]);
    CHECK(max_rel_diff(fused, want) < 1e-5);
}

namespace {

/// input [n, 4, 1, 1] -> Q/DQ -> Flatten -> Gemm (int8 per-channel weights through
/// DequantizeLinear) -> Q/DQ (0.5, 128): the logits 0.95, 0.9525 and -0.46 for the input
/// (1, 0, 0, 0), which the file rounds to 1, 1 and -0.5. Returns the rounded tensor.
std::string rounded_logits(onnx_model& om) {
    const std::string x = om.qdq("x", 1.f / 64.f, 0, true);
    const std::string flat = om.out(om.node("Flatten", {x}, "flatten"));
    const std::string wq = om.init_i8("w_q", {3, 4}, {95, 0, 0, 0, 127, 0, 0, 0, -46, 0, 0, 0});
    auto* wdq = om.node("DequantizeLinear", {wq, om.init_f("w_s", {3}, {0.01f, 0.0075f, 0.01f}), om.init_i8("w_zp", {3}, {0, 0, 0})}, "w_dq");
    attr_i(wdq, "axis", 0);
    auto* gemm = om.node("Gemm", {flat, om.out(wdq)}, "fc");
    attr_i(gemm, "transB", 1);
    return om.qdq(om.out(gemm), 0.5f, 128, true);
}

}  // namespace

TEST_CASE("the output's Q/DQ is honoured: Flatten -> Gemm -> Q/DQ gives ONNX Runtime's rounded logits") {
    // input [n, 4, 1, 1] -> Q/DQ -> Flatten -> Gemm (int8 per-channel weights through
    // DequantizeLinear) -> Q/DQ (0.5, 128) -> output. The Gemm computes 0.95, 0.955 and -0.46 in
    // real values; the file rounds them to the 0.5 grid: 1, 1 and -0.5 (what ONNX Runtime 1.30
    // returns). Computed unrounded, they would be 0.95, 0.955, -0.46.
    onnx_model om({4, 1, 1});
    om.output(rounded_logits(om));
    std::vector<std::string> said;
    options o;
    o.arch = "custom";
    o.note = [&](const std::string& s) { said.push_back(s); };
    const result res = convert_with(om, o);
    for (const auto& s : said) CHECK_MESSAGE(s.rfind("departure", 0) != 0, s);  // the defaults compute what the file says
    const std::vector<float> got = run_model(res.m, {1.f, 0.f, 0.f, 0.f}, false);
    REQUIRE(got.size() == 3);
    CHECK(got[0] == 1.f);    // 95 * 0.01 = 0.95: 1.9 steps of 0.5, rounded to 2
    CHECK(got[1] == 1.f);    // 127 * 0.0075 = 0.9525: 1.905 steps, rounded to 2
    CHECK(got[2] == -0.5f);  // -46 * 0.01 = -0.46: -0.92 steps, rounded to -1
}

TEST_CASE("uint8 weights with a zero point: a channel whose integers less the zero point leave s8 is a reported departure") {
    // Per-tensor uint8 weights, zero point 120 (as TFLite's uint8 files and ONNX Runtime's
    // asymmetric weights have them). Channel 0 spans codes 0..250: -120..130 does not fit s8, so
    // it is requantized and reported; channels 1 and 2 (-120..127, -20..20) keep the file's integers.
    onnx_model om({4, 1, 1});
    const std::string x = om.qdq("x", 1.f / 64.f, 0, true);
    const std::string flat = om.out(om.node("Flatten", {x}, "flatten"));
    const std::string wq = om.init_u8("w_q", {3, 4}, {0, 250, 120, 121, 0, 247, 120, 130, 100, 140, 119, 121});
    auto* wdq = om.node("DequantizeLinear", {wq, om.init_f("w_s", {}, {0.01f}), om.init_u8("w_zp", {}, {120})}, "w_dq");
    auto* gemm = om.node("Gemm", {flat, om.out(wdq)}, "fc");
    attr_i(gemm, "transB", 1);
    om.output(om.qdq(om.out(gemm), 0.05f, 128, true));
    std::vector<std::string> said;
    options o;
    o.arch = "custom";
    o.note = [&](const std::string& s) { said.push_back(s); };
    const result res = convert_with(om, o);
    REQUIRE(res.m.attributes.count("departure.fc") == 1);
    CHECK(res.m.attributes.at("departure.fc").find("1 of 3 output channels requantized") != std::string::npos);
    std::size_t printed = 0;
    for (const auto& s : said) printed += s.rfind("departure: layer 'fc': 1 of 3", 0) == 0;
    CHECK(printed == 1);
    // The channels that fit are the file's integers and scale, exactly.
    const tensor& w = res.m.tensors.at("fc.weight");
    REQUIRE(w.type == dtype::s8);
    const auto* q = reinterpret_cast<const int8_t*>(w.data);
    const std::vector<int8_t> row1{-120, 127, 0, 10}, row2{-20, 20, -1, 1};
    CHECK(std::vector<int8_t>(q + 4, q + 8) == row1);
    CHECK(std::vector<int8_t>(q + 8, q + 12) == row2);
    float s1;
    std::memcpy(&s1, res.m.tensors.at("fc.weight.scales").data + sizeof(float), sizeof s1);
    CHECK(s1 == 0.01f);
}

TEST_CASE("a Q/DQ after a Softmax is honoured: the probabilities come out on its grid - as the file says") {
    // The graph above, then Softmax -> Q/DQ (1/256, 0), as ONNX Runtime's QDQ quantizer writes a
    // final softmax: the probabilities of the rounded logits 1, 1, -0.5, rounded to 1/256.
    onnx_model om({4, 1, 1});
    const std::string logits = rounded_logits(om);
    om.output(om.qdq(om.out(om.node("Softmax", {logits}, "softmax")), 1.f / 256.f, 0, true));
    std::vector<std::string> said;
    options o;
    o.arch = "custom";
    o.note = [&](const std::string& s) { said.push_back(s); };
    const result res = convert_with(om, o);
    for (const auto& s : said) CHECK_MESSAGE(s.rfind("departure", 0) != 0, s);
    const layer& sm = find(res.m, "softmax");
    REQUIRE(sm.act);
    CHECK(*sm.act == quant_params{dtype::u8, 1.f / 256.f, 0});
    const double e1 = std::exp(1.0), e2 = std::exp(-0.5), sum = 2 * e1 + e2;
    const std::vector<float> want{float(std::nearbyint(e1 / sum * 256) / 256), float(std::nearbyint(e1 / sum * 256) / 256),
                                  float(std::nearbyint(e2 / sum * 256) / 256)};
    CHECK(want == std::vector<float>{115.f / 256, 115.f / 256, 26.f / 256});  // 0.44982, 0.44982, 0.10037 unrounded
    CHECK(run_model(res.m, {1.f, 0.f, 0.f, 0.f}, false) == want);
    // The FP32 path computes the source model: unrounded logits, unrounded probabilities.
    const std::vector<float> fp32 = run_model(res.m, {1.f, 0.f, 0.f, 0.f}, true);
    REQUIRE(fp32.size() == 3);
    CHECK(fp32[2] == doctest::Approx(std::exp(-0.46) / (std::exp(0.95) + std::exp(0.9525) + std::exp(-0.46))).epsilon(1e-5));
}

TEST_CASE("a residual Add fused into its branch's conv keeps the file's rounding of the branch - --fuse-residual-rounding drops it and reports it") {
    onnx_model om({4, 8, 8});
    auto conv = [&](const std::string& in, const std::string& name) {
        auto* c = om.node("Conv", {in, om.random_f(name + ".w", {4, 4, 3, 3}, -0.3f, 0.3f), om.random_f(name + ".b", {4}, -0.1f, 0.1f)}, name);
        attr_ints(c, "pads", {1, 1, 1, 1});
        return om.out(c);
    };
    const std::string x = om.qdq("x", 1.f / 64.f, 128, true);
    const std::string stem = om.qdq(om.out(om.node("Relu", {conv(x, "stem")}, "stem_relu")), 0.02f, 0, true);
    const std::string branch = om.qdq(conv(stem, "branch"), 0.03f, 120, true);  // rounded before the add
    const std::string sum = om.out(om.node("Relu", {om.out(om.node("Add", {branch, stem}, "add"))}, "add_relu"));
    om.output(om.qdq(sum, 0.025f, 0, true));
    std::vector<std::string> said;
    options o;
    o.arch = "custom";
    o.note = [&](const std::string& s) { said.push_back(s); };
    const result exact = convert_with(om, o);
    CHECK(exact.m.layers.size() == 2);
    const layer& b = find(exact.m, "branch");
    CHECK(qint8::detail::post_ops_str(b) == "[sum(stem), relu]");
    REQUIRE(b.post_ops[0].rounded);
    CHECK(*b.post_ops[0].rounded == quant_params{dtype::u8, 0.03f, 120});
    for (const auto& kv : exact.m.attributes) CHECK_MESSAGE(kv.first.rfind("departure", 0) != 0, kv.first << ": " << kv.second);  // clang 14: no structured bindings in the macro's lambda
    for (const auto& s : said) CHECK_MESSAGE(s.rfind("departure", 0) != 0, s);
    said.clear();
    o.fuse_residual_rounding = true;
    const result fused = convert_with(om, o);
    const layer& f = find(fused.m, "branch");
    CHECK(qint8::detail::post_ops_str(f) == "[sum(stem), relu]");
    CHECK(!f.post_ops[0].rounded);
    REQUIRE(fused.m.attributes.count("departure.branch") == 1);
    CHECK(fused.m.attributes.at("departure.branch").find("before the residual add is not applied") != std::string::npos);
    std::size_t departures = 0;
    for (const auto& s : said) departures += s.rfind("departure: layer 'branch'", 0) == 0;
    CHECK(departures == 1);
    // The arithmetic of `rounded` is checked bit for bit against the reference in test_ops.cpp,
    // and against ONNX Runtime on ResNet-50 QDQ files in test_ort_oracle.cpp.
}

TEST_CASE("a zero Pad folds into the next conv as asymmetric padding") {
    single_thread one;
    onnx_model om({2, 5, 6});
    auto* pad = om.node("Pad", {"x", om.init_i64("pads", {0, 0, 1, 2, 0, 0, 3, 0})}, "pad");
    const std::vector<float> w = test::rng(2).floats(3 * 2 * 3 * 3, -0.5f, 0.5f);
    auto* c = om.node("Conv", {om.out(pad), om.init_f("w", {3, 2, 3, 3}, w)}, "conv");
    attr_ints(c, "pads", {1, 1, 1, 1});
    om.output(om.out(c));
    const result res = convert_with(om, fp32_options());
    REQUIRE(res.m.layers.size() == 1);
    CHECK(res.m.layers[0].pad == std::array<int64_t, 4>{2, 3, 4, 1});
    const std::vector<float> x = test::rng(4).floats(2 * 5 * 6, -1.f, 1.f);
    int64_t oh = 0, ow = 0;
    const auto want = conv_ref(x, 2, 5, 6, w, 3, 3, 1, {2, 3, 4, 1}, {}, oh, ow);
    CHECK(res.m.layers[0].out_shape == std::vector<int64_t>{3, oh, ow});
    CHECK(max_rel_diff(run_model(res.m, x, true), want) < 1e-5);

    // A Pad in front of a max pool cannot fold (its zeros would take part in the max).
    onnx_model bad({2, 5, 6});
    auto* p2 = bad.node("Pad", {"x", bad.init_i64("pads", {0, 0, 1, 1, 0, 0, 1, 1})}, "pad_before_pool");
    auto* mp = bad.node("MaxPool", {bad.out(p2)}, "pool");
    attr_ints(mp, "kernel_shape", {2, 2});
    bad.output(bad.out(mp));
    const std::string e = error_of([&] { convert_with(bad, fp32_options()); });
    CHECK(e.find("node 'pad_before_pool' (op Pad)") != std::string::npos);
}

TEST_CASE("activation scales propagate through max and avg and global pooling and flatten") {
    single_thread one;
    onnx_model om({3, 8, 8});
    auto* c = om.node("Conv", {"x", om.random_f("w", {4, 3, 1, 1}, -1.f, 1.f)}, "conv");
    std::string x = om.qdq("x", 0.02f, 0, false);  // the input: s8
    c->set_input(0, x);
    x = om.qdq(om.out(om.node("Relu", {om.out(c)}, "relu")), 0.04f, 0, true);
    auto* mp = om.node("MaxPool", {x}, "maxpool");
    attr_ints(mp, "kernel_shape", {2, 2});
    attr_ints(mp, "strides", {2, 2});
    auto* ap = om.node("AveragePool", {om.out(mp)}, "avgpool");  // no QDQ after it: inherits
    attr_ints(ap, "kernel_shape", {2, 2});
    x = om.qdq(om.out(ap), 0.03f, 0, true);                      // ... but this one has its own
    x = om.out(om.node("GlobalAveragePool", {x}, "gap"));
    x = om.qdq(om.out(om.node("Flatten", {x}, "flatten")), 0.025f, 0, true);  // lands on the pool it flattens
    auto* fc = om.node("Gemm", {x, om.random_f("fw", {3, 4}, -1.f, 1.f)}, "fc");
    attr_i(fc, "transB", 1);
    om.output(om.out(fc));
    options o;
    o.arch = "custom";
    const result res = convert_with(om, o);
    const model_desc& m = res.m;
    CHECK(find(m, "maxpool").act == find(m, "conv").act);  // inherited (validate() spells it out)
    REQUIRE(find(m, "avgpool").act);
    CHECK(find(m, "avgpool").act->scale == 0.03f);
    REQUIRE(find(m, "gap").act);
    CHECK(find(m, "gap").act->scale == 0.025f);
    CHECK(find(m, "fc").inputs == std::vector<std::string>{"gap"});  // flatten is gone
    const auto eff = detail_conv::effective_acts(m);
    CHECK(eff.at("maxpool")->scale == 0.04f);
    CHECK(eff.at("maxpool")->type == dtype::u8);

    // Calibrated (an FP32 graph): pools take their input's quantization.
    onnx_model f({3, 8, 8});
    auto* fc2 = f.node("Conv", {"x", f.random_f("w", {4, 3, 1, 1}, -1.f, 1.f)}, "conv");
    auto* r2 = f.node("Relu", {f.out(fc2)}, "relu");
    auto* mp2 = f.node("MaxPool", {f.out(r2)}, "maxpool");
    attr_ints(mp2, "kernel_shape", {2, 2});
    auto* gap2 = f.node("GlobalAveragePool", {f.out(mp2)}, "gap");
    auto* g2 = f.node("Gemm", {f.out(f.node("Flatten", {f.out(gap2)}, "flatten")), f.random_f("fw", {3, 4}, -1.f, 1.f)}, "fc");
    attr_i(g2, "transB", 1);
    f.output(f.out(g2));
    const std::vector<float> images = test::rng(1).floats(4 * 3 * 8 * 8, -1.f, 1.f);
    const result rc = convert_with(f, o, &images);
    CHECK_FALSE(rc.qat);
    CHECK(rc.calibration_images == 4);
    const auto ec = detail_conv::effective_acts(rc.m);
    REQUIRE(ec.at("conv"));
    CHECK(ec.at("conv")->type == dtype::u8);
    CHECK(*ec.at("maxpool") == *ec.at("conv"));
    CHECK(*ec.at("gap") == *ec.at("conv"));
}

TEST_CASE("--quantized-ops and --fp32-layers choose each layer's precision") {
    single_thread one;
    onnx_model om({4, 8, 8});
    auto* c = om.node("Conv", {"x", om.random_f("w", {8, 4, 3, 3}, -0.3f, 0.3f)}, "/conv/Conv");
    attr_ints(c, "pads", {1, 1, 1, 1});
    auto* dw = om.node("Conv", {om.out(om.node("Relu", {om.out(c)}, "/conv/Relu")), om.random_f("dw", {8, 1, 3, 3}, -0.3f, 0.3f)}, "/dw/Conv");
    attr_ints(dw, "pads", {1, 1, 1, 1});
    attr_i(dw, "group", 8);
    auto* mp = om.node("MaxPool", {om.out(om.node("Relu", {om.out(dw)}, "/dw/Relu"))}, "/pool/MaxPool");
    attr_ints(mp, "kernel_shape", {2, 2});
    attr_ints(mp, "strides", {2, 2});
    auto* fc = om.node("Gemm", {om.out(om.node("Flatten", {om.out(mp)}, "/flat/Flatten")), om.random_f("fw", {10, 8 * 4 * 4}, -0.1f, 0.1f)}, "/fc/Gemm");
    attr_i(fc, "transB", 1);
    om.output(om.out(fc));
    const std::vector<float> images = test::rng(1).floats(2 * 4 * 8 * 8, -1.f, 1.f);
    auto precisions = [&](options o) {
        o.arch = "custom";
        const result r = convert_with(om, o, &images);
        std::string s;
        for (const auto& l : r.m.layers) s += l.name + ":" + to_string(l.prec) + " ";
        run_model(r.m, std::vector<float>(images.begin(), images.begin() + 4 * 8 * 8), false);  // it compiles and runs
        return s;
    };
    CHECK(precisions({}) == "conv:int8 dw:int8 pool:int8 fc:int8 ");
    options q;
    q.quantized_ops = {"conv2d", "fc"};
    CHECK(precisions(q) == "conv:int8 dw:fp32 pool:fp32 fc:int8 ");
    q.fp32_layers = {"/fc/Gemm"};  // the ONNX node name works as well as the layer's
    CHECK(precisions(q) == "conv:int8 dw:fp32 pool:fp32 fc:fp32 ");
    options f;
    f.fp32_layers = {"dw", "pool"};
    CHECK(precisions(f) == "conv:int8 dw:fp32 pool:fp32 fc:int8 ");
    f.fp32_layers = {"nope"};
    CHECK(error_of([&] { precisions(f); }).find("options.fp32_layers: no layer named 'nope'") != std::string::npos);
    options bad;
    bad.quantized_ops = {"lstm"};
    CHECK(error_of([&] { precisions(bad); }).find("options.quantized_ops") != std::string::npos);
    // Without calibration data an FP32 graph cannot become INT8.
    options none;
    none.arch = "custom";
    CHECK(error_of([&] { convert_with(om, none); }).find("options.fp32") != std::string::npos);
}

TEST_CASE("Gemm with transB 1 or 0 and MatMul plus Add become fc layers with [O x K] weights") {
    single_thread one;
    const int64_t k = 12, o = 5;
    test::rng r(8);
    const std::vector<float> w = r.floats(static_cast<std::size_t>(o * k), -1.f, 1.f), b = r.floats(o, -1.f, 1.f);  // w as [O, K]
    std::vector<float> wt(w.size());                                                                                  // [K, O]
    for (int64_t i = 0; i < o; ++i)
        for (int64_t j = 0; j < k; ++j) wt[static_cast<std::size_t>(j * o + i)] = w[static_cast<std::size_t>(i * k + j)];
    const std::vector<float> x = r.floats(static_cast<std::size_t>(k), -1.f, 1.f);
    std::vector<float> want(static_cast<std::size_t>(o));
    for (int64_t i = 0; i < o; ++i) {
        double acc = b[static_cast<std::size_t>(i)];
        for (int64_t j = 0; j < k; ++j) acc += double(w[static_cast<std::size_t>(i * k + j)]) * x[static_cast<std::size_t>(j)];
        want[static_cast<std::size_t>(i)] = static_cast<float>(acc);
    }
    for (int form = 0; form < 3; ++form) {
        CAPTURE(form);
        onnx_model om({3, 2, 2});
        const std::string flat = om.out(om.node("Flatten", {"x"}, "flatten"));
        if (form < 2) {
            auto* g = om.node("Gemm", {flat, form == 0 ? om.init_f("w", {o, k}, w) : om.init_f("w", {k, o}, wt), om.init_f("b", {o}, b)}, "gemm");
            attr_i(g, "transB", form == 0 ? 1 : 0);
            om.output(om.out(g));
        } else {
            auto* mm = om.node("MatMul", {flat, om.init_f("w", {k, o}, wt)}, "matmul");
            om.output(om.out(om.node("Add", {om.out(mm), om.init_f("b", {o}, b)}, "bias")));
        }
        const result res = convert_with(om, fp32_options());
        REQUIRE(res.m.layers.size() == 1);
        CHECK(res.m.layers[0].kind == op::fc);
        CHECK(res.m.tensors.at(res.m.layers[0].name + ".weight").shape == std::vector<int64_t>{o, k});
        CHECK(max_rel_diff(run_model(res.m, x, true), want) < 1e-5);
    }
}

TEST_CASE("SAME auto_pad and ceil_mode become exact asymmetric pads") {
    onnx_model om({2, 8, 8});
    auto* c1 = om.node("Conv", {"x", om.random_f("w1", {2, 2, 3, 3}, -1.f, 1.f)}, "same_upper");
    attr_s(c1, "auto_pad", "SAME_UPPER");
    attr_ints(c1, "strides", {2, 2});  // 8 -> 4: total padding 1, at the end
    auto* c2 = om.node("Conv", {om.out(c1), om.random_f("w2", {2, 2, 2, 2}, -1.f, 1.f)}, "same_lower");
    attr_s(c2, "auto_pad", "SAME_LOWER");  // 4 -> 4 with a 2x2 kernel: total 1, at the start
    auto* p1 = om.node("MaxPool", {om.out(c2)}, "pool_same");
    attr_ints(p1, "kernel_shape", {3, 3});
    attr_ints(p1, "strides", {2, 2});
    attr_s(p1, "auto_pad", "SAME_UPPER");  // 4 -> 2: total 1
    auto* p2 = om.node("MaxPool", {om.out(c1)}, "pool_ceil");
    attr_ints(p2, "kernel_shape", {3, 3});
    attr_ints(p2, "strides", {2, 2});
    attr_i(p2, "ceil_mode", 1);  // 4 -> ceil(1/2)+1 = 2: one extra row/column at the end
    auto* sum = om.node("Add", {om.out(p1), om.out(p2)}, "sum");
    auto* p3 = om.node("AveragePool", {om.out(sum)}, "avg_valid");
    attr_ints(p3, "kernel_shape", {2, 2});
    attr_s(p3, "auto_pad", "VALID");
    om.output(om.out(p3));
    const result res = convert_with(om, fp32_options());
    const model_desc& m = res.m;
    CHECK(find(m, "same_upper").pad == std::array<int64_t, 4>{0, 0, 1, 1});
    CHECK(find(m, "same_lower").pad == std::array<int64_t, 4>{1, 1, 0, 0});
    CHECK(find(m, "pool_same").pad == std::array<int64_t, 4>{0, 0, 1, 1});
    CHECK(find(m, "pool_ceil").pad == std::array<int64_t, 4>{0, 0, 1, 1});
    CHECK(find(m, "pool_ceil").out_shape == std::vector<int64_t>{2, 2, 2});
    CHECK(find(m, "avg_valid").pad == std::array<int64_t, 4>{0, 0, 0, 0});
    CHECK(find(m, "same_lower").out_shape == std::vector<int64_t>{2, 4, 4});
    CHECK(find(m, "avg_valid").out_shape == std::vector<int64_t>{2, 1, 1});
}

TEST_CASE("unsupported ops and damaged files fail naming the node or the file") {
    onnx_model om({3, 4, 4});
    om.node("Relu", {"x"}, "ok");
    om.node("LSTM", {"ok:0"}, "Conv_12");
    om.output("Conv_12:0");
    const std::string e = error_of([&] { om.parse(); });
    CHECK(e.find("[qint8.unsupported] test.onnx: node 'Conv_12' (op LSTM): not supported; qint8 converts Conv, BatchNormalization") != std::string::npos);

    onnx_model dom({3, 4, 4});
    dom.node("QLinearSigmoid", {"x"}, "qg")->set_domain("com.microsoft");
    dom.output("qg:0");
    CHECK(error_of([&] { dom.parse(); }).find("node 'qg' (op com.microsoft.QLinearSigmoid): not supported") != std::string::npos);
    // A QOperator node is read (the QDQ rewrite), and one missing its inputs is named.
    onnx_model qc({3, 4, 4});
    qc.node("QLinearConv", {"x"}, "qc")->set_domain("com.microsoft");
    qc.output("qc:0");
    CHECK(error_of([&] { qc.parse(); }).find("node 'qc' (op QLinearConv): expected 8 inputs, found 1") != std::string::npos);

    onnx_model dil({3, 8, 8});
    auto* c = dil.node("Conv", {"x", dil.random_f("w", {2, 3, 3, 3}, -1.f, 1.f)}, "dilated");
    attr_ints(c, "dilations", {2, 2});
    dil.output(dil.out(c));
    CHECK(error_of([&] { dil.parse(); }).find("node 'dilated' (op Conv): dilations [2,2]") != std::string::npos);

    // Files: a good one, then truncated in the middle, cut to its first field, garbage, empty, absent.
    scratch_dir dir;
    onnx_model good({3, 8, 8});
    auto* gc = good.node("Conv", {"x", good.random_f("w", {2, 3, 3, 3}, -1.f, 1.f)}, "conv");
    good.output(good.out(gc));
    const std::string bytes = good.mp.SerializeAsString();
    auto write = [&](const std::string& name, const std::string& data) {
        std::ofstream(dir / name, std::ios::binary) << data;
        return dir / name;
    };
    CHECK_NOTHROW(onnx_frontend::load(write("good.onnx", bytes)));
    const std::string cut = write("cut.onnx", bytes.substr(0, bytes.size() / 2));
    const std::string ec = error_of([&] { onnx_frontend::load(cut); });
    CHECK(ec.find(cut) != std::string::npos);
    CHECK(ec.find("truncated") != std::string::npos);
    onnx::ModelProto first_only;  // a cut between fields: parses, but the graph is gone
    first_only.set_ir_version(8);
    const std::string fo = write("first.onnx", first_only.SerializeAsString());
    CHECK(error_of([&] { onnx_frontend::load(fo); }).find(fo + ": not an ONNX model: expected a graph with nodes") != std::string::npos);
    const std::string junk = write("junk.onnx", std::string("\xff\xff\xff\xff garbage \x01\x02", 16));
    CHECK(error_of([&] { onnx_frontend::load(junk); }).find(junk + ": not a valid ONNX model") != std::string::npos);
    const std::string empty = write("empty.onnx", "");
    CHECK(error_of([&] { onnx_frontend::load(empty); }).find("the file is empty") != std::string::npos);
    CHECK(error_of([&] { onnx_frontend::load(dir / "absent.onnx"); }).find("[qint8.io]") != std::string::npos);
    // A tensor whose data is shorter than its dims (damage inside a field that still parses).
    onnx::ModelProto short_w = good.mp;
    auto* w = short_w.mutable_graph()->mutable_initializer(0);
    w->set_raw_data(w->raw_data().substr(0, 20));
    const std::string sw = write("short.onnx", short_w.SerializeAsString());
    CHECK(error_of([&] { onnx_frontend::load(sw); }).find("initializer 'w': shape [2,3,3,3] needs 54 values, the tensor holds 5") != std::string::npos);
}

TEST_CASE("recognition: ResNet-50 and MobileNetV2 built as ONNX convert and load with qint8::load") {
    single_thread one;
    scratch_dir dir;
    {
        resnet50::params_type p = resnet50::defaults();
        p.input_height = p.input_width = 32;
        p.num_classes = 10;
        p.width = 0.125;
        const model_desc s = resnet50::structure(p);
        onnx_model om({3, 32, 32});
        emit_onnx(om, s);
        const std::string path = dir / "r50.onnx";
        std::ofstream(path, std::ios::binary) << om.mp.SerializeAsString();
        const std::vector<float> images = test::rng(3).floats(2 * 3 * 32 * 32, -1.f, 1.f);
        options o;
        o.input = path;
        o.output = dir / "r50/model.json";  // the directory is created
        o.images = &images;
        const result r = run(o);
        CHECK(r.family == "resnet50");
        CHECK(r.m.attributes.at("width_multiplier") == "0.125");
        auto net = load<resnet50>(o.output);
        CHECK(net.num_outputs() == 10);
        CHECK(net.desc().layers.front().name == "conv1");
        CHECK(net.desc().find_layer("layer4.2.conv3") != nullptr);
        // Forcing another family names the first mismatch.
        options v = o;
        v.arch = "vgg16";
        v.output = dir / "vgg/model.json";
        const std::string e = error_of([&] { run(v); });
        CHECK(e.find("[qint8.topology]") != std::string::npos);
        CHECK(e.find("options.arch = vgg16: the model does not fit: vgg16 (vgg16): layer 0 'features.0'") != std::string::npos);
        CHECK_FALSE(fs::exists(dir / "vgg"));
    }
    {
        mobilenet_v2::params_type p = mobilenet_v2::defaults();
        p.input_height = p.input_width = 32;
        p.num_classes = 10;
        p.width = 0.35;
        p.softmax = true;
        const model_desc s = mobilenet_v2::structure(p);
        onnx_model om({3, 32, 32});
        emit_onnx(om, s);
        const std::string path = dir / "mv2.onnx";
        std::ofstream(path, std::ios::binary) << om.mp.SerializeAsString();
        options o;
        o.input = path;
        o.output = dir / "mv2.json";
        o.fp32 = true;
        const result r = run(o);
        CHECK(r.family == "mobilenet_v2");
        auto net = load<mobilenet_v2>(o.output);
        CHECK(net.outputs_probabilities());
        CHECK(net.desc().find_layer("features.17.conv.2") != nullptr);

        // Not a family any more once a layer changes: custom, with the reason.
        onnx_model odd({3, 32, 32});
        model_desc s2 = s;  // the last depthwise conv becomes 1x1: the mismatch is deep in the model
        for (auto& l : s2.layers)
            if (l.name == "features.17.conv.1") {
                l.kernel = {1, 1};
                l.pad = {0, 0, 0, 0};
            }
        emit_onnx(odd, s2);
        options c = fp32_options();
        c.arch = "";
        const result rc = convert_with(odd, c);
        CHECK(rc.family == "custom");
        CHECK(rc.m.architecture == "custom");
        CHECK(rc.mismatch.find("mobilenet_v2") != std::string::npos);
    }
    {
        // TF-slim style: a 1x1-conv classifier with 1001 outputs (background first), relu6.
        mobilenet_v1::params_type p = mobilenet_v1::defaults();
        p.input_height = p.input_width = 32;
        p.num_classes = 1000;
        p.background_class = true;
        p.classifier = models::classifier_kind::conv1x1;
        p.width = 0.25;
        onnx_model om({3, 32, 32});
        emit_onnx(om, mobilenet_v1::structure(p));
        options c = fp32_options();
        c.arch = "mobilenet_v1";
        const result r = convert_with(om, c);
        CHECK(r.family == "mobilenet_v1");
        CHECK(r.m.classes.background_class);
        CHECK(r.m.attributes.at("classifier") == "conv1x1");
        CHECK(r.m.layers.back().name == "Logits/Conv2d_1c_1x1");
    }
}

/// A one-convolution FP32 ONNX model written to DIR/m.onnx; returns its path.
static std::string one_conv_onnx(const scratch_dir& dir) {
    onnx_model om({3, 8, 8});
    auto* c = om.node("Conv", {"x", om.random_f("w", {2, 3, 3, 3}, -1.f, 1.f)}, "conv");
    om.output(om.out(c));
    const std::string path = dir / "m.onnx";
    std::ofstream(path, std::ios::binary) << om.mp.SerializeAsString();
    return path;
}

TEST_CASE("a failed conversion leaves no files behind") {
    scratch_dir dir;
    options o;
    o.input = one_conv_onnx(dir);
    o.fp32 = true;
    o.mean = {0.f};
    o.std = {1.f};
    // Fails while writing (the preprocess block is checked by write_manifest), after the output
    // directories were created: they go again.
    o.output = dir / "a/b/model.json";
    o.mean = {std::nanf("")};
    CHECK(error_of([&] { run(o); }).find("input.preprocess.mean") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "a"));
    // Fails before writing: nothing is created either.
    o.mean = {0.f};
    o.fp32 = false;
    CHECK(error_of([&] { run(o); }).find("options.images") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "a"));
    // Succeeds: manifest, weights and labels.
    o.fp32 = true;
    std::ofstream(dir / "labels.txt") << "a\nb\n";
    o.labels = dir / "labels.txt";
    run(o);
    CHECK(fs::exists(dir / "a/b/model.json"));
    CHECK(fs::exists(dir / "a/b/model.q8w"));
    CHECK(fs::exists(dir / "a/b/model.labels.txt"));
    CHECK(read_manifest(dir / "a/b/model.json").classes.labels == "model.labels.txt");
    std::size_t files = 0;
    for (const auto& e : fs::directory_iterator(dir / "a/b")) files += e.is_regular_file();
    CHECK(files == 3);  // no temporaries left
    // A second model in the same directory keeps its own labels beside the first one's.
    std::ofstream(dir / "labels.txt") << "x\ny\n";
    o.output = dir / "a/b/other.json";
    run(o);
    CHECK(read_manifest(dir / "a/b/other.json").classes.labels == "other.labels.txt");
    std::ifstream first(dir / "a/b/model.labels.txt"), second(dir / "a/b/other.labels.txt");
    std::string l1, l2;
    std::getline(first, l1);
    std::getline(second, l2);
    CHECK(l1 == "a");
    CHECK(l2 == "x");
}

TEST_CASE("an ONNX conversion records the preprocessing only when told: unknown otherwise") {
    scratch_dir dir;
    options o;
    o.input = one_conv_onnx(dir);
    o.fp32 = true;
    o.output = dir / "unknown.json";
    std::vector<std::string> notes;
    o.note = [&](const std::string& s) { notes.push_back(s); };
    run(o);
    const model_desc u = read_manifest(dir / "unknown.json");
    CHECK_FALSE(u.input.preprocess.known);
    bool said = false;
    for (const auto& n : notes) said = said || n.find("input.preprocess is written as unknown") != std::string::npos;
    CHECK(said);
    std::ifstream f(dir / "unknown.json");
    const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
    CHECK(text.find("0.485") == std::string::npos);  // no ImageNet numbers invented
    // Told: recorded as given, the whole image resized unless --resize-short says otherwise.
    o.output = dir / "known.json";
    o.mean = {0.286f};
    o.std = {0.353f};
    run(o);
    const model_desc k = read_manifest(dir / "known.json");
    CHECK(k.input.preprocess.known);
    CHECK(k.input.preprocess.mean == std::vector<float>(3, 0.286f));
    CHECK(k.input.preprocess.std == std::vector<float>(3, 0.353f));
    CHECK(k.input.preprocess.resize_short == 0);
    CHECK(k.input.preprocess.crop_fraction == 0.0);
    // Half told is an error, not a guess.
    o.output = dir / "half.json";
    o.std.clear();
    CHECK(error_of([&] { run(o); }).find("options.mean and options.std: both are needed") != std::string::npos);
    CHECK_FALSE(fs::exists(dir / "half.json"));
}

}  // TEST_SUITE
