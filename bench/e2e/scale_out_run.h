// bench_e2e --scale-out: the end-to-end benchmark in Kafka + PostgreSQL mode (issue 9).
//
//   POST /v1/batch on N hosts' event APIs -> Kafka (librdkafka's mock cluster, 3 brokers)
//     -> the hosts' consumer group -> Translate -> fake Hightouch; state in PostgreSQL
//
// Reports what the SQLite mode reports (accepted/s, delivered/s at the fake, backlog,
// latency) plus the group's consumer lag over time, the CPU per event of the hosts
// (summed), of the mock cluster and of PostgreSQL, and duplicates.
#pragma once

#include "e2e_flags.h"

namespace bench_e2e {

// Runs the whole benchmark; returns the exit code (0 every accepted event delivered
// exactly once, 1 lost events or a host died, 2 setup failure, 3 duplicates).
int RunScaleOut(const Flags& flags);

}  // namespace bench_e2e
