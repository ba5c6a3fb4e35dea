#include <qint8/qint8.hpp>

#include <cstdio>

int main() {
    const qint8::cpu_info_t c = qint8::cpu_info();
    std::printf("qint8 %s on %s (%s)\n", qint8::version_string, c.cpu_name.c_str(), qint8::to_string(c.chosen));
    return 0;
}
