#pragma once
// Test scaffolding shared by the suites: a scratch directory and a single-threaded scope.

#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>
#include <unistd.h>

#include <qint8/model.hpp>

namespace qint8::test {

/// A fresh directory under /tmp, removed with its contents at scope exit.
struct scratch_dir {
    std::string path;
    scratch_dir() {
        char tmpl[] = "/tmp/qint8_test_XXXXXX";
        const char* p = ::mkdtemp(tmpl);
        REQUIRE(p != nullptr);
        path = p;
    }
    ~scratch_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    scratch_dir(const scratch_dir&) = delete;
    scratch_dir& operator=(const scratch_dir&) = delete;
    std::string operator/(const std::string& name) const { return path + "/" + name; }
    /// The names in the directory, sorted.
    std::vector<std::string> list() const {
        std::vector<std::string> r;
        for (const auto& e : std::filesystem::directory_iterator(path)) r.push_back(e.path().filename().string());
        std::sort(r.begin(), r.end());
        return r;
    }
};

/// Runs the enclosing test single-threaded: the test models are tiny, splitting them over
/// threads costs more than it gains, and on a busy machine OpenMP's spinning barriers make a
/// two-thread run several times slower.
struct single_thread : qint8::detail::omp_threads_scope {
    single_thread() : omp_threads_scope(1) {}
};

}  // namespace qint8::test
