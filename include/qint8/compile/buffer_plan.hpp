#pragma once
/// @file buffer_plan.hpp  Where each slot's bytes lie in a session's one block of activation
/// memory. Without compile_options::keep_intermediates, a slot takes bytes that a slot no step
/// reads any more has left: MobileNet-V2's activations, one buffer each, are about 6.8 MB at
/// batch 1, more than a core's second-level cache, so every layer wrote into lines not in cache;
/// in the plan they take what a few live tensors take. With keep_intermediates every slot keeps
/// its own bytes, so session::read() can return any tensor of the last run.

#include <algorithm>
#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "qint8/compile/program.hpp"

namespace qint8::detail {

/// The steps that touch each slot: [first, last], first = -1 for the input (load_input writes it
/// before step 0). A slot no step touches gets the whole run.
struct slot_life {
    long first = std::numeric_limits<long>::max(), last = -1;
    void touch(long i) { first = std::min(first, i), last = std::max(last, i); }
    bool overlaps(const slot_life& o) const { return first <= o.last && o.first <= last; }
};

/// The slot whose bytes `s` views (itself unless it is an alias; aliases may chain).
inline int root_slot(const program& p, int s) {
    while (p.slots[static_cast<std::size_t>(s)].alias_of >= 0) s = p.slots[static_cast<std::size_t>(s)].alias_of;
    return s;
}

/// Every slot a step reads or writes: a primitive's slot operands, a kernel's source,
/// destination, second input and block sums.
inline std::vector<int> slots_of(const step& s) {
    std::vector<int> v;
    for (const operand& o : s.args)
        if (o.from == operand::from_t::slot) v.push_back(o.index);
    for (const int x : {s.src, s.dst, s.src2})
        if (x >= 0) v.push_back(x);
    if (s.tfl && s.tfl->blocks.acc >= 0) v.push_back(s.tfl->blocks.acc);
    return v;
}

/// The life of every root slot (aliases count for their root).
inline std::vector<slot_life> slot_lives(const program& p) {
    std::vector<slot_life> life(p.slots.size());
    if (p.input_slot >= 0) life[static_cast<std::size_t>(root_slot(p, p.input_slot))].touch(-1);
    for (std::size_t i = 0; i < p.steps.size(); ++i)
        for (const int s : slots_of(p.steps[i])) life[static_cast<std::size_t>(root_slot(p, s))].touch(static_cast<long>(i));
    for (slot_life& l : life)
        if (l.last < 0) l = {-1, static_cast<long>(p.steps.size())};
    return life;
}

/// Byte offsets of the root slots (aliases take their root's) and the block's size. `share`:
/// slots whose lives do not overlap may share bytes; the largest are placed first, each at the
/// lowest offset (64-byte aligned) clear of every placed slot it lives beside.
struct buffer_plan {
    std::vector<std::size_t> offset;
    std::size_t bytes = 0;
    std::vector<slot_life> life;  ///< slot_lives, as the plan used them
};

inline buffer_plan plan_buffers(const program& p, bool share) {
    constexpr std::size_t align = 64;
    buffer_plan plan;
    plan.life = slot_lives(p);
    const std::vector<slot_life>& life = plan.life;
    std::vector<std::size_t> size(p.slots.size(), 0), order;
    for (std::size_t i = 0; i < p.slots.size(); ++i)
        if (p.slots[i].alias_of < 0) {
            size[i] = (std::max<std::size_t>(p.slots[i].md.get_size(), 1) + align - 1) / align * align;
            order.push_back(i);
        }
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return size[a] > size[b]; });
    plan.offset.assign(p.slots.size(), 0);
    std::vector<std::size_t> placed;
    for (const std::size_t s : order) {
        std::vector<std::pair<std::size_t, std::size_t>> taken;  // [begin, end) of placed slots alive beside s
        for (const std::size_t q : placed)
            if (!share || life[q].overlaps(life[s])) taken.emplace_back(plan.offset[q], plan.offset[q] + size[q]);
        std::sort(taken.begin(), taken.end());
        std::size_t at = 0;
        for (const auto& [b, e] : taken) {
            if (at + size[s] <= b) break;
            at = std::max(at, e);
        }
        plan.offset[s] = at;
        plan.bytes = std::max(plan.bytes, at + size[s]);
        placed.push_back(s);
    }
    for (std::size_t i = 0; i < p.slots.size(); ++i)
        if (p.slots[i].alias_of >= 0) plan.offset[i] = plan.offset[static_cast<std::size_t>(root_slot(p, static_cast<int>(i)))];
    return plan;
}

/// Marks the tensors whose bytes a later slot takes (tensor_loc::overwritten_by: the layer of
/// the first step that writes there), so that session::read() refuses them by name.
inline void mark_reused(program& p, const buffer_plan& plan) {
    const std::vector<slot_life>& life = plan.life;
    std::vector<std::size_t> size(p.slots.size(), 0);
    for (std::size_t i = 0; i < p.slots.size(); ++i) size[i] = p.slots[i].md.get_size();
    for (auto& [name, loc] : p.tensors) {
        if (!loc.overwritten_by.empty() || loc.slot < 0) continue;
        const std::size_t r = static_cast<std::size_t>(root_slot(p, loc.slot));
        for (std::size_t q = 0; q < p.slots.size() && loc.overwritten_by.empty(); ++q) {
            if (q == r || p.slots[q].alias_of >= 0 || life[q].first <= life[r].last) continue;
            const bool shared = plan.offset[q] < plan.offset[r] + size[r] && plan.offset[r] < plan.offset[q] + size[q];
            if (shared) loc.overwritten_by = p.steps[static_cast<std::size_t>(std::max(life[q].first, 0L))].info.layer;
        }
    }
}

}  // namespace qint8::detail
