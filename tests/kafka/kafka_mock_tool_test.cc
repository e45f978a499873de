// signal-kafka-mock as the lead's end-to-end test and the demo run it: a process that
// prints its bootstrap list, serves pre-created topics, and exits 0 on SIGTERM and on
// the end of its stdin.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "kafka_test_support.h"

namespace signal_host::kafka::kafka_test {
namespace {

struct Child {
  pid_t pid = -1;
  int stdin_fd = -1;
  std::string first_line;
};

Child Start(const std::vector<std::string>& args) {
  int in[2], out[2];
  EXPECT_EQ(pipe2(in, O_CLOEXEC), 0);
  EXPECT_EQ(pipe2(out, O_CLOEXEC), 0);
  Child child;
  child.pid = fork();
  if (child.pid == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    std::vector<char*> argv = {const_cast<char*>(SIGNAL_KAFKA_MOCK)};
    for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execv(SIGNAL_KAFKA_MOCK, argv.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  child.stdin_fd = in[1];
  char c;
  while (read(out[0], &c, 1) == 1 && c != '\n') child.first_line.push_back(c);
  close(out[0]);
  return child;
}

int Wait(pid_t pid) {
  int status = 0;
  EXPECT_EQ(waitpid(pid, &status, 0), pid);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(KafkaMockToolTest, ServesPreCreatedTopicsAndStopsOnSigterm) {
  Child child = Start({"--brokers", "2", "--topic", "delivery-x:3"});
  ASSERT_EQ(child.first_line.rfind("bootstrap=", 0), 0u) << child.first_line;
  const std::string bootstrap = child.first_line.substr(std::string("bootstrap=").size());
  EXPECT_EQ(std::count(bootstrap.begin(), bootstrap.end(), ','), 1) << bootstrap;
  {
    ClusterProbe probe(bootstrap, "probe");
    const std::vector<int64_t> highs = probe.HighWatermarks("delivery-x", 3);
    EXPECT_EQ(highs, std::vector<int64_t>({0, 0, 0})) << "three empty partitions";
  }
  ASSERT_EQ(kill(child.pid, SIGTERM), 0);
  EXPECT_EQ(Wait(child.pid), 0);
  close(child.stdin_fd);
}

TEST(KafkaMockToolTest, StopsWhenStdinCloses) {
  Child child = Start({});
  ASSERT_EQ(child.first_line.rfind("bootstrap=", 0), 0u) << child.first_line;
  close(child.stdin_fd);
  EXPECT_EQ(Wait(child.pid), 0);
}

TEST(KafkaMockToolTest, RefusesBadArguments) {
  Child child = Start({"--topic", "no-partitions"});
  EXPECT_EQ(child.first_line, "");
  EXPECT_EQ(Wait(child.pid), 2);
  close(child.stdin_fd);
}

}  // namespace
}  // namespace signal_host::kafka::kafka_test
