#include "e2e_flags.h"

#include <cstdint>
#include <cstdlib>
#include <iostream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "fatal.h"

namespace bench_e2e {
namespace {

using bench_harness::Die;

constexpr char kUsage[] = R"USAGE(Usage: bench_e2e [flags]

End-to-end benchmark: event API -> durable queue -> Translate -> fake Hightouch.
Starts fake-hightouch and signal-delivery-host, installs Hightouch, posts batches for
--duration seconds, waits until everything accepted is delivered, prints a summary.

Load
  --duration S          seconds of posting (default 60)
  --connections N       concurrent keep-alive connections (default 8)
  --batch N             events per POST /v1/batch, 1-500 (default 100)
  --rate R              target accepted events/s over all connections, open loop;
                        0 (default) posts as fast as the host answers (closed loop)
  --corpus-events N     distinct corpus events cycled through (default 10000)
  --corpus-bigint-per-mille N
                        events per thousand carrying integers beyond 2^64 (default: the
                        corpus generator's, 50)
Integration config
  --tuned               batch_size 500, rate_limit_rps 1000, rate_limit_burst 2000
                        (default: the product page's install body, i.e. the variant's
                        batch_size 100, rate_limit_rps 100)
  --config-extra JSON   members merged into the install config, e.g.
                        '"batch_interval_ms":1000' (appended after --tuned's members;
                        do not repeat one of them)
Processes
  --host-bin PATH       signal-delivery-host (default: the one built with this program)
  --fake-bin PATH       fake-hightouch (default: the one built with this program)
  --host-config FILE    passed to the host as --config
  --host-nodelay-preload
                        experiment: LD_PRELOAD a shim into the host that sets TCP_NODELAY
                        on accepted connections (the host's listeners leave Nagle on)
  --dup-window N        fake --message-id-window: distinct messageIds the fake checks
                        for duplicates, about 20 bytes each (default 2000000); the
                        fake keeps the full JSON of only its first 1000 events
  --data-dir DIR        parent of the temporary data directory (default $TMPDIR or /tmp)
  --keep-data           leave the data directory (and the host's log) in place
Measurement
  --report-interval S   seconds between progress lines and RSS samples (default 5)
  --drain-timeout S     longest wait for the backlog to reach the fake (default 900)
Scale-out mode (Kafka + PostgreSQL; docs/PERFORMANCE.md, "Scale-out mode")
  --scale-out           start librdkafka's mock cluster (3 brokers), a throwaway
                        PostgreSQL (fsync on) and --hosts hosts in one consumer group;
                        the connections are spread over the hosts' event APIs
  --hosts N             hosts in the group, 1 or 2 (default 1; needs --scale-out)
  --mock-bin PATH       signal-kafka-mock (default: the one built with this program)
  --mock-nodelay-preload
                        experiment: LD_PRELOAD the TCP_NODELAY shim into the mock cluster
                        (its brokers' accepted sockets; librdkafka leaves Nagle on)
  --help
)USAGE";

}  // namespace

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  const std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string flag = args[i];
    std::string value;
    bool has_value = false;
    if (const size_t eq = flag.find('='); flag.rfind("--", 0) == 0 && eq != std::string::npos) {
      value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
      has_value = true;
    }
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (flag == "--tuned") {
      flags.tuned = true;
      continue;
    }
    if (flag == "--keep-data") {
      flags.keep_data = true;
      continue;
    }
    if (flag == "--host-nodelay-preload") {
      flags.host_nodelay_preload = true;
      continue;
    }
    if (flag == "--mock-nodelay-preload") {
      flags.mock_nodelay_preload = true;
      continue;
    }
    if (flag == "--scale-out") {
      flags.scale_out = true;
      continue;
    }
    if (!has_value) {
      if (i + 1 >= args.size()) Die(flag + " needs a value (see --help)");
      value = args[++i];
    }
    auto int_flag = [&](int* out, int min, int max) {
      if (!absl::SimpleAtoi(value, out) || *out < min || *out > max) {
        Die(absl::StrCat(flag, " must be an integer in [", min, ", ", max, "]"));
      }
    };
    auto size_flag = [&](size_t* out, size_t min) {
      uint64_t parsed = 0;
      if (!absl::SimpleAtoi(value, &parsed) || parsed < min) {
        Die(absl::StrCat(flag, " must be an integer >= ", min));
      }
      *out = static_cast<size_t>(parsed);
    };
    if (flag == "--duration") {
      int_flag(&flags.duration_s, 1, 7 * 86400);
    } else if (flag == "--connections") {
      int_flag(&flags.connections, 1, 1024);
    } else if (flag == "--batch") {
      int_flag(&flags.batch, 1, 500);
    } else if (flag == "--rate") {
      if (!absl::SimpleAtod(value, &flags.rate) || flags.rate < 0) Die("--rate must be >= 0");
    } else if (flag == "--corpus-events") {
      size_flag(&flags.corpus_events, 1);
    } else if (flag == "--corpus-bigint-per-mille") {
      int_flag(&flags.corpus_bigint_per_mille, 0, 1000);
    } else if (flag == "--config-extra") {
      flags.config_extra = value;
    } else if (flag == "--host-bin") {
      flags.host_bin = value;
    } else if (flag == "--fake-bin") {
      flags.fake_bin = value;
    } else if (flag == "--host-config") {
      flags.host_config = value;
    } else if (flag == "--dup-window") {
      size_flag(&flags.dup_window, 1);
    } else if (flag == "--data-dir") {
      flags.data_parent = value;
    } else if (flag == "--report-interval") {
      int_flag(&flags.report_interval_s, 1, 3600);
    } else if (flag == "--drain-timeout") {
      int_flag(&flags.drain_timeout_s, 1, 7 * 86400);
    } else if (flag == "--hosts") {
      int_flag(&flags.hosts, 1, 2);
    } else if (flag == "--mock-bin") {
      flags.mock_bin = value;
    } else {
      Die("unknown flag " + flag + " (see --help)");
    }
  }
  if ((flags.hosts != 1 || flags.mock_nodelay_preload) && !flags.scale_out) {
    Die("--hosts and --mock-nodelay-preload need --scale-out");
  }
  if (flags.scale_out && (!flags.host_config.empty() || flags.host_nodelay_preload)) {
    Die("--host-config and --host-nodelay-preload are for the SQLite mode only");
  }
  return flags;
}

}  // namespace bench_e2e
