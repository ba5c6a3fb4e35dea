#pragma once
/// @file status.hpp  oneDNN failures as qint8 errors: errc::backend, with oneDNN's status number
/// and message kept. Without exceptions (QINT8_EXCEPTIONS 0) oneDNN reports them itself.

#include <string>
#include <utility>

#include "qint8/backend/dnnl_compat.hpp"
#include "qint8/core/error.hpp"

namespace qint8::backend {

/// Runs `f`; a dnnl::error it throws becomes errc::backend "<what()>: oneDNN refused it (status
/// N): ...". `what` is only called on failure (the hot loop builds no string).
template <class F, class W>
decltype(auto) guarded(F&& f, W&& what) {
#if QINT8_EXCEPTIONS
    try {
        return std::forward<F>(f)();
    } catch (const dnnl::error& e) {
        detail::fail(errc::backend, std::string(what()) + ": oneDNN refused it (status " + std::to_string(static_cast<int>(e.status)) + "): " + e.what());
    }
#else
    (void)what;
    return std::forward<F>(f)();
#endif
}

}  // namespace qint8::backend
