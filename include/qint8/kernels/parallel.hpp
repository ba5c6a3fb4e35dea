#pragma once
/// @file parallel.hpp  The kernels' loop over independent tasks, on OpenMP threads, and the team
/// mode in which a session runs several kernel steps in one parallel region.

#include <atomic>
#include <cstdint>
#include <thread>

#include <immintrin.h>
#include <omp.h>

namespace qint8::kernels {

/// The barrier between the steps of a session's team (session::run_team). libgomp's own barrier
/// ends with a futex wake-up call even when every thread is spinning: 1.35 microseconds for two
/// threads on a 2-vCPU Zen 5 guest, against 0.33-0.45 for this one, which only spins on a
/// generation count. A thread that waits long (more threads than free cores) yields its core.
class team_barrier {
public:
    /// Returns when all `n` threads of the team have called it; what each wrote before is visible
    /// to all after (the count's read-modify-write chain and the generation's release/acquire).
    void wait(int n) noexcept {
        const int g = gen_.load(std::memory_order_acquire);
        if (count_.fetch_add(1, std::memory_order_acq_rel) == n - 1) {
            count_.store(0, std::memory_order_relaxed);
            gen_.store(g + 1, std::memory_order_release);
            return;
        }
        for (int spins = 0; gen_.load(std::memory_order_acquire) == g; ++spins) {
            if (spins < 20000) _mm_pause();
            else std::this_thread::yield();
        }
    }

private:
    alignas(64) std::atomic<int> count_{0};
    alignas(64) std::atomic<int> gen_{0};
};

/// The calling thread's team: set on each thread of a session's team (session::run_team), null
/// elsewhere. It is the thread's own, so a session run from inside a user's parallel region never
/// shares out the user's loop.
inline team_barrier*& current_team() {
    static thread_local team_barrier* team = nullptr;
    return team;
}

inline bool in_team() { return current_team() != nullptr; }

/// In a team: this thread's share of f(i), i in [0, n) (OpenMP's static schedule over the team),
/// then the team's barrier. Every thread of the team must reach the same loops in the same order.
template <class F>
inline void team_for(team_barrier& team, int64_t n, F&& f) {
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < n; ++i) f(i);
    team.wait(omp_get_num_threads());
}

/// f(i) for i in [0, n), split evenly over `threads` OpenMP threads. One thread (or one task) runs
/// the loop directly: libgomp enters even an `if (false)` parallel region, 1-2 microseconds a
/// call on a 2-core Zen 5, which is a tenth of a 7x7 MobileNet layer. In a team the loop is shared
/// among the team's threads (team_for), with a barrier instead of a region's start and end (3
/// microseconds for an empty one on that CPU).
template <class F>
inline void parallel_for(int threads, int64_t n, F&& f) {
    if (team_barrier* team = current_team()) return team_for(*team, n, f);
    if (threads <= 1 || n <= 1) {
        for (int64_t i = 0; i < n; ++i) f(i);
        return;
    }
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < n; ++i) f(i);
}

}  // namespace qint8::kernels
