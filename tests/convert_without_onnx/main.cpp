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

#include "support/small_tflite.hpp"

#if QINT8_WITH_ONNX || defined(GOOGLE_PROTOBUF_VERSION)
#error "this program checks the converter without its ONNX front end"
#endif


namespace {

int failures = 0;

void check(bool ok, const std::string& what) {
    if (!ok) {
        std::printf("FAILED: %s\n", what.c_str());
        ++failures;
    }
}

/// The converted FP32 model against softmax over the input, written out here.
void check_tflite_from_memory() {
    const std::vector<uint8_t> bytes = qint8::test::tflite_build::build(qint8::test::small_tflite());  // [1,1,1,48] -> RESHAPE -> SOFTMAX
    qint8::convert::options o;
    o.fp32 = true;
    o.arch = "custom";
    const qint8::convert::result r = qint8::convert::convert_graph(qint8::convert::import_memory(bytes.data(), bytes.size(), "memory.tflite"), o);
    qint8::model net(r.m);
    qint8::session s(net);
    std::vector<float> x(48);
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = 0.125f * static_cast<float>((i * 5) % 48) - 3.f;
    const std::vector<float> got = s.run(x);
    double sum = 0;
    for (float v : x) sum += std::exp(double(v));
    check(got.size() == 48, "48 outputs, found " + std::to_string(got.size()));
    for (std::size_t i = 0; i < got.size() && i < 48; ++i) {
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
