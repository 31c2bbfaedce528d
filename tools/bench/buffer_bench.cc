// buffer_bench: the write-ahead buffer against its references, in one run.
//
//   bazel run -c opt //tools/bench:buffer_bench [-- --seconds=6 --dir=/tmp/x]
//
// Appends 1000-record batches of the 425-byte reference record from 1, 4 and
// 16 appenders (each with up to 8 appends in flight) in sync mode; then, on the
// same bytes: the product in async mode, a naive baseline (one writer, one
// RocksDB key per record, a sync WriteBatch per batch, no group commit), and
// the disk itself (append to a plain file + fdatasync per batch). Ends with a
// RESULT line comparing them at 4 appenders, and the p99 latency in sync mode
// at the maximum rate and at half of it. The plain file offered the same half
// rate is measured too: the floor under the half-rate latency.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "base/mutex.h"
#include "absl/time/clock.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/rocksdb/rocksdb_buffer.h"
#include "tools/bench/bench_record.h"

ABSL_FLAG(int, seconds, 6, "duration of each measurement");
ABSL_FLAG(std::string, dir, "/tmp/tributary-buffer-bench", "scratch directory (removed)");
ABSL_FLAG(int, in_flight, 8, "appends in flight per appender");
ABSL_FLAG(std::string, only, "",
          "run just one measurement, for profiling: sync1, sync4, sync16, async4, naive, disk "
          "(no RESULT line); sync4 and disk with --offered_rps pace the writes");
ABSL_FLAG(std::string, compression, "lz4",
          "how the buffer stores batches: lz4 (the default) or none");
ABSL_FLAG(double, offered_rps, 0,
          "with --only=sync4 or disk: records/s to offer (0 = as fast as acked)");

namespace tributary::bench {
namespace {

namespace fs = std::filesystem;
using storage::AppendResult;

constexpr int kRecordsPerBatch = 1000;

struct Result {
  std::string name;
  double records_per_s = 0;
  double mb_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
};

double Percentile(std::vector<double>* v, double p) {
  if (v->empty()) return 0;
  std::sort(v->begin(), v->end());
  return (*v)[std::min(v->size() - 1, static_cast<size_t>(p * v->size()))];
}

void Print(const Result& r) {
  std::printf("%-28s %12.0f records/s %8.1f MB/s   p50 %7.2f ms   p99 %7.2f ms\n",
              r.name.c_str(), r.records_per_s, r.mb_per_s, r.p50_ms, r.p99_ms);
  std::fflush(stdout);
}

std::string Scratch(const std::string& name) {
  const std::string d = absl::StrCat(absl::GetFlag(FLAGS_dir), "/", name);
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

// `appenders` threads append `payload` for `duration`, each keeping up to
// in_flight appends outstanding; if `offered_rps` > 0 the threads pace
// themselves to offer that many records/s in total.
storage::Compression FlagCompression() {
  return absl::GetFlag(FLAGS_compression) == "none" ? storage::Compression::kNone
                                                     : storage::Compression::kLz4;
}

Result RunBuffer(const std::string& name, storage::Durability durability, int appenders,
                 const std::string& payload, double offered_rps,
                 storage::Compression compression = FlagCompression()) {
  storage::BufferOptions options;
  options.durability = durability;
  options.compression = compression;
  options.max_disk_bytes = 0;
  options.retention = absl::ZeroDuration();
  auto opened = storage::RocksDbBuffer::Open(Scratch(name), options);
  if (!opened.ok()) {
    std::fprintf(stderr, "open: %s\n", opened.status().ToString().c_str());
    std::exit(1);
  }
  auto& buffer = *opened;
  const int in_flight_max = absl::GetFlag(FLAGS_in_flight);
  const absl::Duration duration = absl::Seconds(absl::GetFlag(FLAGS_seconds));
  Mutex results_mu;
  std::vector<double> latencies_ms, call_ms, durable_wait_ms;
  uint64_t completed = 0, failed = 0;

  const absl::Time start = absl::Now();
  const absl::Time end = start + duration;
  std::vector<std::thread> threads;
  for (int t = 0; t < appenders; ++t) {
    threads.emplace_back([&, t] {
      Mutex mu;
      int in_flight = 0;
      std::vector<double> local, local_call, local_wait;
      const absl::Duration interval =
          offered_rps > 0 ? absl::Seconds(kRecordsPerBatch * appenders / offered_rps)
                          : absl::ZeroDuration();
      absl::Time next_send = start + interval * t / appenders;
      for (uint64_t seq = 1; absl::Now() < end; ++seq) {
        if (offered_rps > 0) {
          absl::SleepFor(next_send - absl::Now());
          next_send += interval;
        }
        {
          MutexLock l(&mu);
          auto room = [&] { return in_flight < in_flight_max; };
          mu.Await(room);
          ++in_flight;
        }
        const absl::Time sent = absl::Now();
        // Set once Append has returned (its write is done); read by the callback.
        auto written_at = std::make_shared<std::atomic<int64_t>>(0);
        buffer->Append({absl::StrCat("bench-", t), seq, kRecordsPerBatch, payload},
                       [&, sent, written_at](absl::StatusOr<AppendResult> r) {
                         const absl::Time now = absl::Now();
                         const double ms = absl::ToDoubleMilliseconds(now - sent);
                         const int64_t written = written_at->load();
                         MutexLock l(&mu);
                         if (written > 0) {
                           local_wait.push_back(
                               absl::ToDoubleMilliseconds(now - absl::FromUnixNanos(written)));
                         }
                         --in_flight;
                         if (r.ok()) {
                           local.push_back(ms);
                         } else {
                           MutexLock rl(&results_mu);
                           ++failed;
                         }
                       });
        written_at->store(absl::ToUnixNanos(absl::Now()));
        const double call = absl::ToDoubleMilliseconds(absl::Now() - sent);
        MutexLock l(&mu);
        local_call.push_back(call);
      }
      MutexLock l(&mu);
      auto drained = [&] { return in_flight == 0; };
      mu.Await(drained);
      MutexLock rl(&results_mu);
      completed += local.size();
      latencies_ms.insert(latencies_ms.end(), local.begin(), local.end());
      call_ms.insert(call_ms.end(), local_call.begin(), local_call.end());
      durable_wait_ms.insert(durable_wait_ms.end(), local_wait.begin(), local_wait.end());
    });
  }
  for (auto& t : threads) t.join();
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  if (failed > 0) std::fprintf(stderr, "%s: %llu appends failed\n", name.c_str(),
                               static_cast<unsigned long long>(failed));
  const storage::BufferStats stats = buffer->Stats();
  buffer.reset();
  fs::remove_all(absl::StrCat(absl::GetFlag(FLAGS_dir), "/", name));
  Result r;
  r.name = name;
  r.records_per_s = completed * kRecordsPerBatch / elapsed;
  r.mb_per_s = completed * payload.size() / elapsed / 1e6;
  r.p50_ms = Percentile(&latencies_ms, 0.50);
  r.p99_ms = Percentile(&latencies_ms, 0.99);
  Print(r);
  std::printf("%28s Append call (the caller's share: the write) p50 %.2f ms, p99 %.2f ms\n", "",
              Percentile(&call_ms, 0.5), Percentile(&call_ms, 0.99));
  if (!durable_wait_ms.empty()) {
    std::printf("%28s then waiting for the group fsync      p50 %.2f ms, p99 %.2f ms\n", "",
                Percentile(&durable_wait_ms, 0.5), Percentile(&durable_wait_ms, 0.99));
  }
  std::printf("%28s %llu appends shared %llu fsyncs; fsync latency histogram:", "",
              static_cast<unsigned long long>(completed),
              static_cast<unsigned long long>(stats.syncs));
  for (size_t i = 0; i < stats.sync_latency_counts.size(); ++i) {
    if (stats.sync_latency_counts[i] == 0) continue;
    if (i < stats.sync_latency_bounds_seconds.size()) {
      std::printf(" <=%gms:%llu", stats.sync_latency_bounds_seconds[i] * 1000,
                  static_cast<unsigned long long>(stats.sync_latency_counts[i]));
    } else {
      std::printf(" >1s:%llu", static_cast<unsigned long long>(stats.sync_latency_counts[i]));
    }
  }
  std::printf("\n");
  const double stored_share =
      static_cast<double>(stats.appended_stored_bytes) /
      static_cast<double>(std::max<uint64_t>(1, stats.appended_payload_bytes));
  std::printf("%28s stored %.1f%% of the payload bytes appended (compression: %s)\n", "",
              100 * stored_share, compression == storage::Compression::kLz4 ? "lz4" : "none");
  return r;
}

// One writer, one RocksDB key per record, one WriteBatch with sync=true per
// batch, RocksDB's default options: what a first attempt looks like.
Result RunNaive(const std::vector<std::string>& records, size_t batch_bytes) {
  const std::string dir = Scratch("naive");
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, dir, &raw).ok()) std::exit(1);
  std::unique_ptr<rocksdb::DB> db(raw);
  rocksdb::WriteOptions wo;
  wo.sync = true;
  std::vector<double> latencies_ms;
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(absl::GetFlag(FLAGS_seconds));
  uint64_t key = 0;
  while (absl::Now() < end) {
    const absl::Time t0 = absl::Now();
    rocksdb::WriteBatch batch;
    for (const std::string& rec : records) {
      char k[8];
      for (int i = 0; i < 8; ++i) k[i] = static_cast<char>(key >> (56 - 8 * i));
      ++key;
      batch.Put(rocksdb::Slice(k, 8), rec);
    }
    if (!db->Write(wo, &batch).ok()) std::exit(1);
    latencies_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
  }
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  db.reset();
  fs::remove_all(dir);
  Result r;
  r.name = "naive (key/record, 1 writer)";
  r.records_per_s = latencies_ms.size() * kRecordsPerBatch / elapsed;
  r.mb_per_s = latencies_ms.size() * batch_bytes / elapsed / 1e6;
  r.p50_ms = Percentile(&latencies_ms, 0.5);
  r.p99_ms = Percentile(&latencies_ms, 0.99);
  Print(r);
  return r;
}

// The same bytes appended to a plain file with fdatasync after each batch, by
// one writer. With `offered_rps` > 0 the batches are due at that rate and each
// one's latency runs from when it was due, so a batch that waits behind a slow
// fdatasync counts the wait, as an append waiting for a slow group fsync does.
Result RunDisk(const std::string& name, const std::string& payload, double offered_rps) {
  const std::string dir = Scratch("disk");
  const std::string path = dir + "/append.bin";
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (fd < 0) std::exit(1);
  std::vector<double> latencies_ms;
  const absl::Time start = absl::Now();
  const absl::Time end = start + absl::Seconds(absl::GetFlag(FLAGS_seconds));
  const absl::Duration interval =
      offered_rps > 0 ? absl::Seconds(kRecordsPerBatch / offered_rps) : absl::ZeroDuration();
  absl::Time due = start;
  while (absl::Now() < end) {
    absl::Time t0 = absl::Now();
    if (offered_rps > 0) {
      absl::SleepFor(due - t0);
      t0 = due;
      due += interval;
    }
    size_t done = 0;
    while (done < payload.size()) {
      const ssize_t n = write(fd, payload.data() + done, payload.size() - done);
      if (n <= 0) std::exit(1);
      done += n;
    }
    if (fdatasync(fd) != 0) std::exit(1);
    latencies_ms.push_back(absl::ToDoubleMilliseconds(absl::Now() - t0));
  }
  const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
  close(fd);
  fs::remove_all(dir);
  Result r;
  r.name = name;
  r.records_per_s = latencies_ms.size() * kRecordsPerBatch / elapsed;
  r.mb_per_s = latencies_ms.size() * payload.size() / elapsed / 1e6;
  r.p50_ms = Percentile(&latencies_ms, 0.5);
  r.p99_ms = Percentile(&latencies_ms, 0.99);
  Print(r);
  return r;
}

int Main() {
  const tributary::v1::IngestBatch batch = ReferenceBatch("bench", 1, kRecordsPerBatch);
  const std::string payload = batch.SerializeAsString();
  std::vector<std::string> records;
  for (const auto& rec : batch.logs()) records.push_back(rec.SerializeAsString());
  std::printf("batch: %d records, %zu bytes (%zu bytes/record); %d s per measurement\n\n",
              kRecordsPerBatch, payload.size(), records[0].size(), absl::GetFlag(FLAGS_seconds));

  const std::string only = absl::GetFlag(FLAGS_only);
  if (!only.empty()) {
    using storage::Durability;
    if (only == "sync1") RunBuffer("sync, 1 appender", Durability::kSync, 1, payload, 0);
    else if (only == "sync4") {
      RunBuffer("sync, 4 appenders", Durability::kSync, 4, payload,
                absl::GetFlag(FLAGS_offered_rps));
    }
    else if (only == "sync16") RunBuffer("sync, 16 appenders", Durability::kSync, 16, payload, 0);
    else if (only == "async4") RunBuffer("async, 4 appenders", Durability::kAsync, 4, payload, 0);
    else if (only == "naive") RunNaive(records, payload.size());
    else if (only == "disk") {
      RunDisk("disk (file + fdatasync)", payload, absl::GetFlag(FLAGS_offered_rps));
    }
    else {
      std::fprintf(stderr, "unknown --only=%s\n", only.c_str());
      return 2;
    }
    fs::remove_all(absl::GetFlag(FLAGS_dir));
    return 0;
  }

  RunBuffer("sync, 1 appender", storage::Durability::kSync, 1, payload, 0);
  const Result sync4 = RunBuffer("sync, 4 appenders", storage::Durability::kSync, 4, payload, 0);
  RunBuffer("sync, 16 appenders", storage::Durability::kSync, 16, payload, 0);
  const Result async4 =
      RunBuffer("async, 4 appenders", storage::Durability::kAsync, 4, payload, 0);
  // What compression buys: the same run with batches stored as appended.
  const Result uncompressed = RunBuffer("sync, 4 appenders, stored as is",
                                        storage::Durability::kSync, 4, payload, 0,
                                        storage::Compression::kNone);
  const Result naive = RunNaive(records, payload.size());
  const Result disk = RunDisk("disk (file + fdatasync)", payload, 0);
  const Result half = RunBuffer("sync, 4 appenders, half rate", storage::Durability::kSync, 4,
                                payload, sync4.records_per_s / 2);
  // What the disk alone does at that rate: the floor under p99_ms_half.
  const Result disk_half =
      RunDisk("disk, same half rate", payload, sync4.records_per_s / 2);
  std::printf("\nhalf rate, p99: sync %.1f ms, the plain file alone %.1f ms\n", half.p99_ms,
              disk_half.p99_ms);
  std::printf("sync, 4 appenders: %.0f records/s (compression: %s), %.0f stored as is (x%.2f)\n",
              sync4.records_per_s, absl::GetFlag(FLAGS_compression).c_str(),
              uncompressed.records_per_s, sync4.records_per_s / uncompressed.records_per_s);

  std::printf(
      "\nRESULT sync_records_per_s=%.0f async_records_per_s=%.0f naive_records_per_s=%.0f "
      "disk_records_per_s=%.0f sync_vs_async=%.2f sync_vs_naive=%.2f sync_vs_disk=%.2f "
      "p99_ms_max=%.1f p99_ms_half=%.1f\n",
      sync4.records_per_s, async4.records_per_s, naive.records_per_s, disk.records_per_s,
      sync4.records_per_s / async4.records_per_s, sync4.records_per_s / naive.records_per_s,
      sync4.records_per_s / disk.records_per_s, sync4.p99_ms, half.p99_ms);
  fs::remove_all(absl::GetFlag(FLAGS_dir));
  return 0;
}

}  // namespace
}  // namespace tributary::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string compression = absl::GetFlag(FLAGS_compression);
  if (compression != "lz4" && compression != "none") {
    std::fprintf(stderr, "--compression must be lz4 or none, got %s\n", compression.c_str());
    return 2;
  }
  return tributary::bench::Main();
}
