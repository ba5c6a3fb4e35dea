#pragma once
// The hand-written command-line parser qint8-convert still uses (the other tools are on CLI11,
// see app.hpp): `--name=value` or `--name value`, boolean flags, aliases (the seed tutorial's
// flag names), generated --help, --version, and an error that names the unknown option.

#include <cstdio>
#include <cstdlib>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include <qint8/version.hpp>

namespace qint8::tools {

class cli {
public:
    cli(std::string program, std::string summary) : program_(std::move(program)), summary_(std::move(summary)) {}

    /// Declares an option with a default; `aliases` are accepted as the same option.
    cli& option(const std::string& name, const std::string& dflt, const std::string& help, std::vector<std::string> aliases = {}) {
        opts_.push_back({name, dflt, help, false, std::move(aliases)});
        values_[name] = dflt;
        return *this;
    }
    cli& flag(const std::string& name, const std::string& help, std::vector<std::string> aliases = {}) {
        opts_.push_back({name, "", help, true, std::move(aliases)});
        values_[name] = "";
        return *this;
    }

    /// Parses argv; prints help and exits 0 on --help; throws std::invalid_argument on errors.
    void parse(int argc, char** argv) {
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "--help" || a == "-h") {
                print_help();
                std::exit(0);
            }
            if (a == "--version") {
                std::printf("%s %s (qint8)\n", program_.c_str(), version_string);
                std::exit(0);
            }
            if (a.rfind("--", 0) != 0) throw std::invalid_argument("unexpected argument \"" + a + "\" (options start with --; see --help)");
            std::string key = a.substr(2), val;
            const auto eq = key.find('=');
            const bool has_eq = eq != std::string::npos;
            if (has_eq) { val = key.substr(eq + 1); key = key.substr(0, eq); }
            const opt* o = find(key);
            if (!o) throw std::invalid_argument("unknown option --" + key + " (see --help)");
            if (o->is_flag) {
                if (has_eq && val != "true" && val != "false" && val != "1" && val != "0")
                    throw std::invalid_argument("--" + key + ": expected true or false, found \"" + val + "\"");
                values_[o->name] = (!has_eq || val == "true" || val == "1") ? "1" : "";
            } else {
                if (!has_eq) {
                    if (i + 1 >= argc) throw std::invalid_argument("--" + key + " needs a value");
                    val = argv[++i];
                }
                values_[o->name] = val;
            }
            given_[o->name] = true;
        }
    }

    std::string str(const std::string& n) const { return values_.at(n); }
    bool on(const std::string& n) const { return !values_.at(n).empty(); }
    bool given(const std::string& n) const { return given_.count(n) != 0; }
    long long integer(const std::string& n, long long lo, long long hi) const {
        const std::string& v = values_.at(n);
        char* end = nullptr;
        const long long x = std::strtoll(v.c_str(), &end, 10);
        if (v.empty() || *end || x < lo || x > hi)
            throw std::invalid_argument("--" + n + ": expected an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", found \"" + v + "\"");
        return x;
    }
    double number(const std::string& n) const {
        const std::string& v = values_.at(n);
        char* end = nullptr;
        const double x = std::strtod(v.c_str(), &end);
        if (v.empty() || *end) throw std::invalid_argument("--" + n + ": expected a number, found \"" + v + "\"");
        return x;
    }
    /// Comma-separated numbers; `count` > 0 requires exactly that many.
    std::vector<float> floats(const std::string& n, std::size_t count = 0) const {
        const std::string what = count == 3 ? "three comma-separated numbers" : count ? std::to_string(count) + " comma-separated numbers" : "comma-separated numbers";
        std::vector<float> r;
        for (const auto& s : list(n)) {
            char* end = nullptr;
            const float x = std::strtof(s.c_str(), &end);
            if (*end) throw std::invalid_argument("--" + n + ": expected " + what + ", found \"" + values_.at(n) + "\"");
            r.push_back(x);
        }
        if (count && r.size() != count) throw std::invalid_argument("--" + n + ": expected " + what + ", found \"" + values_.at(n) + "\"");
        return r;
    }
    std::vector<std::string> list(const std::string& n) const {
        std::vector<std::string> r;
        std::string cur;
        for (char c : values_.at(n)) {
            if (c == ',') { if (!cur.empty()) r.push_back(cur); cur.clear(); }
            else cur += c;
        }
        if (!cur.empty()) r.push_back(cur);
        return r;
    }

    void print_help() const {
        std::printf("usage: %s [options]\n\n%s\n\noptions:\n", program_.c_str(), summary_.c_str());
        for (const auto& o : opts_) {
            std::string lhs = "  --" + o.name + (o.is_flag ? "" : "=VALUE");
            std::printf("%-30s %s", lhs.c_str(), o.help.c_str());
            if (!o.is_flag && !o.dflt.empty()) std::printf(" (default: %s)", o.dflt.c_str());
            if (!o.aliases.empty()) {
                std::printf(" [alias:");
                for (const auto& a : o.aliases) std::printf(" --%s", a.c_str());
                std::printf("]");
            }
            std::printf("\n");
        }
        std::printf("  %-28s %s\n", "--help", "show this help");
        std::printf("  %-28s %s\n", "--version", "show the version");
    }

private:
    struct opt {
        std::string name, dflt, help;
        bool is_flag;
        std::vector<std::string> aliases;
    };
    const opt* find(const std::string& k) const {
        for (const auto& o : opts_) {
            if (o.name == k) return &o;
            for (const auto& a : o.aliases)
                if (a == k) return &o;
        }
        return nullptr;
    }
    std::string program_, summary_;
    std::vector<opt> opts_;
    std::map<std::string, std::string> values_;
    std::map<std::string, bool> given_;
};

}  // namespace qint8::tools
