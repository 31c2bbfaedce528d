// End-to-end ingest benchmark: the real tributaryd and `tributary loadgen`
// as separate processes over loopback, against a naive baseline server in
// the same run.
//
//   bazel run -c opt //tools/bench:ingest_bench [-- --seconds=10 --dir=/tmp/x]
//
// Runs (1000-record batches of the 425-byte reference record, 8 batches in
// flight per producer):
//   durable, 1 producer / durable, 4 producers   (storage.durability: sync)
//   async, 4 producers                           (storage.durability: async)
//   naive, 4 producers    (tools/bench/naive_ingest_server: parse, one RocksDB
//                          key per record, fsync, ack, one batch at a time)
//   durable, 4 producers at 80 % of the durable maximum (ack latency)
// and ends with one RESULT line (see BENCHMARKS.md).
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tools/bench/process.h"

ABSL_FLAG(int, seconds, 10, "seconds of load per run");
ABSL_FLAG(std::string, dir, "/tmp/tributary-ingest-bench", "scratch directory (removed)");
ABSL_FLAG(std::string, compression, "lz4", "the collector's storage.compression (lz4 or none)");

namespace {

namespace fs = std::filesystem;
using tributary::bench::AwaitListening;
using tributary::bench::Load;
using tributary::bench::Process;
using tributary::bench::Slurp;
using tributary::bench::Spawn;
using tributary::bench::Stop;

// Peak and current resident memory of a process, in MiB.
std::pair<double, double> Memory(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  double peak = 0, now = 0;
  while (std::getline(in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (f.size() >= 2 && f[0] == "VmHWM:") absl::SimpleAtod(f[1], &peak);
    if (f.size() >= 2 && f[0] == "VmRSS:") absl::SimpleAtod(f[1], &now);
  }
  return {peak / 1024, now / 1024};
}

Load RunLoadgen(int port, int producers, double rate, const std::string& log) {
  return tributary::bench::RunLoadgen(port, producers, rate, absl::GetFlag(FLAGS_seconds), log);
}

// "appends=N fsyncs=M" from the collector's shutdown line, as "N batches shared
// M fsyncs" (group commit across streams).
std::string FsyncSharing(const Process& p) {
  const std::string text = Slurp(p.log);
  const size_t at = text.find("msg=\"buffer closed\"");
  if (at == std::string::npos) return "";
  uint64_t appends = 0, fsyncs = 0;
  for (absl::string_view kv : absl::StrSplit(text.substr(at, text.find('\n', at) - at), ' ')) {
    std::pair<std::string, std::string> f = absl::StrSplit(kv, '=');
    if (f.first == "appends") absl::SimpleAtoi(f.second, &appends);
    if (f.first == "fsyncs") absl::SimpleAtoi(f.second, &fsyncs);
  }
  return absl::StrCat(appends, " batches shared ", fsyncs, " fsyncs");
}

void Report(const char* name, const Load& l) {
  std::printf("%-40s %9.0f records/s %7.1f MB/s   ack p50 %7.2f ms  p99 %7.2f ms\n", name,
              l.records_per_s, l.records_per_s * 425 / 1e6, l.p50_ms, l.p99_ms);
  std::fflush(stdout);
}

struct Server {
  Process process;
  int port = 0;
};

// Each run writes gigabytes; let the previous run's writeback finish so it
// does not land in the next run's fsyncs.
void Quiesce() { ::sync(); }

Server StartCollector(const std::string& dir, bool durable) {
  Quiesce();
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string config = dir + "/config.yaml";
  std::ofstream(config) << "storage:\n  data_dir: " << dir << "/data\n  durability: "
                        << (durable ? "sync" : "async")
                        << "\n  compression: " << absl::GetFlag(FLAGS_compression)
                        << "\nserver:\n  status_log_interval: 0\n";
  Server s;
  s.process = Spawn({"collector/tributaryd", "--config=" + config, "--grpc_listen=127.0.0.1:0",
                     "--http_listen=127.0.0.1:0"},
                    dir + ".log");
  s.port = AwaitListening(s.process);
  return s;
}

Server StartNaive(const std::string& dir) {
  Quiesce();
  fs::remove_all(dir);
  fs::create_directories(dir);
  Server s;
  s.process = Spawn({"tools/bench/naive_ingest_server", "--listen=127.0.0.1:0", "--dir=" + dir},
                    dir + ".log");
  s.port = AwaitListening(s.process);
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string root = absl::GetFlag(FLAGS_dir);
  fs::create_directories(root);
  std::printf("ingest_bench: tributaryd and loadgen over loopback, 1000-record batches of the "
              "425-byte record, 8 in flight per producer, %d s per run\n\n",
              absl::GetFlag(FLAGS_seconds));

  Load durable1, durable4, async4, naive4, rate80;
  double rss_peak = 0, rss_now = 0;
  {
    Server s = StartCollector(root + "/durable1", true);
    durable1 = RunLoadgen(s.port, 1, 0, root + "/durable1.loadgen");
    Stop(s.process);
    fs::remove_all(root + "/durable1");
    Report("durable (sync), 1 producer", durable1);
  }
  {
    Server s = StartCollector(root + "/durable4", true);
    durable4 = RunLoadgen(s.port, 4, 0, root + "/durable4.loadgen");
    std::tie(rss_peak, rss_now) = Memory(s.process.pid);
    Stop(s.process);
    fs::remove_all(root + "/durable4");
    Report("durable (sync), 4 producers", durable4);
    std::printf("%-40s peak RSS %.0f MiB, at the end %.0f MiB; %s\n", "", rss_peak, rss_now,
                FsyncSharing(s.process).c_str());
  }
  {
    Server s = StartCollector(root + "/async4", false);
    async4 = RunLoadgen(s.port, 4, 0, root + "/async4.loadgen");
    Stop(s.process);
    fs::remove_all(root + "/async4");
    Report("async, 4 producers", async4);
  }
  {
    Server s = StartNaive(root + "/naive4");
    naive4 = RunLoadgen(s.port, 4, 0, root + "/naive4.loadgen");
    Stop(s.process);
    fs::remove_all(root + "/naive4");
    Report("naive (key/record, fsync, 1 at a time)", naive4);
  }
  {
    Server s = StartCollector(root + "/rate80", true);
    rate80 = RunLoadgen(s.port, 4, 0.8 * durable4.records_per_s, root + "/rate80.loadgen");
    const auto [peak, now] = Memory(s.process.pid);
    rss_peak = std::max(rss_peak, peak);
    Stop(s.process);
    Report("durable, 4 producers, 80 % of max rate", rate80);
    std::printf("%-40s %s\n", "", FsyncSharing(s.process).c_str());
  }
  fs::remove_all(root);

  std::printf(
      "\nRESULT durable_records_per_s=%.0f async_records_per_s=%.0f naive_records_per_s=%.0f "
      "durable_vs_naive=%.2f durable_vs_async=%.2f ack_p99_ms=%.1f collector_rss_mib=%.0f\n",
      durable4.records_per_s, async4.records_per_s, naive4.records_per_s,
      durable4.records_per_s / naive4.records_per_s, durable4.records_per_s / async4.records_per_s,
      rate80.p99_ms, rss_peak);
  return 0;
}
