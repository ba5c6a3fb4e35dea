#pragma once
/// @file mobilenet_v1.hpp  MobileNetV1, ready to load: `qint8::load<qint8::mobilenet_v1>("model.json")` checks that a
/// manifest is a MobileNetV1 (of any input size, class count, width multiplier) and compiles it.
/// `qint8::mobilenet_v1::structure(params)` builds the layers for a converter or for
/// qint8::models::synthesize.

#include "qint8/classifier.hpp"
#include "qint8/models/mobilenet_v1.hpp"

namespace qint8 {
using mobilenet_v1 = models::mobilenet_v1_topology;
}  // namespace qint8
