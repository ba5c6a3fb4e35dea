#pragma once
// Small valid source files, built in memory: an ONNX model, a TFLite model and a JPEG. The
// bad-input tests break one thing in each; the fuzz targets' seed corpora start from them.

#include <cstdint>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>
#include <stb_image_write.h>

#include "support/builder.hpp"
#include "support/small_tflite.hpp"

namespace qint8::test {

inline void attr_ints(onnx::NodeProto* n, const std::string& name, const std::vector<int64_t>& v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INTS);
    for (int64_t x : v) a->add_ints(x);
}

inline onnx::NodeProto* add_node(onnx::GraphProto* g, const std::string& op, std::vector<std::string> in, const std::string& out) {
    auto* n = g->add_node();
    n->set_op_type(op);
    n->set_name(op + "_" + out);
    for (const auto& i : in) n->add_input(i);
    n->add_output(out);
    return n;
}

inline void add_init(onnx::GraphProto* g, const std::string& name, const std::vector<int64_t>& shape) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    std::size_t n = 1;
    for (int64_t x : shape) {
        t->add_dims(x);
        n *= static_cast<std::size_t>(x);
    }
    test::rng r(static_cast<uint32_t>(n));
    const std::vector<float> v = r.floats(n, -0.5f, 0.5f);
    t->set_raw_data(std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4));
}

/// x [N,3,8,8] -> Conv 3x3 pad 1 (4 channels) -> Relu -> GlobalAveragePool -> Flatten -> Gemm (10).
inline onnx::ModelProto small_onnx() {
    onnx::ModelProto mp;
    mp.set_ir_version(8);
    auto* o = mp.add_opset_import();
    o->set_version(13);
    auto* g = mp.mutable_graph();
    g->set_name("small");
    auto* in = g->add_input();
    in->set_name("x");
    auto* tt = in->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_param("N");
    for (int64_t d : {3, 8, 8}) tt->mutable_shape()->add_dim()->set_dim_value(d);
    add_init(g, "w", {4, 3, 3, 3});
    add_init(g, "b", {4});
    add_init(g, "fc_w", {10, 4});
    add_init(g, "fc_b", {10});
    attr_ints(add_node(g, "Conv", {"x", "w", "b"}, "c"), "pads", {1, 1, 1, 1});
    add_node(g, "Relu", {"c"}, "r");
    add_node(g, "GlobalAveragePool", {"r"}, "p");
    add_node(g, "Flatten", {"p"}, "f");
    auto* gemm = add_node(g, "Gemm", {"f", "fc_w", "fc_b"}, "y");
    auto* tb = gemm->add_attribute();
    tb->set_name("transB");
    tb->set_type(onnx::AttributeProto::INT);
    tb->set_i(1);
    g->add_output()->set_name("y");
    return mp;
}

/// A 16 x 16 colour JPEG (quality 90).
inline std::string jpeg_bytes() {
    std::vector<unsigned char> px(16 * 16 * 3);
    for (std::size_t i = 0; i < px.size(); ++i) px[i] = static_cast<unsigned char>(i * 7);
    std::string out;
    auto sink = [](void* ctx, void* data, int n) { static_cast<std::string*>(ctx)->append(static_cast<const char*>(data), static_cast<std::size_t>(n)); };
    if (stbi_write_jpg_to_func(sink, &out, 16, 16, 3, px.data(), 90) == 0) out.clear();
    return out;
}

}  // namespace qint8::test
