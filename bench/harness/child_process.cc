#include "child_process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <sstream>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "fatal.h"
#include "system_info.h"

namespace bench_harness {

using Clock = std::chrono::steady_clock;

void ChildProcess::Start(const std::vector<std::string>& argv, const std::string& stdout_path,
                         const std::string& stderr_path,
                         const std::vector<std::pair<std::string, std::string>>& extra_env) {
  stdout_path_ = stdout_path;
  name_ = argv[0];
  exit_status_ = -1;
  std::vector<char*> raw;
  for (const std::string& arg : argv) raw.push_back(const_cast<char*>(arg.c_str()));
  raw.push_back(nullptr);
  const pid_t parent = getpid();
  pid_ = fork();
  if (pid_ < 0) Die(absl::StrCat("fork: ", std::strerror(errno)));
  if (pid_ == 0) {
    // Children must not outlive a benchmark that was killed.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    const int out = open(stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0 || err < 0) _exit(127);
    // Not the bench's stdin: signal-kafka-mock exits when a piped stdin ends.
    const int in = open("/dev/null", O_RDONLY);
    if (in >= 0) {
      dup2(in, STDIN_FILENO);
      close(in);
    }
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    close(out);
    close(err);
    for (const auto& [name, value] : extra_env) setenv(name.c_str(), value.c_str(), 1);
    execv(raw[0], raw.data());
    _exit(127);
  }
}

bool ChildProcess::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_status_ = status;
    pid_ = -1;
    return false;
  }
  return true;
}

absl::StatusOr<std::string> ChildProcess::WaitForLine(std::string_view prefix,
                                                      std::chrono::seconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    std::istringstream lines(ReadFile(stdout_path_));
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind(prefix, 0) == 0) return line.substr(prefix.size());
    }
    if (!Running()) {
      return absl::UnavailableError(
          absl::StrCat(name_, " exited before printing \"", std::string(prefix), "\""));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return absl::DeadlineExceededError(
      absl::StrCat(name_, " did not print \"", std::string(prefix), "\" in time"));
}

int ChildProcess::Stop(std::chrono::seconds grace) {
  if (pid_ <= 0) {
    return exit_status_ >= 0 && WIFEXITED(exit_status_) ? WEXITSTATUS(exit_status_) : -1;
  }
  kill(pid_, SIGTERM);
  const auto deadline = Clock::now() + grace;
  int status = 0;
  while (Clock::now() < deadline) {
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      exit_status_ = status;
      return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  pid_ = -1;
  return -1;
}

void ChildProcess::Kill() {
  if (pid_ <= 0) return;
  int status = 0;
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
  exit_status_ = status;
  pid_ = -1;
}

}  // namespace bench_harness
