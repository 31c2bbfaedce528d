// In-process integration tests: the real daemon (gRPC server, receivers,
// RocksDB buffer) on port 0, driven by real gRPC clients.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/grpc_credentials.h"
#include "base/mutex.h"
#include "collector/daemon.h"
#include "exporters/otlp/convert.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "storage/memory/memory_buffer.h"
#include "storage/rocksdb/rocksdb_buffer.h"
#include "storage/testing/buffer_test_util.h"
#include "storage/testing/faulty_file_system.h"
#include "storage/testing/forwarding_buffer.h"
#include "tributary/v1/ingest.grpc.pb.h"
#include "tributary/v1/query.grpc.pb.h"

namespace tributary::collector {
namespace {

using ::testing::HasSubstr;
using storage::testing::Incompressible;
using tributary::v1::IngestAck;
using tributary::v1::IngestBatch;

namespace logs_v1 = ::opentelemetry::proto::collector::logs::v1;
namespace trace_v1 = ::opentelemetry::proto::collector::trace::v1;
namespace metrics_v1 = ::opentelemetry::proto::collector::metrics::v1;

uint64_t NowNanos() { return static_cast<uint64_t>(absl::ToUnixNanos(absl::Now())); }

IngestBatch MakeBatch(const std::string& producer, uint64_t seq, int logs) {
  IngestBatch b;
  b.set_producer_id(producer);
  b.set_seq(seq);
  b.mutable_resource()->set_service_name("checkout");
  for (int i = 0; i < logs; ++i) {
    auto* r = b.add_logs();
    r->set_time_unix_nano(NowNanos());
    r->set_severity_number(9);
    r->set_body(absl::StrCat("record ", seq, "/", i));
  }
  return b;
}

// Wraps the real buffer and can hold appends back, so a test can see how
// many a stream has in flight before any becomes durable.
class GatedBuffer final : public storage::testing::ForwardingBuffer {
 public:
  explicit GatedBuffer(std::unique_ptr<storage::Buffer> inner)
      : ForwardingBuffer(inner.get()), owned_(std::move(inner)) {}

  void Append(storage::AppendRequest request, storage::AppendCallback done) override {
    MutexLock lock(&mu_);
    if (open_) {
      inner()->Append(std::move(request), std::move(done));
      return;
    }
    held_.push_back({std::move(request), std::move(done)});
    max_held_ = std::max(max_held_, held_.size());
  }
  void Close_gate() {
    MutexLock lock(&mu_);
    open_ = false;
  }
  // Waits until `n` appends are held (false at the deadline).
  bool AwaitHeld(size_t n) {
    MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return held_.size() >= n; },
        absl::Seconds(20));
  }
  // Lets the oldest held append through.
  void ReleaseOne() {
    MutexLock lock(&mu_);
    ASSERT_FALSE(held_.empty());
    Held h = std::move(held_.front());
    held_.erase(held_.begin());
    inner()->Append(std::move(h.request), std::move(h.done));
  }
  void Open() {
    MutexLock lock(&mu_);
    open_ = true;
    for (Held& h : held_) inner()->Append(std::move(h.request), std::move(h.done));
    held_.clear();
  }
  size_t max_held() {
    MutexLock lock(&mu_);
    return max_held_;
  }

  absl::Status Close() override {
    Open();
    return inner()->Close();
  }

 private:
  struct Held {
    storage::AppendRequest request;
    storage::AppendCallback done;
  };
  std::unique_ptr<storage::Buffer> owned_;
  Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  std::vector<Held> held_ ABSL_GUARDED_BY(mu_);
  size_t max_held_ ABSL_GUARDED_BY(mu_) = 0;
};

// Wraps the real buffer and keeps the first append inside the Append call
// until released, the caller's thread busy as while a batch is compressed and
// written, and counts the ResumePoint lookups made in the meantime.
class StallingBuffer final : public storage::testing::ForwardingBuffer {
 public:
  explicit StallingBuffer(std::unique_ptr<storage::Buffer> inner)
      : ForwardingBuffer(inner.get()), owned_(std::move(inner)) {}

  void Append(storage::AppendRequest request, storage::AppendCallback done) override {
    {
      MutexLock lock(&mu_);
      if (appends_++ == 0) {
        stalled_ = true;
        mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return released_; });
      }
    }
    inner()->Append(std::move(request), std::move(done));
  }
  uint64_t ResumePoint(const std::string& producer_id) override {
    {
      MutexLock lock(&mu_);
      ++lookups_;
    }
    return inner()->ResumePoint(producer_id);
  }
  // Waits until the first append is held (false at the deadline).
  bool AwaitStall() {
    MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stalled_; },
                                absl::Seconds(20));
  }
  bool AwaitLookups(int n) {
    MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return lookups_ >= n; }, absl::Seconds(20));
  }
  void Release() {
    MutexLock lock(&mu_);
    released_ = true;
  }
  absl::Status Close() override {
    Release();
    return inner()->Close();
  }

 private:
  std::unique_ptr<storage::Buffer> owned_;
  Mutex mu_;
  int appends_ ABSL_GUARDED_BY(mu_) = 0;
  int lookups_ ABSL_GUARDED_BY(mu_) = 0;
  bool stalled_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

class CollectorTest : public ::testing::Test {
 protected:
  void Start(const std::function<void(Config&)>& tweak = {}, bool gated = false,
             bool stalling = false) {
    config_.storage.data_dir = storage::testing::TestDir("collector");
    config_.server.grpc_listen = "127.0.0.1:0";
    config_.server.http_listen = "127.0.0.1:0";
    config_.server.status_log_interval = absl::ZeroDuration();
    if (tweak) tweak(config_);
    std::unique_ptr<storage::Buffer> buffer;
#ifdef TRIBUTARY_TEST_MEMORY_BUFFER
    // The ThreadSanitizer build: the same tests over the in-memory buffer
    // (Debian's RocksDB is not instrumented).
    buffer = std::make_unique<storage::MemoryBuffer>(config_.storage.buffer);
#else
    if (gated || stalling) {
      auto real = storage::RocksDbBuffer::Open(config_.storage.data_dir, config_.storage.buffer);
      ASSERT_TRUE(real.ok()) << real.status();
      buffer = std::move(*real);
    }
#endif
    if (gated) {
      auto g = std::make_unique<GatedBuffer>(std::move(buffer));
      gate_ = g.get();
      buffer = std::move(g);
    }
    if (stalling) {
      auto s = std::make_unique<StallingBuffer>(std::move(buffer));
      stall_ = s.get();
      buffer = std::move(s);
    }
    auto daemon = Daemon::Start(config_, std::move(buffer));
    ASSERT_TRUE(daemon.ok()) << daemon.status();
    daemon_ = std::move(*daemon);
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    channel_ = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", daemon_->grpc_port()),
                                         grpc::InsecureChannelCredentials(), args);
    ingest_ = tributary::v1::IngestService::NewStub(channel_);
  }

  void TearDown() override {
    if (daemon_) {
      EXPECT_TRUE(daemon_->Shutdown().ok());
    }
  }

  // Every stored batch, parsed.
  std::vector<IngestBatch> Stored() {
    std::vector<IngestBatch> out;
    auto entries = daemon_->buffer()->Read(0, 100000, size_t{1} << 40);
    EXPECT_TRUE(entries.ok()) << entries.status();
    for (const storage::Entry& e : *entries) {
      IngestBatch b;
      EXPECT_TRUE(b.ParseFromString(e.payload));
      out.push_back(std::move(b));
    }
    return out;
  }

  std::string Metrics() { return daemon_->registry()->Render(); }

  Config config_;
  std::unique_ptr<Daemon> daemon_;
  GatedBuffer* gate_ = nullptr;
  StallingBuffer* stall_ = nullptr;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<tributary::v1::IngestService::Stub> ingest_;
};

TEST_F(CollectorTest, StreamsBatchesDurablyAndAcksThemInOrder) {
  Start();
  grpc::ClientContext ctx;
  auto stream = ingest_->Stream(&ctx);
  IngestBatch hello;
  hello.set_producer_id("p1");
  ASSERT_TRUE(stream->Write(hello));
  for (uint64_t seq = 1; seq <= 20; ++seq) ASSERT_TRUE(stream->Write(MakeBatch("p1", seq, 50)));
  IngestAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.seq(), 0u);
  EXPECT_TRUE(ack.has_resume_seq());
  EXPECT_EQ(ack.resume_seq(), 0u);
  // ... and the largest batch it takes, for the producer to split by.
  EXPECT_EQ(ack.max_batch_bytes(), config_.server.max_message_bytes);
  for (uint64_t seq = 1; seq <= 20; ++seq) {
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.seq(), seq);
    EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK) << ack.message();
    EXPECT_EQ(ack.accepted(), 50u);
    EXPECT_EQ(ack.rejected(), 0u);
    EXPECT_FALSE(ack.has_resume_seq());  // only the first ack carries it
  }
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_FALSE(stream->Read(&ack));
  EXPECT_TRUE(stream->Finish().ok());

  const std::vector<IngestBatch> stored = Stored();
  ASSERT_EQ(stored.size(), 20u);
  for (size_t i = 0; i < stored.size(); ++i) {
    EXPECT_EQ(stored[i].seq(), i + 1);
    EXPECT_EQ(stored[i].logs_size(), 50);
    EXPECT_EQ(stored[i].resource().service_name(), "checkout");
  }
  EXPECT_EQ(daemon_->buffer()->ResumePoint("p1"), 20u);
  EXPECT_THAT(Metrics(), HasSubstr("tributary_ingest_records_accepted_total{protocol="
                                   "\"tributary\",signal=\"logs\"} 1000\n"));
}

TEST_F(CollectorTest, ManyProducersAndOtlpSendersAtOnce) {
  Start([](Config& c) { c.server.max_in_flight_per_stream = 4; });
  constexpr int kProducers = 4, kBatches = 30, kExports = 10;
  std::vector<std::thread> threads;
  std::atomic<int> ok_acks{0}, ok_exports{0};
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] {
      grpc::ClientContext ctx;
      auto stream = ingest_->Stream(&ctx);
      const std::string id = absl::StrCat("producer-", p);
      std::thread reader([&] {
        IngestAck ack;
        uint64_t expect = 1;
        while (stream->Read(&ack)) {
          if (ack.seq() == expect++ && ack.status() == tributary::v1::ACK_STATUS_OK) ++ok_acks;
        }
      });
      for (uint64_t seq = 1; seq <= kBatches; ++seq) stream->Write(MakeBatch(id, seq, 20));
      stream->WritesDone();
      reader.join();
      EXPECT_TRUE(stream->Finish().ok());
    });
  }
  threads.emplace_back([&] {
    auto stub = logs_v1::LogsService::NewStub(channel_);
    for (int i = 0; i < kExports; ++i) {
      logs_v1::ExportLogsServiceRequest request;
      auto* r = request.add_resource_logs()->add_scope_logs()->add_log_records();
      r->set_time_unix_nano(NowNanos());
      r->mutable_body()->set_string_value(absl::StrCat("otlp ", i));
      grpc::ClientContext ctx;
      logs_v1::ExportLogsServiceResponse response;
      if (stub->Export(&ctx, request, &response).ok()) ++ok_exports;
    }
  });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok_acks.load(), kProducers * kBatches);
  EXPECT_EQ(ok_exports.load(), kExports);
  std::map<std::pair<std::string, uint64_t>, int> seen;
  int otlp = 0;
  for (const IngestBatch& b : Stored()) {
    if (b.producer_id().empty()) {
      ++otlp;
    } else {
      ++seen[{b.producer_id(), b.seq()}];
    }
  }
  EXPECT_EQ(otlp, kExports);
  EXPECT_EQ(seen.size(), static_cast<size_t>(kProducers * kBatches));
  for (const auto& [key, n] : seen) EXPECT_EQ(n, 1) << key.first << " " << key.second;
}

TEST_F(CollectorTest, KeepsReadingWhileEarlierBatchesWaitForDurability) {
  Start([](Config& c) { c.server.max_in_flight_per_stream = 3; }, /*gated=*/true);
  gate_->Close_gate();
  grpc::ClientContext ctx;
  auto stream = ingest_->Stream(&ctx);
  for (uint64_t seq = 1; seq <= 6; ++seq) ASSERT_TRUE(stream->Write(MakeBatch("p", seq, 10)));
  // Three batches are parsed and waiting for the buffer at once: the stream
  // did not wait for the first to be durable before reading the next.
  ASSERT_TRUE(gate_->AwaitHeld(3));
  for (uint64_t seq = 1; seq <= 6; ++seq) {
    gate_->ReleaseOne();
    IngestAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.seq(), seq);
    EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK);
    // The freed slot lets the next batch in: again as many held as are left,
    // up to the limit.
    if (seq < 6) {
      ASSERT_TRUE(gate_->AwaitHeld(std::min<size_t>(3, 6 - seq)));
    }
  }
  // Never more than the per-stream limit in flight.
  EXPECT_EQ(gate_->max_held(), 3u);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(CollectorTest, PreparesTheNextBatchWhileTheOneBeforeIsBeingAppended) {
  Start([](Config& c) { c.server.max_in_flight_per_stream = 4; }, /*gated=*/false,
        /*stalling=*/true);
  grpc::ClientContext ctx;
  auto stream = ingest_->Stream(&ctx);
  for (uint64_t seq = 1; seq <= 4; ++seq) ASSERT_TRUE(stream->Write(MakeBatch("p", seq, 10)));
  ASSERT_TRUE(stall_->AwaitStall());
  // Preparing a batch starts by checking it against the producer's resume
  // point, and the stream looks the resume point up once before its first
  // append. Handled one batch at a time, the stream would make those two
  // lookups and then wait for batch 1's append to return; instead batch 2
  // gets that far (a third) while the thread appending batch 1 is busy.
  // (Batch 4 waits: the stream reads at most three ahead of its appends.)
  EXPECT_TRUE(stall_->AwaitLookups(3));
  stall_->Release();
  for (uint64_t seq = 1; seq <= 4; ++seq) {
    IngestAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    EXPECT_EQ(ack.seq(), seq);
    EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK) << ack.message();
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  const std::vector<IngestBatch> stored = Stored();
  ASSERT_EQ(stored.size(), 4u);
  for (size_t i = 0; i < stored.size(); ++i) EXPECT_EQ(stored[i].seq(), i + 1);
}

TEST_F(CollectorTest, BatchesBeyondTheInFlightByteLimitAreRefusedNotHeld) {
  Start([](Config& c) { c.server.max_in_flight_bytes = 100 << 10; }, /*gated=*/true);
  gate_->Close_gate();
  grpc::ClientContext ctx;
  auto stream = ingest_->Stream(&ctx);
  const auto big = [](uint64_t seq) {
    IngestBatch b = MakeBatch("p", seq, 1);
    b.mutable_logs(0)->set_body(std::string(45 << 10, 'x'));
    return b;
  };
  // Two ~45 KB batches wait for durability; the third would pass 100 KB.
  ASSERT_TRUE(stream->Write(big(1)));
  ASSERT_TRUE(stream->Write(big(2)));
  ASSERT_TRUE(gate_->AwaitHeld(2));
  ASSERT_TRUE(stream->Write(big(3)));
  EXPECT_THAT(Metrics(), testing::ContainsRegex("tributary_ingest_in_flight_bytes 9[0-9]{4}\n"));
  // Its ack waits behind the first two; the counter shows when it was refused.
  const std::string refused =
      "tributary_ingest_batches_total{protocol=\"tributary\",outcome=\"throttled\"} 1\n";
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (Metrics().find(refused) == std::string::npos && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_THAT(Metrics(), HasSubstr(refused));
  gate_->Open();
  IngestAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK);
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK);
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.seq(), 3u);
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_RESOURCE_EXHAUSTED);
  EXPECT_THAT(ack.message(), HasSubstr("server.max_in_flight_bytes"));
  EXPECT_GT(ack.retry_after_ms(), 0u);
  // A batch the producer had sent before it saw the refusal is refused too,
  // although there is room again: storing 4 without 3 would let the resume
  // point (4) cover the missing batch.
  ASSERT_TRUE(stream->Write(big(4)));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.seq(), 4u);
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_RESOURCE_EXHAUSTED);
  EXPECT_THAT(ack.message(), HasSubstr("batch 3 was refused earlier"));
  // Once the producer goes back to 3, both are stored, in order.
  ASSERT_TRUE(stream->Write(big(3)));
  ASSERT_TRUE(stream->Write(big(4)));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.seq(), 3u);
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK);
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.seq(), 4u);
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_EQ(Stored().size(), 4u);
  EXPECT_THAT(Metrics(), HasSubstr("tributary_ingest_in_flight_bytes 0\n"));
}

TEST_F(CollectorTest, RejectsBadRecordsAndStoresTheRest) {
  Start();
  grpc::ClientContext ctx;
  auto stream = ingest_->Stream(&ctx);
  IngestBatch b = MakeBatch("p", 1, 3);
  b.mutable_logs(1)->set_trace_id("too short");
  b.mutable_logs(2)->set_body("\xff\xfe");
  auto* secret = b.mutable_logs(0)->add_attributes();
  secret->set_key("Authorization");
  secret->set_value("Bearer abc");
  ASSERT_TRUE(stream->Write(b));
  IngestAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK);
  EXPECT_EQ(ack.accepted(), 1u);
  EXPECT_EQ(ack.rejected(), 2u);
  ASSERT_EQ(ack.rejections_size(), 2);
  EXPECT_EQ(ack.rejections(0).reason(), "invalid_trace_id");
  EXPECT_THAT(ack.rejections(0).example(), HasSubstr("logs: trace_id has 9 bytes"));
  EXPECT_EQ(ack.rejections(1).reason(), "invalid_utf8");
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  const std::vector<IngestBatch> stored = Stored();
  ASSERT_EQ(stored.size(), 1u);
  ASSERT_EQ(stored[0].logs_size(), 1);
  EXPECT_EQ(stored[0].logs(0).attributes(0).value(), "***REDACTED***");
  const std::string m = Metrics();
  EXPECT_THAT(m, HasSubstr("tributary_ingest_records_rejected_total{protocol=\"tributary\","
                           "signal=\"logs\",reason=\"invalid_trace_id\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("tributary_ingest_redactions_total{rule=\"key\"} 1\n"));
}

TEST_F(CollectorTest, ResendAfterReconnectIsAckedAsDuplicateAndNotStoredTwice) {
  Start();
  {
    grpc::ClientContext ctx;
    auto stream = ingest_->Stream(&ctx);
    for (uint64_t seq = 1; seq <= 3; ++seq) ASSERT_TRUE(stream->Write(MakeBatch("p", seq, 5)));
    IngestAck ack;
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(stream->Read(&ack));
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  grpc::ClientContext ctx;
  auto stream = ingest_->Stream(&ctx);
  // A producer that lost its acks re-sends 2 and 3, then goes on with 4.
  for (uint64_t seq = 2; seq <= 4; ++seq) ASSERT_TRUE(stream->Write(MakeBatch("p", seq, 5)));
  IngestAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.seq(), 2u);
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_DUPLICATE);
  EXPECT_TRUE(ack.has_resume_seq());
  EXPECT_EQ(ack.resume_seq(), 3u);
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_DUPLICATE);
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.seq(), 4u);
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK);
  stream->WritesDone();
  ASSERT_TRUE(stream->Finish().ok());
  const std::vector<IngestBatch> stored = Stored();
  ASSERT_EQ(stored.size(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(stored[i].seq(), i + 1);
  EXPECT_THAT(Metrics(), HasSubstr("tributary_ingest_batches_total{protocol=\"tributary\","
                                   "outcome=\"duplicate\"} 2\n"));
}

// A bidi stream of raw bytes, for sending what a typed stub cannot.
class RawStream {
 public:
  RawStream(const std::shared_ptr<grpc::Channel>& channel, const std::string& method)
      : stub_(channel) {
    call_ = stub_.PrepareCall(&ctx_, method, &cq_);
    call_->StartCall(Tag(1));
    Expect(1);
  }
  ~RawStream() {
    ctx_.TryCancel();
    grpc::Status status;
    call_->Finish(&status, Tag(9));
    Expect(9);
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }
  void Write(const std::string& bytes) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    call_->Write(buffer, Tag(2));
    Expect(2);
  }
  IngestAck Read() {
    grpc::ByteBuffer buffer;
    call_->Read(&buffer, Tag(3));
    Expect(3);
    std::vector<grpc::Slice> slices;
    EXPECT_TRUE(buffer.Dump(&slices).ok());
    std::string bytes;
    for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    IngestAck ack;
    EXPECT_TRUE(ack.ParseFromString(bytes));
    return ack;
  }

 private:
  static void* Tag(intptr_t n) { return reinterpret_cast<void*>(n); }
  void Expect(intptr_t n) {
    void* tag = nullptr;
    bool ok = false;
    ASSERT_EQ(cq_.AsyncNext(&tag, &ok, std::chrono::system_clock::now() + std::chrono::seconds(30)),
              grpc::CompletionQueue::GOT_EVENT);
    ASSERT_EQ(tag, Tag(n));
    ASSERT_TRUE(ok || n == 9);
  }

  grpc::GenericStub stub_;
  grpc::ClientContext ctx_;
  grpc::CompletionQueue cq_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
};

TEST_F(CollectorTest, ClientsMayPingOftenEvenOnAnIdleStream) {
  Start([](Config& c) { c.server.min_ping_interval = absl::Seconds(1); });
  // A client that pings every second, with nothing else to send. Under gRPC's
  // default policy (a ping per 5 minutes without data) its third ping would
  // end the connection (too_many_pings).
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 1000);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  auto channel = grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", daemon_->grpc_port()),
                                           grpc::InsecureChannelCredentials(), args);
  auto stub = tributary::v1::IngestService::NewStub(channel);
  grpc::ClientContext ctx;
  auto stream = stub->Stream(&ctx);
  IngestBatch hello;
  hello.set_producer_id("pinger");
  ASSERT_TRUE(stream->Write(hello));
  IngestAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.max_batch_bytes(), config_.server.max_message_bytes);
  absl::SleepFor(absl::Seconds(5));  // idle: only pings cross the connection
  ASSERT_TRUE(stream->Write(MakeBatch("pinger", 1, 10)));
  ASSERT_TRUE(stream->Read(&ack)) << "the collector closed the connection";
  EXPECT_EQ(ack.seq(), 1u);
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK);
  ASSERT_TRUE(stream->WritesDone());
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(CollectorTest, ManyBatchesInFlightOfEveryKindAreAnsweredAndStoredInOrder) {
  Start([](Config& c) {
    c.server.max_message_bytes = 64 << 10;
    c.server.max_in_flight_per_stream = 8;
  });
  RawStream raw(channel_, "/tributary.v1.IngestService/Stream");
  // Written back to back before any ack is read, so several are parsed at
  // once on different threads.
  constexpr uint64_t kBatches = 60;
  std::map<uint64_t, tributary::v1::AckStatus> expected;
  std::vector<std::string> wires;
  for (uint64_t seq = 1; seq <= kBatches; ++seq) {
    if (seq % 7 == 3) {
      wires.push_back(MakeBatch("p", seq, 1).SerializeAsString() + "\x2a\xff\x01");
      expected[seq] = tributary::v1::ACK_STATUS_INVALID;  // malformed
    } else if (seq % 11 == 5) {
      IngestBatch big = MakeBatch("p", seq, 1);
      big.mutable_logs(0)->set_body(std::string(100 << 10, 'x'));
      wires.push_back(big.SerializeAsString());
      expected[seq] = tributary::v1::ACK_STATUS_INVALID;  // oversized
    } else {
      wires.push_back(MakeBatch("p", seq, 1 + seq % 5).SerializeAsString());
      expected[seq] = tributary::v1::ACK_STATUS_OK;
    }
  }
  for (const std::string& w : wires) raw.Write(w);
  for (uint64_t seq = 1; seq <= kBatches; ++seq) {
    const IngestAck ack = raw.Read();
    EXPECT_EQ(ack.seq(), seq);
    EXPECT_EQ(ack.status(), expected[seq]) << "seq " << seq << ": " << ack.message();
  }
  std::vector<uint64_t> want, got;
  for (const auto& [seq, status] : expected) {
    if (status == tributary::v1::ACK_STATUS_OK) want.push_back(seq);
  }
  for (const IngestBatch& b : Stored()) got.push_back(b.seq());
  EXPECT_EQ(got, want);
  EXPECT_EQ(daemon_->buffer()->ResumePoint("p"), want.back());
}

TEST_F(CollectorTest, MalformedAndOversizedBatchesAreAnsweredAndTheStreamGoesOn) {
  Start([](Config& c) { c.server.max_message_bytes = 64 << 10; });
  RawStream raw(channel_, "/tributary.v1.IngestService/Stream");
  // Valid header (producer, seq 7), then a field whose length runs past the end.
  std::string malformed = MakeBatch("p", 7, 0).SerializeAsString() + "\x2a\xff\x01";
  raw.Write(malformed);
  IngestAck ack = raw.Read();
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_INVALID);
  EXPECT_EQ(ack.seq(), 7u);
  EXPECT_THAT(ack.message(), HasSubstr("malformed batch"));

  IngestBatch big = MakeBatch("p", 8, 1);
  big.mutable_logs(0)->set_body(std::string(100 << 10, 'x'));
  raw.Write(big.SerializeAsString());
  ack = raw.Read();
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_INVALID);
  EXPECT_EQ(ack.seq(), 8u);
  EXPECT_THAT(ack.message(), HasSubstr("exceeds server.max_message_bytes (65536)"));

  raw.Write(MakeBatch("p", 9, 2).SerializeAsString());
  ack = raw.Read();
  EXPECT_EQ(ack.seq(), 9u);
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK);
  EXPECT_EQ(Stored().size(), 1u);
  const std::string m = Metrics();
  EXPECT_THAT(m, HasSubstr("outcome=\"malformed\"} 1\n"));
  EXPECT_THAT(m, HasSubstr("outcome=\"oversized\"} 1\n"));
}

TEST_F(CollectorTest, FullBufferAnswersResourceExhaustedAndTheStreamStaysOpen) {
  Start([](Config& c) {
    c.storage.buffer.max_disk_bytes = 200 << 10;
    c.storage.buffer.when_full = storage::WhenFull::kBackpressure;
  });
  grpc::ClientContext ctx;
  auto stream = ingest_->Stream(&ctx);
  IngestAck ack;
  uint64_t seq = 0;
  bool throttled = false;
  // Each batch is ~50 KB: the budget is reached within a handful.
  for (int i = 0; i < 20 && !throttled; ++i) {
    IngestBatch b = MakeBatch("p", ++seq, 1);
    b.mutable_logs(0)->set_body(Incompressible(50 << 10));
    ASSERT_TRUE(stream->Write(b));
    ASSERT_TRUE(stream->Read(&ack));
    throttled = ack.status() == tributary::v1::ACK_STATUS_RESOURCE_EXHAUSTED;
  }
  ASSERT_TRUE(throttled);
  EXPECT_EQ(ack.seq(), seq);
  EXPECT_GT(ack.retry_after_ms(), 0u);
  // The stream is still usable: the same batch is refused again, not dropped.
  IngestBatch again = MakeBatch("p", seq, 1);
  again.mutable_logs(0)->set_body(Incompressible(50 << 10));
  ASSERT_TRUE(stream->Write(again));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_RESOURCE_EXHAUSTED);
  EXPECT_EQ(daemon_->buffer()->ResumePoint("p"), seq - 1);
  EXPECT_FALSE(daemon_->CheckReadiness().ready);
  EXPECT_THAT(daemon_->CheckReadiness().json, HasSubstr("\"status\":\"full\""));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(CollectorTest, RefusesAStreamWithoutProducerOrSwitchingProducers) {
  Start();
  grpc::ClientContext ctx;
  auto stream = ingest_->Stream(&ctx);
  ASSERT_TRUE(stream->Write(MakeBatch("", 1, 1)));
  ASSERT_TRUE(stream->Write(MakeBatch("a", 1, 1)));
  ASSERT_TRUE(stream->Write(MakeBatch("b", 1, 1)));
  IngestAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_INVALID);
  EXPECT_THAT(ack.message(), HasSubstr("producer_id is required"));
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK);
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_INVALID);
  EXPECT_THAT(ack.message(), HasSubstr("producer_id changed"));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

template <typename T>
T ParseText(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

TEST_F(CollectorTest, OtlpExportsOfAllSignalsAreStoredLosslesslyWithGzip) {
  Start();
  const std::string now = absl::StrCat(NowNanos());
  auto logs = ParseText<logs_v1::ExportLogsServiceRequest>(absl::StrCat(R"(
resource_logs { resource { attributes { key: "service.name" value { string_value: "web" } } }
  scope_logs { scope { name: "s" } log_records { time_unix_nano: )", now, R"( severity_number: SEVERITY_NUMBER_WARN
    body { string_value: "slow request" } trace_id: "0123456789abcdef" span_id: "abcdefgh"
    attributes { key: "ms" value { int_value: 1500 } } } } })"));
  auto traces = ParseText<trace_v1::ExportTraceServiceRequest>(absl::StrCat(R"(
resource_spans { resource { attributes { key: "service.name" value { string_value: "web" } } }
  scope_spans { spans { trace_id: "0123456789abcdef" span_id: "abcdefgh" parent_span_id: "12345678"
    name: "GET /" kind: SPAN_KIND_SERVER start_time_unix_nano: )", now, R"( end_time_unix_nano: )",
                                                                      now, R"(
    events { time_unix_nano: )", now, R"( name: "retry" }
    links { trace_id: "fedcba9876543210" span_id: "hgfedcba" }
    status { code: STATUS_CODE_ERROR message: "boom" } } } })"));
  auto metrics = ParseText<metrics_v1::ExportMetricsServiceRequest>(absl::StrCat(R"(
resource_metrics { resource { attributes { key: "service.name" value { string_value: "web" } } }
  scope_metrics { metrics { name: "latency" unit: "s" histogram { aggregation_temporality: AGGREGATION_TEMPORALITY_CUMULATIVE
    data_points { time_unix_nano: )", now, R"( count: 3 sum: 1.5 bucket_counts: [1, 1, 1] explicit_bounds: [0.1, 1] } } }
  metrics { name: "requests" sum { is_monotonic: true aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA
    data_points { time_unix_nano: )", now, R"( as_int: 7 } } } } })"));

  {
    grpc::ClientContext ctx;
    ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
    logs_v1::ExportLogsServiceResponse response;
    ASSERT_TRUE(logs_v1::LogsService::NewStub(channel_)->Export(&ctx, logs, &response).ok());
    EXPECT_FALSE(response.has_partial_success());
  }
  {
    grpc::ClientContext ctx;
    ctx.set_compression_algorithm(GRPC_COMPRESS_GZIP);
    trace_v1::ExportTraceServiceResponse response;
    ASSERT_TRUE(trace_v1::TraceService::NewStub(channel_)->Export(&ctx, traces, &response).ok());
  }
  {
    grpc::ClientContext ctx;
    metrics_v1::ExportMetricsServiceResponse response;
    ASSERT_TRUE(
        metrics_v1::MetricsService::NewStub(channel_)->Export(&ctx, metrics, &response).ok());
  }
  // Durable before the reply: the buffer holds all three now.
  const std::vector<IngestBatch> stored = Stored();
  ASSERT_EQ(stored.size(), 3u);
  google::protobuf::util::MessageDifferencer diff;
  diff.set_message_field_comparison(google::protobuf::util::MessageDifferencer::EQUIVALENT);
  logs_v1::ExportLogsServiceRequest logs_back;
  otlp::AppendLogs(stored[0], &logs_back);
  EXPECT_TRUE(diff.Compare(logs, logs_back)) << logs_back.DebugString();
  trace_v1::ExportTraceServiceRequest traces_back;
  otlp::AppendSpans(stored[1], &traces_back);
  EXPECT_TRUE(diff.Compare(traces, traces_back)) << traces_back.DebugString();
  metrics_v1::ExportMetricsServiceRequest metrics_back;
  otlp::AppendMetrics(stored[2], &metrics_back);
  EXPECT_TRUE(diff.Compare(metrics, metrics_back)) << metrics_back.DebugString();
  EXPECT_EQ(stored[1].spans(0).parent_span_id(), "12345678");
}

TEST_F(CollectorTest, OtlpPartialSuccessReportsRejectedSpans) {
  Start();
  const std::string now = absl::StrCat(NowNanos());
  auto traces = ParseText<trace_v1::ExportTraceServiceRequest>(absl::StrCat(R"(
resource_spans { scope_spans {
  spans { trace_id: "0123456789abcdef" span_id: "abcdefgh" name: "ok" start_time_unix_nano: )", now,
                                                                      R"( end_time_unix_nano: )", now,
                                                                      R"( }
  spans { trace_id: "short" span_id: "abcdefgh" name: "bad" start_time_unix_nano: )", now,
                                                                      R"( end_time_unix_nano: )", now,
                                                                      R"( } } })"));
  grpc::ClientContext ctx;
  trace_v1::ExportTraceServiceResponse response;
  ASSERT_TRUE(trace_v1::TraceService::NewStub(channel_)->Export(&ctx, traces, &response).ok());
  EXPECT_EQ(response.partial_success().rejected_spans(), 1);
  EXPECT_THAT(response.partial_success().error_message(),
              HasSubstr("invalid_trace_id (1), e.g. trace_id has 5 bytes"));
  const std::vector<IngestBatch> stored = Stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].spans(0).name(), "ok");
}

// One unary call with raw bytes as the request.
grpc::Status RawUnary(const std::shared_ptr<grpc::Channel>& channel, const std::string& method,
                      const std::string& bytes) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  grpc::CompletionQueue cq;
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  auto call = stub.PrepareUnaryCall(&ctx, method, request, &cq);
  call->StartCall();
  grpc::ByteBuffer response;
  grpc::Status status;
  call->Finish(&response, &status, reinterpret_cast<void*>(1));
  void* tag;
  bool ok;
  EXPECT_TRUE(cq.Next(&tag, &ok));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
}

TEST_F(CollectorTest, MalformedOtlpIsInvalidArgumentAndTheCollectorGoesOn) {
  Start([](Config& c) { c.server.max_message_bytes = 64 << 10; });
  const std::string method = "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
  grpc::Status status = RawUnary(channel_, method, "\x0a\xff\xff\xff\x0f garbage");
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("malformed ExportLogsServiceRequest"));

  // A string field (the body's string_value) that is not UTF-8.
  logs_v1::ExportLogsServiceRequest bad;
  bad.add_resource_logs()->add_scope_logs()->add_log_records()->mutable_body()->set_string_value(
      "ok");
  std::string bytes = bad.SerializeAsString();
  const size_t at = bytes.find("ok");
  ASSERT_NE(at, std::string::npos);
  bytes[at] = '\xff';
  status = RawUnary(channel_, method, bytes);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), HasSubstr("not UTF-8"));

  logs_v1::ExportLogsServiceRequest big;
  big.add_resource_logs()->add_scope_logs()->add_log_records()->mutable_body()->set_string_value(
      std::string(100 << 10, 'x'));
  status = RawUnary(channel_, method, big.SerializeAsString());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(status.error_details().empty());  // no RetryInfo: not worth retrying

  // Nothing was stored, and a good export still works.
  EXPECT_TRUE(Stored().empty());
  logs_v1::ExportLogsServiceRequest good;
  auto* r = good.add_resource_logs()->add_scope_logs()->add_log_records();
  r->set_time_unix_nano(NowNanos());
  r->mutable_body()->set_string_value("fine");
  grpc::ClientContext ctx;
  logs_v1::ExportLogsServiceResponse response;
  EXPECT_TRUE(logs_v1::LogsService::NewStub(channel_)->Export(&ctx, good, &response).ok());
  EXPECT_EQ(Stored().size(), 1u);
  EXPECT_THAT(Metrics(), HasSubstr("tributary_ingest_batches_total{protocol=\"otlp\","
                                   "outcome=\"malformed\"} 2\n"));
}

TEST_F(CollectorTest, OtlpThrottlingIsUnavailableWithRetryInfo) {
  Start([](Config& c) { c.storage.buffer.max_disk_bytes = 64 << 10; });
  const std::string now = absl::StrCat(NowNanos());
  auto logs = ParseText<logs_v1::ExportLogsServiceRequest>(absl::StrCat(
      R"(resource_logs { scope_logs { log_records { time_unix_nano: )", now,
      R"( body { string_value: ")", Incompressible(40 << 10), R"(" } } } })"));
  grpc::Status status;
  for (int i = 0; i < 5; ++i) {
    grpc::ClientContext ctx;
    logs_v1::ExportLogsServiceResponse response;
    status = logs_v1::LogsService::NewStub(channel_)->Export(&ctx, logs, &response);
    if (!status.ok()) break;
  }
  ASSERT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("retry later"));
  EXPECT_FALSE(status.error_details().empty());  // google.rpc.Status with RetryInfo
}

// TLS on the gRPC port: a client that trusts the collector's certificate
// streams, a plaintext one does not get in; with client_ca_file, a client must
// also present a certificate that CA signed.
TEST_F(CollectorTest, ServesTlsAndCanRequireClientCertificates) {
  const std::string cert = "client/testing/test_cert.pem";
  const std::string key = "client/testing/test_key.pem";
  for (const bool mutual : {false, true}) {
    SCOPED_TRACE(mutual ? "mutual TLS" : "TLS");
    Start([&](Config& c) {
      c.server.tls.cert_file = cert;
      c.server.tls.key_file = key;
      if (mutual) c.server.tls.client_ca_file = cert;
    });
    // Whether one batch over a new channel is acked.
    auto acked = [&](bool tls, bool client_cert, uint64_t seq) {
      grpc::ChannelArguments args;
      args.SetSslTargetNameOverride("collector.test");
      auto channel = grpc::CreateCustomChannel(
          absl::StrCat("127.0.0.1:", daemon_->grpc_port()),
          ChannelCredentials(tls, cert, client_cert ? cert : "", client_cert ? key : ""), args);
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      auto stream = tributary::v1::IngestService::NewStub(channel)->Stream(&ctx);
      IngestAck ack;
      const bool ok = stream->Write(MakeBatch("tls", seq, 1)) && stream->Read(&ack) &&
                      ack.status() == tributary::v1::ACK_STATUS_OK;
      stream->WritesDone();
      stream->Finish().IgnoreError();
      return ok;
    };
    EXPECT_FALSE(acked(/*tls=*/false, false, 1)) << "a plaintext client got in";
    EXPECT_EQ(acked(/*tls=*/true, /*client_cert=*/false, 1), !mutual);
    EXPECT_TRUE(acked(/*tls=*/true, /*client_cert=*/true, 2));
    EXPECT_EQ(Stored().size(), mutual ? 1u : 2u);
    ASSERT_TRUE(daemon_->Shutdown().ok());
    daemon_.reset();
  }
}

TEST_F(CollectorTest, TlsFilesThatAreNotPemStopTheStart) {
  config_.storage.data_dir = storage::testing::TestDir("collector");
  config_.server.grpc_listen = "127.0.0.1:0";
  config_.server.http_listen = "127.0.0.1:0";
  config_.server.tls.cert_file = "client/testing/test_key.pem";  // a key, not a certificate
  config_.server.tls.key_file = "client/testing/test_key.pem";
  auto daemon = Daemon::Start(config_);
  ASSERT_FALSE(daemon.ok());
  EXPECT_EQ(daemon.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(daemon.status().message(),
              HasSubstr("server.tls.cert_file: client/testing/test_key.pem holds no PEM "
                        "certificate"));
  // Found before the buffer was touched.
  EXPECT_FALSE(std::filesystem::exists(config_.storage.data_dir));
}

TEST_F(CollectorTest, HealthAndStatsOverGrpc) {
  Start();
  auto health = grpc::health::v1::Health::NewStub(channel_);
  {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest request;
    grpc::health::v1::HealthCheckResponse response;
    ASSERT_TRUE(health->Check(&ctx, request, &response).ok());
    EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckRequest request;
    request.set_service("no.such.Service");
    grpc::health::v1::HealthCheckResponse response;
    EXPECT_EQ(health->Check(&ctx, request, &response).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  {
    grpc::ClientContext ctx;
    auto stream = ingest_->Stream(&ctx);
    ASSERT_TRUE(stream->Write(MakeBatch("p", 1, 7)));
    IngestAck ack;
    ASSERT_TRUE(stream->Read(&ack));
    stream->WritesDone();
    ASSERT_TRUE(stream->Finish().ok());
  }
  ASSERT_TRUE(daemon_->buffer()->OpenConsumer("exporter-a").ok());
  grpc::ClientContext ctx;
  tributary::v1::GetStatsResponse stats;
  ASSERT_TRUE(tributary::v1::QueryService::NewStub(channel_)
                  ->GetStats(&ctx, tributary::v1::GetStatsRequest(), &stats)
                  .ok());
  EXPECT_EQ(stats.records_accepted(), 7u);
  EXPECT_EQ(stats.buffer_entries(), 1u);
  EXPECT_EQ(stats.buffer_records(), 7u);
  ASSERT_EQ(stats.consumers_size(), 1);
  EXPECT_EQ(stats.consumers(0).name(), "exporter-a");
  EXPECT_EQ(stats.consumers(0).lag_entries(), 1u);
}

#ifndef TRIBUTARY_TEST_MEMORY_BUFFER
// A disk whose fsync fails: the batch is answered UNAVAILABLE (not acked),
// health turns NOT_SERVING and /health/ready 503, and the process goes on
// serving what it can.
TEST(CollectorFaultTest, FailedFsyncTurnsHealthNotServingAndNothingIsAcked) {
  auto fs = std::make_shared<storage::testing::FaultyFileSystem>();
  std::unique_ptr<rocksdb::Env> env = rocksdb::NewCompositeEnv(fs);
  Config config;
  config.storage.data_dir = storage::testing::TestDir("collector_fault");
  config.server.grpc_listen = "127.0.0.1:0";
  config.server.http_listen = "127.0.0.1:0";
  config.server.status_log_interval = absl::ZeroDuration();
  auto buffer =
      storage::RocksDbBuffer::Open(config.storage.data_dir, config.storage.buffer, env.get());
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  auto daemon = Daemon::Start(config, std::move(*buffer));
  ASSERT_TRUE(daemon.ok()) << daemon.status();
  auto channel = grpc::CreateChannel(absl::StrCat("127.0.0.1:", (*daemon)->grpc_port()),
                                     grpc::InsecureChannelCredentials());
  auto health = grpc::health::v1::Health::NewStub(channel);
  const auto status = [&] {
    grpc::ClientContext ctx;
    grpc::health::v1::HealthCheckResponse response;
    EXPECT_TRUE(health->Check(&ctx, grpc::health::v1::HealthCheckRequest(), &response).ok());
    return response.status();
  };
  EXPECT_EQ(status(), grpc::health::v1::HealthCheckResponse::SERVING);

  fs->fail_wal_syncs = true;
  grpc::ClientContext ctx;
  auto stream = tributary::v1::IngestService::NewStub(channel)->Stream(&ctx);
  ASSERT_TRUE(stream->Write(MakeBatch("p", 1, 3)));
  IngestAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_UNAVAILABLE);
  EXPECT_GT(ack.retry_after_ms(), 0u);
  EXPECT_THAT(ack.message(), HasSubstr("fsync"));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  // Health's Watch reports the change (the ticker looks every second).
  {
    grpc::ClientContext watch_ctx;
    watch_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
    auto watch = health->Watch(&watch_ctx, grpc::health::v1::HealthCheckRequest());
    grpc::health::v1::HealthCheckResponse update;
    bool not_serving = false;
    while (!not_serving && watch->Read(&update)) {
      not_serving = update.status() == grpc::health::v1::HealthCheckResponse::NOT_SERVING;
    }
    EXPECT_TRUE(not_serving);
    watch_ctx.TryCancel();
    watch->Finish().IgnoreError();
  }
  EXPECT_EQ(status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  const Daemon::Readiness readiness = (*daemon)->CheckReadiness();
  EXPECT_FALSE(readiness.ready);
  EXPECT_THAT(readiness.json, HasSubstr("\"status\":\"not_writable\""));
  EXPECT_THAT((*daemon)->registry()->Render(),
              HasSubstr("tributary_ingest_batches_total{protocol=\"tributary\","
                        "outcome=\"unavailable\"} 1\n"));
  EXPECT_EQ((*daemon)->buffer()->ResumePoint("p"), 0u);
  (*daemon)->Shutdown().IgnoreError();
}
#endif

TEST_F(CollectorTest, ShutdownEndsOpenStreamsWithUnavailableAfterAckingWhatArrived) {
  Start();
  grpc::ClientContext ctx;
  auto stream = ingest_->Stream(&ctx);
  ASSERT_TRUE(stream->Write(MakeBatch("p", 1, 3)));
  IngestAck ack;
  ASSERT_TRUE(stream->Read(&ack));
  EXPECT_EQ(ack.status(), tributary::v1::ACK_STATUS_OK);
  ASSERT_TRUE(daemon_->Shutdown().ok());
  EXPECT_FALSE(stream->Read(&ack));
  grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(status.error_message(), HasSubstr("shutting down"));
#ifndef TRIBUTARY_TEST_MEMORY_BUFFER
  // The acked batch is in the buffer on disk.
  auto reopened = storage::RocksDbBuffer::Open(config_.storage.data_dir, {});
  ASSERT_TRUE(reopened.ok());
  EXPECT_EQ((*reopened)->ResumePoint("p"), 1u);
#endif
  daemon_.reset();
}

// An OTLP logs receiver for the exporter: counts log records, refuses the
// first `fail` calls with UNAVAILABLE.
class LogsReceiver final : public opentelemetry::proto::collector::logs::v1::LogsService::Service {
 public:
  explicit LogsReceiver(int fail) : fail_(fail) {}
  grpc::Status Export(
      grpc::ServerContext*,
      const opentelemetry::proto::collector::logs::v1::ExportLogsServiceRequest* req,
      opentelemetry::proto::collector::logs::v1::ExportLogsServiceResponse*) override {
    MutexLock lock(&mu_);
    if (fail_ > 0) {
      --fail_;
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "warming up");
    }
    for (const auto& rl : req->resource_logs()) {
      for (const auto& sl : rl.scope_logs()) {
        for (const auto& r : sl.log_records()) bodies_.push_back(r.body().string_value());
      }
    }
    return grpc::Status::OK;
  }
  bool AwaitRecords(size_t n) {
    MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return bodies_.size() >= n; },
        absl::Seconds(30));
  }
  std::vector<std::string> bodies() {
    MutexLock lock(&mu_);
    return bodies_;
  }

 private:
  Mutex mu_;
  int fail_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> bodies_ ABSL_GUARDED_BY(mu_);
};

TEST_F(CollectorTest, TheOtlpExporterDeliversWhatWasIngestedAndReportsOnIt) {
  LogsReceiver receiver(/*fail=*/2);
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&receiver);
  std::unique_ptr<grpc::Server> backend = builder.BuildAndStart();
  Start([&](Config& c) {
    c.exporters.otlp.enabled = true;
    c.exporters.otlp.options.endpoint = absl::StrCat("127.0.0.1:", port);
    c.exporters.otlp.delivery.retry.initial_interval = absl::Milliseconds(10);
    c.exporters.otlp.delivery.retry.max_interval = absl::Milliseconds(50);
    c.exporters.otlp.delivery.batch.max_delay = absl::Milliseconds(20);
  });
  grpc::ClientContext ctx;
  auto stream = ingest_->Stream(&ctx);
  for (uint64_t seq = 1; seq <= 3; ++seq) ASSERT_TRUE(stream->Write(MakeBatch("p", seq, 4)));
  IngestAck ack;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(stream->Read(&ack));
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());

  ASSERT_TRUE(receiver.AwaitRecords(12));
  std::vector<std::string> bodies = receiver.bodies();
  std::sort(bodies.begin(), bodies.end());
  EXPECT_EQ(std::unique(bodies.begin(), bodies.end()), bodies.end()) << "a record arrived twice";
  EXPECT_EQ(bodies.size(), 12u);
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (Metrics().find("tributary_exporter_records_sent_total{exporter=\"otlp\"} 12\n") ==
             std::string::npos &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  const std::string m = Metrics();
  EXPECT_THAT(m, HasSubstr("tributary_exporter_records_sent_total{exporter=\"otlp\"} 12\n"));
  EXPECT_THAT(m, HasSubstr("tributary_exporter_retries_total{exporter=\"otlp\"} 2\n"));
  const std::string ready = daemon_->CheckReadiness().json;
  EXPECT_THAT(ready, HasSubstr("\"exporters\":{\"otlp\":{"));
  EXPECT_THAT(ready, HasSubstr("\"records_sent\":12"));
  EXPECT_THAT(daemon_->StatusPage(), HasSubstr("<h2>Exporters</h2>"));
  daemon_->Shutdown().IgnoreError();
  backend->Shutdown();
}

}  // namespace
}  // namespace tributary::collector
