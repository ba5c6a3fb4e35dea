#pragma once
/// @file resnet50.hpp  ResNet-50, ready to load: `qint8::load<qint8::resnet50>("model.json")` checks that a
/// manifest is a ResNet-50 (of any input size, class count, v1 or v1.5) and compiles it.
/// `qint8::resnet50::structure(params)` builds the layers for a converter or for
/// qint8::models::synthesize.

#include "qint8/classifier.hpp"
#include "qint8/models/resnet.hpp"

namespace qint8 {
using resnet50 = models::resnet_topology<3, 4, 6, 3>;
}  // namespace qint8
