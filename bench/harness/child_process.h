// A child process of a bench program (the host, the fake): started with its output in
// files, watched for a line on stdout, stopped with SIGTERM or killed with SIGKILL.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace bench_harness {

class ChildProcess {
 public:
  ChildProcess() = default;
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess() { Stop(std::chrono::seconds(60)); }

  // stdout and stderr go to files, so a chatty child can never block on a full pipe;
  // stdin is /dev/null (signal-kafka-mock would exit when a piped stdin ends).
  // The child gets SIGTERM when the calling THREAD ends (PR_SET_PDEATHSIG follows the
  // thread), so start children from one that outlives them. Dies (exit 2) if fork fails.
  void Start(const std::vector<std::string>& argv, const std::string& stdout_path,
             const std::string& stderr_path,
             const std::vector<std::pair<std::string, std::string>>& extra_env = {});

  pid_t pid() const { return pid_; }
  bool Running();

  // Waits for a stdout line starting with `prefix`; returns the rest of the line. Fails
  // when the child exits first or the line does not come in time.
  absl::StatusOr<std::string> WaitForLine(std::string_view prefix, std::chrono::seconds timeout);

  // SIGTERM, then SIGKILL after `grace`. Returns the exit code (-1 if killed or unknown).
  int Stop(std::chrono::seconds grace);

  // SIGKILL at once (a crash, as far as the child can tell), and reaps it.
  void Kill();

 private:
  std::string name_;
  std::string stdout_path_;
  pid_t pid_ = -1;
  int exit_status_ = -1;
};

}  // namespace bench_harness
