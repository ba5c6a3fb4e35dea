#pragma once
// Evaluation of tensor operations on constants, for constant folding at import. Exporters route
// scales, zero points and shapes through small subgraphs of constants (PyTorch: Identity nodes
// for de-duplicated initializers, Shape -> Gather -> Unsqueeze -> Concat for view(); others:
// Cast, Mul/Div of scales). Evaluating them once here lets the passes see plain constants.
// Format-neutral: works on import_graph's `constant`; the front end reads the attributes.
//
// Values are computed in double (floats) or int64 (integers) and stored as the constant holds
// them; the element type follows ONNX's rules (both operands of arithmetic have one type).

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <qint8/convert/import_graph.hpp>

namespace qint8::convert::const_eval {

/// Thrown as std::string messages by the helpers below; the front end adds the node's name.
struct eval_error {
    std::string what;
};

[[noreturn]] inline void fail(const std::string& what) { throw eval_error{what}; }

inline bool is_float_elem(const std::string& e) { return e == "float32" || e == "float64" || e == "float16"; }

/// The most elements a folded tensor may have: four times the largest weight of the six
/// topologies (VGG's first fc, 103 million), so that a shape of 10^9 x 10^9 in a fuzzed or
/// damaged file is an error rather than an allocation.
inline constexpr int64_t max_folded_elements = int64_t{1} << 28;

/// The element count of `shape`, or an error when a dimension is negative or the product passes
/// max_folded_elements (checked before it can overflow).
inline int64_t element_count(const std::vector<int64_t>& shape) {
    int64_t n = 1;
    for (int64_t d : shape) {
        if (d < 0) fail("shape " + detail::shape_str(shape) + ": dimension " + std::to_string(d));
        if (d != 0 && n > max_folded_elements / d)
            fail("shape " + detail::shape_str(shape) + ": more than " + std::to_string(max_folded_elements) + " elements");
        n *= d;
    }
    return n;
}

/// An empty constant of element type `elem` and `shape`, values zero.
inline constant make(const std::string& elem, std::vector<int64_t> shape) {
    (void)element_count(shape);
    constant c;
    c.elem = elem;
    c.shape = std::move(shape);
    c.floating = is_float_elem(elem);
    if (c.floating) c.f.assign(c.elements(), 0.f);
    else c.i.assign(c.elements(), 0);
    return c;
}

/// `v` truncated to an integer. A float tensor where integers belong can hold NaN, infinities or
/// 1e30, whose conversion to int64_t is undefined behaviour: those are refused.
inline int64_t to_int64(double v) {
    if (!(v > -9.2233720368547758e18 && v < 9.2233720368547758e18))
        fail("value " + std::to_string(v) + ": expected a finite number in the int64 range");
    return static_cast<int64_t>(v);
}

/// Writes value `v` at flat index k, rounding / truncating to the element type.
inline void put(constant& c, std::size_t k, double v) {
    if (c.floating) c.f[k] = static_cast<float>(v);
    else c.i[k] = to_int64(v);
}

/// Same data, other shape (Identity, Reshape, Flatten, Squeeze, Unsqueeze).
inline constant reshaped(const constant& x, std::vector<int64_t> shape) {
    constant c = x;
    c.quant.reset();
    c.exact_int8 = false;
    c.shape = std::move(shape);
    if (c.elements() != x.elements()) fail("cannot reshape " + detail::shape_str(x.shape) + " to " + detail::shape_str(c.shape));
    return c;
}

/// ONNX Reshape's target rules on a constant: 0 copies the input's dimension, one -1 is inferred.
inline std::vector<int64_t> reshape_target(const std::vector<int64_t>& in, const std::vector<int64_t>& target) {
    std::vector<int64_t> out;
    int64_t known = 1, infer = -1;
    const int64_t total = element_count(in);
    for (std::size_t k = 0; k < target.size(); ++k) {
        int64_t d = target[k];
        if (d == 0) {
            if (k >= in.size()) fail("shape " + detail::shape_str(target) + ": a 0 past the input's rank");
            d = in[k];
        }
        if (d == -1) {
            if (infer >= 0) fail("shape " + detail::shape_str(target) + ": more than one -1");
            infer = static_cast<int64_t>(k);
        } else if (d < 0) {
            fail("shape " + detail::shape_str(target) + ": dimension " + std::to_string(d));
        } else {
            if (d != 0 && known > max_folded_elements / d)
                fail("shape " + detail::shape_str(target) + ": more than " + std::to_string(max_folded_elements) + " elements");
            known *= d;
        }
        out.push_back(d);
    }
    if (infer >= 0) {
        if (known == 0 || total % known) fail("cannot reshape " + detail::shape_str(in) + " to " + detail::shape_str(target));
        out[static_cast<std::size_t>(infer)] = total / known;
    }
    return out;
}

/// Axis `a` of a rank-`rank` tensor made non-negative, or an error.
inline std::size_t axis(int64_t a, std::size_t rank) {
    const int64_t r = static_cast<int64_t>(rank);
    if (a < -r || a >= r) fail("axis " + std::to_string(a) + " is outside a rank-" + std::to_string(rank) + " tensor");
    return static_cast<std::size_t>(a < 0 ? a + r : a);
}

inline constant squeeze(const constant& x, std::vector<int64_t> axes) {
    std::vector<int64_t> out;
    for (auto& a : axes) a = static_cast<int64_t>(axis(a, x.shape.size()));
    for (std::size_t k = 0; k < x.shape.size(); ++k) {
        const bool listed = std::find(axes.begin(), axes.end(), static_cast<int64_t>(k)) != axes.end();
        if (listed && x.shape[k] != 1) fail("cannot squeeze axis " + std::to_string(k) + " of " + detail::shape_str(x.shape));
        if (!(listed || (axes.empty() && x.shape[k] == 1))) out.push_back(x.shape[k]);
    }
    return reshaped(x, out);
}

inline constant unsqueeze(const constant& x, std::vector<int64_t> axes) {
    const std::size_t rank = x.shape.size() + axes.size();
    for (auto& a : axes) a = static_cast<int64_t>(axis(a, rank));
    std::vector<int64_t> out;
    std::size_t src = 0;
    for (std::size_t k = 0; k < rank; ++k) {
        if (std::find(axes.begin(), axes.end(), static_cast<int64_t>(k)) != axes.end()) out.push_back(1);
        else if (src < x.shape.size()) out.push_back(x.shape[src++]);
        else fail("unsqueeze axes " + detail::shape_str(axes) + " repeat an axis");
    }
    return reshaped(x, out);
}

inline constant flatten(const constant& x, int64_t ax) {
    const std::size_t a = ax == static_cast<int64_t>(x.shape.size()) ? x.shape.size() : axis(ax, x.shape.size());
    int64_t outer = 1, inner = 1;
    for (std::size_t k = 0; k < x.shape.size(); ++k) (k < a ? outer : inner) *= x.shape[k];
    return reshaped(x, {outer, inner});
}

/// Element type conversion (Cast): floats to integers truncate toward zero, as C does.
inline constant cast(const constant& x, const std::string& elem) {
    if (elem == "string" || elem == "an unsupported type") fail("Cast to " + elem + " is not supported");
    constant c = make(elem, x.shape);
    for (std::size_t k = 0; k < c.elements(); ++k) {
        double v = x.at(k);
        if (!c.floating) v = std::trunc(v);
        if (elem == "bool") v = v != 0 ? 1 : 0;
        put(c, k, v);
    }
    return c;
}

/// Numpy-style broadcast shape of a and b.
inline std::vector<int64_t> broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
    const std::size_t r = std::max(a.size(), b.size());
    std::vector<int64_t> out(r);
    for (std::size_t k = 0; k < r; ++k) {
        const int64_t da = k + a.size() >= r ? a[k + a.size() - r] : 1, db = k + b.size() >= r ? b[k + b.size() - r] : 1;
        if (da != db && da != 1 && db != 1) fail("shapes " + detail::shape_str(a) + " and " + detail::shape_str(b) + " do not broadcast");
        out[k] = da == 1 ? db : da;
    }
    return out;
}

/// Flat index into a tensor of `shape` (right-aligned inside `out`) for output multi-index `idx`.
inline std::size_t source_index(const std::vector<int64_t>& shape, const std::vector<int64_t>& out, const std::vector<int64_t>& idx) {
    std::size_t flat = 0;
    const std::size_t off = out.size() - shape.size();
    for (std::size_t k = 0; k < shape.size(); ++k) flat = flat * static_cast<std::size_t>(shape[k]) + static_cast<std::size_t>(shape[k] == 1 ? 0 : idx[k + off]);
    return flat;
}

/// a (op) b with broadcasting; op is one of + - * /. Integer division truncates toward zero.
inline constant binary(const constant& a, const constant& b, char op) {
    if (a.floating != b.floating) fail("operands of different element types (" + a.elem + ", " + b.elem + ")");
    const auto shape = broadcast(a.shape, b.shape);
    constant c = make(a.elem, shape);
    std::vector<int64_t> idx(shape.size(), 0);
    for (std::size_t k = 0; k < c.elements(); ++k) {
        const double x = a.at(source_index(a.shape, shape, idx)), y = b.at(source_index(b.shape, shape, idx));
        double v = 0;
        switch (op) {
            case '+': v = x + y; break;
            case '-': v = x - y; break;
            case '*': v = x * y; break;
            default:
                if (!c.floating && y == 0) fail("integer division by zero");
                v = c.floating ? x / y : std::trunc(x / y);
                break;
        }
        // Float arithmetic is float32 in the source: round each result as it would.
        if (c.floating && a.elem == "float32") v = static_cast<double>(static_cast<float>(v));
        put(c, k, v);
        for (std::size_t d = shape.size(); d-- > 0;) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
    return c;
}

/// Unary elementwise: "Sqrt", "Neg", "Reciprocal".
inline constant unary(const constant& x, const std::string& op) {
    constant c = make(x.elem, x.shape);
    for (std::size_t k = 0; k < c.elements(); ++k) {
        const double v = x.at(k);
        put(c, k, op == "Sqrt" ? std::sqrt(v) : op == "Neg" ? -v : 1.0 / v);
    }
    return c;
}

/// Concatenation along `ax`; all inputs have one element type and equal other dimensions.
inline constant concat(const std::vector<const constant*>& xs, int64_t ax) {
    if (xs.empty()) fail("Concat of nothing");
    for (const constant* x : xs)
        if (!x) fail("Concat with an empty input name");  // found by fuzz_onnx (a null input read)
    const std::size_t rank = xs[0]->shape.size(), a = axis(ax, rank);
    std::vector<int64_t> shape = xs[0]->shape;
    shape[a] = 0;
    for (const constant* x : xs) {
        if (x->shape.size() != rank || x->floating != xs[0]->floating) fail("Concat inputs of different ranks or element types");
        for (std::size_t k = 0; k < rank; ++k)
            if (k != a && x->shape[k] != xs[0]->shape[k]) fail("Concat inputs " + detail::shape_str(xs[0]->shape) + " and " + detail::shape_str(x->shape));
        shape[a] += x->shape[a];
    }
    constant c = make(xs[0]->elem, shape);
    std::size_t outer = 1;
    for (std::size_t k = 0; k < a; ++k) outer *= static_cast<std::size_t>(shape[k]);
    std::size_t at = 0;
    for (std::size_t o = 0; o < outer; ++o)
        for (const constant* x : xs) {
            const std::size_t block = x->elements() / outer;
            for (std::size_t e = 0; e < block; ++e) put(c, at++, x->at(o * block + e));
        }
    return c;
}

/// Gather along `ax` with constant indices (negative ones count from the end).
inline constant gather(const constant& x, const constant& indices, int64_t ax) {
    if (indices.floating) fail("Gather indices must be integers, found " + indices.elem);
    const std::size_t a = axis(ax, x.shape.size());
    std::vector<int64_t> shape(x.shape.begin(), x.shape.begin() + static_cast<std::ptrdiff_t>(a));
    shape.insert(shape.end(), indices.shape.begin(), indices.shape.end());
    shape.insert(shape.end(), x.shape.begin() + static_cast<std::ptrdiff_t>(a) + 1, x.shape.end());
    std::size_t outer = 1, inner = 1;
    for (std::size_t k = 0; k < a; ++k) outer *= static_cast<std::size_t>(x.shape[k]);
    for (std::size_t k = a + 1; k < x.shape.size(); ++k) inner *= static_cast<std::size_t>(x.shape[k]);
    const int64_t n = x.shape[a];
    constant c = make(x.elem, shape);
    std::size_t at = 0;
    for (std::size_t o = 0; o < outer; ++o)
        for (int64_t j : indices.i) {
            if (j < -n || j >= n) fail("Gather index " + std::to_string(j) + " is outside a dimension of " + std::to_string(n));
            const std::size_t src = static_cast<std::size_t>(j < 0 ? j + n : j);
            for (std::size_t e = 0; e < inner; ++e) put(c, at++, x.at((o * static_cast<std::size_t>(n) + src) * inner + e));
        }
    return c;
}

/// Transpose by `perm` (empty: reverse the dimensions).
inline constant transpose(const constant& x, std::vector<int64_t> perm) {
    const std::size_t r = x.shape.size();
    if (perm.empty())
        for (std::size_t k = r; k-- > 0;) perm.push_back(static_cast<int64_t>(k));
    if (perm.size() != r) fail("perm " + detail::shape_str(perm) + " does not fit rank " + std::to_string(r));
    std::vector<int64_t> shape(r), stride(r, 1);
    for (std::size_t k = r; k-- > 1;) stride[k - 1] = stride[k] * x.shape[k];
    for (std::size_t k = 0; k < r; ++k) shape[k] = x.shape[axis(perm[k], r)];
    constant c = make(x.elem, shape);
    std::vector<int64_t> idx(r, 0);
    for (std::size_t k = 0; k < c.elements(); ++k) {
        std::size_t src = 0;
        for (std::size_t d = 0; d < r; ++d) src += static_cast<std::size_t>(idx[d] * stride[axis(perm[d], r)]);
        put(c, k, x.at(src));
        for (std::size_t d = r; d-- > 0;) {
            if (++idx[d] < shape[d]) break;
            idx[d] = 0;
        }
    }
    return c;
}

/// A tensor of `shape` filled with `value` (ConstantOfShape).
inline constant filled(const std::vector<int64_t>& shape, const constant& value) {
    if (value.elements() != 1) fail("ConstantOfShape value must hold one element");
    constant c = make(value.elem, shape);
    for (std::size_t k = 0; k < c.elements(); ++k) put(c, k, value.at(0));
    return c;
}

}  // namespace qint8::convert::const_eval
