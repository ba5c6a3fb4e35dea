#pragma once
/// @file vgg19.hpp  VGG-19, ready to load: `qint8::load<qint8::vgg19>("model.json")` checks that a
/// manifest is a VGG-19 (of any input size, class count, classifier width) and compiles it.
/// `qint8::vgg19::structure(params)` builds the layers for a converter or for
/// qint8::models::synthesize.

#include "qint8/classifier.hpp"
#include "qint8/models/vgg.hpp"

namespace qint8 {
using vgg19 = models::vgg_topology<19>;
}  // namespace qint8
