#pragma once
// The command-line conventions every qint8 tool follows, on CLI11 (Debian libcli11-dev):
// `--flag=v` and `--flag v`, typed and ranged values, unknown options are errors, --help with an
// example and the exit codes, --version, and one exit status per kind of failure
// (exit_codes.hpp). A tool declares its options on a CLI::App and hands its work to run().

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <functional>
#include <new>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

#include <CLI/CLI.hpp>
#include <qint8/core/error.hpp>
#include <qint8/version.hpp>

#include "exit_codes.hpp"
#include "validators.hpp"

namespace qint8::tools {

/// A command line that parsed but does not make sense (options that exclude each other, ...).
struct usage_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// An output file or directory that cannot be created or written.
struct output_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

/// Sets the conventions on `app`: --version, defaults shown in --help, the example and the
/// exit codes as the help footer.
inline void conventions(CLI::App& app, const std::string& example) {
    app.set_version_flag("--version", app.get_name() + " " + version_string + " (qint8)");
    app.option_defaults()->always_capture_default();
    app.get_formatter()->column_width(36);
    app.footer("Example:\n  " + example + "\n\n" + exit_codes_help() + "\n");
}

/// Names the first unknown --option. CLI11 checks required options first, so `--modelX m.json`
/// would otherwise be reported as "--model is required" instead of as the typo it is.
inline void reject_unknown_options(const CLI::App& app, int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--") return;  // the rest are positional
        if (a.size() < 3 || a.compare(0, 2, "--") != 0) continue;
        const std::string key = a.substr(0, a.find('='));
        bool known = app.get_option_no_throw(key) != nullptr;
        for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) known = known || sub->get_option_no_throw(key);
        if (!known) throw CLI::ExtrasError({a});
    }
}

/// Parses the command line and runs `work`, turning every failure into a one-line message
/// "<tool>: <what>" on stderr and the exit status of exit_codes.hpp.
inline int run(CLI::App& app, int argc, char** argv, const std::function<void()>& work) {
    const std::string name = app.get_name();
    try {
        reject_unknown_options(app, argc, argv);
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "%s: %s\n(see %s --help)\n", name.c_str(), e.what(), name.c_str());
        return exit_usage;
    }
    auto say = [&](const char* what) { std::fprintf(stderr, "%s: %s\n", name.c_str(), what); };
    try {
        work();
        return exit_ok;
    } catch (const usage_error& e) {
        std::fprintf(stderr, "%s: %s\n(see %s --help)\n", name.c_str(), e.what(), name.c_str());
        return exit_usage;
    } catch (const output_error& e) {
        say(e.what());
        return exit_output;
    } catch (const qint8::error& e) {
        say(e.what());
        return exit_code_of(e.code());
    } catch (const std::bad_alloc&) {
        say("out of memory");
        return exit_internal;
    } catch (const std::exception& e) {
        say(e.what());
        return exit_internal;
    }
}

/// Makes sure `path` can be written before any work starts: creates its directory (and the
/// parents) when missing, and refuses a path that is a directory or in a directory the user
/// cannot write. `option` names the option in the message.
inline void prepare_output(const std::string& path, const std::string& option) {
    namespace fs = std::filesystem;
    const fs::path p(path);
    std::error_code ec;
    if (fs::is_directory(p, ec)) throw output_error(option + " " + path + ": is a directory, expected a file path");
    fs::path dir = p.parent_path();
    if (dir.empty()) dir = ".";
    if (!fs::is_directory(dir, ec)) {
        fs::create_directories(dir, ec);
        if (ec) throw output_error(option + " " + path + ": cannot create directory " + dir.string() + " (" + ec.message() + ")");
    }
    if (::access(dir.c_str(), W_OK) != 0)
        throw output_error(option + " " + path + ": cannot write to directory " + dir.string() + " (" + std::strerror(errno) + ")");
}

/// The four preprocessing options of qint8-convert (what the manifest records) and classify (what
/// overrides it): `role` says which, `dflt` is the --help default of --resize-short/--crop-fraction.
template <class Int>
void add_preprocess_options(CLI::App& app, std::vector<float>& mean, std::vector<float>& std_, Int& resize_short, double& crop_fraction,
                            const std::string& role, const std::string& dflt) {
    app.add_option("--mean", mean, role + " mean of [0, 1] pixels: one value for all channels, or one per channel (comma-separated)")
        ->delimiter(',')
        ->check(finite_number());
    app.add_option("--std", std_, role + " std: one value for all channels, or one per channel (comma-separated)")
        ->delimiter(',')
        ->check(finite_number());
    app.add_option("--resize-short", resize_short, role + " resize_short (0: resize the whole image to the input size)")
        ->check(in_range(0, 65536))
        ->default_str(dflt);
    app.add_option("--crop-fraction", crop_fraction, role + " crop_fraction (0: none)")->check(in_range(0.0, 1.0))->default_str(dflt);
}

/// "1 image", "2 images", "10 batches".
inline std::string count_of(std::size_t n, const std::string& noun) {
    if (n == 1) return "1 " + noun;
    auto ends = [&](const char* e) { const std::string x(e); return noun.size() >= x.size() && noun.compare(noun.size() - x.size(), x.size(), x) == 0; };
    return std::to_string(n) + " " + noun + (ends("ch") || ends("sh") || ends("s") || ends("x") ? "es" : "s");
}

}  // namespace qint8::tools
