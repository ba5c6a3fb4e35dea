// libFuzzer target: the ONNX front end and the converter's graph passes, with structure-aware
// mutations. Byte flips rarely get a protobuf past its parser with a meaningful change, so the
// custom mutator parses the input as an onnx.ModelProto and changes what the converter reasons
// about - op types, attribute values, tensor dimensions, the edges between nodes, the graph input
// and output, the opset - then serialises it again. Inputs that do not parse are byte-mutated.

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include "input_onnx.hpp"

extern "C" size_t LLVMFuzzerMutate(uint8_t* data, size_t size, size_t max_size);

namespace {

using rng_t = std::mt19937_64;

const char* const op_types[] = {"Conv", "BatchNormalization", "Relu", "Clip", "Add", "MaxPool", "AveragePool", "GlobalAveragePool",
                                "ReduceMean", "Flatten", "Reshape", "Squeeze", "Identity", "Dropout", "Gemm", "MatMul", "Softmax",
                                "Pad", "QuantizeLinear", "DequantizeLinear", "Constant", "Concat", "Mul", "QLinearConv", "QLinearMatMul", "QGemm",
                                "QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool", "QLinearAveragePool", "Transpose", ""};
const char* const attr_names[] = {"strides", "pads", "kernel_shape", "dilations", "group", "axis", "axes", "transA", "transB",
                                  "ceil_mode", "keepdims", "count_include_pad", "auto_pad", "min", "max", "alpha", "beta", "epsilon", "channels_last"};
const int64_t interesting[] = {0, 1, 2, 3, -1, -2, 7, 255, 256, 65536, 65537, INT32_MAX, int64_t{1} << 31, int64_t{1} << 32,
                               int64_t{1} << 62, INT64_MAX, INT64_MIN};

template <class T>
T pick(rng_t& r, const T* v, std::size_t n) { return v[r() % n]; }

int64_t some_int(rng_t& r) {
    return r() % 4 == 0 ? static_cast<int64_t>(r() % 16) - 4 : pick(r, interesting, std::size(interesting));
}

/// Every tensor name the graph mentions: edges are rewired among these (or to a fresh name).
std::vector<std::string> tensor_names(const onnx::GraphProto& g) {
    std::vector<std::string> v;
    for (const auto& i : g.input()) v.push_back(i.name());
    for (const auto& i : g.initializer()) v.push_back(i.name());
    for (const auto& n : g.node())
        for (const auto& o : n.output()) v.push_back(o);
    return v;
}

void mutate_attribute(onnx::NodeProto* n, rng_t& r) {
    if (n->attribute_size() == 0 || r() % 4 == 0) {
        auto* a = n->add_attribute();
        a->set_name(pick(r, attr_names, std::size(attr_names)));
        a->set_type(onnx::AttributeProto::INTS);
        for (int k = 0, len = static_cast<int>(r() % 5); k < len; ++k) a->add_ints(some_int(r));
        return;
    }
    auto* a = n->mutable_attribute(static_cast<int>(r() % static_cast<uint64_t>(n->attribute_size())));
    switch (r() % 6) {
        case 0: if (a->ints_size()) a->set_ints(static_cast<int>(r() % static_cast<uint64_t>(a->ints_size())), some_int(r)); else a->add_ints(some_int(r)); break;
        case 1: a->add_ints(some_int(r)); break;
        case 2: a->clear_ints(); break;
        case 3: a->set_i(some_int(r)); a->set_type(onnx::AttributeProto::INT); break;
        case 4: { const float f[] = {0.f, -1.f, 1e30f, -1e30f, NAN, INFINITY, 1e-40f}; a->set_f(f[r() % 7]); a->set_type(onnx::AttributeProto::FLOAT); break; }
        default: a->set_type(static_cast<onnx::AttributeProto::AttributeType>(r() % 12)); break;
    }
}

void mutate_edge(onnx::GraphProto* g, onnx::NodeProto* n, rng_t& r) {
    const std::vector<std::string> names = tensor_names(*g);
    const std::string to = r() % 8 == 0 ? "fresh" + std::to_string(r() % 4) : names.empty() ? "" : names[r() % names.size()];
    if (r() % 4 == 0 && n->output_size()) n->set_output(0, to);
    else if (n->input_size() && r() % 3) n->set_input(static_cast<int>(r() % static_cast<uint64_t>(n->input_size())), to);
    else if (r() % 2) n->add_input(to);
    else if (n->input_size()) n->mutable_input()->RemoveLast();
}

void mutate_dims(onnx::GraphProto* g, rng_t& r) {
    if (r() % 2 && g->initializer_size()) {
        auto* t = g->mutable_initializer(static_cast<int>(r() % static_cast<uint64_t>(g->initializer_size())));
        switch (r() % 4) {
            case 0: if (t->dims_size()) t->set_dims(static_cast<int>(r() % static_cast<uint64_t>(t->dims_size())), some_int(r)); break;
            case 1: t->add_dims(some_int(r)); break;
            case 2: t->set_data_type(static_cast<int32_t>(r() % 17)); break;
            default: t->set_raw_data(t->raw_data().substr(0, t->raw_data().size() / 2)); break;
        }
    } else if (g->input_size()) {
        auto* s = g->mutable_input(0)->mutable_type()->mutable_tensor_type()->mutable_shape();
        if (s->dim_size() && r() % 4) s->mutable_dim(static_cast<int>(r() % static_cast<uint64_t>(s->dim_size())))->set_dim_value(some_int(r));
        else if (r() % 2) s->add_dim()->set_dim_value(some_int(r));
        else if (s->dim_size()) s->mutable_dim()->RemoveLast();
    }
}

/// One structural change.
void mutate(onnx::ModelProto& mp, rng_t& r) {
    onnx::GraphProto* g = mp.mutable_graph();
    const int nodes = g->node_size();
    onnx::NodeProto* n = nodes ? g->mutable_node(static_cast<int>(r() % static_cast<uint64_t>(nodes))) : nullptr;
    switch (r() % 9) {
        case 0: if (n) n->set_op_type(pick(r, op_types, std::size(op_types))); break;
        case 1: case 2: if (n) mutate_attribute(n, r); break;
        case 3: if (n) mutate_edge(g, n, r); break;
        case 4: case 5: mutate_dims(g, r); break;
        case 6:  // reorder, drop or duplicate a node
            if (nodes > 1 && r() % 3 == 0) g->mutable_node()->SwapElements(0, static_cast<int>(r() % static_cast<uint64_t>(nodes)));
            else if (nodes && r() % 2) g->mutable_node()->DeleteSubrange(static_cast<int>(r() % static_cast<uint64_t>(nodes)), 1);
            else if (n) *g->add_node() = *n;
            break;
        case 7: {
            const auto names = tensor_names(*g);
            if (g->output_size() && !names.empty()) g->mutable_output(0)->set_name(names[r() % names.size()]);
            break;
        }
        default:
            if (mp.opset_import_size()) mp.mutable_opset_import(0)->set_version(static_cast<int64_t>(r() % 22));
            break;
    }
}

}  // namespace

extern "C" size_t LLVMFuzzerCustomMutator(uint8_t* data, size_t size, size_t max_size, unsigned int seed) {
    rng_t r(seed);
    onnx::ModelProto mp;
    if (r() % 10 == 0 || !mp.ParseFromArray(data, static_cast<int>(size))) return LLVMFuzzerMutate(data, size, max_size);
    for (int k = 0, n = 1 + static_cast<int>(r() % 3); k < n; ++k) mutate(mp, r);
    std::string out;
    if (!mp.SerializeToString(&out) || out.size() > max_size) return LLVMFuzzerMutate(data, size, max_size);
    std::memcpy(data, out.data(), out.size());
    return out.size();
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    qint8::fuzz::onnx_input(data, size);
    return 0;
}
