// The tuning cache (compile_options::tune, tune/): every candidate of a choice computes the same
// integers as the naive reference; the defaults per path; measuring fills the cache and a later
// load takes its choices without measuring; entries for another CPU, path or version are ignored;
// a damaged cache file is refused naming the file and the field.

#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include <qint8/models/registry.hpp>
#include <qint8/models/synthetic.hpp>
#include <qint8/ref/reference.hpp>
#include <qint8/session.hpp>
#include <qint8/tune/cache.hpp>
#include <qint8/tune/tuned_compile.hpp>
#include <qint8/version.hpp>

#include "support/compare.hpp"
#include "support/scratch.hpp"
#include "support/small_topology.hpp"

using namespace qint8;

namespace {

/// MobileNet-V2 at 32x32, a quarter of the width: depthwise layers and a classifier, the two
/// kinds of layer with more than one implementation.
model_desc small_mobilenet_v2() {
    test::small_request r;
    r.int8_weights = true;
    r.calibration_images = 4;
    return test::small_topology("mobilenet_v2", r, 5);
}

std::vector<float> run(const model& net, const std::vector<float>& in) {
    session s(net);
    return s.run(in);
}

/// A cache that gives every choice in `choices` its k-th candidate, or its last where it has fewer.
std::string cache_with_candidate(const std::vector<tuning_choice>& choices, isa path, std::size_t k, const test::scratch_dir& dir) {
    detail::tuning_cache c;
    for (const tuning_choice& ch : choices)
        c.put({detail::detected_cpu().cpu_name, to_string(path), detail::tuning_version(), ch.signature},
              {ch.candidates[std::min(k, ch.candidates.size() - 1)], {}});
    const std::string file = dir / ("candidate" + std::to_string(k) + ".json");
    c.save(file);
    return file;
}

std::string cache_with_candidate(const model& net, std::size_t k, const test::scratch_dir& dir) {
    return cache_with_candidate(net.tuning_choices(), net.code_path(), k, dir);
}

const tuning_choice* find_choice(const std::vector<tuning_choice>& v, const tuning_choice& c) {
    for (const tuning_choice& x : v)
        if (x.key() == c.key()) return &x;
    return nullptr;
}

/// The last candidate of every choice.
std::string cache_with_alternatives(const model& net, const test::scratch_dir& dir) { return cache_with_candidate(net, 1000, dir); }

std::size_t count_steps_with(const model& net, const std::string& what) {
    std::size_t n = 0;
    for (const auto& s : net.steps()) n += s.what.find(what) != std::string::npos;
    return n;
}

/// Does a step of `layer` name `impl` (oneDNN's implementation name ends its description)?
bool runs_with(const model& net, const std::string& layer, const std::string& impl) {
    for (const auto& s : net.steps())
        if (s.layer == layer && s.what.size() >= impl.size() && s.what.compare(s.what.size() - impl.size(), impl.size(), impl) == 0) return true;
    return false;
}

/// Does qint8's 1x1 kernel (any variant) run a step of `layer`?
bool on_own_1x1(const model& net, const std::string& layer) {
    return runs_with(net, layer, "qint8_pw:avx2") || runs_with(net, layer, "qint8_pw:avx2_tiles") || runs_with(net, layer, "qint8_pw:avx512vnni");
}

/// Steps of layers with a residual sum that qint8's 1x1 kernel runs.
std::size_t residual_steps_on_own_1x1(const model& net) {
    std::size_t n = 0;
    for (const auto& s : net.steps()) {
        const layer* l = net.desc().find_layer(s.layer);
        if (!l || s.what.find("qint8_pw") == std::string::npos) continue;
        for (const post_op& p : l->post_ops) n += p.kind == post_op::sum;
    }
    return n;
}

void write_text(const std::string& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

std::string error_of(const model_desc& m, const compile_options& co) {
    try {
        model net(m, co, "m");
    } catch (const error& e) {
        return e.what();
    }
    return "";
}

}  // namespace

TEST_SUITE("tuning") {

TEST_CASE("tuning: every candidate computes the reference's integers") {
    // Each compilation k gives every layer its k-th candidate: qint8's depthwise kernel or
    // oneDNN's, the classifier as a convolution or an inner product, and each of oneDNN's
    // implementations of every convolution (AMX, VNNI, AVX2, SSE4.1 kernels, gemm).
    test::single_thread one;
    test::scratch_dir dir;
    const model_desc m = small_mobilenet_v2();
    const std::vector<float> in = models::synthetic_images(m, 2, 9);
    const std::vector<float> want = ref::run(m, in, 2, test::ref_options(false));
    compile_options co;
    co.batch = 2;
    co.tuning_cache = dir / "none.json";  // a cache file in use: oneDNN's implementations are listed too
    const model by_default(m, co, "default");
    REQUIRE(by_default.tuning_choices().size() >= 18);  // 17 depthwise layers, the classifier, convolutions
    std::size_t most = 0;
    for (const tuning_choice& ch : by_default.tuning_choices()) {
        CHECK(ch.source == "default");
        CHECK(ch.chosen == ch.candidates.front());
        most = std::max(most, ch.candidates.size());
    }
    MESSAGE(by_default.tuning_choices().size() << " choices, up to " << most << " candidates each, path " << std::string(to_string(by_default.code_path())));
    // A 1x1 layer that qint8's kernel runs has no choice among oneDNN's implementations; with
    // oneDNN's 1x1 chosen everywhere those choices appear, and join the ones each compilation takes.
    std::vector<tuning_choice> all = by_default.tuning_choices();
    {
        std::vector<tuning_choice> onednn_1x1 = all;
        for (tuning_choice& ch : onednn_1x1)
            if (ch.what == "pointwise") ch.candidates = {"onednn"};
        co.tuning_cache = cache_with_candidate(onednn_1x1, by_default.code_path(), 0, dir);
        const model net(m, co, "oneDNN 1x1");
        for (const tuning_choice& c : net.tuning_choices())
            if (!find_choice(all, c)) all.push_back(c), most = std::max(most, c.candidates.size());
    }
    std::size_t own_dw = 0, own_pw = 0, own_pw_tiles = 0, own_pw_sums = 0;
    for (std::size_t k = 0; k < most; ++k) {
        co.tuning_cache = cache_with_candidate(all, by_default.code_path(), k, dir);
        const model net(m, co, "candidate " + std::to_string(k));
        for (const tuning_choice& c : net.tuning_choices()) {
            const tuning_choice* d = find_choice(all, c);
            REQUIRE(d);
            CHECK(c.source == "cache");
            CHECK(c.chosen == d->candidates[std::min(k, d->candidates.size() - 1)]);
            // The layer runs the implementation chosen, not the first choice kept in its place.
            if (c.what == "impl") CHECK(runs_with(net, c.layer, c.chosen));
            if (c.what == "pointwise") CHECK((c.chosen == "onednn" ? !on_own_1x1(net, c.layer) : runs_with(net, c.layer, c.chosen)));
        }
        // Only an implementation choice of a layer that qint8's 1x1 kernel runs may be missing.
        for (const tuning_choice& d : all)
            if (!find_choice(net.tuning_choices(), d)) CHECK((d.what == "impl" && on_own_1x1(net, d.layer)));
        own_dw += count_steps_with(net, "qint8_dw");
        own_pw += count_steps_with(net, "qint8_pw");
        own_pw_tiles += count_steps_with(net, "qint8_pw:avx2_tiles");
        own_pw_sums += residual_steps_on_own_1x1(net);
        const std::vector<float> got = run(net, in);
        REQUIRE(got.size() == want.size());
        INFO("candidate " << k);
        for (std::size_t i = 0; i < want.size(); ++i) CHECK(got[i] == want[i]);
    }
    CHECK(own_dw >= 17);  // qint8's depthwise kernel ran in at least one of the compilations
    const bool own_1x1_path = by_default.code_path() == isa::avx2 || detail::pw_vnni_path(by_default.code_path());
    if (own_1x1_path) CHECK(own_pw >= 4);  // and its 1x1 kernel (expansions from 8, 16, 24 and 40 channels)
    if (own_1x1_path) CHECK(own_pw_sums >= 4);  // projections adding their shortcut in the kernel
    if (by_default.code_path() == isa::avx2) CHECK(own_pw_tiles >= 8);  // and the kernel's tile variant on the plain 1x1 layers
    CHECK(run(by_default, in) == want);
}

TEST_CASE("tuning: the default depthwise is qint8's except on AMX - where oneDNN's is - the default 1x1 per shape and path") {
    // Measured: the four-tap kernel (columns in registers) beat oneDNN's on AVX-512 VNNI (Zen 5);
    // on AMX only the earlier kernels were measured, at parity or slower; on AVX2 the column kernel
    // beat the pair kernel and oneDNN's, both of which stay candidates.
    CHECK(detail::dw_candidates(isa::avx2) == std::vector<std::string>{"qint8_dw:avx2_columns", "onednn", "qint8_dw:avx2"});
    CHECK(detail::dw_candidates(isa::avx2_vnni).front() == "qint8_dw:avx2_columns");
    CHECK(detail::dw_candidates(isa::avx512_core).front() == "qint8_dw:avx512bw");
    CHECK(detail::dw_candidates(isa::avx512_core_amx).size() == 3);  // oneDNN's, the four-tap and the pair kernel
    CHECK(detail::dw_candidates(isa::avx512_core_vnni).size() == 3);
    CHECK(detail::dw_candidates(isa::avx512_core_vnni).front() == "qint8_dw:avx512vnni_quads");
    CHECK(detail::dw_candidates(isa::avx512_core_bf16).front() == "qint8_dw:avx512vnni_quads");
    CHECK(detail::dw_candidates(isa::avx512_core_amx).front() == "onednn");

    // qint8's 1x1 kernel (avx2 path only): the default from at most 64 input channels into at
    // least 32 outputs, or into 32-64 outputs with at most 24 KiB of weights (measured on Zen 3),
    // a candidate otherwise; its tile variant a candidate for plain 1x1 layers, not over windows.
    CHECK(detail::pw_candidates(16, 96, true) == std::vector<std::string>{"qint8_pw:avx2", "onednn", "qint8_pw:avx2_tiles"});
    CHECK(detail::pw_candidates(28, 32, false) == std::vector<std::string>{"qint8_pw:avx2", "onednn"});
    CHECK(detail::pw_candidates(64, 384, true).front() == "qint8_pw:avx2");
    CHECK(detail::pw_candidates(144, 32, true).front() == "qint8_pw:avx2");
    CHECK(detail::pw_candidates(384, 64, true).front() == "qint8_pw:avx2");
    // Larger weights (oneDNN's; the tile variant a candidate), windows (no tile variant).
    CHECK(detail::pw_candidates(388, 64, true).front() == "onednn");   // 25 KiB of weights
    CHECK(detail::pw_candidates(384, 96, true).front() == "onednn");   // three blocks
    CHECK(detail::pw_candidates(96, 576, true) == std::vector<std::string>{"onednn", "qint8_pw:avx2", "qint8_pw:avx2_tiles"});
    CHECK(detail::pw_candidates(1024, 1024, true).front() == "onednn");
    CHECK(detail::pw_candidates(148, 96, false) == std::vector<std::string>{"onednn", "qint8_pw:avx2"});
    CHECK(detail::pw_candidates(144, 24, true).front() == "onednn");   // a block part empty
    CHECK(detail::pw_candidates(960, 24, true).front() == "onednn");
    CHECK(detail::pw_candidates(32, 16, true).front() == "onednn");
    // The VNNI variant on the AVX-512 VNNI and AMX paths (measured on Zen 5): the default into at
    // most 16 outputs (narrow) or at least 24, up to 160 KiB of weights or at any size over at
    // most 64 pixels; a candidate otherwise.
    const std::vector<std::string> vnni_first{"qint8_pw:avx512vnni", "onednn"}, onednn_first{"onednn", "qint8_pw:avx512vnni"};
    CHECK(detail::pw_vnni_candidates(16, 96, 12544) == vnni_first);
    CHECK(detail::pw_vnni_candidates(144, 32, 784) == vnni_first);
    CHECK(detail::pw_vnni_candidates(144, 24, 3136) == vnni_first);  // MobileNet-V2's, a block three quarters full
    CHECK(detail::pw_vnni_candidates(96, 24, 3136) == vnni_first);
    CHECK(detail::pw_vnni_candidates(32, 16, 12544) == vnni_first);  // narrow
    CHECK(detail::pw_vnni_candidates(64, 8, 100) == vnni_first);
    CHECK(detail::pw_vnni_candidates(144, 20, 3136) == onednn_first);  // a block more empty, not narrow
    CHECK(detail::pw_vnni_candidates(144, 17, 49) == onednn_first);
    CHECK(detail::pw_vnni_candidates(160, 960, 49) == vnni_first);
    CHECK(detail::pw_vnni_candidates(256, 512, 196) == vnni_first);
    CHECK(detail::pw_vnni_candidates(256, 1024, 196) == onednn_first);  // 256 KiB of weights
    CHECK(detail::pw_vnni_candidates(384, 96, 196) == vnni_first);      // MobileNet-V2's projections
    CHECK(detail::pw_vnni_candidates(960, 160, 49) == vnni_first);      // 150 KiB
    CHECK(detail::pw_vnni_candidates(960, 320, 196) == onednn_first);
    CHECK(detail::pw_vnni_candidates(960, 320, 49) == vnni_first);       // MobileNet-V2's at 7 x 7
    CHECK(detail::pw_vnni_candidates(320, 1280, 64) == vnni_first);
    CHECK(detail::pw_vnni_candidates(320, 1280, 65) == onednn_first);
    CHECK(detail::pw_vnni_candidates(1024, 256, 196) == onednn_first);  // ResNet50's, 256 KiB: 0.89x
    CHECK(detail::pw_vnni_candidates(1024, 1024, 196) == onednn_first);
    CHECK(detail::pw_vnni_candidates(1024, 1024, 49) == vnni_first);    // MobileNet-V1's last
    CHECK(detail::pw_vnni_candidates(512, 2048, 49) == vnni_first);     // ResNet50's
    CHECK(detail::pw_vnni_candidates(1024, 1001, 1) == vnni_first);     // a classifier as a 1x1 layer
    CHECK(detail::pw_vnni_path(isa::avx512_core_vnni));
    CHECK(detail::pw_vnni_path(isa::avx512_core_bf16));
    CHECK(detail::pw_vnni_path(isa::avx512_core_amx));
    CHECK_FALSE(detail::pw_vnni_path(isa::avx2_vnni));  // no AVX-512: oneDNN's
    CHECK_FALSE(detail::pw_vnni_path(isa::avx512_core));

    test::single_thread one;
    compile_options co;
    co.tune = tuning::off;
    const model net(small_mobilenet_v2(), co, "m");
    const isa p = net.code_path();
    INFO("path " << to_string(p));
    CHECK(count_steps_with(net, "qint8_dw") == (p == isa::avx512_core_amx ? 0u : 17u));
    if (p == isa::avx2 || detail::pw_vnni_path(p)) CHECK(count_steps_with(net, "qint8_pw") >= 4);
    else CHECK(count_steps_with(net, "qint8_pw") == 0);
    CHECK(count_steps_with(net, "qint8_pw:avx512vnni") == (detail::pw_vnni_path(p) ? count_steps_with(net, "qint8_pw") : 0u));
}

TEST_CASE("tuning: measuring fills the cache - a later load takes its choices without measuring") {
    test::single_thread one;
    test::scratch_dir dir;
    const model_desc m = small_mobilenet_v2();
    compile_options co;
    co.tune = tuning::measure;
    co.tuning_cache = dir / "cache.json";
    const model measured(m, co, "m");
    std::set<std::string> signatures;
    for (const tuning_choice& ch : measured.tuning_choices()) {
        CHECK(ch.source == "measured");
        REQUIRE(ch.ms.size() == ch.candidates.size());
        for (double t : ch.ms) CHECK((std::isfinite(t) && t > 0.0));
        signatures.insert(ch.signature);
    }
    const detail::tuning_cache written = detail::tuning_cache::load(co.tuning_cache);
    CHECK(written.size() == signatures.size());

    co.tune = tuning::cache;
    const model cached(m, co, "m");
    REQUIRE(cached.tuning_choices().size() == measured.tuning_choices().size());
    for (std::size_t i = 0; i < cached.tuning_choices().size(); ++i) {
        const tuning_choice& c = cached.tuning_choices()[i];
        CHECK(c.source == "cache");
        const auto e = written.find({detail::detected_cpu().cpu_name, to_string(cached.code_path()), detail::tuning_version(), c.signature});
        REQUIRE(e.has_value());
        CHECK(c.chosen == e->choice);
    }

    // Measuring again with a complete cache times nothing and leaves the file as it was.
    co.tune = tuning::measure;
    const model again(m, co, "m");
    for (const tuning_choice& c : again.tuning_choices()) CHECK(c.source == "cache");
}

TEST_CASE("tuning: entries of another CPU - path - version or tuning revision are ignored - the environment names the cache") {
    test::single_thread one;
    test::scratch_dir dir;
    const model_desc m = small_mobilenet_v2();
    compile_options co;
    co.tuning_cache = dir / "none.json";  // no such file: the defaults, with every choice listed
    const model plain(m, co, "m");
    co.tuning_cache.clear();
    detail::tuning_cache c;
    for (const tuning_choice& ch : plain.tuning_choices()) {
        const std::string cpu = detail::detected_cpu().cpu_name, path = to_string(plain.code_path());
        c.put({cpu + " (another)", path, detail::tuning_version(), ch.signature}, {ch.candidates.back(), {}});
        c.put({cpu, path == std::string("avx2") ? "avx512_core_amx" : "avx2", detail::tuning_version(), ch.signature}, {ch.candidates.back(), {}});
        c.put({cpu, path, "0.0.0-other", ch.signature}, {ch.candidates.back(), {}});
        // The same library version before the last change of a candidate's code.
        c.put({cpu, path, std::string(version_string) + " tuning " + std::to_string(detail::tuning_revision - 1), ch.signature},
              {ch.candidates.back(), {}});
        c.put({cpu, path, version_string, ch.signature}, {ch.candidates.back(), {}});
        c.put({cpu, path, detail::tuning_version(), ch.signature + " (another shape)"}, {ch.candidates.back(), {}});
    }
    const std::string file = dir / "others.json";
    c.save(file);
    ::setenv("QINT8_TUNING_CACHE", file.c_str(), 1);
    co.tune = tuning::cache;
    const model net(m, co, "m");
    ::unsetenv("QINT8_TUNING_CACHE");
    REQUIRE(net.tuning_choices().size() == plain.tuning_choices().size());
    for (std::size_t i = 0; i < net.tuning_choices().size(); ++i) {
        CHECK(net.tuning_choices()[i].source == "default");
        CHECK(net.tuning_choices()[i].chosen == plain.tuning_choices()[i].chosen);
    }

    // Through the environment, a cache's entry is used.
    const std::string alt = cache_with_alternatives(plain, dir);
    ::setenv("QINT8_TUNING_CACHE", alt.c_str(), 1);
    const model through_env(m, co, "m");
    ::unsetenv("QINT8_TUNING_CACHE");
    // (A 1x1 layer the cache gives to oneDNN brings a choice among oneDNN's implementations that
    // `plain` did not have: that one is the default.)
    std::size_t cached = 0;
    for (const tuning_choice& ch : through_env.tuning_choices()) {
        if (!find_choice(plain.tuning_choices(), ch)) continue;
        CHECK(ch.source == "cache");
        ++cached;
    }
    // Only the implementation choices of layers the cache gave to qint8's 1x1 kernel are gone.
    CHECK(cached + count_steps_with(through_env, "qint8_pw") >= plain.tuning_choices().size());
    CHECK(cached >= 18);
}

TEST_CASE("tuning: a damaged cache file is refused naming the file and the field - off reads no file") {
    test::single_thread one;
    test::scratch_dir dir;
    const model_desc m = small_mobilenet_v2();
    compile_options co;
    co.tune = tuning::cache;
    co.tuning_cache = dir / "bad.json";
    const auto refused = [&](const std::string& text, const std::string& expect) {
        write_text(co.tuning_cache, text);
        const std::string e = error_of(m, co);
        INFO(e);
        CHECK(e.find(co.tuning_cache) != std::string::npos);
        CHECK(e.find(expect) != std::string::npos);
    };
    refused("{not json", "expected a JSON object");
    refused(R"({"format": "something else", "format_version": 1, "entries": []})", "format: expected \"qint8-tuning-cache\"");
    refused(R"({"format": "qint8-tuning-cache", "format_version": 7, "entries": []})", "format_version: expected 1, found 7");
    refused(R"({"format": "qint8-tuning-cache", "format_version": 1})", "entries: expected an array");
    refused(R"({"format": "qint8-tuning-cache", "format_version": 1, "entries": [{"cpu": "x", "path": "avx2", "qint8": "0", "layer": 3, "choice": "onednn"}]})",
            "entries[0].layer: expected a string, found number");
    refused(R"({"format": "qint8-tuning-cache", "format_version": 1, "entries": [7]})", "entries[0]: expected an object");

    co.tuning_cache = dir.path;  // a directory
    CHECK(error_of(m, co).find("expected a regular file") != std::string::npos);

    co.tuning_cache = dir / "missing.json";  // no file yet: the defaults, and nothing written
    CHECK(error_of(m, co).empty());
    CHECK(dir.list() == std::vector<std::string>{"bad.json"});

    co.tune = tuning::off;  // off reads no file at all
    co.tuning_cache = dir / "bad.json";
    CHECK(error_of(m, co).empty());
}

TEST_CASE("tuning: a round measures one choice per layer - the layer's next choice waits for the next round") {
    // Compilation k times each layer once with the k-th candidate of every choice it forces: two
    // choices of one layer measured together would credit the second with the first's time (a
    // 1x1 layer's oneDNN implementations with the time of qint8's kernel running in their place).
    const auto choice = [](const std::string& layer, const std::string& what, const std::string& source) {
        tuning_choice c;
        c.layer = layer;
        c.what = what;
        c.signature = what + ": " + layer;
        c.candidates = {"x", "y"};
        c.chosen = "x";
        c.source = source;
        return c;
    };
    detail::program p;
    p.choices = {choice("a", "pointwise", "default"), choice("a", "impl", "default"), choice("b", "depthwise", "cache"),
                 choice("b", "impl", "default"),      choice("c", "fc", "measured"), choice("c", "impl", "default"),
                 choice("d", "fc", "default")};
    std::vector<std::string> keys;
    for (const tuning_choice& c : detail::undecided(p)) keys.push_back(c.key());
    CHECK(keys == std::vector<std::string>{"a/pointwise", "b/impl", "c/impl", "d/fc"});

    // Once a's first choice is decided, its second is measured.
    p.choices[0].source = "measured";
    keys.clear();
    for (const tuning_choice& c : detail::undecided(p)) keys.push_back(c.key());
    CHECK(keys == std::vector<std::string>{"a/impl", "b/impl", "c/impl", "d/fc"});
}

}  // TEST_SUITE
