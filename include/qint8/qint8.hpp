#pragma once
/// @file qint8.hpp  Umbrella header: the whole public API.

#include "qint8/version.hpp"
#include "qint8/core/error.hpp"
#include "qint8/core/types.hpp"
#include "qint8/graph.hpp"
#include "qint8/validate.hpp"
#include "qint8/io/manifest.hpp"
#include "qint8/dispatch/isa.hpp"
#include "qint8/kernels/vector.hpp"
#include "qint8/model.hpp"
#include "qint8/session.hpp"
#include "qint8/preprocess.hpp"
#include "qint8/calibrate.hpp"
#include "qint8/builder.hpp"
#include "qint8/classifier.hpp"
