#pragma once
/// @file model.hpp  A compiled model: a description compiled once into oneDNN primitives and
/// qint8's own kernels (compile/), immutable afterwards and shareable by any number of threads.
/// Each thread runs it through its own `qint8::session` (session.hpp).

#include <memory>
#include <string>
#include <vector>

#include "qint8/compile/compile.hpp"
#include "qint8/compile/options.hpp"
#include "qint8/compile/program.hpp"
#include "qint8/compile/threads.hpp"
#include "qint8/io/manifest.hpp"
#include "qint8/session.hpp"
#include "qint8/tune/tuned_compile.hpp"
#include "qint8/validate.hpp"

namespace qint8 {

/// A compiled model: primitives created and weights packed once; immutable and shareable.
class model {
public:
    /// Compiles `desc` (validated first). `origin` names the model in error messages.
    explicit model(model_desc desc, const compile_options& opt = {}, const std::string& origin = "model") {
        compile(std::move(desc), opt, origin, false);
    }

    /// Reads a manifest and its weights file and compiles them. The reader validates the
    /// description, so it is not validated again here, except where force_fp32 changes it first.
    /// The f32 weights of INT8 layers are checked for NaN and infinity by their quantization,
    /// not by a pass of their own (detail::validate_for_compile), with the same message.
    static model load(const std::string& manifest_path, const compile_options& opt = {}, const read_options& ropt = {}) {
        return model(detail::read_manifest_desc(manifest_path, ropt, false), opt, manifest_path, validated{});
    }

    const model_desc& desc() const { return impl_->desc; }
    int64_t batch() const { return impl_->opt.batch; }
    /// OpenMP threads this model's primitives were built for; every session runs with this many.
    int threads() const { return impl_->threads; }
    /// Floats per image in run()'s input: C*H*W of the manifest's input, NCHW.
    std::size_t input_size() const { return impl_->input_elems; }
    /// Floats per image in run()'s output.
    std::size_t output_size() const { return impl_->output_elems; }
    isa code_path() const { return impl_->path; }
    bool fp32() const { return impl_->opt.force_fp32; }
    std::vector<step_info> steps() const {
        std::vector<step_info> r;
        for (const auto& s : impl_->steps) r.push_back(s.info);
        return r;
    }
    /// Every layer with more than one implementation: which it runs with and why (default, tuning
    /// cache or measured); see compile_options::tune.
    const std::vector<tuning_choice>& tuning_choices() const { return impl_->choices; }

private:
    friend class session;  // runs the program
    struct validated {};   ///< the description comes straight from read_manifest

    model(model_desc desc, const compile_options& opt, const std::string& origin, validated) { compile(std::move(desc), opt, origin, true); }

    void compile(model_desc desc, const compile_options& opt, const std::string& origin, bool validated) {
        if (opt.batch < 1 || opt.batch > 65536)
            detail::fail(errc::invalid_argument, origin + ": batch: expected 1..65536, found " + std::to_string(opt.batch));
        if (opt.threads < 0 || opt.threads > 4096)
            detail::fail(errc::invalid_argument, origin + ": threads: expected 0..4096, found " + std::to_string(opt.threads));
        const int threads = detail::resolve_threads(opt.threads);
        detail::omp_threads_scope scope(threads);
        // The FP32 baseline needs no quantization parameters: an unquantized model compiles too.
        if (opt.force_fp32)
            for (auto& l : desc.layers) l.prec = precision::fp32;
        if (opt.force_fp32) validate(desc, origin);  // every f32 weight runs unquantized
        else if (!validated) detail::validate_for_compile(desc, origin);
        impl_ = detail::compile_tuned(std::move(desc), opt, threads, origin);
    }

    std::shared_ptr<const detail::program> impl_;
};

inline session::session(const model& m, const session_options& opt) : session(m.impl_, opt) {}

}  // namespace qint8
