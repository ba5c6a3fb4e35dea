// Shared activation buffers (include/qint8/compile/buffer_plan.hpp): without keep_intermediates,
// slots whose uses do not overlap share bytes. On compiled MobileNet-V2, ResNet50 and VGG16
// topologies: no two slots that one step's span keeps alive overlap (their lives worked out here
// from the steps, independently of the plan's own), sharing shrinks the block, runs give the
// reference's integers and the outputs of unshared buffers (full and partly filled batches, both
// precisions), and session::read refuses a tensor whose bytes a later layer took.

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <vector>

#include <qint8/ref/reference.hpp>
#include <qint8/session.hpp>
#include <qint8/tune/time_layers.hpp>

#include "support/compare.hpp"
#include "support/small_topology.hpp"

using namespace qint8;

namespace {

model_desc plan_model(const std::string& name) {
    test::small_request r;
    r.input_size = name == "vgg16" ? 32 : 48;
    r.classes = 12;
    return test::small_topology(name, r, 77);
}

model plan_compiled(const model_desc& d, bool keep, bool fp32 = false) {
    compile_options co;
    co.threads = 1;
    co.batch = 2;
    co.keep_intermediates = keep;
    co.force_fp32 = fp32;
    return model(d, co, "plan");
}

/// Every root slot's first and last step, from each step's slot operands, source, destination,
/// second input and block sums (the input slot from before step 0); untouched slots live
/// throughout.
struct plan_life {
    long first, last;
};

int plan_root(const detail::program& p, int s) {
    for (int n = 0; p.slots[static_cast<std::size_t>(s)].alias_of >= 0; ++n) {
        REQUIRE(n < 100);
        s = p.slots[static_cast<std::size_t>(s)].alias_of;
    }
    return s;
}

std::vector<plan_life> plan_lives(const detail::program& p) {
    std::vector<plan_life> life(p.slots.size(), plan_life{1L << 40, -2});
    const auto touch = [&](int s, long i) {
        plan_life& l = life[static_cast<std::size_t>(plan_root(p, s))];
        l.first = std::min(l.first, i);
        l.last = std::max(l.last, i);
    };
    touch(p.input_slot, -1);
    for (std::size_t i = 0; i < p.steps.size(); ++i) {
        const detail::step& s = p.steps[i];
        const long at = static_cast<long>(i);
        for (const detail::operand& o : s.args)
            if (o.from == detail::operand::from_t::slot) touch(o.index, at);
        if (s.src >= 0) touch(s.src, at);
        if (s.dst >= 0) touch(s.dst, at);
        if (s.src2 >= 0) touch(s.src2, at);
        if (s.tfl && s.tfl->blocks.acc >= 0) touch(s.tfl->blocks.acc, at);
    }
    for (plan_life& l : life)
        if (l.last == -2) l = {-1, static_cast<long>(p.steps.size())};
    return life;
}

struct plan_facts {
    std::size_t roots = 0, overlapping_live = 0, shared = 0, sum = 0;
};

plan_facts plan_check(const detail::program& p) {
    const std::vector<plan_life> life = plan_lives(p);
    plan_facts f;
    REQUIRE(p.slot_offset.size() == p.slots.size());
    for (std::size_t i = 0; i < p.slots.size(); ++i) {
        if (p.slots[i].alias_of >= 0) {
            CHECK(p.slot_offset[i] == p.slot_offset[static_cast<std::size_t>(plan_root(p, static_cast<int>(i)))]);  // an alias views its root
            continue;
        }
        ++f.roots;
        f.sum += p.slots[i].md.get_size();
        CHECK(p.slot_offset[i] % 64 == 0);
        CHECK(p.slot_offset[i] + p.slots[i].md.get_size() <= p.slot_bytes);
        for (std::size_t j = i + 1; j < p.slots.size(); ++j) {
            if (p.slots[j].alias_of >= 0) continue;
            const bool bytes = p.slot_offset[i] < p.slot_offset[j] + p.slots[j].md.get_size() && p.slot_offset[j] < p.slot_offset[i] + p.slots[i].md.get_size();
            const bool alive = life[i].first <= life[j].last && life[j].first <= life[i].last;
            f.shared += bytes;
            if (bytes && alive) ++f.overlapping_live;
        }
    }
    return f;
}

std::vector<float> plan_input(const model_desc& d, std::size_t images) {
    test::rng r(5);
    return r.floats(images * static_cast<std::size_t>(d.input.shape[0] * d.input.shape[1] * d.input.shape[2]), -1.f, 1.f);
}

}  // namespace

TEST_SUITE("runtime") {

TEST_CASE("buffer plan: slots alive together never share bytes - others do - keep_intermediates shares none") {
    for (const std::string name : {"mobilenet_v2", "resnet50", "vgg16"}) {
        CAPTURE(name);
        const model_desc d = plan_model(name);
        for (const bool fp32 : {false, true}) {
            CAPTURE(fp32);
            const model shared = plan_compiled(d, false, fp32), kept = plan_compiled(d, true, fp32);
            const session a(shared), b(kept);
            const detail::program& ps = detail::session_access::program_of(a);
            const detail::program& pk = detail::session_access::program_of(b);
            const plan_facts fs = plan_check(ps), fk = plan_check(pk);
            CHECK(fs.overlapping_live == 0);
            CHECK(fs.shared > 0);
            CHECK(ps.slot_bytes < fs.sum);  // the block is smaller than one buffer per slot
            CHECK(fk.shared == 0);
            CHECK(pk.slot_bytes >= fk.sum);
            MESSAGE(name << (fp32 ? " fp32" : " int8") << ": " << fs.roots << " buffers, " << fs.sum << " bytes one each, " << ps.slot_bytes
                         << " shared");
        }
    }
}

TEST_CASE("buffer plan: shared buffers give the reference's integers and the outputs of unshared ones (full and partly filled batches)") {
    for (const std::string name : {"mobilenet_v2", "resnet50", "vgg16"}) {
        CAPTURE(name);
        const model_desc d = plan_model(name);
        const std::vector<float> in = plan_input(d, 2);
        const std::vector<float> want = ref::run(d, in, 2, test::ref_options(false));
        for (const bool fp32 : {false, true}) {
            CAPTURE(fp32);
            const model shared = plan_compiled(d, false, fp32), kept = plan_compiled(d, true, fp32);
            session a(shared), b(kept);
            for (int round = 0; round < 2; ++round) {  // a second run starts from what the first left in the shared bytes
                const std::vector<float> got = a.run(in);
                CHECK(got == b.run(in));
                if (!fp32) CHECK(got == want);
                const std::vector<float> one(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(in.size() / 2));
                CHECK(a.run(one) == b.run(one));  // one image of two: the empty place runs on zeros
            }
        }
    }
}

TEST_CASE("buffer plan: session::read refuses a tensor whose bytes a later layer took - naming the layer and keep_intermediates") {
    const model_desc d = plan_model("mobilenet_v2");
    const std::vector<float> in = plan_input(d, 2);
    const model shared = plan_compiled(d, false), kept = plan_compiled(d, true);
    session a(shared), b(kept);
    a.run(in);
    b.run(in);
    std::size_t refused = 0;
    for (const layer& l : d.layers) {
        const detail::tensor_loc& loc = detail::session_access::program_of(a).tensors.at(l.name);
        if (loc.overwritten_by.empty()) {
            CHECK(a.read(l.name) == b.read(l.name));  // still in its bytes: the same values
            continue;
        }
        ++refused;
        const std::string what = "tensor '" + l.name + "' is not kept: layer '" + loc.overwritten_by + "'";
        CHECK_THROWS_WITH_AS(a.read(l.name), doctest::Contains(what.c_str()), qint8::error);
        CHECK_THROWS_WITH_AS(a.read(l.name), doctest::Contains("compile_options::keep_intermediates = true"), qint8::error);
    }
    CHECK(refused > d.layers.size() / 2);
    CHECK_NOTHROW(a.read(d.output_name()));  // the last layer's output: nothing runs after it
}

}  // TEST_SUITE
