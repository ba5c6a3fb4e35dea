#pragma once
/// @file convert.hpp  qint8::convert, the converter as a library: a trained classifier (TFLite,
/// float or uint8/int8 quantized; ONNX, FP32, QAT with QuantizeLinear/DequantizeLinear or QOperator, where
/// built with QINT8_WITH_ONNX) in, a qint8 manifest out.
///
///     qint8::convert::options o;
///     o.images = &calibration_images;            // FP32 sources: n x C x H x W floats
///     qint8::convert::result r = qint8::convert::convert_graph(qint8::convert::import_file("m.tflite"), o);
///     qint8::model net(r.m);                     // run it at once, or
///     o.output = "out/m.json";
///     qint8::convert::write_result(r, o);        // write manifest + weights atomically
///
/// CMake: link qint8::convert (TFLite only: no dependency beyond the runtime's) or
/// qint8::convert_onnx (adds the ONNX front end, libonnx and libprotobuf). The converter reports
/// errors as qint8::error and needs exceptions. docs/converter.md and docs/design.md say more.

#include <qint8/convert/accuracy_fallback.hpp>
#include <qint8/convert/convert.hpp>
#include <qint8/convert/source.hpp>
