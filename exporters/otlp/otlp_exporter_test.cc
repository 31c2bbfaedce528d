// The OTLP exporter behind the shared delivery loop, against an in-process
// OTLP/gRPC receiver: every signal arrives with its ids, parents and
// resource; requests are gzip-compressed and carry custom headers; UNAVAILABLE (with and
// without RetryInfo) and calls a hung receiver never answers are retried until
// everything arrives; partial_success and INVALID_ARGUMENT are counted as
// dropped.
#include "exporters/otlp/otlp_exporter.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "exporters/delivery/delivery_loop.h"
#include "exporters/otlp/convert.h"
#include "gmock/gmock.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "storage/memory/memory_buffer.h"

namespace tributary::otlp {
namespace {

using ::testing::HasSubstr;

// What an OTLP receiver got, and how it is told to answer.
struct Receiver {
  Mutex mu;
  std::vector<otlp_logs::ExportLogsServiceRequest> logs ABSL_GUARDED_BY(mu);
  std::vector<otlp_trace::ExportTraceServiceRequest> traces ABSL_GUARDED_BY(mu);
  std::vector<otlp_metrics::ExportMetricsServiceRequest> metrics ABSL_GUARDED_BY(mu);
  std::vector<std::string> auth ABSL_GUARDED_BY(mu);
  int fail_next ABSL_GUARDED_BY(mu) = 0;   // answer UNAVAILABLE this many times
  bool retry_info ABSL_GUARDED_BY(mu) = false;
  int invalid_next ABSL_GUARDED_BY(mu) = 0;  // answer INVALID_ARGUMENT
  int64_t reject_logs ABSL_GUARDED_BY(mu) = 0;  // partial_success.rejected_log_records
  int stall_next ABSL_GUARDED_BY(mu) = 0;  // never answer this many calls (a hung receiver)
  int stalled ABSL_GUARDED_BY(mu) = 0;
  int calls ABSL_GUARDED_BY(mu) = 0;

  // Called without mu. True if this call is one to stall: it is held, with
  // no answer, until the exporter gives up on it (or for 30 s at most).
  bool Stall(grpc::ServerContext* context) {
    {
      MutexLock lock(&mu);
      if (stall_next == 0) return false;
      --stall_next;
      ++stalled;
    }
    const absl::Time limit = absl::Now() + absl::Seconds(30);
    while (!context->IsCancelled() && absl::Now() < limit) absl::SleepFor(absl::Milliseconds(5));
    return true;
  }

  // Non-OK to answer with, or OK to store the request.
  grpc::Status Admit(grpc::ServerContext* context) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++calls;
    const auto& md = context->client_metadata();
    auto a = md.find("authorization");
    auth.push_back(a == md.end() ? "" : std::string(a->second.data(), a->second.size()));
    if (fail_next > 0) {
      --fail_next;
      if (!retry_info) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "receiver restarting");
      google::rpc::Status s;
      s.set_code(grpc::StatusCode::UNAVAILABLE);
      s.set_message("receiver busy");
      google::rpc::RetryInfo info;
      info.mutable_retry_delay()->set_nanos(200 * 1000 * 1000);
      s.add_details()->PackFrom(info);
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "receiver busy", s.SerializeAsString());
    }
    if (invalid_next > 0) {
      --invalid_next;
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "bad timestamps");
    }
    return grpc::Status::OK;
  }
};

class LogsService final : public otlp_logs::LogsService::Service {
 public:
  explicit LogsService(Receiver* r) : r_(r) {}
  grpc::Status Export(grpc::ServerContext* c, const otlp_logs::ExportLogsServiceRequest* req,
                      otlp_logs::ExportLogsServiceResponse* resp) override {
    if (r_->Stall(c)) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stalled");
    MutexLock lock(&r_->mu);
    grpc::Status s = r_->Admit(c);
    if (!s.ok()) return s;
    r_->logs.push_back(*req);
    if (r_->reject_logs > 0) {
      resp->mutable_partial_success()->set_rejected_log_records(r_->reject_logs);
      resp->mutable_partial_success()->set_error_message("log records too old");
      r_->reject_logs = 0;
    }
    return s;
  }

 private:
  Receiver* r_;
};

class TraceService final : public otlp_trace::TraceService::Service {
 public:
  explicit TraceService(Receiver* r) : r_(r) {}
  grpc::Status Export(grpc::ServerContext* c, const otlp_trace::ExportTraceServiceRequest* req,
                      otlp_trace::ExportTraceServiceResponse*) override {
    MutexLock lock(&r_->mu);
    grpc::Status s = r_->Admit(c);
    if (s.ok()) r_->traces.push_back(*req);
    return s;
  }

 private:
  Receiver* r_;
};

class MetricsService final : public otlp_metrics::MetricsService::Service {
 public:
  explicit MetricsService(Receiver* r) : r_(r) {}
  grpc::Status Export(grpc::ServerContext* c, const otlp_metrics::ExportMetricsServiceRequest* req,
                      otlp_metrics::ExportMetricsServiceResponse*) override {
    MutexLock lock(&r_->mu);
    grpc::Status s = r_->Admit(c);
    if (s.ok()) r_->metrics.push_back(*req);
    return s;
  }

 private:
  Receiver* r_;
};

class OtlpExporterTest : public ::testing::Test {
 protected:
  OtlpExporterTest() : logs_(&receiver_), traces_(&receiver_), metrics_svc_(&receiver_),
                       metrics_(&registry_) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&logs_);
    builder.RegisterService(&traces_);
    builder.RegisterService(&metrics_svc_);
    server_ = builder.BuildAndStart();
    options_.retry.initial_interval = absl::Milliseconds(5);
    options_.retry.max_interval = absl::Milliseconds(50);
    options_.batch.max_delay = absl::Milliseconds(10);
  }
  ~OtlpExporterTest() override {
    if (loop_) loop_->Stop();
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  }

  void StartLoop(OtlpExporterOptions o = {}) {
    o.endpoint = absl::StrCat("127.0.0.1:", port_);
    loop_ = std::make_unique<exporters::DeliveryLoop>(
        &buffer_, std::make_unique<OtlpExporter>(o), options_, &metrics_);
    ASSERT_TRUE(loop_->Start().ok());
  }

  // Stores one batch per signal: 3 logs, a parent and a child span, a
  // counter point, with a resource.
  void AppendSample(int i) {
    tributary::v1::IngestBatch b;
    b.mutable_resource()->set_service_name("checkout");
    b.mutable_resource()->set_host("web-1");
    for (int j = 0; j < 3; ++j) {
      auto* l = b.add_logs();
      l->set_body(absl::StrCat("log ", i, "-", j));
      l->set_time_unix_nano(1700000000000000000ull + j);
      l->set_severity_number(9);
      l->set_trace_id(std::string(16, static_cast<char>('a' + i)));
      l->set_span_id(std::string(8, 'b'));
    }
    auto* parent = b.add_spans();
    parent->set_trace_id(std::string(16, static_cast<char>('a' + i)));
    parent->set_span_id(std::string(8, 'p'));
    parent->set_name("parent");
    parent->set_start_time_unix_nano(1700000000000000000ull);
    parent->set_end_time_unix_nano(1700000000000000100ull);
    auto* child = b.add_spans();
    *child = *parent;
    child->set_span_id(std::string(8, 'c'));
    child->set_parent_span_id(std::string(8, 'p'));
    child->set_name("child");
    auto* m = b.add_metrics();
    m->set_name("requests_total");
    m->set_kind(tributary::v1::METRIC_KIND_COUNTER);
    m->set_temporality(tributary::v1::TEMPORALITY_CUMULATIVE);
    m->set_as_double(i + 1);
    m->set_time_unix_nano(1700000000000000000ull);
    storage::AppendRequest req;
    req.payload = b.SerializeAsString();
    req.record_count = 6;
    ASSERT_TRUE(buffer_.AppendAndWait(std::move(req)).ok());
  }

  bool AwaitDelivered() {
    const uint64_t end = buffer_.Stats().next_offset;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (absl::Now() < deadline) {
      for (const auto& c : buffer_.Stats().consumers) {
        if (c.name == "exporter/otlp" && c.next == end) return true;
      }
      absl::SleepFor(absl::Milliseconds(2));
    }
    return false;
  }

  int CountLogs() {
    MutexLock lock(&receiver_.mu);
    int n = 0;
    for (const auto& r : receiver_.logs) {
      for (const auto& rl : r.resource_logs()) {
        for (const auto& sl : rl.scope_logs()) n += sl.log_records_size();
      }
    }
    return n;
  }

  Receiver receiver_;
  LogsService logs_;
  TraceService traces_;
  MetricsService metrics_svc_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  storage::MemoryBuffer buffer_;
  metrics::Registry registry_;
  exporters::DeliveryMetrics metrics_;
  exporters::DeliveryOptions options_;
  std::unique_ptr<exporters::DeliveryLoop> loop_;
};

TEST_F(OtlpExporterTest, EverySignalArrivesWithIdsParentsResourceAndHeaders) {
  for (int i = 0; i < 4; ++i) AppendSample(i);
  OtlpExporterOptions o;
  o.headers["authorization"] = "Bearer s3cret";
  StartLoop(o);
  ASSERT_TRUE(AwaitDelivered());
  EXPECT_EQ(CountLogs(), 12);
  MutexLock lock(&receiver_.mu);
  ASSERT_FALSE(receiver_.traces.empty());
  int spans = 0, children = 0;
  for (const auto& r : receiver_.traces) {
    for (const auto& rs : r.resource_spans()) {
      EXPECT_EQ(rs.resource().attributes(0).key(), "service.name");
      EXPECT_EQ(rs.resource().attributes(0).value().string_value(), "checkout");
      for (const auto& ss : rs.scope_spans()) {
        for (const auto& s : ss.spans()) {
          ++spans;
          EXPECT_EQ(s.trace_id().size(), 16u);
          if (s.name() == "child") {
            ++children;
            EXPECT_EQ(s.parent_span_id(), std::string(8, 'p'));
          }
        }
      }
    }
  }
  EXPECT_EQ(spans, 8);
  EXPECT_EQ(children, 4);
  ASSERT_FALSE(receiver_.logs.empty());
  const auto& first = receiver_.logs[0].resource_logs(0).scope_logs(0).log_records(0);
  EXPECT_EQ(first.trace_id(), std::string(16, 'a'));
  int points = 0;
  for (const auto& r : receiver_.metrics) {
    for (const auto& rm : r.resource_metrics()) {
      for (const auto& sm : rm.scope_metrics()) {
        for (const auto& m : sm.metrics()) points += m.sum().data_points_size();
      }
    }
  }
  EXPECT_EQ(points, 4);
  for (const auto& a : receiver_.auth) EXPECT_EQ(a, "Bearer s3cret");
}

// A receiver that does not accept gzip refuses the compressed calls, which
// shows the exporter compresses; with compression off they arrive.
TEST_F(OtlpExporterTest, RequestsAreGzipCompressed) {
  Receiver plain;
  LogsService plain_logs(&plain);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&plain_logs);
  builder.SetCompressionAlgorithmSupportStatus(GRPC_COMPRESS_GZIP, false);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  tributary::v1::IngestBatch b;
  b.add_logs()->set_body(std::string(4096, 'z'));
  exporters::Request request = *OtlpExporter({}).Encode({&b})->begin();

  OtlpExporterOptions gzip;
  gzip.endpoint = absl::StrCat("127.0.0.1:", port);
  const exporters::SendResult compressed =
      OtlpExporter(gzip).Send(request, absl::Now() + absl::Seconds(10));
  EXPECT_EQ(compressed.outcome, exporters::Outcome::kPermanent);
  EXPECT_THAT(compressed.message, HasSubstr("gzip"));
  OtlpExporterOptions none = gzip;
  none.gzip = false;
  const exporters::SendResult uncompressed =
      OtlpExporter(none).Send(request, absl::Now() + absl::Seconds(10));
  EXPECT_EQ(uncompressed.outcome, exporters::Outcome::kSuccess) << uncompressed.message;
  MutexLock lock(&plain.mu);
  EXPECT_EQ(plain.logs.size(), 1u);
  server->Shutdown();
}

TEST_F(OtlpExporterTest, UnavailableIsRetriedUntilEverythingArrivesOnce) {
  {
    MutexLock lock(&receiver_.mu);
    receiver_.fail_next = 4;
  }
  for (int i = 0; i < 3; ++i) AppendSample(i);
  StartLoop();
  ASSERT_TRUE(AwaitDelivered());
  EXPECT_EQ(CountLogs(), 9);  // once each: failed calls stored nothing
  EXPECT_THAT(registry_.Render(),
              HasSubstr("tributary_exporter_retries_total{exporter=\"otlp\"} 4\n"));
}

TEST_F(OtlpExporterTest, CallsAHungReceiverNeverAnswersTimeOutAndAreRetried) {
  {
    MutexLock lock(&receiver_.mu);
    receiver_.stall_next = 2;
  }
  for (int i = 0; i < 2; ++i) AppendSample(i);
  options_.send_timeout = absl::Milliseconds(300);
  options_.batch.max_records = 6;  // one stored batch per request: logs, traces, metrics
  StartLoop();
  // Without the deadline each stalled call would hold the loop for the
  // receiver's 30 s.
  ASSERT_TRUE(AwaitDelivered());
  EXPECT_EQ(CountLogs(), 6);  // the stalled calls stored nothing; each log arrived once
  EXPECT_THAT(registry_.Render(),
              HasSubstr("tributary_exporter_retries_total{exporter=\"otlp\"} 2\n"));
  MutexLock lock(&receiver_.mu);
  EXPECT_EQ(receiver_.stalled, 2);
}

TEST_F(OtlpExporterTest, RetryInfoSetsTheDelay) {
  {
    MutexLock lock(&receiver_.mu);
    receiver_.fail_next = 1;
    receiver_.retry_info = true;
  }
  AppendSample(0);
  const absl::Time start = absl::Now();
  StartLoop();
  ASSERT_TRUE(AwaitDelivered());
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(200));
  EXPECT_EQ(CountLogs(), 3);
}

TEST_F(OtlpExporterTest, PartialSuccessAndInvalidArgumentAreCountedAsDropped) {
  {
    MutexLock lock(&receiver_.mu);
    receiver_.reject_logs = 2;
  }
  AppendSample(0);
  StartLoop();
  ASSERT_TRUE(AwaitDelivered());
  {
    MutexLock lock(&receiver_.mu);
    receiver_.invalid_next = 3;  // the next sample's logs, spans and metrics
  }
  AppendSample(1);
  ASSERT_TRUE(AwaitDelivered());
  const std::string m = registry_.Render();
  EXPECT_THAT(m, HasSubstr("tributary_exporter_records_dropped_total{exporter=\"otlp\","
                           "reason=\"rejected\"} 2\n"));
  EXPECT_THAT(m, HasSubstr("tributary_exporter_records_dropped_total{exporter=\"otlp\","
                           "reason=\"permanent\"} 6\n"));
  EXPECT_THAT(loop_->status().last_error, HasSubstr("bad timestamps"));
}

}  // namespace
}  // namespace tributary::otlp
