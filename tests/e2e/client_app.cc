// An application that logs through tributary::client, for the end-to-end
// tests: `--threads` threads each log up to `--records` records (bodies
// "rec-<id>", ids unique across threads) at `--rate` records/s per thread,
// until the file `--stop_file` appears. Then it creates `--logged_file` (if
// given), flushes and prints its counters and the latency of its log calls,
// one "key=value" per line.
//
//   client_app --endpoint=127.0.0.1:4317 --threads=4 --rate=5000
//              --records=100000 --stop_file=/tmp/stop [--queue=8192]
//              [--unacked_bytes=67108864] [--flush_timeout_s=60]
//              [--service=client-e2e] [--logged_file=/tmp/logged]
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/client.h"

namespace {

struct Flags {
  std::string endpoint = "127.0.0.1:4317";
  int threads = 4;
  int64_t rate = 5000;
  int64_t records = 100000;
  std::string stop_file;
  std::string logged_file;
  int64_t queue = 8192;
  int64_t unacked_bytes = 64 << 20;
  int64_t flush_timeout_s = 60;
  std::string service = "client-e2e";
};

bool Parse(int argc, char** argv, Flags* f) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) return false;
    const std::string key = arg.substr(2, eq - 2);
    const std::string value = arg.substr(eq + 1);
    bool ok = true;
    if (key == "endpoint") {
      f->endpoint = value;
    } else if (key == "service") {
      f->service = value;
    } else if (key == "stop_file") {
      f->stop_file = value;
    } else if (key == "logged_file") {
      f->logged_file = value;
    } else if (key == "threads") {
      ok = absl::SimpleAtoi(value, &f->threads);
    } else if (key == "rate") {
      ok = absl::SimpleAtoi(value, &f->rate);
    } else if (key == "records") {
      ok = absl::SimpleAtoi(value, &f->records);
    } else if (key == "queue") {
      ok = absl::SimpleAtoi(value, &f->queue);
    } else if (key == "unacked_bytes") {
      ok = absl::SimpleAtoi(value, &f->unacked_bytes);
    } else if (key == "flush_timeout_s") {
      ok = absl::SimpleAtoi(value, &f->flush_timeout_s);
    } else {
      ok = false;
    }
    if (!ok) return false;
  }
  return f->threads > 0 && f->rate > 0 && f->records > 0;
}

bool Exists(const std::string& path) {
  struct stat st;
  return !path.empty() && stat(path.c_str(), &st) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!Parse(argc, argv, &flags)) {
    std::fprintf(stderr, "client_app: bad flags (see the header of client_app.cc)\n");
    return 2;
  }
  tributary::client::ClientOptions options;
  options.endpoints = {flags.endpoint};
  options.resource.service_name = flags.service;
  options.queue.max_records = static_cast<size_t>(flags.queue);
  options.max_unacked_bytes = static_cast<size_t>(flags.unacked_bytes);
  options.batch.max_bytes = std::min<size_t>(options.batch.max_bytes, options.max_unacked_bytes);
  options.retry.max_backoff = absl::Milliseconds(500);
  options.read_environment = false;
  auto client = tributary::client::Client::Create(options);
  if (!client.ok()) {
    std::fprintf(stderr, "client_app: %s\n", std::string(client.status().message()).c_str());
    return 2;
  }
  tributary::client::Logger log = (*client)->GetLogger("e2e");

  std::atomic<int64_t> logged{0};
  std::atomic<int64_t> max_call_ns{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < flags.threads; ++t) {
    threads.emplace_back([&, t] {
      const absl::Time start = absl::Now();
      int64_t slowest = 0;
      int64_t i = 0;
      for (; i < flags.records; ++i) {
        if (i % 256 == 0) {
          if (Exists(flags.stop_file)) break;
          // Pace to the rate: this is a load generator, not a sync point.
          const absl::Time due = start + absl::Seconds(1) * (static_cast<double>(i) / flags.rate);
          const absl::Time now = absl::Now();
          if (due > now) absl::SleepFor(due - now);
        }
        const int64_t id = t * flags.records + i;
        const std::string body = absl::StrCat("rec-", id);
        const int64_t before = absl::GetCurrentTimeNanos();
        log.Info(body, {{"thread", t}, {"i", i}, {"pad", "0123456789abcdef0123456789"}});
        slowest = std::max(slowest, absl::GetCurrentTimeNanos() - before);
      }
      logged.fetch_add(i);
      int64_t m = max_call_ns.load();
      while (slowest > m && !max_call_ns.compare_exchange_weak(m, slowest)) {
      }
    });
  }
  for (auto& th : threads) th.join();
  if (!flags.logged_file.empty()) {
    if (FILE* f = std::fopen(flags.logged_file.c_str(), "w")) std::fclose(f);
  }

  const auto report = (*client)->Flush(absl::Seconds(flags.flush_timeout_s));
  const tributary::client::ClientStats s = (*client)->stats();
  const uint64_t dropped = s.dropped_full_protected + s.dropped_full_unprotected + s.evicted +
                           s.dropped_sampled + s.dropped_invalid + s.dropped_too_large +
                           s.rejected;
  std::printf("logged=%lld\n", static_cast<long long>(logged.load()));
  std::printf("enqueued=%llu\n", static_cast<unsigned long long>(s.enqueued));
  std::printf("dropped=%llu\n", static_cast<unsigned long long>(dropped));
  std::printf("delivered=%llu\n", static_cast<unsigned long long>(s.records_delivered));
  std::printf("reconnects=%llu\n", static_cast<unsigned long long>(s.reconnects));
  std::printf("retries=%llu\n", static_cast<unsigned long long>(s.retries));
  std::printf("batches_split=%llu\n", static_cast<unsigned long long>(s.batches_split));
  std::printf("dropped_invalid=%llu\n", static_cast<unsigned long long>(s.dropped_invalid));
  std::printf("max_call_us=%lld\n", static_cast<long long>(max_call_ns.load() / 1000));
  std::printf("flush_complete=%d\n", report.complete ? 1 : 0);
  std::printf("pending=%llu\n", static_cast<unsigned long long>(report.pending_records));
  std::printf("last_error=%s\n", s.last_error.c_str());
  const auto shutdown = (*client)->Shutdown(absl::Seconds(10));
  return report.complete && shutdown.complete ? 0 : 1;
}
