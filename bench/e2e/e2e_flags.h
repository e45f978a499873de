// bench_e2e's command line: the flags of both modes (SQLite, scale-out) and --help.
#pragma once

#include <cstddef>
#include <string>

namespace bench_e2e {

struct Flags {
  int duration_s = 60;
  int connections = 8;
  int batch = 100;
  double rate = 0;
  size_t corpus_events = 10000;
  int corpus_bigint_per_mille = -1;  // -1: the corpus generator's default
  bool tuned = false;
  std::string config_extra;
  std::string host_bin = SIGNAL_HOST_BINARY;
  std::string fake_bin = SIGNAL_FAKE_HIGHTOUCH_BINARY;
  std::string host_config;
  bool host_nodelay_preload = false;
  size_t dup_window = 2'000'000;
  std::string data_parent;
  bool keep_data = false;
  int report_interval_s = 5;
  int drain_timeout_s = 900;
  bool scale_out = false;
  int hosts = 1;
  bool mock_nodelay_preload = false;
  std::string mock_bin = SIGNAL_KAFKA_MOCK_BINARY;
};

// Parses argv; prints --help and exits 0, or dies (exit 2) on a bad flag.
Flags ParseFlags(int argc, char** argv);

}  // namespace bench_e2e
