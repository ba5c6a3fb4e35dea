#pragma once
// Builds TFLite FlatBuffers in memory for the tests of the TFLite reader and front end (no
// flatbuffers library, no schema compiler): a small back-to-front FlatBuffer builder and a plain
// description of a model (tensors, buffers, operator codes, operators with their options) that
// build() serialises.

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <qint8/convert/tflite/reader.hpp>

namespace qint8::test::tflite_build {

namespace tfl = qint8::convert::tflite;

// ------------------------------------------------------------------------------------------------
// A minimal FlatBuffer builder. Like the real one it builds back to front: children first, each
// object prepended, so every uoffset points forward. A `ref` is an object's distance from the end
// of the buffer; the finished buffer's size is a multiple of 16 so alignment from the end is
// alignment from the start.
// ------------------------------------------------------------------------------------------------
class fb_builder {
public:
    using ref = uint32_t;

    ref size() const { return static_cast<ref>(buf_.size()); }

    void prepend(const void* p, std::size_t n) {
        const auto* b = static_cast<const uint8_t*>(p);
        buf_.insert(buf_.begin(), b, b + n);
    }
    /// Pad so that (size + extra) is a multiple of a.
    void align(std::size_t a, std::size_t extra = 0) {
        while ((buf_.size() + extra) % a != 0) buf_.insert(buf_.begin(), uint8_t{0});
    }
    template <class T>
    void push(T v) {
        uint8_t tmp[sizeof(T)];
        std::memcpy(tmp, &v, sizeof(T));
        prepend(tmp, sizeof(T));
    }
    void patch_u32_front(uint32_t v) { std::memcpy(buf_.data(), &v, 4); }

    template <class T>
    ref vector(const std::vector<T>& v, std::size_t align_to = 4) {
        const std::size_t a = std::max({align_to, sizeof(T), std::size_t(4)});
        align(a, v.size() * sizeof(T));
        if (!v.empty()) prepend(v.data(), v.size() * sizeof(T));
        push<uint32_t>(static_cast<uint32_t>(v.size()));
        return size();
    }
    ref string(const std::string& s) {
        align(4, s.size() + 1);
        push<uint8_t>(0);
        prepend(s.data(), s.size());
        push<uint32_t>(static_cast<uint32_t>(s.size()));
        return size();
    }
    ref vector_of(const std::vector<ref>& refs) {
        align(4, 4 * refs.size());
        for (auto it = refs.rbegin(); it != refs.rend(); ++it) {
            push<uint32_t>(0);
            patch_u32_front(size() - *it);
        }
        push<uint32_t>(static_cast<uint32_t>(refs.size()));
        return size();
    }

    void start_table() {
        fields_.clear();
        table_end_ = size();
    }
    template <class T>
    void add(int slot, T v) {
        align(sizeof(T));
        push(v);
        fields_.push_back({slot, size()});
    }
    void add_offset(int slot, ref target) {
        align(4);
        push<uint32_t>(0);
        patch_u32_front(size() - target);
        fields_.push_back({slot, size()});
    }
    ref end_table() {
        align(4);
        push<int32_t>(0);  // soffset to the vtable, patched below
        const ref table = size();
        int slots = 0;
        for (const auto& f : fields_) slots = std::max(slots, f.first + 1);
        std::vector<uint16_t> vt(static_cast<std::size_t>(slots), 0);
        for (const auto& f : fields_) vt[static_cast<std::size_t>(f.first)] = static_cast<uint16_t>(table - f.second);
        for (auto it = vt.rbegin(); it != vt.rend(); ++it) push<uint16_t>(*it);
        push<uint16_t>(static_cast<uint16_t>(table - table_end_));
        push<uint16_t>(static_cast<uint16_t>(4 + 2 * slots));
        const ref vtable = size();
        const int32_t so = static_cast<int32_t>(vtable - table);
        std::memcpy(buf_.data() + (buf_.size() - table), &so, 4);
        return table;
    }

    std::vector<uint8_t> finish(ref root, const char* ident = "TFL3") {
        align(16, 8);
        prepend(ident, 4);
        push<uint32_t>(0);
        patch_u32_front(size() - root);
        return buf_;
    }

private:
    std::vector<uint8_t> buf_;
    std::vector<std::pair<int, ref>> fields_;
    ref table_end_ = 0;
};

// ------------------------------------------------------------------------------------------------
// A model description and its serialisation (fields equal to the schema default are left out, as
// flatc does, so the reader's defaults are exercised too)
// ------------------------------------------------------------------------------------------------
struct t_tensor {
    std::string name;
    std::vector<int32_t> shape;
    tfl::tensor_type type = tfl::tensor_type::uint8;
    uint32_t buffer = 0;
    bool quant = false;
    std::vector<float> scale;
    std::vector<int64_t> zero_point;
    int32_t quantized_dimension = 0;
};

struct t_code {
    int32_t builtin = 0;
    int32_t version = 1;
    std::string custom;
    bool deprecated_only = false;  // old files: only the byte field
};

struct t_op {
    uint32_t opcode = 0;
    std::vector<int32_t> inputs, outputs;
    uint8_t options_type = 0;
    tfl::options opts;
    bool write_table = true;  // write a union value table (empty for types without a decoder here)
};

struct t_buffer {
    std::vector<uint8_t> data;
    uint64_t offset = 0, size = 0;  // the external form
};

struct t_model {
    uint32_t version = 3;
    std::string description = "built by qint8's tests";
    std::vector<t_code> codes;
    std::vector<t_buffer> buffers;
    std::vector<t_tensor> tensors;
    std::vector<int32_t> inputs, outputs;
    std::vector<t_op> ops;
    std::string subgraph_name = "main";
    const char* ident = "TFL3";
};

template <class T>
void add_nondefault(fb_builder& b, int slot, T v, T def) {
    if (v != def) b.add<T>(slot, v);
}

inline fb_builder::ref write_options(fb_builder& b, const tfl::options& o) {
    // vectors first (children before the table)
    fb_builder::ref vec = 0;
    if (const auto* r = std::get_if<tfl::reshape_options>(&o); r && r->has_new_shape) vec = b.vector(r->new_shape);
    if (const auto* s = std::get_if<tfl::squeeze_options>(&o); s && !s->squeeze_dims.empty()) vec = b.vector(s->squeeze_dims);
    b.start_table();
    auto i8 = [](auto e) { return static_cast<int8_t>(e); };
    if (const auto* c = std::get_if<tfl::conv2d_options>(&o)) {
        add_nondefault<int8_t>(b, 0, i8(c->pad), 0);
        add_nondefault<int32_t>(b, 1, c->stride_w, 0);
        add_nondefault<int32_t>(b, 2, c->stride_h, 0);
        add_nondefault<int8_t>(b, 3, i8(c->fused_activation_function), 0);
        add_nondefault<int32_t>(b, 4, c->dilation_w_factor, 1);
        add_nondefault<int32_t>(b, 5, c->dilation_h_factor, 1);
    } else if (const auto* d = std::get_if<tfl::depthwise_conv2d_options>(&o)) {
        add_nondefault<int8_t>(b, 0, i8(d->pad), 0);
        add_nondefault<int32_t>(b, 1, d->stride_w, 0);
        add_nondefault<int32_t>(b, 2, d->stride_h, 0);
        add_nondefault<int32_t>(b, 3, d->depth_multiplier, 0);
        add_nondefault<int8_t>(b, 4, i8(d->fused_activation_function), 0);
        add_nondefault<int32_t>(b, 5, d->dilation_w_factor, 1);
        add_nondefault<int32_t>(b, 6, d->dilation_h_factor, 1);
    } else if (const auto* p = std::get_if<tfl::pool2d_options>(&o)) {
        add_nondefault<int8_t>(b, 0, i8(p->pad), 0);
        add_nondefault<int32_t>(b, 1, p->stride_w, 0);
        add_nondefault<int32_t>(b, 2, p->stride_h, 0);
        add_nondefault<int32_t>(b, 3, p->filter_width, 0);
        add_nondefault<int32_t>(b, 4, p->filter_height, 0);
        add_nondefault<int8_t>(b, 5, i8(p->fused_activation_function), 0);
    } else if (const auto* f = std::get_if<tfl::fully_connected_options>(&o)) {
        add_nondefault<int8_t>(b, 0, i8(f->fused_activation_function), 0);
        add_nondefault<int8_t>(b, 1, f->weights_format, 0);
        add_nondefault<uint8_t>(b, 2, f->keep_num_dims ? 1 : 0, 0);
        add_nondefault<uint8_t>(b, 3, f->asymmetric_quantize_inputs ? 1 : 0, 0);
    } else if (const auto* s = std::get_if<tfl::softmax_options>(&o)) {
        add_nondefault<float>(b, 0, s->beta, 0.f);
    } else if (const auto* a = std::get_if<tfl::add_options>(&o)) {
        add_nondefault<int8_t>(b, 0, i8(a->fused_activation_function), 0);
        add_nondefault<uint8_t>(b, 1, a->pot_scale_int16 ? 1 : 0, 1);
    } else if (const auto* r = std::get_if<tfl::reshape_options>(&o)) {
        if (r->has_new_shape) b.add_offset(0, vec);
    } else if (const auto* q = std::get_if<tfl::squeeze_options>(&o)) {
        if (!q->squeeze_dims.empty()) b.add_offset(0, vec);
    } else if (const auto* m = std::get_if<tfl::reducer_options>(&o)) {
        add_nondefault<uint8_t>(b, 0, m->keep_dims ? 1 : 0, 0);
    }
    return b.end_table();
}

inline std::vector<uint8_t> build(const t_model& m) {
    fb_builder b;
    using ref = fb_builder::ref;
    // Buffer data first, last buffer first: the last buffer with bytes ends the file (with no
    // padding after it when its size is a multiple of 16), so every truncation cuts something the
    // reader must read.
    std::vector<ref> data(m.buffers.size(), 0);
    for (std::size_t i = m.buffers.size(); i-- > 0;)
        if (!m.buffers[i].data.empty()) data[i] = b.vector(m.buffers[i].data, 16);
    std::vector<ref> buffers;
    for (std::size_t i = 0; i < m.buffers.size(); ++i) {
        b.start_table();
        if (!m.buffers[i].data.empty()) b.add_offset(0, data[i]);
        add_nondefault<uint64_t>(b, 1, m.buffers[i].offset, 0);
        add_nondefault<uint64_t>(b, 2, m.buffers[i].size, 0);
        buffers.push_back(b.end_table());
    }
    std::vector<ref> tensors;
    for (const auto& t : m.tensors) {
        const ref shape = b.vector(t.shape);
        const ref name = b.string(t.name);
        ref q = 0;
        if (t.quant) {
            const ref scale = b.vector(t.scale);
            const ref zp = b.vector(t.zero_point);
            b.start_table();
            b.add_offset(2, scale);
            b.add_offset(3, zp);
            add_nondefault<int32_t>(b, 6, t.quantized_dimension, 0);
            q = b.end_table();
        }
        b.start_table();
        b.add_offset(0, shape);
        add_nondefault<int8_t>(b, 1, static_cast<int8_t>(t.type), 0);
        add_nondefault<uint32_t>(b, 2, t.buffer, 0);
        b.add_offset(3, name);
        if (t.quant) b.add_offset(4, q);
        tensors.push_back(b.end_table());
    }
    std::vector<ref> ops;
    for (const auto& o : m.ops) {
        const ref in = b.vector(o.inputs);
        const ref out = b.vector(o.outputs);
        ref opt = 0;
        if (o.options_type != 0 && o.write_table) opt = write_options(b, o.opts);
        b.start_table();
        add_nondefault<uint32_t>(b, 0, o.opcode, 0);
        b.add_offset(1, in);
        b.add_offset(2, out);
        add_nondefault<uint8_t>(b, 3, o.options_type, 0);
        if (opt) b.add_offset(4, opt);
        ops.push_back(b.end_table());
    }
    const ref tvec = b.vector_of(tensors);
    const ref ins = b.vector(m.inputs);
    const ref outs = b.vector(m.outputs);
    const ref ovec = b.vector_of(ops);
    const ref sgname = b.string(m.subgraph_name);
    b.start_table();
    b.add_offset(0, tvec);
    b.add_offset(1, ins);
    b.add_offset(2, outs);
    b.add_offset(3, ovec);
    b.add_offset(4, sgname);
    const ref sg = b.end_table();
    const ref sgs = b.vector_of({sg});

    std::vector<ref> codes;
    for (const auto& c : m.codes) {
        const ref custom = c.custom.empty() ? 0 : b.string(c.custom);
        b.start_table();
        const int32_t dep = c.deprecated_only ? c.builtin : std::min<int32_t>(c.builtin, 127);
        add_nondefault<int8_t>(b, 0, static_cast<int8_t>(dep), 0);
        if (custom) b.add_offset(1, custom);
        add_nondefault<int32_t>(b, 2, c.version, 1);
        if (!c.deprecated_only) add_nondefault<int32_t>(b, 3, c.builtin, 0);
        codes.push_back(b.end_table());
    }
    const ref cvec = b.vector_of(codes);
    const ref bvec = b.vector_of(buffers);
    const ref desc = b.string(m.description);
    b.start_table();
    b.add<uint32_t>(0, m.version);
    b.add_offset(1, cvec);
    b.add_offset(2, sgs);
    b.add_offset(3, desc);
    b.add_offset(4, bvec);
    const ref root = b.end_table();
    return b.finish(root, m.ident);
}

inline std::vector<uint8_t> iota_bytes(std::size_t n, uint8_t start) {
    std::vector<uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(start + i * 7);
    return v;
}

template <class T>
std::vector<uint8_t> as_bytes(const std::vector<T>& v) {
    std::vector<uint8_t> b(v.size() * sizeof(T));
    if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
    return b;
}

}  // namespace qint8::test::tflite_build
