#pragma once
// The thread count a tool runs with. A model runs with at most the processors OpenMP may use
// (qint8::compile_options::threads lowers larger counts), so a larger --threads is said and the
// count actually used is the one reported, not the one asked for.

#include <cstdio>
#include <string>

#include <omp.h>

namespace qint8::tools {

/// --threads `asked`, lowered to the processors OpenMP may use, with a warning on stderr when
/// lowered; `tool` prefixes the warning.
inline int usable_threads(int asked, const std::string& tool) {
    const int procs = omp_get_num_procs();
    if (asked <= procs) return asked;
    std::fprintf(stderr, "%s: warning: --threads=%d exceeds the %d processors this process may use; running with %d threads "
                         "(more threads than processors only share cores)\n", tool.c_str(), asked, procs, procs);
    return procs;
}

}  // namespace qint8::tools
