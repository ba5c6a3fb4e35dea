#pragma once
/// @file output.hpp  The last step: the model's output as plain f32, dequantized by the vector
/// kernel or copied.

#include "qint8/compile/compiler.hpp"

namespace qint8::detail {

inline void compiler::finish_output() {
    const std::string& out = c_.desc.output_name();
    const where w = at_.at(out);
    const backend::dims d = dims_.at(out);
    step s;
    s.kind = w.type == dtype::f32 ? step::copy_output : step::dequantize_output;
    s.src = need(out, w.type, backend::make_desc(d, w.type, true), w.q, "");
    s.rows = static_cast<std::size_t>(c_.opt.batch);
    s.cols = c_.slots[s.src].md.get_size() / dtype_size(w.type) / s.rows;
    if (w.q) s.q = *w.q;
    s.info = {"", w.type == dtype::f32 ? "output copy" : std::string("output dequantize ") + to_string(w.type) + " (vector kernel)"};
    c_.steps.push_back(s);
    c_.output_elems = s.cols;
}

}  // namespace qint8::detail
