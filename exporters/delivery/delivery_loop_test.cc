// The shared delivery loop over the in-memory buffer with a scripted
// exporter: cursor commits, re-batching, the retry table's outcomes,
// Retry-After, giving up, the circuit breaker, stopping mid-retry, and
// exporters that do not wait for each other.
#include "exporters/delivery/delivery_loop.h"

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "storage/memory/memory_buffer.h"
#include "storage/testing/forwarding_buffer.h"

namespace tributary::exporters {
namespace {

using ::testing::HasSubstr;

// Encodes each group as one request listing its records' bodies; answers
// from a script (then success).
class ScriptedExporter : public Exporter {
 public:
  explicit ScriptedExporter(std::string name, uint32_t signals = kAllSignals)
      : name_(std::move(name)), signals_(signals) {}

  const std::string& name() const override { return name_; }
  uint32_t signals() const override { return signals_; }

  absl::StatusOr<std::vector<Request>> Encode(
      const std::vector<const tributary::v1::IngestBatch*>& batches) override {
    {
      MutexLock lock(&mu_);
      for (const tributary::v1::IngestBatch* b : batches) {
        if (b->logs_size() == 0) ++encoded_without_logs_;
      }
    }
    Request r;
    r.kind = "logs";
    for (const tributary::v1::IngestBatch* b : batches) {
      for (const auto& l : b->logs()) {
        absl::StrAppend(&r.payload, l.body(), "\n");
        ++r.records;
      }
    }
    return std::vector<Request>{r};
  }

  SendResult Send(const Request& request, absl::Time) override {
    MutexLock lock(&mu_);
    send_times_.push_back(absl::Now());
    SendResult result;
    if (!script_.empty()) {
      result = script_.front();
      script_.pop_front();
    } else if (always_.has_value()) {
      result = *always_;
    }
    if (result.outcome == Outcome::kSuccess) {
      for (absl::string_view line : absl::StrSplit(request.payload, '\n', absl::SkipEmpty())) {
        ++received_[std::string(line)];
      }
    }
    return result;
  }

  void Script(std::vector<SendResult> results) {
    MutexLock lock(&mu_);
    script_.assign(results.begin(), results.end());
  }
  void Always(std::optional<SendResult> r) {
    MutexLock lock(&mu_);
    always_ = r;
  }
  std::map<std::string, int> received() {
    MutexLock lock(&mu_);
    return received_;
  }
  std::vector<absl::Time> send_times() {
    MutexLock lock(&mu_);
    return send_times_;
  }
  int encoded_without_logs() {
    MutexLock lock(&mu_);
    return encoded_without_logs_;
  }
  bool WaitForReceived(size_t n, absl::Duration timeout = absl::Seconds(30)) {
    MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return received_.size() >= n; }, timeout);
  }
  bool WaitForSends(size_t n, absl::Duration timeout = absl::Seconds(30)) {
    MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return send_times_.size() >= n; }, timeout);
  }

 private:
  const std::string name_;
  const uint32_t signals_;
  Mutex mu_;
  int encoded_without_logs_ ABSL_GUARDED_BY(mu_) = 0;
  std::deque<SendResult> script_ ABSL_GUARDED_BY(mu_);
  std::optional<SendResult> always_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> received_ ABSL_GUARDED_BY(mu_);
  std::vector<absl::Time> send_times_ ABSL_GUARDED_BY(mu_);
};

SendResult Retryable(absl::Duration retry_after = absl::ZeroDuration()) {
  SendResult r;
  r.outcome = Outcome::kRetryable;
  r.message = "backend unavailable";
  r.retry_after = retry_after;
  return r;
}

SendResult Permanent() {
  SendResult r;
  r.outcome = Outcome::kPermanent;
  r.message = "400: entry too far behind";
  return r;
}

// The in-memory buffer, whose reads fail with DATA_LOSS while damaged: what
// the RocksDB buffer answers for an entry that does not read back.
class DamagedBuffer final : public storage::testing::ForwardingBuffer {
 public:
  using ForwardingBuffer::ForwardingBuffer;
  void set_damaged(bool d) { damaged_.store(d); }

  absl::StatusOr<std::vector<storage::Entry>> Read(uint64_t from, size_t max_entries,
                                                   size_t max_bytes) override {
    if (damaged_.load()) return absl::DataLossError("entry 0 does not decompress");
    return ForwardingBuffer::Read(from, max_entries, max_bytes);
  }

 private:
  std::atomic<bool> damaged_{false};
};

class DeliveryLoopTest : public ::testing::Test {
 protected:
  DeliveryLoopTest() : metrics_(&registry_) {
    options_.retry.initial_interval = absl::Milliseconds(1);
    options_.retry.max_interval = absl::Milliseconds(10);
    options_.batch.max_delay = absl::Milliseconds(20);
    options_.circuit.failures = 1000;
  }

  // Appends `n` batches of `per` records with bodies "<tag>-<i>".
  void Append(int n, int per, const std::string& tag = "r") {
    for (int i = 0; i < n; ++i) {
      tributary::v1::IngestBatch b;
      for (int j = 0; j < per; ++j) b.add_logs()->set_body(absl::StrCat(tag, "-", next_id_++));
      storage::AppendRequest req;
      req.payload = b.SerializeAsString();
      req.record_count = static_cast<uint32_t>(per);
      ASSERT_TRUE(buffer_.AppendAndWait(std::move(req)).ok());
    }
  }

  // Appends a batch of `per` metric points and no logs.
  void AppendMetrics(int per) {
    tributary::v1::IngestBatch b;
    for (int j = 0; j < per; ++j) b.add_metrics()->set_name("m");
    storage::AppendRequest req;
    req.payload = b.SerializeAsString();
    req.record_count = static_cast<uint32_t>(per);
    ASSERT_TRUE(buffer_.AppendAndWait(std::move(req)).ok());
  }

  std::unique_ptr<DeliveryLoop> Loop(ScriptedExporter** out, const std::string& name = "fake",
                                     uint32_t signals = kAllSignals) {
    auto exporter = std::make_unique<ScriptedExporter>(name, signals);
    *out = exporter.get();
    return std::make_unique<DeliveryLoop>(&buffer_, std::move(exporter), options_, &metrics_);
  }

  uint64_t Cursor(const std::string& consumer) {
    for (const auto& c : buffer_.Stats().consumers) {
      if (c.name == consumer) return c.next;
    }
    return ~uint64_t{0};
  }

  bool AwaitCursor(const std::string& consumer, uint64_t next) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (Cursor(consumer) != next && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(1));
    return Cursor(consumer) == next;
  }

  std::string Metrics() { return registry_.Render(); }

  storage::MemoryBuffer buffer_;
  metrics::Registry registry_;
  DeliveryMetrics metrics_;
  DeliveryOptions options_;
  int next_id_ = 0;
};

TEST_F(DeliveryLoopTest, DeliversEverythingOnceAndCommitsTheCursor) {
  Append(10, 100);
  options_.batch.max_records = 250;
  ScriptedExporter* exporter;
  auto loop = Loop(&exporter);
  ASSERT_TRUE(loop->Start().ok());
  ASSERT_TRUE(exporter->WaitForReceived(1000));
  ASSERT_TRUE(AwaitCursor("exporter/fake", buffer_.Stats().next_offset));
  for (const auto& [body, n] : exporter->received()) EXPECT_EQ(n, 1) << body;
  // Re-batched: entries (100 records each) are gathered up to about 250
  // records per request, not one request per entry nor one for all.
  EXPECT_GE(exporter->send_times().size(), 3u);
  EXPECT_LE(exporter->send_times().size(), 7u);
  EXPECT_THAT(Metrics(),
              HasSubstr("tributary_exporter_records_sent_total{exporter=\"fake\"} 1000\n"));
  // The lag is refreshed at most every 50 ms: it shows 0 soon after.
  const std::string caught_up = "tributary_exporter_lag_entries{exporter=\"fake\"} 0\n";
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (Metrics().find(caught_up) == std::string::npos && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_THAT(Metrics(), HasSubstr(caught_up));
  // New data keeps flowing.
  Append(1, 5, "late");
  ASSERT_TRUE(exporter->WaitForReceived(1005));
  loop->Stop();
  EXPECT_EQ(loop->status().records_sent, 1005u);
}

TEST_F(DeliveryLoopTest, RetryableFailuresAreRetriedAndNothingIsLostOrDuplicated) {
  Append(3, 10);
  ScriptedExporter* exporter;
  auto loop = Loop(&exporter);
  exporter->Script({Retryable(), Retryable(), Retryable()});
  ASSERT_TRUE(loop->Start().ok());
  ASSERT_TRUE(exporter->WaitForReceived(30));
  ASSERT_TRUE(AwaitCursor("exporter/fake", buffer_.Stats().next_offset));
  for (const auto& [body, n] : exporter->received()) EXPECT_EQ(n, 1) << body;
  const std::string m = Metrics();
  EXPECT_THAT(m, HasSubstr("tributary_exporter_retries_total{exporter=\"fake\"} 3\n"));
  EXPECT_THAT(m, HasSubstr(
                     "tributary_exporter_requests_total{exporter=\"fake\",outcome=\"retryable\"} 3\n"));
  loop->Stop();
}

TEST_F(DeliveryLoopTest, RetryAfterFromTheBackendIsHonoured) {
  Append(1, 1);
  ScriptedExporter* exporter;
  auto loop = Loop(&exporter);
  exporter->Script({Retryable(absl::Milliseconds(300))});
  ASSERT_TRUE(loop->Start().ok());
  ASSERT_TRUE(exporter->WaitForReceived(1));
  const auto times = exporter->send_times();
  ASSERT_EQ(times.size(), 2u);
  EXPECT_GE(times[1] - times[0], absl::Milliseconds(300));
  loop->Stop();
}

TEST_F(DeliveryLoopTest, PermanentRefusalsAreDroppedCountedAndDoNotBlock) {
  options_.batch.max_records = 1;  // one entry per request
  Append(1, 7, "bad");
  Append(2, 3, "good");
  ScriptedExporter* exporter;
  auto loop = Loop(&exporter);
  exporter->Script({Permanent()});
  ASSERT_TRUE(loop->Start().ok());
  ASSERT_TRUE(exporter->WaitForReceived(6));
  ASSERT_TRUE(AwaitCursor("exporter/fake", buffer_.Stats().next_offset));
  EXPECT_EQ(exporter->received().count("bad-0"), 0u);
  EXPECT_THAT(Metrics(), HasSubstr("tributary_exporter_records_dropped_total{exporter=\"fake\","
                                   "reason=\"permanent\"} 7\n"));
  loop->Stop();
  EXPECT_EQ(loop->status().records_dropped, 7u);
}

TEST_F(DeliveryLoopTest, PartialSuccessCountsTheRefusedRecords) {
  Append(1, 10);
  ScriptedExporter* exporter;
  auto loop = Loop(&exporter);
  SendResult partial;
  partial.dropped_records = 4;
  partial.message = "4 records had invalid timestamps";
  exporter->Script({partial});
  ASSERT_TRUE(loop->Start().ok());
  ASSERT_TRUE(AwaitCursor("exporter/fake", buffer_.Stats().next_offset));
  const std::string m = Metrics();
  EXPECT_THAT(m, HasSubstr("tributary_exporter_records_dropped_total{exporter=\"fake\","
                           "reason=\"rejected\"} 4\n"));
  EXPECT_THAT(m, HasSubstr("tributary_exporter_records_sent_total{exporter=\"fake\"} 6\n"));
  EXPECT_THAT(loop->status().last_error, HasSubstr("invalid timestamps"));
  loop->Stop();
}

TEST_F(DeliveryLoopTest, GivesUpAfterMaxElapsedTimeAndMovesOn) {
  options_.retry.max_elapsed_time = absl::Milliseconds(50);
  options_.batch.max_records = 1;
  Append(1, 2, "doomed");
  ScriptedExporter* exporter;
  auto loop = Loop(&exporter);
  exporter->Always(Retryable());
  ASSERT_TRUE(loop->Start().ok());
  ASSERT_TRUE(AwaitCursor("exporter/fake", buffer_.Stats().next_offset));
  EXPECT_THAT(Metrics(), HasSubstr("tributary_exporter_records_dropped_total{exporter=\"fake\","
                                   "reason=\"retry_exhausted\"} 2\n"));
  exporter->Always(std::nullopt);
  Append(1, 1, "next");
  ASSERT_TRUE(exporter->WaitForReceived(1));
  EXPECT_EQ(exporter->received().count("next-2"), 1u);
  loop->Stop();
}

TEST_F(DeliveryLoopTest, TheCircuitOpensAfterConsecutiveFailuresAndProbes) {
  options_.circuit.failures = 3;
  options_.circuit.open_for = absl::Milliseconds(300);
  options_.retry.max_interval = absl::Milliseconds(100);  // open_for may grow to 8x this
  Append(1, 1);
  ScriptedExporter* exporter;
  auto loop = Loop(&exporter);
  exporter->Script({Retryable(), Retryable(), Retryable(), Retryable()});
  ASSERT_TRUE(loop->Start().ok());
  ASSERT_TRUE(exporter->WaitForSends(3));
  // Three failures open it; nothing is sent until the probe.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (loop->status().circuit != Circuit::kOpen && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  ASSERT_EQ(loop->status().circuit, Circuit::kOpen);
  EXPECT_THAT(Metrics(), HasSubstr("tributary_exporter_circuit_state{exporter=\"fake\"} 1\n"));
  ASSERT_TRUE(exporter->WaitForReceived(1));
  const auto t = exporter->send_times();
  ASSERT_EQ(t.size(), 5u);
  EXPECT_GE(t[3] - t[2], absl::Milliseconds(300));  // the probe, after open_for
  EXPECT_GE(t[4] - t[3], absl::Milliseconds(600));  // a failed probe doubles it
  ASSERT_TRUE(AwaitCursor("exporter/fake", buffer_.Stats().next_offset));
  EXPECT_EQ(loop->status().circuit, Circuit::kClosed);
  loop->Stop();
}

TEST_F(DeliveryLoopTest, StoppingMidRetryCommitsNothingAndARestartSendsItAll) {
  Append(2, 5);
  ScriptedExporter* first;
  auto loop = Loop(&first);
  first->Always(Retryable());
  ASSERT_TRUE(loop->Start().ok());
  ASSERT_TRUE(first->WaitForSends(2));
  loop->Stop();
  EXPECT_EQ(Cursor("exporter/fake"), buffer_.Stats().first_offset);
  EXPECT_TRUE(first->received().empty());

  ScriptedExporter* second;
  auto again = Loop(&second);
  ASSERT_TRUE(again->Start().ok());
  ASSERT_TRUE(second->WaitForReceived(10));
  ASSERT_TRUE(AwaitCursor("exporter/fake", buffer_.Stats().next_offset));
  for (const auto& [body, n] : second->received()) EXPECT_EQ(n, 1) << body;
  again->Stop();
}

TEST_F(DeliveryLoopTest, AFailingExporterDoesNotDelayAnother) {
  Append(5, 20);
  ScriptedExporter* dead;
  ScriptedExporter* alive;
  auto stuck = Loop(&dead, "dead");
  auto flowing = Loop(&alive, "alive");
  dead->Always(Retryable());
  ASSERT_TRUE(stuck->Start().ok());
  ASSERT_TRUE(flowing->Start().ok());
  ASSERT_TRUE(alive->WaitForReceived(100));
  ASSERT_TRUE(AwaitCursor("exporter/alive", buffer_.Stats().next_offset));
  ASSERT_TRUE(dead->WaitForSends(2));  // it keeps trying, on its own
  EXPECT_EQ(Cursor("exporter/dead"), buffer_.Stats().first_offset);
  EXPECT_GT(stuck->status().lag_entries, 0u);
  EXPECT_THAT(stuck->status().last_error, HasSubstr("backend unavailable"));
  stuck->Stop();
  flowing->Stop();
}

TEST_F(DeliveryLoopTest, BatchesWithoutTheExportersSignalsAreSkippedUnparsed) {
  for (int i = 0; i < 5; ++i) {
    AppendMetrics(50);
    Append(1, 10);
  }
  AppendMetrics(50);
  ScriptedExporter* logs_only;
  auto loop = Loop(&logs_only, "logs_only", kLogs);
  ASSERT_TRUE(loop->Start().ok());
  ASSERT_TRUE(logs_only->WaitForReceived(50));
  // The cursor moves past the trailing metrics batch too.
  ASSERT_TRUE(AwaitCursor("exporter/logs_only", buffer_.Stats().next_offset));
  loop->Stop();
  EXPECT_EQ(logs_only->encoded_without_logs(), 0);
  EXPECT_EQ(loop->status().records_sent, 50u);
  EXPECT_EQ(loop->status().records_dropped, 0u);
}

// A buffer that cannot be read holds the exporter where it is (nothing is
// skipped or committed past), and says so where operators look.
TEST_F(DeliveryLoopTest, AnUnreadableBufferHoldsTheExporterAndIsShown) {
  Append(2, 10);
  DamagedBuffer damaged(&buffer_);
  damaged.set_damaged(true);
  auto owned = std::make_unique<ScriptedExporter>("fake", kAllSignals);
  ScriptedExporter* exporter = owned.get();
  DeliveryLoop loop(&damaged, std::move(owned), options_, &metrics_);
  ASSERT_TRUE(loop.Start().ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (loop.status().last_error.empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_THAT(loop.status().last_error, HasSubstr("cannot read the buffer: entry 0"));
  EXPECT_THAT(Metrics(),
              HasSubstr("tributary_exporter_buffer_read_errors_total{exporter=\"fake\"} "));
  EXPECT_TRUE(exporter->received().empty());
  EXPECT_EQ(Cursor("exporter/fake"), 0u);
  // Repaired: delivery resumes from where it stopped, and the error clears
  // with the first request that succeeds.
  damaged.set_damaged(false);
  ASSERT_TRUE(exporter->WaitForReceived(20));
  ASSERT_TRUE(AwaitCursor("exporter/fake", buffer_.Stats().next_offset));
  EXPECT_EQ(loop.status().last_error, "");
  loop.Stop();
}

TEST(HasSignalsTest, WalksTheTopLevelFields) {
  tributary::v1::IngestBatch logs;
  logs.set_producer_id("p");
  logs.mutable_resource()->set_service_name("s");
  logs.add_logs()->set_body("x");
  tributary::v1::IngestBatch metrics;
  metrics.add_metrics()->set_name("m");
  tributary::v1::IngestBatch spans = metrics;
  spans.add_spans()->set_name("s");
  EXPECT_TRUE(HasSignals(logs.SerializeAsString(), kLogs));
  EXPECT_FALSE(HasSignals(logs.SerializeAsString(), kMetrics | kSpans));
  EXPECT_TRUE(HasSignals(metrics.SerializeAsString(), kMetrics));
  EXPECT_FALSE(HasSignals(metrics.SerializeAsString(), kLogs));
  EXPECT_TRUE(HasSignals(spans.SerializeAsString(), kSpans));
  EXPECT_FALSE(HasSignals("", kLogs));
  // What does not walk is left for the parse to report.
  EXPECT_TRUE(HasSignals("\x1a\x7f", kLogs));  // a resource cut short
}

TEST(RetryTableTest, GrpcAndHttpCodes) {
  EXPECT_EQ(ClassifyGrpc(14, false), Outcome::kRetryable);  // UNAVAILABLE
  EXPECT_EQ(ClassifyGrpc(4, false), Outcome::kRetryable);   // DEADLINE_EXCEEDED
  EXPECT_EQ(ClassifyGrpc(10, false), Outcome::kRetryable);  // ABORTED
  EXPECT_EQ(ClassifyGrpc(8, true), Outcome::kRetryable);    // RESOURCE_EXHAUSTED + RetryInfo
  EXPECT_EQ(ClassifyGrpc(8, false), Outcome::kPermanent);
  EXPECT_EQ(ClassifyGrpc(3, false), Outcome::kPermanent);   // INVALID_ARGUMENT
  EXPECT_EQ(ClassifyGrpc(12, false), Outcome::kPermanent);  // UNIMPLEMENTED
  EXPECT_EQ(ClassifyGrpc(0, false), Outcome::kSuccess);
  EXPECT_EQ(ClassifyHttp(204), Outcome::kSuccess);
  EXPECT_EQ(ClassifyHttp(429), Outcome::kRetryable);
  EXPECT_EQ(ClassifyHttp(503), Outcome::kRetryable);
  EXPECT_EQ(ClassifyHttp(0), Outcome::kRetryable);  // connection error
  EXPECT_EQ(ClassifyHttp(400), Outcome::kPermanent);
  EXPECT_EQ(ClassifyHttp(404), Outcome::kPermanent);
}

}  // namespace
}  // namespace tributary::exporters
