#pragma once
// The exit status of every qint8 command-line tool, in one place, and the text --help prints
// about it. Scripts can tell a typo on the command line (1) from a bad file (2) from a model
// qint8 cannot run (3) without parsing messages.

#include <qint8/core/error.hpp>

namespace qint8::tools {

enum exit_code : int {
    exit_ok = 0,           ///< done
    exit_usage = 1,        ///< the command line is wrong: unknown option, bad value, missing argument
    exit_bad_input = 2,    ///< an input file is missing, unreadable, of the wrong kind or malformed
    exit_unsupported = 3,  ///< a valid model qint8 cannot run (or not the topology it was asked for)
    exit_output = 4,       ///< an output file or directory cannot be written
    exit_internal = 5,     ///< anything else (a bug: please report it with the command line)
};

/// The --help footer that documents the codes above.
inline const char* exit_codes_help() {
    return "Exit status: 0 ok, 1 usage error, 2 bad input file, 3 unsupported model, 4 cannot write output,\n"
           "5 internal error.";
}

/// The exit status for a library error: what the user has to fix. errc::invalid_argument is an
/// option the library found wrong (--fp32-layers naming no layer, --mean without --std, ...): the
/// command line, as the README's table says; errors in files use the file's errc.
inline int exit_code_of(errc c) {
    switch (c) {
        case errc::invalid_argument: return exit_usage;
        case errc::unsupported:
        case errc::topology:
        case errc::backend: return exit_unsupported;
        case errc::output: return exit_output;
        default: return exit_bad_input;
    }
}

}  // namespace qint8::tools
