// Names the calling thread as top -H, ps -L and perf show it (at most 15
// characters), so an operator can tell which part of orderflowd uses the
// CPU. The names and what each thread does: docs/operations.md, "Metrics
// and health".
#pragma once

#include <pthread.h>

namespace orderflow {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace orderflow
