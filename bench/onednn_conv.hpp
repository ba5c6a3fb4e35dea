#pragma once
/// @file onednn_conv.hpp  oneDNN's INT8 convolution of one layer as qint8's compiler creates it
/// (NHWC u8 in and out, s32 bias, output scales, a fused clip), for the kernel benchmarks.

#include <cstdint>
#include <vector>

#include <qint8/backend/requantizing.hpp>
#include <qint8/backend/types.hpp>

namespace qint8::bench {

struct onednn_conv {
    dnnl::engine eng{dnnl::engine::kind::cpu, 0};
    dnnl::stream st{eng};
    backend::made_primitive made;
    dnnl::memory src, wei, bias, dst, scratch;

    /// `in`, `out`: NCHW dims of the NHWC tensors; `wd`: the weights' dims (OIHW, or GOIHW);
    /// the data stay the caller's.
    onednn_conv(const backend::dims& in, const backend::dims& out, const backend::dims& wd, const backend::conv_geometry& g, const backend::requant& rq,
                float lo, float hi, uint8_t* src_data, const int8_t* w, int32_t* bias_data, uint8_t* dst_data) {
        namespace be = backend;
        const dnnl::memory::desc src_md(in, dnnl::memory::data_type::u8, dnnl::memory::format_tag::nhwc);
        const dnnl::memory::desc dst_md(out, dnnl::memory::data_type::u8, dnnl::memory::format_tag::nhwc);
        const dnnl::memory::desc bias_md = be::make_desc({out[1]}, dtype::s32, true);
        made = be::requantizing_conv(eng, src_md, be::make_desc(wd, dtype::s8, false), bias_md, dst_md, g, rq, {be::fused_op::clip(lo, hi)});
        made.primitive();  // its code is generated here, not in the first timed run
        wei = be::pack_weights(eng, st, be::make_desc(wd, dtype::s8, true), w, made.weights);
        src = dnnl::memory(made.src, eng, src_data);
        bias = dnnl::memory(bias_md, eng, bias_data);
        dst = dnnl::memory(made.dst, eng, dst_data);
        scratch = dnnl::memory(dnnl::memory::desc({static_cast<int64_t>(made.scratchpad_bytes)}, dnnl::memory::data_type::u8, dnnl::memory::format_tag::x), eng);
    }

    void run() {
        made.primitive().execute(st, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_BIAS, bias}, {DNNL_ARG_DST, dst}, {DNNL_ARG_SCRATCHPAD, scratch}});
        st.wait();
    }
};

}  // namespace qint8::bench
