#pragma once
// A progress line on stderr for long runs: count, percentage, rate and time left. On a terminal
// it is redrawn in place (\r) at most five times a second; otherwise (a log file, CI) a plain line
// is printed at a new 10% step when 2 s have passed since the last line, and at least every 30 s,
// so logs stay short (a run of a few seconds prints only its final line) but show a long run is alive.
// The rate is shown once 0.5 s have passed: a rate over the first few microseconds means nothing.
// A quiet progress prints nothing.

#include <chrono>
#include <cstdio>
#include <string>
#include <unistd.h>

namespace qint8::tools {

class progress {
public:
    /// `what` says what is counted ("images"); `quiet` turns all output off.
    progress(std::string what, std::size_t total, bool quiet = false)
        : what_(std::move(what)), total_(total), tty_(::isatty(2) != 0), quiet_(quiet) {}
    ~progress() {
        if (tty_ && drawn_ && !finished_) std::fputc('\n', stderr);  // leave the terminal on a fresh line
    }
    progress(const progress&) = delete;
    progress& operator=(const progress&) = delete;

    void tick(std::size_t n = 1) {
        done_ += n;
        if (quiet_) return;
        const auto now = clock::now();
        const int decile = total_ ? static_cast<int>(10 * done_ / total_) : 0;
        const bool due = tty_ ? now - last_ >= std::chrono::milliseconds(200)
                              : (decile != last_decile_ && now - last_ >= std::chrono::seconds(2)) || now - last_ >= std::chrono::seconds(30);
        if (due && done_ < total_) {
            last_ = now;
            last_decile_ = decile;
            draw(false);
        }
    }
    /// A message that must not be mixed into the progress line.
    void note(const std::string& s) {
        if (!quiet_) std::fprintf(stderr, "%s%s\n", tty_ && drawn_ ? "\r\033[K" : "", s.c_str());
    }
    /// The final line, with the total time and the mean rate.
    void done() {
        if (quiet_ || finished_) return;
        finished_ = true;
        draw(true);
    }

private:
    using clock = std::chrono::steady_clock;

    static std::string duration(double s) {
        char b[32];
        if (s < 60) std::snprintf(b, sizeof b, "%.0fs", s);
        else if (s < 3600) std::snprintf(b, sizeof b, "%dm%02ds", static_cast<int>(s) / 60, static_cast<int>(s) % 60);
        else std::snprintf(b, sizeof b, "%dh%02dm", static_cast<int>(s) / 3600, static_cast<int>(s) / 60 % 60);
        return b;
    }

    void draw(bool final) {
        drawn_ = true;
        const double s = std::chrono::duration<double>(clock::now() - start_).count();
        const double pct = total_ ? 100.0 * static_cast<double>(done_) / static_cast<double>(total_) : 100.0;
        std::string line = what_ + ": " + std::to_string(done_) + "/" + std::to_string(total_);
        char b[96];
        std::snprintf(b, sizeof b, " (%.0f%%)", pct);
        line += b;
        if (s >= 0.5 && done_ > 0) {
            const double rate = static_cast<double>(done_) / s;
            std::snprintf(b, sizeof b, ", %.*f/s", rate < 10 ? 2 : 1, rate);
            line += b;
            if (final) line += ", " + duration(s);
            else if (total_ > done_) line += ", " + duration(static_cast<double>(total_ - done_) / rate) + " left";
        } else if (final) {
            line += ", " + duration(s);
        }
        std::fprintf(stderr, "%s%s%s", tty_ ? "\r\033[K" : "", line.c_str(), (final || !tty_) ? "\n" : "");
        std::fflush(stderr);
    }

    std::string what_;
    std::size_t total_, done_ = 0;
    bool tty_, quiet_, drawn_ = false, finished_ = false;
    clock::time_point start_ = clock::now(), last_ = clock::now();
    int last_decile_ = 0;
};

}  // namespace qint8::tools
