#pragma once
/// @file vgg16.hpp  VGG-16, ready to load: `qint8::load<qint8::vgg16>("model.json")` checks that a
/// manifest is a VGG-16 (of any input size, class count, classifier width) and compiles it.
/// `qint8::vgg16::structure(params)` builds the layers for a converter or for
/// qint8::models::synthesize.

#include "qint8/classifier.hpp"
#include "qint8/models/vgg.hpp"

namespace qint8 {
using vgg16 = models::vgg_topology<16>;
}  // namespace qint8
