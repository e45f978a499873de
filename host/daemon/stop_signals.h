// SIGTERM/SIGINT handling, kept in its own file because <signal.h> declares a global
// signal() that clashes with the generated protobuf namespace `signal`.
#pragma once

#include <functional>

namespace signal_host::daemon {

// Blocks SIGTERM and SIGINT in the calling thread (and every thread it starts later)
// and ignores SIGPIPE. Call before starting any thread.
void BlockStopSignals();

// Waits for SIGTERM or SIGINT; returns its name.
const char* WaitForStopSignal();

// Runs `work` on a thread of its own while waiting for SIGTERM or SIGINT (blocked by
// BlockStopSignals). Returns nullptr once `work` has finished. If a stop signal
// comes first, returns its name and leaves `work` running: it may be stuck for good
// (a plugin constructor that never returns), so the caller must end the process with
// _exit and touch nothing `work` uses.
const char* RunUnlessStopped(std::function<void()> work);

}  // namespace signal_host::daemon
