#pragma once
// ONNX constant folding at import: a node whose inputs are all constants (initializers,
// Constant nodes, or outputs of nodes folded before it) and whose op is one of the shape and
// arithmetic ops exporters use to compute scales, zero points and shapes is evaluated here
// (const_eval.hpp) and its output becomes a constant. The passes then see what the exporter
// meant: PyTorch's Identity-of-initializer nodes disappear, a Shape -> Gather -> Unsqueeze ->
// Concat chain becomes the Reshape target it computes.
//
// Shape of a computed tensor is folded only as far as qint8 knows it without shape inference:
// its dimension 0 is the batch, which is 1 here (import_graph.hpp's convention), so Gather of
// index 0 from it folds (PyTorch's x.view(x.size(0), -1)); other dimensions are an error.
//
// QuantizeLinear / DequantizeLinear of constants are deliberately NOT folded: the QDQ pass
// reads their integer grid to keep trained weights exact.

#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <onnx/onnx_pb.h>

#include <qint8/convert/const_eval.hpp>
#include <qint8/convert/import_graph.hpp>

namespace qint8::convert::onnx_fold {

/// The op types folded when all their inputs are constant.
inline const std::set<std::string>& foldable_ops() {
    static const std::set<std::string> ops{"Identity", "Cast", "Reshape", "Squeeze", "Unsqueeze", "Flatten", "Concat", "Mul", "Div", "Add",
                                           "Sub", "Sqrt", "Neg", "Reciprocal", "Shape", "Gather", "Transpose", "ConstantOfShape"};
    return ops;
}

/// Decodes a TensorProto (the front end's decoder, so that all tensor encodings are read alike).
using decode_fn = std::function<constant(const onnx::TensorProto&, const std::string& what)>;
/// The element type name of an ONNX data type number.
using elem_fn = std::function<std::string(int)>;

class folder {
public:
    folder(import_graph& g, int64_t opset, decode_fn decode, elem_fn elem) : g_(g), opset_(opset), decode_(std::move(decode)), elem_(std::move(elem)) {}

    /// Evaluates `p` if it can be, storing its output as a constant; false leaves it to the
    /// front end (an op not folded here, or an input computed at run time).
    bool fold(const onnx::NodeProto& p, const node& n) {
        if (!foldable_ops().count(p.op_type()) || (!p.domain().empty() && p.domain() != "ai.onnx") || p.output_size() != 1) return false;
        if (p.op_type() == "Shape") return fold_shape(p, n);
        std::vector<const constant*> in;
        for (const auto& name : p.input()) {
            if (name.empty()) {
                in.push_back(nullptr);
                continue;
            }
            if (batch_dims_.count(name)) return gather_batch(p, n, name);
            const constant* c = g_.find_const(name);
            if (!c) return false;
            in.push_back(c);
        }
        if (in.empty() && p.op_type() != "ConstantOfShape") return false;
        try {
            g_.constants[p.output(0)] = evaluate(p, in);
        } catch (const const_eval::eval_error& e) {
            invalid(g_, n, "folding constant inputs: " + e.what);
        }
        return true;
    }

private:
    import_graph& g_;
    int64_t opset_;
    decode_fn decode_;
    elem_fn elem_;
    std::set<std::string> batch_dims_;  ///< outputs of Shape of a computed tensor (only dim 0 known: 1)

    const onnx::AttributeProto* attr(const onnx::NodeProto& p, const char* name) const {
        for (const auto& a : p.attribute())
            if (a.name() == name) return &a;
        return nullptr;
    }
    int64_t attr_i(const onnx::NodeProto& p, const char* name, int64_t dflt) const {
        const auto* a = attr(p, name);
        return a && a->type() == onnx::AttributeProto::INT ? a->i() : dflt;
    }
    std::vector<int64_t> attr_ints(const onnx::NodeProto& p, const char* name) const {
        const auto* a = attr(p, name);
        return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : std::vector<int64_t>{};
    }
    static std::vector<int64_t> ints_of(const constant* c) {
        std::vector<int64_t> v;
        if (c)
            for (std::size_t k = 0; k < c->elements(); ++k) v.push_back(const_eval::to_int64(c->at(k)));
        return v;
    }
    static const constant& need(const std::vector<const constant*>& in, std::size_t k, const char* what) {
        if (k >= in.size() || !in[k]) const_eval::fail(std::string(what) + " (input " + std::to_string(k) + ") is missing");
        return *in[k];
    }

    /// Axes of Squeeze/Unsqueeze: an attribute before opset 13, an input from 13 on.
    std::vector<int64_t> axes(const onnx::NodeProto& p, const std::vector<const constant*>& in) const {
        return opset_ >= 13 ? ints_of(in.size() > 1 ? in[1] : nullptr) : attr_ints(p, "axes");
    }

    constant evaluate(const onnx::NodeProto& p, const std::vector<const constant*>& in) const {
        namespace ce = const_eval;
        const std::string& op = p.op_type();
        if (op == "Identity") return need(in, 0, "input");
        if (op == "Cast") return ce::cast(need(in, 0, "input"), elem_(static_cast<int>(attr_i(p, "to", 0))));
        if (op == "Reshape") {
            const constant& x = need(in, 0, "data");
            return ce::reshaped(x, ce::reshape_target(x.shape, opset_ >= 5 ? ints_of(&need(in, 1, "shape")) : attr_ints(p, "shape")));
        }
        if (op == "Squeeze") return ce::squeeze(need(in, 0, "data"), axes(p, in));
        if (op == "Unsqueeze") return ce::unsqueeze(need(in, 0, "data"), axes(p, in));
        if (op == "Flatten") return ce::flatten(need(in, 0, "input"), attr_i(p, "axis", 1));
        if (op == "Concat") return ce::concat(in, attr_i(p, "axis", 0));
        if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div")
            return ce::binary(need(in, 0, "A"), need(in, 1, "B"), op == "Add" ? '+' : op == "Sub" ? '-' : op == "Mul" ? '*' : '/');
        if (op == "Sqrt" || op == "Neg" || op == "Reciprocal") return ce::unary(need(in, 0, "X"), op);
        if (op == "Gather") return ce::gather(need(in, 0, "data"), need(in, 1, "indices"), attr_i(p, "axis", 0));
        if (op == "Transpose") return ce::transpose(need(in, 0, "data"), attr_ints(p, "perm"));
        if (op == "ConstantOfShape") {
            constant value = ce::make("float32", {1});
            if (const auto* v = attr(p, "value"); v && v->type() == onnx::AttributeProto::TENSOR) value = decode_(v->t(), "ConstantOfShape value");
            return ce::filled(ints_of(&need(in, 0, "input")), value);
        }
        ce::fail("not foldable");
    }

    /// Shape of a constant or of the graph input (batch 1) folds fully; of a computed tensor,
    /// only its batch dimension is known (see the header comment).
    bool fold_shape(const onnx::NodeProto& p, const node& n) {
        if (p.input_size() < 1) invalid(g_, n, "expected one input");
        if (attr(p, "start") || attr(p, "end")) return false;
        const std::string& x = p.input(0);
        std::vector<int64_t> dims;
        if (const constant* c = g_.find_const(x)) dims = c->shape;
        else if (x == g_.input) dims = g_.input_shape;
        else {
            batch_dims_.insert(p.output(0));
            return true;
        }
        constant c = const_eval::make("int64", {static_cast<int64_t>(dims.size())});
        for (std::size_t k = 0; k < dims.size(); ++k) c.i[k] = dims[k];
        g_.constants[p.output(0)] = std::move(c);
        return true;
    }

    /// Gather of index 0 (the batch) from the Shape of a computed tensor: 1.
    bool gather_batch(const onnx::NodeProto& p, const node& n, const std::string& shape_out) {
        const constant* idx = p.op_type() == "Gather" && p.input_size() == 2 ? g_.find_const(p.input(1)) : nullptr;
        if (p.input(0) != shape_out || !idx || idx->floating || idx->elements() != 1 || idx->i[0] != 0 || attr_i(p, "axis", 0) != 0)
            unsupported(g_, n, "uses the Shape of computed tensor '" + shape_out +
                                   "' beyond its batch dimension (qint8 folds Shape -> Gather(0) only; export with static shapes or torch.flatten)");
        constant c = const_eval::make("int64", idx->shape);
        c.i.assign(c.elements(), 1);
        g_.constants[p.output(0)] = std::move(c);
        return true;
    }
};

}  // namespace qint8::convert::onnx_fold
