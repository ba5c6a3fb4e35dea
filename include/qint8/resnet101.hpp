#pragma once
/// @file resnet101.hpp  ResNet-101, ready to load: `qint8::load<qint8::resnet101>("model.json")` checks that a
/// manifest is a ResNet-101 (of any input size, class count, v1 or v1.5) and compiles it.
/// `qint8::resnet101::structure(params)` builds the layers for a converter or for
/// qint8::models::synthesize.

#include "qint8/classifier.hpp"
#include "qint8/models/resnet.hpp"

namespace qint8 {
using resnet101 = models::resnet_topology<3, 4, 23, 3>;
}  // namespace qint8
