// State that detached connection threads share and that must outlive the model object: the
// server destroys its model when it stops while connection threads may still be blocked on
// that state (a condition variable, a worker's socket) until process exit, and destroying a
// mutex or condition variable someone waits on is undefined. Such state is made once per
// process and never destroyed; the leak checker is told so.
#pragma once

#include <utility>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

namespace tp {

template <class T, class... Args>
T& make_for_process_lifetime(Args&&... args) {
    T* object = new T(std::forward<Args>(args)...);
#if defined(__SANITIZE_ADDRESS__)
    __lsan_ignore_object(object);
#endif
    return *object;
}

}  // namespace tp
