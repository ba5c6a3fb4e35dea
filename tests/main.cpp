#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <qint8/dispatch/isa.hpp>

// `--qint8-isa=NAME` caps the code path for this process (as QINT8_MAX_ISA does); ctest registers
// the suite once per path with it. The option is removed before doctest sees the arguments.
//
// On a CPU whose best path is plain AVX2, the "best/" registration would run the very same code as
// "avx2/" a second time (the real-data suites for minutes): it reports NOT RUN instead, which ctest
// lists as skipped (only when both registrations exist: QINT8_TESTS_BOTH_PATHS). Listing (ctest's
// discovery) is never short-circuited.
int main(int argc, char** argv) {
    std::vector<char*> args;
    bool best = false, listing = false;
    for (int i = 0; i < argc; ++i) {
        if (std::strncmp(argv[i], "--qint8-isa=", 12) == 0) {
            setenv("QINT8_MAX_ISA", argv[i] + 12, 1);
            best = std::strcmp(argv[i] + 12, "best") == 0;
        } else {
            listing = listing || std::strncmp(argv[i], "--list-", 7) == 0 || std::strncmp(argv[i], "-l", 2) == 0;
            args.push_back(argv[i]);
        }
    }
#ifdef QINT8_TESTS_BOTH_PATHS
    if (best && !listing && qint8::detail::detected_cpu().detected == qint8::isa::avx2) {
        std::printf("NOT RUN: the best path of this CPU is avx2, which the avx2/ registration already runs\n");
        return 0;
    }
#else
    (void)best;
    (void)listing;
#endif
    doctest::Context ctx(static_cast<int>(args.size()), args.data());
    return ctx.run();
}
