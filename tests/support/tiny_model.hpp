#pragma once
// A small but complete INT8 classifier (conv, depthwise, residual add, pooling, fc, softmax) with
// synthetic weights and calibrated activation scales: fast enough to run thousands of times in
// the concurrency and determinism tests, and touching every kind of step a real model compiles to.

#include <qint8/builder.hpp>
#include <qint8/models/synthetic.hpp>

namespace qint8::test {

/// 3 x 16 x 16 input, 10 classes. Built once per process.
inline const model_desc& tiny_classifier() {
    static const model_desc m = [] {
        model_desc d;
        d.architecture = "custom";
        graph_builder b(d);
        auto x = b.input({3, 16, 16});
        x = b.conv2d("stem", x, 8, 3, 1, 1, 1, activation::relu);
        auto y = b.depthwise_conv2d("dw", x, 3, 1, 1, activation::relu6);
        y = b.conv2d_residual("pw", y, x, 8, 1);
        y = b.max_pool2d("pool", y, 2, 2);
        y = b.conv2d("c2", y, 16, 3, 2, 1, 1, activation::relu);
        y = b.global_avg_pool2d("gap", y);
        y = b.fc("fc", y, 10);
        b.softmax("prob", y);
        models::synth_options o;
        o.calibration_images = 16;
        return models::synthesize(std::move(d), 7, o);
    }();
    return m;
}

}  // namespace qint8::test
