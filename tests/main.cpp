#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdio>
#include <qint8/dispatch/isa.hpp>

int main(int argc, char** argv) {
    doctest::Context ctx(argc, argv);
    int r = ctx.run();
    if (ctx.shouldExit()) return r;
    return r;
}
