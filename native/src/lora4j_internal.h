// lora4j shim internals shared by its translation units (lora4j.cpp, lora4j_train.cpp): this thread's last
// failure (code + message, read by lora4j_last_error_code / lora4j_last_error) and `guarded`, which every entry
// point wraps its body in. The failure rule itself is documented at the top of lora4j.h.
#pragma once

#include "lora4j.h"

#include <exception>
#include <string>

namespace lora4j {

struct last_error {
    int32_t     code = 0;
    std::string message;
};

inline thread_local last_error g_last_error;

// records a failure of this thread and returns its code (`return fail(LORA4J_ERR_ARGUMENT, "...");`)
inline int32_t fail(int32_t code, const std::string & message) {
    g_last_error.code    = code;
    g_last_error.message = message;
    return code;
}

// runs an entry point's body: clears this thread's last failure first, and turns every C++ exception into
// LORA4J_ERR_EXCEPTION with its message, returning on_exception (NULL, or LORA4J_ERR_EXCEPTION)
template <typename R, typename F>
R guarded(R on_exception, F && body) {
    g_last_error = {};
    try {
        return body();
    } catch (const std::exception & e) {
        fail(LORA4J_ERR_EXCEPTION, e.what());
    } catch (...) {
        fail(LORA4J_ERR_EXCEPTION, "unknown C++ exception");
    }
    return on_exception;
}

} // namespace lora4j
