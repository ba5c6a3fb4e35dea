#pragma once
/// @file atomic_file.hpp  An output file that appears complete or not at all.
///
/// The data goes to an unnamed file in the destination's directory (Linux O_TMPFILE), which is
/// linked into place by commit(). Until then nothing is visible, and whatever stops the process
/// first - an error, a full disk, a file-size limit (SIGXFSZ), SIGKILL - leaves nothing behind:
/// the kernel frees an unnamed file when its last descriptor closes. Where O_TMPFILE is not
/// available (some file systems, no /proc), a named temporary "PATH.tmpPID" is used instead and
/// removed on every failure the process survives.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include "qint8/core/error.hpp"

namespace qint8::io {

class atomic_file {
public:
    explicit atomic_file(std::string path) : path_(std::move(path)) {
        const std::size_t slash = path_.find_last_of('/');
        const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : path_.substr(0, slash);
#ifdef O_TMPFILE
        if (::access("/proc/self/fd", X_OK) == 0) fd_ = ::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
#endif
        if (fd_ < 0) {
            tmp_ = path_ + ".tmp" + std::to_string(::getpid());
            fd_ = ::open(tmp_.c_str(), O_CREAT | O_TRUNC | O_WRONLY | O_CLOEXEC, 0666);
            if (fd_ < 0) fail(errc::output, path_ + ": cannot open " + tmp_ + " for writing (" + std::strerror(errno) + ")");
        } else {
            // O_TMPFILE ignores the umask-applied mode of a later link: set what open() would.
            const mode_t mask = ::umask(0);
            ::umask(mask);
            ::fchmod(fd_, 0666 & ~mask);
        }
    }
    ~atomic_file() { discard(); }
    atomic_file(const atomic_file&) = delete;
    atomic_file& operator=(const atomic_file&) = delete;

    /// Appends `n` bytes.
    void write(const void* p, std::size_t n) { write_at(p, n, -1); }
    /// Writes `n` bytes at `offset` (a header filled in at the end), leaving the append position.
    void write_at(const void* p, std::size_t n, long long offset) {
        const char* c = static_cast<const char*>(p);
        while (n) {
            const ssize_t w = offset < 0 ? ::write(fd_, c, n) : ::pwrite(fd_, c, n, static_cast<off_t>(offset));
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) fail(errc::output, path_ + ": write failed (" + std::string(w < 0 ? std::strerror(errno) : "no space written") + ")");
            c += w;
            n -= static_cast<std::size_t>(w);
            if (offset >= 0) offset += w;
        }
    }

    /// Makes the file visible under its name, replacing any file there.
    void commit() {
        if (fd_ < 0) fail(errc::output, path_ + ": already committed or discarded");
        if (tmp_.empty()) link_unnamed();
        if (::close(fd_) != 0) {
            fd_ = -1;
            fail(errc::output, path_ + ": write failed (" + std::strerror(errno) + ")");
        }
        fd_ = -1;
        if (std::rename(tmp_.c_str(), path_.c_str()) != 0) {
            const int e = errno;
            std::remove(tmp_.c_str());
            fail(errc::output, path_ + ": cannot replace it (" + std::strerror(e) + ")");
        }
        tmp_.clear();
    }

    /// Drops everything written (also done by the destructor when commit() was not reached).
    void discard() noexcept {
        if (fd_ >= 0) ::close(fd_);
        fd_ = -1;
        if (!tmp_.empty()) std::remove(tmp_.c_str());
        tmp_.clear();
    }

private:
    /// Gives the unnamed file a temporary name beside the destination; commit() renames it.
    void link_unnamed() {
        const std::string proc = "/proc/self/fd/" + std::to_string(fd_);
        const std::string tmp = path_ + ".tmp" + std::to_string(::getpid());
        std::remove(tmp.c_str());  // a leftover of an earlier process with this pid
        if (::linkat(AT_FDCWD, proc.c_str(), AT_FDCWD, tmp.c_str(), AT_SYMLINK_FOLLOW) != 0)
            fail(errc::output, path_ + ": cannot create " + tmp + " (" + std::strerror(errno) + ")");
        tmp_ = tmp;
    }

    std::string path_, tmp_;  // tmp_: the named temporary, while one exists
    int fd_ = -1;
};

/// Writes `data` to `path` atomically (see atomic_file).
inline void write_file_atomically(const std::string& path, const std::string& data) {
    atomic_file f(path);
    f.write(data.data(), data.size());
    f.commit();
}

}  // namespace qint8::io

namespace qint8::detail {
using io::atomic_file;
using io::write_file_atomically;
}  // namespace qint8::detail
