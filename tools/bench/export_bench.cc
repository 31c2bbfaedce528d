// The exporters' delivery rate and lag, against fast receivers in the same
// process on loopback.
//
//   bazel run -c opt //tools/bench:export_bench [-- --records=500000 --dir=/tmp/x]
//
// 1. Drain: a RocksDB buffer pre-filled with --records log records (1000 per
//    stored batch: the 425-byte reference record) or metric points is drained
//    by one exporter's delivery loop: the OTLP exporter to an OTLP/gRPC
//    receiver that answers at once without parsing, the Loki exporter
//    (snappy protobuf, logfmt lines) and the remote-write exporter to an
//    HTTP receiver that answers 204. Records (samples) per second, MB/s of
//    stored payload, and the process's CPU time per second. Baseline in the
//    same run: reading the same buffer from start to end without exporting.
// 2. Lag: batches are appended at 100k records/s (logs and metric points
//    alike) for --lag_seconds while all four exporters run (OTLP, Loki,
//    remote write, and the Prometheus scrape endpoint's series); each
//    exporter's lag (age of its oldest undelivered entry) is sampled every
//    50 ms; p99 over all of them.
#include <microhttpd.h>
#include <sys/resource.h>

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
#include "absl/time/clock.h"
#include "base/metrics.h"
#include "exporters/delivery/delivery_loop.h"
#include "exporters/loki/loki_exporter.h"
#include "exporters/otlp/otlp_exporter.h"
#include "exporters/prometheus/remote_write.h"
#include "exporters/prometheus/scrape.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/generic/async_generic_service.h"
#include "storage/rocksdb/rocksdb_buffer.h"
#include "tools/bench/bench_record.h"

ABSL_FLAG(int, records, 500000, "records (or metric points) in the pre-filled buffer");
ABSL_FLAG(int, lag_seconds, 10, "seconds of ingest at 100k records/s for the lag run");
ABSL_FLAG(std::string, only, "",
          "run one part only (read, otlp, loki, remote_write, lag), for profiling");
ABSL_FLAG(std::string, dir, "/tmp/tributary-export-bench", "scratch directory (removed)");

namespace {

namespace fs = std::filesystem;
namespace tv1 = ::tributary::v1;
using tributary::exporters::DeliveryLoop;
using tributary::exporters::DeliveryMetrics;
using tributary::exporters::DeliveryOptions;

// An OTLP receiver that answers every call at once with an empty response
// (a valid Export*ServiceResponse), without parsing the request: what the
// exporter costs is measured, not the receiver.
class RawSink final : public grpc::CallbackGenericService {
  grpc::ServerGenericBidiReactor* CreateReactor(grpc::GenericCallbackServerContext*) override {
    class Call : public grpc::ServerGenericBidiReactor {
     public:
      Call() {
        grpc::Slice empty(std::string{});
        out_ = grpc::ByteBuffer(&empty, 1);
        StartRead(&in_);
      }
      void OnReadDone(bool ok) override {
        if (!ok) {
          Finish(grpc::Status::OK);
          return;
        }
        StartWrite(&out_);
      }
      void OnWriteDone(bool) override { Finish(grpc::Status::OK); }
      void OnDone() override { delete this; }

     private:
      grpc::ByteBuffer in_;
      grpc::ByteBuffer out_;
    };
    return new Call;
  }
};

// Answers every POST with 204 once its body has arrived.
MHD_Result Http204(void*, MHD_Connection* c, const char*, const char*, const char*,
                   const char*, size_t* upload_size, void** state) {
  if (*state == nullptr) {
    *state = c;
    return MHD_YES;
  }
  if (*upload_size > 0) {
    *upload_size = 0;
    return MHD_YES;
  }
  MHD_Response* r = MHD_create_response_from_buffer(0, nullptr, MHD_RESPMEM_PERSISTENT);
  const MHD_Result result = MHD_queue_response(c, 204, r);
  MHD_destroy_response(r);
  return result;
}

double CpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_utime.tv_sec + u.ru_stime.tv_sec + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

tv1::IngestBatch MetricBatch(int points, int64_t now_ns, int salt) {
  tv1::IngestBatch b;
  b.mutable_resource()->set_service_name("bench");
  for (int i = 0; i < points; ++i) {
    tv1::MetricPoint* m = b.add_metrics();
    m->set_name("bench_requests_total");
    m->set_kind(tv1::METRIC_KIND_COUNTER);
    m->set_temporality(tv1::TEMPORALITY_CUMULATIVE);
    m->set_time_unix_nano(static_cast<uint64_t>(now_ns));
    m->set_as_double(i);
    tv1::Attribute* l = m->add_labels();
    l->set_key("series");
    l->set_value(absl::StrCat(salt % 50, "-", i % 20));
  }
  return b;
}

std::unique_ptr<tributary::storage::Buffer> OpenBuffer(const std::string& dir) {
  fs::remove_all(dir);
  tributary::storage::BufferOptions o;
  o.durability = tributary::storage::Durability::kAsync;
  o.retention = absl::ZeroDuration();
  auto b = tributary::storage::RocksDbBuffer::Open(dir, o);
  if (!b.ok()) {
    std::fprintf(stderr, "buffer: %s\n", b.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*b);
}

void Fill(tributary::storage::Buffer* buffer, const std::string& payload, int batches,
          uint32_t per_batch) {
  for (int i = 0; i < batches; ++i) {
    tributary::storage::AppendRequest r;
    r.payload = payload;
    r.record_count = per_batch;
    if (!buffer->AppendAndWait(std::move(r)).ok()) std::exit(1);
  }
}

struct Drain {
  double records_per_s = 0;
  double mb_per_s = 0;
  double cpu = 0;  // CPU seconds per second
};

Drain RunDrain(tributary::storage::Buffer* buffer,
               std::unique_ptr<tributary::exporters::Exporter> exporter, uint64_t records,
               uint64_t payload_bytes) {
  tributary::metrics::Registry registry;
  DeliveryMetrics metrics(&registry);
  DeliveryOptions o;
  o.batch.max_records = 5000;
  o.batch.max_delay = absl::Milliseconds(5);
  DeliveryLoop loop(buffer, std::move(exporter), o, &metrics);
  const double cpu0 = CpuSeconds();
  const absl::Time start = absl::Now();
  if (!loop.Start().ok()) std::exit(1);
  const absl::Time deadline = start + absl::Minutes(5);
  while (loop.status().records_sent < records && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const double cpu = CpuSeconds() - cpu0;
  loop.Stop();
  if (loop.status().records_sent < records) {
    std::fprintf(stderr, "drain incomplete: %llu of %llu (%s)\n",
                 static_cast<unsigned long long>(loop.status().records_sent),
                 static_cast<unsigned long long>(records), loop.status().last_error.c_str());
    std::exit(1);
  }
  return {records / seconds, payload_bytes / seconds / 1e6, cpu / seconds};
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string root = absl::GetFlag(FLAGS_dir);
  const std::string only = absl::GetFlag(FLAGS_only);
  auto Run = [&](const char* part) { return only.empty() || only == part; };
  const int records = std::max(1000, absl::GetFlag(FLAGS_records));
  const int batches = records / 1000;
  fs::create_directories(root);

  // Receivers.
  RawSink sink;
  grpc::ServerBuilder builder;
  int otlp_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &otlp_port);
  builder.RegisterCallbackGenericService(&sink);
  builder.SetMaxReceiveMessageSize(256 << 20);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  MHD_Daemon* http = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, nullptr,
                                      nullptr, &Http204, nullptr, MHD_OPTION_END);
  const MHD_DaemonInfo* info = MHD_get_daemon_info(http, MHD_DAEMON_INFO_BIND_PORT);
  const int http_port = info->port;
  tributary::otlp::OtlpExporterOptions otlp;
  otlp.endpoint = absl::StrCat("127.0.0.1:", otlp_port);
  otlp.gzip = false;  // loopback: compression would only cost CPU
  tributary::exporters::RemoteWriteOptions rw;
  rw.url = absl::StrCat("http://127.0.0.1:", http_port, "/api/v1/write");
  tributary::exporters::LokiOptions loki;
  loki.url = absl::StrCat("http://127.0.0.1:", http_port);

  const std::string logs = tributary::bench::ReferenceBatch("", 0, 1000).SerializeAsString();
  const std::string points = MetricBatch(1000, absl::GetCurrentTimeNanos(), 0).SerializeAsString();
  std::printf("export_bench: %d records per drain (batches of 1000), receivers in-process\n\n",
              batches * 1000);

  // Baseline: the buffer read from start to end.
  double read_per_s = 0;
  if (Run("read")) {
    auto buffer = OpenBuffer(root + "/read");
    Fill(buffer.get(), logs, batches, 1000);
    const absl::Time start = absl::Now();
    uint64_t from = 0, n = 0;
    for (;;) {
      auto e = buffer->Read(from, 64, 64 << 20);
      if (!e.ok() || e->empty()) break;
      for (const auto& entry : *e) {
        tv1::IngestBatch b;
        b.ParseFromString(entry.payload);
        n += entry.record_count;
        from = entry.offset + 1;
      }
    }
    read_per_s = n / absl::ToDoubleSeconds(absl::Now() - start);
    std::printf("%-40s %10.0f records/s\n", "baseline: read + parse the buffer", read_per_s);
  }
  // One exporter draining a buffer pre-filled with `payload` batches.
  auto drain = [&](const char* part, const char* label, const char* unit,
                   const std::string& payload,
                   std::unique_ptr<tributary::exporters::Exporter> exporter) {
    if (!Run(part)) return Drain{};
    auto buffer = OpenBuffer(root + "/" + part);
    Fill(buffer.get(), payload, batches, 1000);
    const Drain d = RunDrain(buffer.get(), std::move(exporter),
                             static_cast<uint64_t>(batches) * 1000,
                             static_cast<uint64_t>(batches) * payload.size());
    std::printf("%-40s %10.0f %s/s %7.1f MB/s  CPU %.2f s/s\n", label, d.records_per_s, unit,
                d.mb_per_s, d.cpu);
    return d;
  };
  const Drain otlp_drain = drain("otlp", "otlp exporter (logs)", "records", logs,
                                 std::make_unique<tributary::otlp::OtlpExporter>(otlp));
  const Drain loki_drain = drain("loki", "loki exporter", "records", logs,
                                 std::make_unique<tributary::exporters::LokiExporter>(loki));
  const Drain rw_drain =
      drain("remote_write", "remote-write exporter", "samples", points,
            std::make_unique<tributary::exporters::RemoteWriteExporter>(rw));

  // Lag under ingest: 100k records/s (half logs, half points), all four on.
  double lag_p99 = 0;
  if (Run("lag")) {
    auto buffer = OpenBuffer(root + "/lag");
    tributary::metrics::Registry registry;
    DeliveryMetrics metrics(&registry);
    DeliveryOptions o;
    o.batch.max_delay = absl::Milliseconds(100);
    DeliveryLoop otlp_loop(buffer.get(), std::make_unique<tributary::otlp::OtlpExporter>(otlp),
                           o, &metrics);
    DeliveryLoop loki_loop(buffer.get(), std::make_unique<tributary::exporters::LokiExporter>(loki),
                           o, &metrics);
    DeliveryLoop rw_loop(buffer.get(),
                         std::make_unique<tributary::exporters::RemoteWriteExporter>(rw), o,
                         &metrics);
    auto store = std::make_shared<tributary::exporters::SeriesStore>(
        tributary::exporters::ScrapeOptions{});
    DeliveryLoop scrape_loop(buffer.get(),
                             std::make_unique<tributary::exporters::ScrapeExporter>(store), o,
                             &metrics);
    std::vector<DeliveryLoop*> loops = {&otlp_loop, &loki_loop, &rw_loop, &scrape_loop};
    for (DeliveryLoop* loop : loops) {
      if (!loop->Start().ok()) return 1;
    }
    std::atomic<bool> done{false};
    std::thread ingest([&] {
      const absl::Time start = absl::Now();
      for (int i = 0; !done; ++i) {
        // 100 stored batches of 1000 per second, alternating logs and points.
        const absl::Time due = start + absl::Milliseconds(10) * i;
        if (due > absl::Now()) absl::SleepFor(due - absl::Now());
        tributary::storage::AppendRequest r;
        r.payload = i % 2 == 0 ? logs
                               : MetricBatch(1000, absl::GetCurrentTimeNanos(), i)
                                     .SerializeAsString();
        r.record_count = 1000;
        buffer->Append(std::move(r), [](absl::StatusOr<tributary::storage::AppendResult>) {});
      }
    });
    std::vector<double> lags;
    const absl::Time end = absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_lag_seconds));
    while (absl::Now() < end) {
      absl::SleepFor(absl::Milliseconds(50));
      for (DeliveryLoop* loop : loops) lags.push_back(loop->status().lag_seconds);
    }
    done = true;
    ingest.join();
    for (DeliveryLoop* loop : loops) loop->Stop();
    std::sort(lags.begin(), lags.end());
    lag_p99 = lags.empty() ? 0 : lags[std::min(lags.size() - 1, lags.size() * 99 / 100)];
    std::printf("%-40s %10.3f s (p50 %.3f s, %zu samples)\n",
                "lag p99 at 100k records/s, all four on", lag_p99,
                lags.empty() ? 0 : lags[lags.size() / 2], lags.size());
  }

  server->Shutdown();
  MHD_stop_daemon(http);
  fs::remove_all(root);
  std::printf("\nRESULT otlp_records_per_s=%.0f loki_records_per_s=%.0f "
              "remote_write_samples_per_s=%.0f lag_p99_s=%.3f otlp_vs_read=%.2f "
              "loki_vs_read=%.2f\n",
              otlp_drain.records_per_s, loki_drain.records_per_s, rw_drain.records_per_s,
              lag_p99, read_per_s > 0 ? otlp_drain.records_per_s / read_per_s : 0,
              read_per_s > 0 ? loki_drain.records_per_s / read_per_s : 0);
  return 0;
}
