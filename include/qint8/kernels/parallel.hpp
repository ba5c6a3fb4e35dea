#pragma once
/// @file parallel.hpp  The kernels' loop over independent tasks, on OpenMP threads.

#include <cstdint>

namespace qint8::kernels {

/// f(i) for i in [0, n), split evenly over `threads` OpenMP threads. One thread (or one task) runs
/// the loop directly: libgomp enters even an `if (false)` parallel region, 1-2 microseconds a
/// call on a 2-core Zen 5, which is a tenth of a 7x7 MobileNet layer.
template <class F>
inline void parallel_for(int threads, int64_t n, F&& f) {
    if (threads <= 1 || n <= 1) {
        for (int64_t i = 0; i < n; ++i) f(i);
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace qint8::kernels
