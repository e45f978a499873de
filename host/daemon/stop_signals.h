// SIGTERM/SIGINT handling, kept in its own file because <signal.h> declares a global
// signal() that clashes with the generated protobuf namespace `signal`.
#pragma once

namespace signal_host::daemon {

// Blocks SIGTERM and SIGINT in the calling thread (and every thread it starts later)
// and ignores SIGPIPE. Call before starting any thread.
void BlockStopSignals();

// Waits for SIGTERM or SIGINT; returns its name.
const char* WaitForStopSignal();

}  // namespace signal_host::daemon
