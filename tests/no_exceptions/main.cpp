// The runtime built with -fno-exceptions (QINT8_EXCEPTIONS 0), as an embedded application builds
// it: a model compiles and runs, and a failure prints qint8's message and aborts.
//
//   qint8_no_exceptions run   -> prints "top class N" and exits 0
//   qint8_no_exceptions fail  -> a wrong input size: prints "[qint8.invalid_argument] ..." and aborts

#include <cstdio>
#include <cstring>
#include <vector>

#include <qint8/session.hpp>

#include "support/tiny_model.hpp"

#if QINT8_EXCEPTIONS
#error "this program must be compiled without exceptions"
#endif

int main(int argc, char** argv) {
    if (argc != 2 || (std::strcmp(argv[1], "run") != 0 && std::strcmp(argv[1], "fail") != 0)) {
        std::fprintf(stderr, "usage: qint8_no_exceptions run|fail\n");
        return 2;
    }
    qint8::model m(qint8::test::tiny_classifier());
    qint8::session s(m);
    std::vector<float> in(m.input_size(), 0.5f);
    if (std::strcmp(argv[1], "fail") == 0) in.pop_back();
    const std::vector<float> out = s.run(in);
    std::size_t best = 0;
    for (std::size_t i = 1; i < out.size(); ++i)
        if (out[i] > out[best]) best = i;
    std::printf("top class %zu of %zu\n", best, out.size());
    return 0;
}
