#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>
#include <cstring>
#include <vector>

// `--qint8-isa=NAME` caps the code path for this process (as QINT8_MAX_ISA does); ctest registers
// the suite once per path with it. The option is removed before doctest sees the arguments.
int main(int argc, char** argv) {
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (std::strncmp(argv[i], "--qint8-isa=", 12) == 0) setenv("QINT8_MAX_ISA", argv[i] + 12, 1);
        else args.push_back(argv[i]);
    }
    doctest::Context ctx(static_cast<int>(args.size()), args.data());
    return ctx.run();
}
