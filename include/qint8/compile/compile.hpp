#pragma once
/// @file compile.hpp  The whole compiler: compiler.hpp (bookkeeping) and one file per kind of op.

#include "qint8/compile/choice.hpp"
#include "qint8/compile/compiler.hpp"
#include "qint8/compile/conv.hpp"
#include "qint8/compile/depthwise.hpp"
#include "qint8/compile/eltwise.hpp"
#include "qint8/compile/output.hpp"
#include "qint8/compile/pointwise.hpp"
#include "qint8/compile/pool.hpp"
#include "qint8/compile/tflite.hpp"
