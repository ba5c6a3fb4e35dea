#pragma once
/// @file threads.hpp  The model's one OpenMP thread count: resolved once, set around every call
/// that creates or runs primitives (oneDNN reads it at both times).

#include <algorithm>

#include <omp.h>

namespace qint8::detail {

/// The thread count a model compiled with `requested` threads runs with (see compile_options).
inline int resolve_threads(int requested) {
    const int n = requested > 0 ? requested : omp_get_max_threads();
    return std::max(1, std::min(n, omp_get_num_procs()));
}

/// Sets the calling thread's OpenMP thread count for a scope, then restores it.
class omp_threads_scope {
public:
    explicit omp_threads_scope(int n) : prev_(omp_get_max_threads()), set_(n > 0) {
        if (set_) omp_set_num_threads(n);
    }
    ~omp_threads_scope() {
        if (set_) omp_set_num_threads(prev_);
    }
    omp_threads_scope(const omp_threads_scope&) = delete;
    omp_threads_scope& operator=(const omp_threads_scope&) = delete;

private:
    int prev_;
    bool set_;
};

}  // namespace qint8::detail
