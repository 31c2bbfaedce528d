// Child processes for the benchmarks that drive the real binaries.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace tributary::bench {

struct Process {
  pid_t pid = -1;
  std::string log;  // the child's stdout and stderr
};

// Starts argv[0] (a path) with its output in `log`.
Process Spawn(const std::vector<std::string>& argv, const std::string& log);

std::string Slurp(const std::string& path);

// The gRPC port from a collector's "msg=listening grpc=HOST:PORT" line
// (waits up to 30 s; exits the benchmark if the server does not start).
int AwaitListening(const Process& p);

// SIGTERM, then SIGKILL after 15 s.
void Stop(Process& p);

// What `tributary loadgen` measured.
struct Load {
  double records_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

// Runs `tributary loadgen` against 127.0.0.1:port: `producers` streams of
// 1000-record batches (the 425-byte reference record), 8 in flight each,
// for `seconds` (at `rate` records/s when > 0). Exits the benchmark if it
// fails.
Load RunLoadgen(int port, int producers, double rate, int seconds, const std::string& log);

}  // namespace tributary::bench
