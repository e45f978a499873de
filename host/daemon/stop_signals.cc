#include "stop_signals.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <thread>

namespace signal_host::daemon {
namespace {

sigset_t StopSet() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  return set;
}

}  // namespace

void BlockStopSignals() {
  sigset_t set = StopSet();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, nullptr);
}

const char* WaitForStopSignal() {
  sigset_t set = StopSet();
  int received = 0;
  while (sigwait(&set, &received) != 0) {
  }
  return received == SIGTERM ? "SIGTERM" : "SIGINT";
}

const char* RunUnlessStopped(std::function<void()> work) {
  sigset_t set = StopSet();
  const int signal_fd = signalfd(-1, &set, SFD_CLOEXEC);
  const int done_fd = eventfd(0, EFD_CLOEXEC);
  if (signal_fd < 0 || done_fd < 0) {
    // Cannot watch for both; do the work here, as before this existed.
    if (signal_fd >= 0) close(signal_fd);
    if (done_fd >= 0) close(done_fd);
    work();
    return nullptr;
  }
  std::thread worker([work = std::move(work), done_fd] {
    work();
    const uint64_t one = 1;
    while (write(done_fd, &one, sizeof(one)) < 0 && errno == EINTR) {
    }
  });
  pollfd watched[2] = {{done_fd, POLLIN, 0}, {signal_fd, POLLIN, 0}};
  int ready = 0;
  do {
    ready = poll(watched, 2, -1);
  } while (ready < 0 && errno == EINTR);
  if (ready < 0 || (watched[0].revents & POLLIN) != 0) {
    // Finished: a stop signal that came meanwhile stays pending for WaitForStopSignal.
    worker.join();
    close(done_fd);
    close(signal_fd);
    return nullptr;
  }
  signalfd_siginfo info{};
  while (read(signal_fd, &info, sizeof(info)) < 0 && errno == EINTR) {
  }
  // done_fd stays open: the worker may still write to it.
  worker.detach();
  close(signal_fd);
  return info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT";
}

}  // namespace signal_host::daemon
