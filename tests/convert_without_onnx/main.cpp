// qint8::convert as a TFLite-only library (linked as qint8::convert: no libonnx, no libprotobuf):
// a TFLite model held in memory converts and runs, and ONNX bytes are refused with
// errc::unsupported and a message that says how to get the ONNX front end. Exit status 0 only
// when every check holds; each failed check prints what it expected and found.

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <qint8/convert.hpp>
#include <qint8/session.hpp>

#include "support/tflite_builder.hpp"

#if QINT8_WITH_ONNX || defined(GOOGLE_PROTOBUF_VERSION)
#error "this program checks the converter without its ONNX front end"
#endif

namespace tb = qint8::test::tflite_build;
namespace tfl = qint8::convert::tflite;

namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    if (!ok) {
        std::printf("FAILED: %s\n", what.c_str());
        ++failures;
    }
}

/// input [1,1,1,12] float (NHWC) -> RESHAPE [1,12] -> SOFTMAX.
std::vector<uint8_t> reshape_softmax() {
    tb::t_model m;
    m.buffers.resize(1);
    m.codes.resize(2);
    m.codes[0].builtin = static_cast<int32_t>(tfl::builtin::RESHAPE);
    m.codes[1].builtin = static_cast<int32_t>(tfl::builtin::SOFTMAX);
    const char* names[] = {"input", "flat", "prob"};
    const std::vector<int32_t> shapes[] = {{1, 1, 1, 12}, {1, 12}, {1, 12}};
    for (int k = 0; k < 3; ++k) {
        tb::t_tensor t;
        t.name = names[k];
        t.shape = shapes[k];
        t.type = tfl::tensor_type::float32;
        m.tensors.push_back(t);
    }
    tb::t_op reshape;
    reshape.opcode = 0;
    reshape.inputs = {0};
    reshape.outputs = {1};
    reshape.options_type = static_cast<uint8_t>(tfl::options_type::ReshapeOptions);
    reshape.opts = tfl::reshape_options{};
    tb::t_op softmax;
    softmax.opcode = 1;
    softmax.inputs = {1};
    softmax.outputs = {2};
    softmax.options_type = static_cast<uint8_t>(tfl::options_type::SoftmaxOptions);
    tfl::softmax_options so;
    so.beta = 1.f;
    softmax.opts = so;
    m.ops = {reshape, softmax};
    m.inputs = {0};
    m.outputs = {2};
    return tb::build(m);
}

/// The converted FP32 model against softmax over the input, written out here.
void check_tflite_from_memory() {
    const std::vector<uint8_t> bytes = reshape_softmax();
    qint8::convert::options o;
    o.fp32 = true;
    o.arch = "custom";
    const qint8::convert::result r = qint8::convert::convert_graph(qint8::convert::import_memory(bytes.data(), bytes.size(), "memory.tflite"), o);
    qint8::model net(r.m);
    qint8::session s(net);
    std::vector<float> x(12);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.25f * static_cast<float>((i * 5) % 12) - 1.f;
    const std::vector<float> got = s.run(x);
    double sum = 0;
    for (float v : x) sum += std::exp(double(v));
    check(got.size() == 12, "12 outputs, found " + std::to_string(got.size()));
    for (std::size_t i = 0; i < got.size() && i < 12; ++i) {
        const double want = std::exp(double(x[i])) / sum;
        check(std::fabs(got[i] - want) < 1e-6, "output " + std::to_string(i) + ": expected " + std::to_string(want) + ", found " + std::to_string(got[i]));
    }
}

/// ONNX bytes (a ModelProto's ir_version field) in a TFLite-only build: errc::unsupported.
void check_onnx_refused() {
    const std::string onnx_bytes("\x08\x07\x12\x07pytorch", 10);
    try {
        qint8::convert::import_memory(onnx_bytes.data(), onnx_bytes.size(), "model.onnx");
        check(false, "ONNX bytes: expected errc::unsupported, found no error");
    } catch (const qint8::error& e) {
        const std::string what = e.what();
        check(e.code() == qint8::errc::unsupported, std::string("ONNX bytes: expected errc::unsupported, found ") + qint8::to_string(e.code()));
        check(what.find("model.onnx: not a TFLite model") != std::string::npos && what.find("qint8::convert_onnx") != std::string::npos,
              "ONNX bytes: message names the source and qint8::convert_onnx, found: " + what);
    }
}

}  // namespace

int main() {
    check_tflite_from_memory();
    check_onnx_refused();
    if (failures) return 1;
    std::printf("converter without ONNX: a TFLite model from memory converts and runs; ONNX is refused\n");
    return 0;
}
