// The client library's cost to the application, against spdlog's async
// logger in the same run, and its end-to-end delivery rate.
//
//   bazel run -c opt //tools/bench:client_bench [-- --calls=600000 --rate=100000]
//
// Latency of one log call (a ~100-byte message and three fields: string,
// int, double), from a per-call histogram, for 1 and 4 producer threads
// paced at --rate calls/s each:
//   tributary, live collector      (a real tributaryd on loopback, sync durability)
//   tributary, no collector        (nothing listens; drop mode)
//   spdlog async logger            (queue 8192, one worker, null sink; the same
//                                   message and fields formatted the spdlog way)
// Heap allocations per call are counted on the calling thread (a replaced
// global operator new). Delivery: one thread logs --delivered records as fast
// as it can (block policy, so nothing is dropped) and the clock stops when
// Flush reports them durable; its baseline is `tributary loadgen` with one
// producer (pre-encoded 1000-record batches: what the collector takes from
// one stream) for 5 s on the same collector just before. The last line is
// RESULT (see BENCHMARKS.md).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "spdlog/async.h"
#include "spdlog/sinks/null_sink.h"
#include "spdlog/spdlog.h"
#include "tools/bench/process.h"

ABSL_FLAG(int, calls, 600000, "measured log calls per thread per run");
ABSL_FLAG(int, rate, 100000, "log calls per second per thread");
ABSL_FLAG(int, delivered, 2000000, "records logged for the delivery run");
ABSL_FLAG(std::string, dir, "/tmp/tributary-client-bench", "scratch directory (removed)");
ABSL_FLAG(bool, baseline_only, false, "measure only the timer around an empty call, then exit");
ABSL_FLAG(std::string, compression, "lz4", "the collector's storage.compression (lz4 or none)");

// Heap allocations made by this thread.
namespace {
thread_local uint64_t t_allocs = 0;
}

void* operator new(size_t n) {
  ++t_allocs;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void* operator new[](size_t n) {
  ++t_allocs;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
// GCC cannot tell that these pair with the operator new above.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, size_t) noexcept { std::free(p); }
void operator delete[](void* p, size_t) noexcept { std::free(p); }

namespace {

namespace fs = std::filesystem;
using tributary::client::Client;
using tributary::client::ClientOptions;
using tributary::client::Logger;

// 100 bytes.
constexpr char kMessage[] =
    "payment accepted for order after fraud screening, inventory hold and a ledger write: eu-west-1";

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Latency {
  int64_t p50 = 0, p99 = 0, p999 = 0, max = 0;
  double allocs_per_call = 0;
};

// Runs `call(thread, i)` on `threads` threads, `calls` times each after a
// warm-up, paced at `rate` calls/s per thread.
template <typename Call>
Latency Measure(int threads, int calls, int rate, Call call) {
  std::vector<std::vector<int64_t>> samples(threads);
  std::vector<uint64_t> allocs(threads, 0);
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    samples[t].resize(calls);
    workers.emplace_back([&, t] {
      const int warmup = calls / 10;
      const int64_t start = NowNs();
      const double interval_ns = 1e9 / rate;
      uint64_t allocs_before = 0;
      for (int i = -warmup; i < calls; ++i) {
        if (i == 0) allocs_before = t_allocs;
        // The thread stays busy between calls, as an application's does:
        // it spins to the next call's time rather than sleeping.
        const int64_t due = start + static_cast<int64_t>((i + warmup) * interval_ns);
        while (NowNs() < due) {
        }
        const int64_t before = NowNs();
        call(t, i);
        const int64_t took = NowNs() - before;
        if (i >= 0) samples[t][i] = took;
      }
      allocs[t] = t_allocs - allocs_before;
    });
  }
  for (auto& w : workers) w.join();
  std::vector<int64_t> all;
  uint64_t total_allocs = 0;
  for (int t = 0; t < threads; ++t) {
    all.insert(all.end(), samples[t].begin(), samples[t].end());
    total_allocs += allocs[t];
  }
  std::sort(all.begin(), all.end());
  auto at = [&](double q) { return all[std::min(all.size() - 1, size_t(q * all.size()))]; };
  Latency l;
  l.p50 = at(0.50);
  l.p99 = at(0.99);
  l.p999 = at(0.999);
  l.max = all.back();
  l.allocs_per_call = static_cast<double>(total_allocs) / all.size();
  return l;
}

void Print(const char* name, int threads, const Latency& l) {
  std::printf("%-34s %d thr  p50 %6lld ns  p99 %6lld ns  p99.9 %7lld ns  max %9lld ns  "
              "allocs/call %.4f\n",
              name, threads, static_cast<long long>(l.p50), static_cast<long long>(l.p99),
              static_cast<long long>(l.p999), static_cast<long long>(l.max), l.allocs_per_call);
  std::fflush(stdout);
}

std::unique_ptr<Client> MakeClient(const std::string& endpoint,
                                   tributary::client::Backpressure policy) {
  ClientOptions o;
  o.endpoints = {endpoint};
  o.resource.service_name = "client-bench";
  o.queue.policy = policy;
  o.read_environment = false;
  auto c = Client::Create(o);
  if (!c.ok()) {
    std::fprintf(stderr, "client: %s\n", std::string(c.status().message()).c_str());
    std::exit(1);
  }
  return std::move(*c);
}

Latency Ours(const std::string& endpoint, int threads, int calls, int rate,
             tributary::client::ClientStats* stats) {
  auto client = MakeClient(endpoint, tributary::client::Backpressure::kDrop);
  Logger log = client->GetLogger("bench");
  if (endpoint.find(":1") == std::string::npos) client->Flush(absl::Seconds(10));  // connected
  const Latency l = Measure(threads, calls, rate, [&](int, int i) {
    log.Info(kMessage, {{"user", "ann"}, {"order_id", i}, {"amount", 12.5}});
  });
  client->Shutdown(absl::Seconds(30));
  *stats = client->stats();
  return l;
}

Latency Spdlog(int threads, int calls, int rate) {
  spdlog::init_thread_pool(8192, 1);
  auto logger = std::make_shared<spdlog::async_logger>(
      "bench", std::make_shared<spdlog::sinks::null_sink_mt>(), spdlog::thread_pool(),
      spdlog::async_overflow_policy::block);
  const Latency l = Measure(threads, calls, rate, [&](int, int i) {
    logger->info("{} user={} order_id={} amount={}", kMessage, "ann", i, 12.5);
  });
  logger->flush();
  spdlog::shutdown();
  return l;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int calls = absl::GetFlag(FLAGS_calls);
  const int rate = absl::GetFlag(FLAGS_rate);
  const std::string root = absl::GetFlag(FLAGS_dir);
  fs::remove_all(root);
  fs::create_directories(root);
  std::printf("client_bench: one log call (%zu-byte message, 3 fields), %d measured calls per "
              "thread at %d calls/s per thread\n\n",
              sizeof(kMessage) - 1, calls, rate);

  // What the measurement itself costs: the two clock reads around nothing.
  const Latency empty = Measure(1, calls, rate, [](int, int) {});
  Print("(timer around an empty call)", 1, empty);
  if (absl::GetFlag(FLAGS_baseline_only)) return 0;

  std::ofstream(root + "/config.yaml")
      << "storage:\n  data_dir: " << root << "/data\n  durability: sync\n"
      << "  compression: " << absl::GetFlag(FLAGS_compression) << "\n"
      << "server:\n  status_log_interval: 0\n";
  tributary::bench::Process collector = tributary::bench::Spawn(
      {"collector/tributaryd", "--config=" + root + "/config.yaml", "--grpc_listen=127.0.0.1:0",
       "--http_listen=127.0.0.1:0"},
      root + "/tributaryd.log");
  const int port = tributary::bench::AwaitListening(collector);
  const std::string live = absl::StrCat("127.0.0.1:", port);
  // Nothing listens on port 1 (privileged, unused).
  const std::string nowhere = "127.0.0.1:1";

  tributary::client::ClientStats stats;
  {
    // A call below the logger's minimum level.
    auto client = MakeClient(live, tributary::client::Backpressure::kDrop);
    Logger quiet = client->GetLogger("bench", tributary::client::Level::kWarn);
    const Latency off = Measure(1, calls, rate, [&](int, int i) {
      quiet.Debug(kMessage, {{"user", "ann"}, {"order_id", i}, {"amount", 12.5}});
    });
    Print("tributary, level below the minimum", 1, off);
    client->Shutdown(absl::Seconds(10));
  }
  const Latency ours1 = Ours(live, 1, calls, rate, &stats);
  Print("tributary, live collector", 1, ours1);
  const uint64_t live_drops = stats.dropped_full_unprotected;
  const Latency spd1 = Spdlog(1, calls, rate);
  Print("spdlog async (8192, null sink)", 1, spd1);
  const Latency ours4 = Ours(live, 4, calls, rate, &stats);
  Print("tributary, live collector", 4, ours4);
  const Latency spd4 = Spdlog(4, calls, rate);
  Print("spdlog async (8192, null sink)", 4, spd4);
  const Latency down1 = Ours(nowhere, 1, calls, rate, &stats);
  Print("tributary, no collector (drop)", 1, down1);
  const Latency down4 = Ours(nowhere, 4, calls, rate, &stats);
  Print("tributary, no collector (drop)", 4, down4);
  std::printf("  (no collector: %llu of %llu calls dropped and counted)\n",
              static_cast<unsigned long long>(stats.dropped_full_unprotected),
              static_cast<unsigned long long>(4ull * (calls + calls / 10)));

  // Delivery: as fast as one thread can log, nothing dropped. The runs above
  // wrote to the collector's disk; let that writeback finish first.
  ::sync();
  const tributary::bench::Load loadgen =
      tributary::bench::RunLoadgen(port, 1, 0, 5, root + "/loadgen.log");
  std::printf("\nbaseline: tributary loadgen, 1 producer, pre-encoded 1000-record batches: "
              "%.0f records/s\n",
              loadgen.records_per_s);
  ::sync();
  const int n = absl::GetFlag(FLAGS_delivered);
  auto client = MakeClient(live, tributary::client::Backpressure::kBlock);
  Logger log = client->GetLogger("bench");
  client->Flush(absl::Seconds(10));
  const absl::Time start = absl::Now();
  for (int i = 0; i < n; ++i) {
    log.Info(kMessage, {{"user", "ann"}, {"order_id", i}, {"amount", 12.5}});
  }
  const auto report = client->Flush(absl::Seconds(120));
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const tributary::client::ClientStats ds = client->stats();
  client->Shutdown(absl::Seconds(10));
  const double delivered_per_s = ds.records_delivered / seconds;
  const uint64_t dropped = ds.dropped_full_protected + ds.dropped_full_unprotected + ds.evicted;
  std::printf("delivery: %d records logged by 1 thread, %llu delivered durable in %.2f s "
              "(%.0f records/s, %.2f of loadgen's), %llu dropped, flush %s\n",
              n, static_cast<unsigned long long>(ds.records_delivered), seconds, delivered_per_s,
              delivered_per_s / loadgen.records_per_s, static_cast<unsigned long long>(dropped),
              report.complete ? "complete" : "INCOMPLETE");
  tributary::bench::Stop(collector);
  fs::remove_all(root);

  std::printf("\nlive 1-thread run: %llu calls dropped (queue full)\n",
              static_cast<unsigned long long>(live_drops));
  std::printf("RESULT p50_ns=%lld p99_ns=%lld p999_ns=%lld spdlog_p50_ns=%lld spdlog_p99_ns=%lld "
              "p50_vs_spdlog=%.2f allocs_per_call=%.4f delivered_records_per_s=%.0f "
              "delivered_vs_loadgen=%.2f\n",
              static_cast<long long>(ours1.p50), static_cast<long long>(ours1.p99),
              static_cast<long long>(ours1.p999), static_cast<long long>(spd1.p50),
              static_cast<long long>(spd1.p99),
              static_cast<double>(ours1.p50) / static_cast<double>(spd1.p50),
              ours1.allocs_per_call, report.complete && dropped == 0 ? delivered_per_s : 0.0,
              delivered_per_s / loadgen.records_per_s);
  return 0;
}
