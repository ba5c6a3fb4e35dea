#pragma once
/// @file options.hpp  How a model description is compiled, and what each compiled step reports.

#include <cstdint>
#include <string>
#include <vector>

namespace qint8 {

/// Where a layer with more than one implementation (qint8's depthwise kernel or oneDNN's, an fc
/// as a convolution or as an inner product) takes its choice from; every candidate computes the
/// same integers (tune/choices.hpp, docs/performance.md "Tuning cache").
enum class tuning {
    off,      ///< the built-in defaults only: the choice measured best on each path so far
    cache,    ///< the defaults, overridden by the tuning cache's entries for this CPU, path and version
    measure,  ///< time the candidates of every layer the cache lacks, keep the fastest, add it to the cache
};

/// How a description is compiled.
struct compile_options {
    int64_t batch = 1;        ///< images per run(); primitives are specialised for it
    bool force_fp32 = false;  ///< run every layer in f32 (dequantized weights): the FP32 baseline
    /// OpenMP threads the model is compiled for and runs with (0: the process default,
    /// omp_get_max_threads()). oneDNN splits work for the thread count it sees when a primitive
    /// is created, so this is the model's one thread setting: every session runs with it. More
    /// threads than the processors OpenMP may use (omp_get_num_procs()) only share cores, so the
    /// count is lowered to that; model::threads() reports the count in use.
    int threads = 0;
    /// Keep every layer's output readable through session::read after a run. Off (the default),
    /// a convolution that adds a residual writes its result into the residual's own buffer when
    /// nothing reads the residual afterwards, instead of first copying it there (one reorder per
    /// ResNet or MobileNet-V2 block on every inference), and a layer's output takes the bytes of
    /// tensors no later step reads (compile/buffer_plan.hpp); session::read then refuses those
    /// tensors, naming the layer that wrote over them. Calibration, bias correction and per-layer
    /// reports turn it on.
    bool keep_intermediates = false;
    tuning tune = tuning::cache;  ///< see qint8::tuning
    /// The tuning cache file: a path, or empty for the environment variable QINT8_TUNING_CACHE
    /// (neither: no cache; `measure` then still picks the fastest, for this compilation only).
    std::string tuning_cache;
    /// Give u8 conv/fc weights the pair-safe scheme of the paths without VNNI (dispatch/isa.hpp)
    /// on every path, and so compute what the avx2 path computes: what qint8-convert's bias
    /// correction uses to measure the avx2 path's error on a VNNI or AMX machine.
    bool pair_safe_weights = false;
};

/// One executed step, for profiles and diagnostics.
struct step_info {
    std::string layer;  ///< layer name, or "" for glue (input quantization, output conversion)
    std::string what;   ///< e.g. "conv2d int8 u8->u8 brg:avx512_core_vnni" or "reorder"
};

/// One layer's choice between implementations, for diagnostics (model::tuning_choices()).
struct tuning_choice {
    std::string layer;                    ///< layer name
    std::string what;                     ///< "depthwise" or "pointwise" (qint8's kernel or oneDNN's), "fc" (as conv or inner product) or "impl" (oneDNN's implementation)
    std::string signature;                ///< what the choice depends on: `what`, op, shapes, types, threads
    std::vector<std::string> candidates;  ///< e.g. {"onednn", "qint8_dw"}; the first is the default
    std::string key() const { return layer + "/" + what; }
    std::string chosen;
    std::string source;  ///< "default", "cache" or "measured"
    std::vector<double> ms;  ///< with "measured": each candidate's best time per run (summed over the layers of this signature), in candidates' order
};

}  // namespace qint8
