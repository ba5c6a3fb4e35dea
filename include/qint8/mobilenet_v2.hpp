#pragma once
/// @file mobilenet_v2.hpp  MobileNetV2, ready to load: `qint8::load<qint8::mobilenet_v2>("model.json")` checks that a
/// manifest is a MobileNetV2 (of any input size, class count, width multiplier) and compiles it.
/// `qint8::mobilenet_v2::structure(params)` builds the layers for a converter or for
/// qint8::models::synthesize.

#include "qint8/classifier.hpp"
#include "qint8/models/mobilenet_v2.hpp"

namespace qint8 {
using mobilenet_v2 = models::mobilenet_v2_topology;
}  // namespace qint8
