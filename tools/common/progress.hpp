#pragma once
// A progress line on stderr for long runs: count, percentage, rate and time left. Redrawn in
// place on a terminal, printed every 10% otherwise (logs stay short).

#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace qint8::tools {

class progress {
public:
    progress(std::string what, std::size_t total) : what_(std::move(what)), total_(total), tty_(::isatty(2) != 0) {}
    void tick(std::size_t n = 1) {
        done_ += n;
        const auto now = clock::now();
        const int decile = total_ ? static_cast<int>(10 * done_ / total_) : 0;
        if ((tty_ && now - last_ > std::chrono::milliseconds(200)) || (!tty_ && decile != last_decile_)) {
            last_ = now;
            last_decile_ = decile;
            draw(false);
        }
    }
    void note(const std::string& s) { std::fprintf(stderr, "%s%s\n", tty_ ? "\r\033[K" : "", s.c_str()); }
    void done() {
        if (!tty_ && total_ && last_decile_ == 10) return;  // the 100% line is already out
        draw(true);
    }

private:
    using clock = std::chrono::steady_clock;
    void draw(bool final) {
        const double s = std::chrono::duration<double>(clock::now() - start_).count();
        const double rate = s > 0 ? static_cast<double>(done_) / s : 0;
        const double left = rate > 0 && total_ > done_ ? static_cast<double>(total_ - done_) / rate : 0;
        std::fprintf(stderr, "%s%s: %zu/%zu (%.0f%%) %.1f/s, %.0fs left%s", tty_ ? "\r\033[K" : "", what_.c_str(), done_, total_,
                     total_ ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 100.0, rate, left, (final || !tty_) ? "\n" : "");
        std::fflush(stderr);
    }
    std::string what_;
    std::size_t total_, done_ = 0;
    bool tty_;
    clock::time_point start_ = clock::now(), last_ = clock::now();
    int last_decile_ = -1;
};

}  // namespace qint8::tools
