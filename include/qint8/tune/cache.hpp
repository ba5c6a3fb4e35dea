#pragma once
/// @file cache.hpp  The tuning cache: which implementation each kind of layer runs best with, per
/// CPU model, code path and qint8 version, as a timing cache keeps it. A JSON file:
///
///     {"format": "qint8-tuning-cache", "format_version": 1,
///      "entries": [{"cpu": "Intel(R) Xeon(R) ...", "path": "avx512_core_amx", "qint8": "0.1.0 tuning 2",
///                   "layer": "depthwise_conv2d int8 u8->u8 in 1x144x56x56 ...", "choice": "onednn",
///                   "ms": {"onednn": 0.051, "qint8_dw": 0.074}}]}
///
/// Entries of other CPUs, paths or versions (tuning_version) are kept when the file is rewritten
/// and ignored when compiling: a choice measured elsewhere says nothing about this machine. The file is written
/// atomically (io/atomic_file.hpp), so a reader never sees half of it.

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <tuple>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "qint8/core/error.hpp"
#include "qint8/io/atomic_file.hpp"
#include "qint8/version.hpp"

namespace qint8::detail {

/// Which candidates a cached choice was measured among. A new or faster implementation can change
/// which one wins, so a choice measured before it must not be reused: bump this whenever a
/// candidate's code or a candidate list changes. 2: the four-tap depthwise kernel keeps its
/// columns in registers (its choices measured under 1 favoured oneDNN on several shapes). 3: on
/// AVX2 the column depthwise kernel joins the candidates and becomes the default. 4: on AVX2
/// qint8's 1x1 kernel joins the candidates (a "pointwise" choice); layers with one signature share
/// one pick, from their summed times. 5: a layer's choices are measured one at a time (under 4 a
/// 1x1 layer's oneDNN implementations other than the first were credited with the time of qint8's
/// kernel, which ran in their place); the 1x1 kernel's tile variant joins the candidates. 6: on
/// the AVX-512 VNNI and AMX paths the 1x1 kernel's VNNI variant joins the candidates.
inline constexpr int tuning_revision = 6;

/// The "qint8" field of a cache entry: the library version and the tuning revision.
inline std::string tuning_version() { return std::string(version_string) + " tuning " + std::to_string(tuning_revision); }

/// What a cached choice is valid for.
struct tuning_key {
    std::string cpu, path, version, layer;
    bool operator<(const tuning_key& o) const {
        return std::tie(cpu, path, version, layer) < std::tie(o.cpu, o.path, o.version, o.layer);
    }
};

struct tuning_entry {
    std::string choice;
    std::map<std::string, double> ms;  ///< measured time per run of each candidate
};

class tuning_cache {
public:
    static constexpr const char* format_name = "qint8-tuning-cache";
    static constexpr int format_version = 1;

    /// Reads `path`; a file that does not exist is an empty cache (measuring creates it).
    static tuning_cache load(const std::string& path);
    /// Writes the cache to `path` atomically.
    void save(const std::string& path) const;

    std::optional<tuning_entry> find(const tuning_key& k) const {
        auto it = entries_.find(k);
        if (it == entries_.end()) return std::nullopt;
        return it->second;
    }
    void put(const tuning_key& k, tuning_entry e) { entries_[k] = std::move(e); }
    std::size_t size() const { return entries_.size(); }

private:
    static void read_entry(const nlohmann::json& e, std::size_t i, const std::string& path, tuning_cache& out);
    std::map<tuning_key, tuning_entry> entries_;
};

/// A field of entry `i` as a string, or a message naming the file and the field.
inline std::string cache_string(const nlohmann::json& e, const char* field, std::size_t i, const std::string& path) {
    auto it = e.find(field);
    if (it == e.end() || !it->is_string())
        fail(errc::data, path + ": tuning cache: entries[" + std::to_string(i) + "]." + field + ": expected a string, found " +
                             (it == e.end() ? std::string("nothing") : std::string(it->type_name())));
    return it->get<std::string>();
}

inline void tuning_cache::read_entry(const nlohmann::json& e, std::size_t i, const std::string& path, tuning_cache& out) {
    if (!e.is_object()) fail(errc::data, path + ": tuning cache: entries[" + std::to_string(i) + "]: expected an object, found " + e.type_name());
    tuning_key k{cache_string(e, "cpu", i, path), cache_string(e, "path", i, path), cache_string(e, "qint8", i, path),
                 cache_string(e, "layer", i, path)};
    tuning_entry t;
    t.choice = cache_string(e, "choice", i, path);
    if (auto ms = e.find("ms"); ms != e.end() && ms->is_object())
        for (auto m = ms->begin(); m != ms->end(); ++m)
            if (m->is_number()) t.ms[m.key()] = m->get<double>();
    out.put(std::move(k), std::move(t));
}

/// The cache file's text; "" when there is no file yet. Only a regular file of at most 64 MiB is
/// read: a cache names a file of its own, never a device or a pipe.
inline std::string read_cache_text(const std::string& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        if (errno == ENOENT) return {};
        fail(errc::io, path + ": tuning cache: cannot read (" + std::strerror(errno) + ")");
    }
    if (!S_ISREG(st.st_mode)) fail(errc::io, path + ": tuning cache: expected a regular file, found another kind of file");
    if (st.st_size > (int64_t{64} << 20)) fail(errc::data, path + ": tuning cache: expected at most 64 MiB, found " + std::to_string(st.st_size) + " bytes");
    std::ifstream in(path, std::ios::binary);
    if (!in) fail(errc::io, path + ": tuning cache: cannot open for reading (" + std::strerror(errno) + ")");
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

inline tuning_cache tuning_cache::load(const std::string& path) {
    tuning_cache c;
    const std::string text = read_cache_text(path);
    if (text.empty()) return c;
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object()) fail(errc::data, path + ": tuning cache: expected a JSON object, found text that is not one");
    auto fmt = j.find("format");
    if (fmt == j.end() || !fmt->is_string() || fmt->get<std::string>() != format_name)
        fail(errc::data, path + ": tuning cache: format: expected \"" + std::string(format_name) + "\"");
    auto ver = j.find("format_version");
    if (ver == j.end() || !ver->is_number_integer() || ver->get<int64_t>() != format_version)
        fail(errc::manifest_version, path + ": tuning cache: format_version: expected " + std::to_string(format_version) + ", found " +
                                         (ver == j.end() ? std::string("nothing") : ver->dump()));
    auto es = j.find("entries");
    if (es == j.end() || !es->is_array()) fail(errc::data, path + ": tuning cache: entries: expected an array");
    for (std::size_t i = 0; i < es->size(); ++i) read_entry((*es)[i], i, path, c);
    return c;
}

inline void tuning_cache::save(const std::string& path) const {
    nlohmann::json es = nlohmann::json::array();
    for (const auto& [k, e] : entries_) {
        nlohmann::json ms = nlohmann::json::object();
        for (const auto& [cand, t] : e.ms) ms[cand] = t;
        es.push_back({{"cpu", k.cpu}, {"path", k.path}, {"qint8", k.version}, {"layer", k.layer}, {"choice", e.choice}, {"ms", ms}});
    }
    const nlohmann::json j = {{"format", format_name}, {"format_version", format_version}, {"entries", es}};
    io::write_file_atomically(path, j.dump(1) + "\n");
}

}  // namespace qint8::detail
