// signal-kafka-mock: librdkafka's in-process mock Kafka cluster as a process, for the
// Kafka mode's end-to-end tests and the scale-out demo. Not a real Kafka (see
// /work/shared/reference/scale-out.md for what the mock does and does not do).
//
//   signal-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...
//
// Prints one line `bootstrap=<host:port,...>` on stdout (flushed), then runs until
// SIGTERM, SIGINT or, when stdin is a pipe, its end (the parent went away), and exits
// 0. Any other stdin (/dev/null, a file, a terminal) is not watched, so a script can
// start it in the background. The mock has no CreateTopics: pass
// --topic to create topics up front (replication factor min(3, brokers)). A topic a
// client auto-creates (a producer's first record) gets the mock's defaults: 4
// partitions, replication factor min(3, brokers). Offsets and records live only as
// long as the process.
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

int Usage(const char* why) {
  std::fprintf(stderr,
               "signal-kafka-mock: %s\n"
               "usage: signal-kafka-mock [--brokers N] [--topic NAME:PARTITIONS]...\n",
               why);
  return 2;
}

bool ParsePositive(const std::string& text, int& value) {
  if (text.empty() || text.size() > 6 ||
      !std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  value = std::atoi(text.c_str());
  return value > 0;
}

}  // namespace

int main(int argc, char** argv) {
  int brokers = 3;
  std::vector<std::pair<std::string, int>> topics;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      Usage("an in-process mock Kafka cluster");
      return 0;
    }
    if (i + 1 >= argc) return Usage(("missing value after " + arg).c_str());
    const std::string value = argv[++i];
    if (arg == "--brokers") {
      if (!ParsePositive(value, brokers)) return Usage("--brokers needs a positive number");
    } else if (arg == "--topic") {
      const size_t colon = value.rfind(':');
      int partitions = 0;
      if (colon == std::string::npos || colon == 0 ||
          !ParsePositive(value.substr(colon + 1), partitions)) {
        return Usage("--topic needs NAME:PARTITIONS");
      }
      topics.emplace_back(value.substr(0, colon), partitions);
    } else {
      return Usage(("unknown option " + arg).c_str());
    }
  }

  // Signals arrive on a descriptor, polled beside stdin.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &signals, nullptr) != 0) return Usage("cannot block signals");
  const int signal_fd = signalfd(-1, &signals, SFD_CLOEXEC);
  if (signal_fd < 0) return Usage("signalfd failed");

  // The cluster needs a client handle for its bookkeeping; this one sends nothing.
  char error[512];
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  rd_kafka_conf_set(conf, "log_level", "3", error, sizeof(error));
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, error, sizeof(error));
  if (rk == nullptr) return Usage(error);
  rd_kafka_mock_cluster_t* cluster = rd_kafka_mock_cluster_new(rk, brokers);
  if (cluster == nullptr) {
    rd_kafka_destroy(rk);
    return Usage("the mock cluster did not start");
  }
  const int replication = std::min(3, brokers);
  for (const auto& [name, partitions] : topics) {
    const rd_kafka_resp_err_t err =
        rd_kafka_mock_topic_create(cluster, name.c_str(), partitions, replication);
    if (err != RD_KAFKA_RESP_ERR_NO_ERROR) {
      std::fprintf(stderr, "signal-kafka-mock: topic %s: %s\n", name.c_str(),
                   rd_kafka_err2str(err));
      rd_kafka_mock_cluster_destroy(cluster);
      rd_kafka_destroy(rk);
      return 1;
    }
  }
  std::printf("bootstrap=%s\n", rd_kafka_mock_cluster_bootstraps(cluster));
  std::fflush(stdout);

  struct stat stdin_stat {};
  const bool watch_stdin = fstat(STDIN_FILENO, &stdin_stat) == 0 && S_ISFIFO(stdin_stat.st_mode);
  pollfd fds[2] = {{signal_fd, POLLIN, 0}, {watch_stdin ? STDIN_FILENO : -1, POLLIN, 0}};
  bool running = true;
  while (running) {
    if (poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[0].revents != 0) running = false;  // SIGTERM or SIGINT
    if (fds[1].revents != 0) {
      char buffer[4096];
      const ssize_t n = read(STDIN_FILENO, buffer, sizeof(buffer));
      if (n <= 0) running = false;  // end of stdin: the parent went away
    }
  }
  rd_kafka_mock_cluster_destroy(cluster);
  rd_kafka_destroy(rk);
  close(signal_fd);
  return 0;
}
