// Names the calling thread as top -H, ps -L and perf show it (at most 15
// characters), so an operator can tell which part of orderflowd uses the
// CPU: of-webhooks (the listener), of-inbox (the inbox writer's commits),
// of-checkpoint, of-background, of-commands, of-passwords (the console's
// password checks); the event loop keeps the process's name.
#pragma once

#include <pthread.h>

namespace orderflow {

inline void name_this_thread(const char* name) { pthread_setname_np(pthread_self(), name); }

}  // namespace orderflow
