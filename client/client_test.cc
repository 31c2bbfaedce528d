// The client against an in-process fake of IngestService: delivery and its
// content, batching triggers, resending after broken streams and refusals
// (exactly once), drops and their counts, spans, metrics, sampling, options.
#include "client/client.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/mutex.h"
#include "client/internal/test_access.h"
#include "client/testing/fake_collector.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tributary::client {
namespace {

namespace tv1 = ::tributary::v1;
using testing::FakeCollector;
using ::testing::HasSubstr;
using ::testing::SizeIs;

// A TCP relay on loopback that can stop passing bytes while keeping every
// connection open, as a host that died or a network path that went dead
// does: the peer neither answers nor closes.
class Relay {
 public:
  explicit Relay(int target_port) : target_port_(target_port) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
        listen(listen_fd_, 16) != 0 ||
        getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ADD_FAILURE() << "relay: cannot listen";
      return;
    }
    address_ = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
    accept_ = std::thread([this] { Accept(); });
  }
  ~Relay() {
    stop_.store(true);
    if (accept_.joinable()) accept_.join();  // then pumps_ and fds_ no longer change
    for (std::thread& t : pumps_) t.join();
    for (int fd : fds_) close(fd);
    close(listen_fd_);
  }
  const std::string& address() const { return address_; }
  // From now on nothing passes in either direction; nothing is closed.
  void Blackhole() { blackhole_.store(true); }
  // Bytes passed on from the client to the collector so far.
  uint64_t upstream_bytes() const { return upstream_bytes_.load(); }

 private:
  // Waits up to 50 ms for `fd` to be readable; false when stopping.
  bool Readable(int fd) {
    pollfd p{fd, POLLIN, 0};
    return !stop_.load() && poll(&p, 1, 50) > 0;
  }
  void Accept() {
    while (!stop_.load()) {
      if (!Readable(listen_fd_)) continue;
      const int in = accept(listen_fd_, nullptr, nullptr);
      if (in < 0) continue;
      const int out = socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      addr.sin_port = htons(static_cast<uint16_t>(target_port_));
      if (connect(out, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        close(in);
        close(out);
        continue;
      }
      fds_.push_back(in);
      fds_.push_back(out);
      pumps_.emplace_back([this, in, out] { Pump(in, out, &upstream_bytes_); });
      pumps_.emplace_back([this, in, out] { Pump(out, in, nullptr); });
    }
  }
  void Pump(int from, int to, std::atomic<uint64_t>* count) {
    char buf[16384];
    while (!stop_.load()) {
      if (blackhole_.load() || !Readable(from)) {
        if (blackhole_.load()) poll(nullptr, 0, 50);
        continue;
      }
      const ssize_t n = read(from, buf, sizeof(buf));
      if (n <= 0) return;
      if (count != nullptr) count->fetch_add(static_cast<uint64_t>(n));
      for (ssize_t done = 0; done < n;) {
        const ssize_t w = write(to, buf + done, static_cast<size_t>(n - done));
        if (w <= 0) return;
        done += w;
      }
    }
  }

  const int target_port_;
  int listen_fd_ = -1;
  std::string address_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> blackhole_{false};
  std::atomic<uint64_t> upstream_bytes_{0};
  std::thread accept_;
  std::vector<int> fds_;            // the accept thread's until it is joined
  std::vector<std::thread> pumps_;  // likewise
};

ClientOptions Options(const FakeCollector& fake) {
  ClientOptions o;
  o.endpoints = {fake.address()};
  o.resource.service_name = "checkout";
  o.read_environment = false;
  o.retry.initial_backoff = absl::Milliseconds(5);
  o.retry.max_backoff = absl::Milliseconds(50);
  return o;
}

std::unique_ptr<Client> MustCreate(ClientOptions o) {
  auto c = Client::Create(std::move(o));
  EXPECT_TRUE(c.ok()) << c.status();
  return std::move(*c);
}

std::vector<tv1::LogRecord> Logs(const std::vector<tv1::IngestBatch>& batches) {
  std::vector<tv1::LogRecord> out;
  for (const auto& b : batches) out.insert(out.end(), b.logs().begin(), b.logs().end());
  return out;
}

size_t LogCount(const std::vector<tv1::IngestBatch>& batches) {
  size_t n = 0;
  for (const auto& b : batches) n += static_cast<size_t>(b.logs_size());
  return n;
}

const tv1::Attribute* Find(const google::protobuf::RepeatedPtrField<tv1::Attribute>& attrs,
                           const std::string& key) {
  for (const auto& a : attrs) {
    if (a.key() == key) return &a;
  }
  return nullptr;
}

// Every record carries an "id" field; each must be stored exactly once.
void ExpectEachIdOnce(const std::vector<tv1::IngestBatch>& batches, int64_t n) {
  std::map<int64_t, int> seen;
  for (const auto& r : Logs(batches)) {
    const tv1::Attribute* id = Find(r.attributes(), "id");
    ASSERT_NE(id, nullptr);
    int64_t v = 0;
    ASSERT_TRUE(absl::SimpleAtoi(id->value(), &v));
    ++seen[v];
  }
  ASSERT_EQ(seen.size(), static_cast<size_t>(n));
  for (const auto& [id, count] : seen) EXPECT_EQ(count, 1) << "record " << id;
  // Stored seqs are distinct per producer.
  std::set<std::pair<std::string, uint64_t>> seqs;
  for (const auto& b : batches) EXPECT_TRUE(seqs.insert({b.producer_id(), b.seq()}).second);
}

TEST(ClientTest, DeliversRecordsWithFieldsContextResourceAndRedaction) {
  FakeCollector fake;
  ClientOptions o = Options(fake);
  o.resource.attributes["deployment.environment"] = "test";
  o.redaction.patterns = {{"card", "\\b\\d{4}-\\d{4}-\\d{4}-\\d{4}\\b"}};
  auto client = MustCreate(o);
  Logger log = client->GetLogger("payments");
  {
    ScopedContext bound(Context::Current().WithFields({{"request_id", "r-17"}}));
    const int64_t order = 42;
    log.Info("payment accepted", {{"order_id", order}, {"amount", 12.5}, {"retry", false},
                                  {"user", std::string("ann")}});
    log.Warn("card 1234-5678-9012-3456 declined", {{"password", "hunter2"}});
    log.Error("bad bytes \xff here");
  }
  log.Audit("login");
  const DeliveryReport report = client->Flush(absl::Seconds(30));
  ASSERT_TRUE(report.complete) << report.last_error;
  EXPECT_EQ(report.pending_records, 0u);

  const auto stored = fake.Stored();
  ASSERT_FALSE(stored.empty());
  EXPECT_EQ(stored[0].resource().service_name(), "checkout");
  EXPECT_FALSE(stored[0].resource().host().empty());
  EXPECT_EQ(stored[0].resource().attributes(0).key(), "deployment.environment");
  EXPECT_EQ(stored[0].producer_id(), client->producer_id());
  ASSERT_EQ(stored[0].scopes_size(), 1);
  EXPECT_EQ(stored[0].scopes(0).name(), "payments");

  const auto logs = Logs(stored);
  ASSERT_THAT(logs, SizeIs(4));
  const tv1::LogRecord& info = logs[0];
  EXPECT_EQ(info.body(), "payment accepted");
  EXPECT_EQ(info.severity_number(), 9);
  EXPECT_EQ(info.severity_text(), "INFO");
  EXPECT_EQ(info.scope(), 1u);
  EXPECT_GT(info.time_unix_nano(), 0u);
  ASSERT_EQ(info.attributes_size(), 5);
  EXPECT_EQ(info.attributes(0).key(), "request_id");  // bound fields first
  EXPECT_EQ(info.attributes(0).value(), "r-17");
  EXPECT_EQ(info.attributes(1).value(), "42");
  EXPECT_EQ(info.attributes(1).type(), tv1::VALUE_TYPE_INT);
  EXPECT_EQ(info.attributes(2).value(), "12.5");
  EXPECT_EQ(info.attributes(2).type(), tv1::VALUE_TYPE_DOUBLE);
  EXPECT_EQ(info.attributes(3).value(), "false");
  EXPECT_EQ(info.attributes(3).type(), tv1::VALUE_TYPE_BOOL);
  EXPECT_EQ(info.attributes(4).value(), "ann");
  EXPECT_EQ(logs[1].body(), "card ***REDACTED*** declined");
  EXPECT_EQ(Find(logs[1].attributes(), "password")->value(), "***REDACTED***");
  EXPECT_EQ(logs[2].body(), "bad bytes \xEF\xBF\xBD here");  // repaired, not rejected
  EXPECT_EQ(logs[3].severity_text(), "AUDIT");
  EXPECT_EQ(logs[3].severity_number(), 12);
  EXPECT_EQ(Find(logs[3].attributes(), "request_id"), nullptr);  // scope ended

  const ClientStats s = client->stats();
  EXPECT_EQ(s.enqueued, 4u);
  EXPECT_EQ(s.records_delivered, 4u);
  EXPECT_TRUE(s.connected);
  EXPECT_EQ(s.endpoint, fake.address());
}

TEST(ClientTest, MinimumLevelFiltersBeforeAnythingIsQueuedButNotAuditOrSecurity) {
  FakeCollector fake;
  auto client = MustCreate(Options(fake));
  Logger log = client->GetLogger("quiet", Level::kFatal);
  log.Info("dropped before the queue");
  log.Error("also below the minimum");
  log.Audit("kept");
  log.Security("kept too");
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  EXPECT_EQ(client->stats().enqueued, 2u);
  EXPECT_EQ(LogCount(fake.Stored()), 2u);
}

TEST(ClientTest, SealsABatchWhenItReachesMaxRecordsOrMaxBytes) {
  FakeCollector fake;
  ClientOptions o = Options(fake);
  o.batch.max_records = 10;
  o.batch.max_delay = absl::Hours(1);
  auto client = MustCreate(o);
  Logger log = client->GetLogger();
  for (int i = 0; i < 25; ++i) log.Info("record", {{"id", i}});
  ASSERT_TRUE(fake.WaitFor([](const auto& b) { return b.size() == 2; }));
  EXPECT_EQ(fake.Stored()[0].logs_size(), 10);
  EXPECT_EQ(fake.Stored()[1].logs_size(), 10);
  // The other five wait for time, or for a flush.
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  ASSERT_EQ(fake.Stored().size(), 3u);
  EXPECT_EQ(fake.Stored()[2].logs_size(), 5);

  FakeCollector fake2;
  ClientOptions by_bytes = Options(fake2);
  by_bytes.batch.max_bytes = 4096;
  by_bytes.batch.max_delay = absl::Hours(1);
  auto client2 = MustCreate(by_bytes);
  Logger log2 = client2->GetLogger();
  const std::string text(1000, 'x');
  for (int i = 0; i < 20; ++i) log2.Info(text, {{"id", i}});
  ASSERT_TRUE(client2->Flush(absl::Seconds(30)).complete);
  const auto stored = fake2.Stored();
  ASSERT_GE(stored.size(), 4u);
  for (const auto& b : stored) EXPECT_LE(b.logs_size(), 5) << "a batch passed max_bytes";
  ExpectEachIdOnce(stored, 20);
}

TEST(ClientTest, BatchesAreSplitToFitWhatTheCollectorTakes) {
  FakeCollector fake;
  constexpr uint64_t kLimit = 16 << 10;
  fake.SetMaxBatchBytes(kLimit);
  fake.Pause();  // the handshake waits: batches are sealed at the client's own size
  ClientOptions o = Options(fake);
  o.batch.max_records = 1000;
  o.batch.max_bytes = 1 << 20;
  o.batch.max_delay = absl::Hours(1);
  o.retry.connect_timeout = absl::Hours(1);
  auto client = MustCreate(o);
  Logger log = client->GetLogger();
  const std::string text(200, 'x');
  for (int i = 0; i < 2000; ++i) log.Info(text, {{"id", i}});
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (client->stats().unacked_batches < 2 && absl::Now() < deadline) std::this_thread::yield();
  ASSERT_EQ(client->stats().unacked_batches, 2u);
  EXPECT_GT(client->stats().unacked_bytes, 2 * kLimit);
  fake.Resume();
  // After the handshake new batches are sealed below the limit; a record
  // larger than the limit on its own cannot be sent and is counted.
  for (int i = 2000; i < 3000; ++i) log.Info(text, {{"id", i}});
  log.Info(std::string(20 << 10, 'y'), {{"id", 3000}});
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);

  const auto stored = fake.Stored();
  for (const auto& b : stored) EXPECT_LE(b.ByteSizeLong(), kLimit) << "batch " << b.seq();
  ExpectEachIdOnce(stored, 3000);
  const ClientStats s = client->stats();
  EXPECT_GE(s.batches_split, 2u);
  EXPECT_EQ(s.dropped_too_large, 1u);
  EXPECT_EQ(s.dropped_invalid, 0u);
  EXPECT_EQ(s.records_delivered, 3000u);
  EXPECT_THAT(s.last_error, HasSubstr("larger on their own than the collector takes"));
  // Parts never reuse a seq: they are numbered after every earlier batch.
  for (size_t i = 1; i < stored.size(); ++i) EXPECT_GT(stored[i].seq(), stored[i - 1].seq());
}

TEST(ClientTest, SealsABatchWhenMaxDelayPassesOnTheClock) {
  FakeCollector fake;
  ClientOptions o = Options(fake);
  o.batch.max_delay = absl::Seconds(1);
  Mutex mu;
  absl::Time now = absl::Now();
  auto clock = [&] {
    MutexLock lock(&mu);
    return now;
  };
  auto created = internal::TestAccess::Create(o, clock);
  ASSERT_TRUE(created.ok());
  std::unique_ptr<Client> client = std::move(*created);
  Logger log = client->GetLogger();
  for (int i = 0; i < 3; ++i) log.Info("waits for the delay", {{"id", i}});
  // The sender took all three and holds them: the delay has not passed.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while ((client->stats().batching < 3 || !client->stats().connected) && absl::Now() < deadline) {
    internal::TestAccess::Wake(client.get());
    std::this_thread::yield();
  }
  ASSERT_EQ(client->stats().batching, 3u);
  EXPECT_EQ(client->stats().batches_sent, 0u);
  {
    MutexLock lock(&mu);
    now += absl::Seconds(1);
  }
  internal::TestAccess::Wake(client.get());
  ASSERT_TRUE(fake.WaitFor([](const auto& b) { return b.size() == 1; }));
  EXPECT_EQ(fake.Stored()[0].logs_size(), 3);
  client->Shutdown(absl::Seconds(5));
}

TEST(ClientTest, BrokenStreamsAreResumedAndEveryRecordIsStoredExactlyOnce) {
  FakeCollector fake;
  fake.BreakStreamAfter(3);
  ClientOptions o = Options(fake);
  o.batch.max_records = 20;
  o.batch.max_delay = absl::Milliseconds(1);
  o.queue.policy = Backpressure::kBlock;
  auto client = MustCreate(o);
  Logger log = client->GetLogger();
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) log.Info("line", {{"id", t * kPerThread + i}});
    });
  }
  for (auto& t : threads) t.join();
  const DeliveryReport report = client->Flush(absl::Seconds(60));
  ASSERT_TRUE(report.complete) << report.last_error;
  ExpectEachIdOnce(fake.Stored(), kThreads * kPerThread);
  const ClientStats s = client->stats();
  EXPECT_GE(s.reconnects, 3u);
  EXPECT_GE(fake.streams(), 4);
  EXPECT_EQ(s.records_delivered, static_cast<uint64_t>(kThreads * kPerThread));
  EXPECT_EQ(s.unacked_batches, 0u);
  EXPECT_THAT(s.last_error, HasSubstr("stream ended by the test"));
}

TEST(ClientTest, RetryableRefusalsRewindAndKeepExactlyOnce) {
  FakeCollector fake;
  ClientOptions o = Options(fake);
  o.batch.max_records = 5;
  o.batch.max_delay = absl::Milliseconds(1);
  o.max_in_flight_batches = 8;
  o.queue.policy = Backpressure::kBlock;
  auto client = MustCreate(o);
  Logger log = client->GetLogger();
  log.Info("first", {{"id", 0}});
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  fake.RefuseNext(2, tv1::ACK_STATUS_RESOURCE_EXHAUSTED);
  for (int i = 1; i < 200; ++i) log.Info("line", {{"id", i}});
  ASSERT_TRUE(client->Flush(absl::Seconds(60)).complete);
  fake.RefuseNext(1, tv1::ACK_STATUS_UNAVAILABLE);
  for (int i = 200; i < 300; ++i) log.Info("line", {{"id", i}});
  ASSERT_TRUE(client->Flush(absl::Seconds(60)).complete);
  ExpectEachIdOnce(fake.Stored(), 300);
  // Stored in seq order: nothing was stored past a refused batch.
  uint64_t last = 0;
  for (const auto& b : fake.Stored()) {
    EXPECT_GT(b.seq(), last);
    last = b.seq();
  }
  const ClientStats s = client->stats();
  EXPECT_GE(s.retries, 3u);
  EXPECT_EQ(s.reconnects, 0u);  // refusals do not cost the stream
}

TEST(ClientTest, InvalidBatchesAndRejectedRecordsAreCountedWithReasons) {
  FakeCollector fake;
  auto client = MustCreate(Options(fake));
  Logger log = client->GetLogger();
  fake.RejectBodiesContaining("poison", "invalid_trace_id");
  log.Info("fine");
  log.Info("poison pill");
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  fake.RefuseNext(1, tv1::ACK_STATUS_INVALID);
  log.Info("refused with its batch");
  log.Info("same batch");
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  const ClientStats s = client->stats();
  EXPECT_EQ(s.rejected, 1u);
  EXPECT_EQ(s.rejected_by_reason.at("invalid_trace_id"), 1u);
  EXPECT_EQ(s.dropped_invalid, 2u);
  EXPECT_EQ(s.records_delivered, 1u);
  EXPECT_THAT(s.last_error, HasSubstr("refused batch"));
  EXPECT_EQ(LogCount(fake.Stored()), 1u);
}

TEST(ClientTest, WithNoCollectorLogCallsReturnAndDropsAreCountedByLevel) {
  // A port nothing listens on: taken, then released.
  std::string address;
  { FakeCollector gone; address = gone.address(); }
  ClientOptions o;
  o.endpoints = {address};
  o.read_environment = false;
  o.queue.max_records = 16;
  // The sender keeps at most ~1 KiB of batches it cannot deliver.
  o.batch.max_bytes = 1024;
  o.max_unacked_bytes = 1024;
  auto client = MustCreate(o);
  Logger log = client->GetLogger();
  for (int i = 0; i < 1000; ++i) log.Info("nowhere to go", {{"id", i}});
  // Protected records push out queued unprotected ones rather than be dropped.
  for (int i = 0; i < 10; ++i) log.Error("must survive", {{"id", i}});
  ClientStats s = client->stats();
  EXPECT_EQ(s.enqueued + s.dropped_full_unprotected + s.dropped_full_protected, 1010u);
  EXPECT_GE(s.dropped_full_unprotected, 900u);
  EXPECT_EQ(s.dropped_full_protected, 0u);
  EXPECT_FALSE(s.connected);
  const DeliveryReport report = client->Shutdown(absl::Milliseconds(200));
  EXPECT_FALSE(report.complete);
  EXPECT_GT(report.pending_records, 0u);
  EXPECT_FALSE(report.last_error.empty());
  log.Info("after shutdown");
  EXPECT_EQ(client->stats().dropped_after_shutdown, 1u);
}

TEST(ClientTest, AStalledCollectorNeverBlocksDropModeAndDeliveryResumes) {
  FakeCollector fake;
  ClientOptions o = Options(fake);
  o.queue.max_records = 64;
  o.max_unacked_bytes = 1 << 20;
  o.batch.max_bytes = 64 << 10;
  o.batch.max_delay = absl::Milliseconds(1);
  o.max_in_flight_batches = 2;
  auto client = MustCreate(o);
  Logger log = client->GetLogger();
  log.Info("connect", {{"id", -1}});
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  fake.Pause();
  const std::string text(2000, 'y');
  for (int i = 0; i < 5000; ++i) log.Info(text, {{"id", i}});
  // Every call returned although nothing is acked: the queue overflowed into
  // drops, and the sender holds what it took as unacked batches.
  EXPECT_GT(client->stats().dropped_full_unprotected, 0u);
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (client->stats().unacked_bytes == 0 && absl::Now() < deadline) std::this_thread::yield();
  EXPECT_GT(client->stats().unacked_bytes, 0u);
  EXPECT_EQ(LogCount(fake.Stored()), 1u);
  fake.Resume();
  const DeliveryReport report = client->Flush(absl::Seconds(60));
  ASSERT_TRUE(report.complete) << report.last_error;
  const ClientStats after = client->stats();
  EXPECT_EQ(LogCount(fake.Stored()), after.records_delivered);
  EXPECT_EQ(after.records_delivered + after.dropped_full_unprotected, 5001u);
}

TEST(ClientTest, KeepalivePingsFindADeadCollectorWhileIdle) {
  FakeCollector fake;
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(fake.address().substr(fake.address().rfind(':') + 1), &port));
  Relay relay(port);
  ClientOptions o = Options(fake);
  o.endpoints = {relay.address()};
  o.retry.keepalive_time = absl::Seconds(1);
  o.retry.keepalive_timeout = absl::Seconds(1);
  auto client = MustCreate(o);
  Logger log = client->GetLogger();
  log.Info("before the path dies");
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  ASSERT_TRUE(client->stats().connected);
  // Idle from here on: no batch waits for an ack, so only the pings can tell.
  relay.Blackhole();
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  ClientStats s = client->stats();
  while ((s.connected || s.last_error.empty()) && absl::Now() < deadline) {
    std::this_thread::yield();
    s = client->stats();
  }
  EXPECT_FALSE(s.connected) << "the dead path was not noticed";
  EXPECT_THAT(s.last_error, HasSubstr("ended"));
  EXPECT_EQ(LogCount(fake.Stored()), 1u);
}

// Measured on the wire, through a relay: gzip sends the same records in a
// fraction of the bytes, and the collector stores them all.
TEST(ClientTest, GzipShrinksWhatGoesOverTheWire) {
  FakeCollector fake;
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(fake.address().substr(fake.address().rfind(':') + 1), &port));
  uint64_t sent[2] = {0, 0};
  for (const bool gzip : {false, true}) {
    Relay relay(port);
    ClientOptions o = Options(fake);
    o.endpoints = {relay.address()};
    o.producer_id = absl::StrCat("gzip-", gzip);
    o.compression = gzip ? Compression::kGzip : Compression::kNone;
    auto client = MustCreate(o);
    Logger log = client->GetLogger();
    for (int i = 0; i < 3000; ++i) {
      log.Info("payment accepted", {{"order_id", i}, {"region", "eu-west-1"}, {"amount", 12.5}});
    }
    ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
    sent[gzip] = relay.upstream_bytes();
  }
  EXPECT_EQ(LogCount(fake.Stored()), 6000u);
  EXPECT_LT(sent[1] * 3, sent[0]) << "gzip " << sent[1] << " bytes, none " << sent[0];
}

TEST(ClientTest, FailsOverToTheNextEndpoint) {
  std::string dead;
  { FakeCollector gone; dead = gone.address(); }
  FakeCollector fake;
  ClientOptions o = Options(fake);
  o.endpoints = {dead, fake.address()};
  auto client = MustCreate(o);
  client->GetLogger().Info("via the second endpoint");
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  EXPECT_EQ(LogCount(fake.Stored()), 1u);
  EXPECT_EQ(client->stats().endpoint, fake.address());
}

TEST(ClientTest, SpeaksTlsWithTheConfiguredRoots) {
  FakeCollector fake(/*tls=*/true);
  ClientOptions o = Options(fake);
  o.tls.enabled = true;
  o.tls.ca_file = "client/testing/test_cert.pem";
  o.tls.server_name = "collector.test";
  auto client = MustCreate(o);
  client->GetLogger().Info("over TLS");
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  EXPECT_EQ(LogCount(fake.Stored()), 1u);

  // Without the test roots the certificate is not trusted: nothing is sent.
  ClientOptions untrusted = o;
  untrusted.tls.ca_file.clear();
  auto refused = MustCreate(untrusted);
  refused->GetLogger().Info("never sent");
  const DeliveryReport report = refused->Flush(absl::Milliseconds(500));
  EXPECT_FALSE(report.complete);
  EXPECT_FALSE(refused->stats().connected);
  EXPECT_FALSE(report.last_error.empty());
  EXPECT_EQ(LogCount(fake.Stored()), 1u);
}

// The first stream ends right after its handshake, so the second handshake
// reports the earlier process's 100 again: that is not another process.
TEST(ClientTest, AFixedProducerIdContinuesAfterWhatTheCollectorHolds) {
  FakeCollector fake;
  fake.SetResumePoint("orders-1", 100);
  fake.EndStreamsAfterHandshake(1);
  ClientOptions o = Options(fake);
  o.producer_id = "orders-1";
  o.retry.initial_backoff = absl::Milliseconds(10);
  auto client = MustCreate(o);
  // Nothing is logged until the second stream is up.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while ((client->stats().reconnects == 0 || !client->stats().connected) &&
         absl::Now() < deadline) {
    std::this_thread::yield();
  }
  ASSERT_GE(client->stats().reconnects, 1u);
  client->GetLogger().Info("after a restart");
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  const auto stored = fake.Stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].seq(), 101u);
  EXPECT_EQ(stored[0].logs(0).body(), "after a restart");
  EXPECT_GE(fake.streams(), 2);
  EXPECT_EQ(client->stats().producer_id_conflicts, 0u);
}

// "one" stored, then "two" stored under seq 51 although another process had
// used the client's producer id up to seq 50; the conflict counted once.
void ExpectTwoRenumberedPast50(Client* client, FakeCollector* fake) {
  const DeliveryReport report = client->Flush(absl::Seconds(30));
  ASSERT_TRUE(report.complete) << report.last_error;
  const auto stored = fake->Stored();
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored[1].logs(0).body(), "two");
  EXPECT_EQ(stored[1].seq(), 51u);
  const ClientStats s = client->stats();
  EXPECT_EQ(s.producer_id_conflicts, 1u);
  EXPECT_THAT(s.last_error, HasSubstr("used by another process"));
}

// Another process sends under the same fixed producer id, and the collector
// answers this client's next batch, sent for the first time, "duplicate".
// Taken as delivered it would be lost; it is kept, renumbered past what the
// collector holds, and stored, and the conflict is counted.
TEST(ClientTest, ABatchHeldUnderItsSeqByAnotherProcessIsRenumberedNotLost) {
  FakeCollector fake;
  ClientOptions o = Options(fake);
  o.producer_id = "orders-1";
  o.batch.max_delay = absl::Milliseconds(1);
  auto client = MustCreate(o);
  Logger log = client->GetLogger();
  log.Info("one");
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  fake.SetResumePoint("orders-1", 50);  // the other process stored up to 50
  log.Info("two");
  ExpectTwoRenumberedPast50(client.get(), &fake);
  EXPECT_EQ(client->stats().batches_duplicate, 0u);
}

// The same, found at a reconnect: the stream broke with a batch unanswered,
// and the new handshake says the collector holds seqs this client never
// sent. The unanswered batch is renumbered and stored, not taken as held.
TEST(ClientTest, AResumePointBeyondAnythingSentIsAnotherProcessNotADelivery) {
  FakeCollector fake;
  ClientOptions o = Options(fake);
  o.producer_id = "orders-1";
  o.batch.max_delay = absl::Milliseconds(1);
  o.retry.ack_timeout = absl::Milliseconds(200);
  o.retry.initial_backoff = absl::Milliseconds(10);
  auto client = MustCreate(o);
  Logger log = client->GetLogger();
  log.Info("one");
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  fake.Pause();
  log.Info("two");
  // Unanswered: the client gives up on the stream after ack_timeout and
  // opens another (whose handshake waits too).
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (client->stats().reconnects == 0 && absl::Now() < deadline) std::this_thread::yield();
  ASSERT_GE(client->stats().reconnects, 1u);
  fake.SetResumePoint("orders-1", 50);
  fake.Resume();
  ExpectTwoRenumberedPast50(client.get(), &fake);
}

TEST(ClientTest, SpansNestCarryTheirLogsAndCrossThreads) {
  FakeCollector fake;
  auto client = MustCreate(Options(fake));
  Logger log = client->GetLogger("svc");
  SpanContext outer_context;
  SpanContext inner_context;
  {
    ScopedSpan outer(client->StartSpan("checkout", {SpanKind::kServer}));
    outer_context = outer.span().context();
    outer->SetAttribute({"cart.items", 3});
    log.Info("inside outer");
    {
      ScopedSpan inner(client->StartSpan("charge"));
      inner_context = inner.span().context();
      inner->AddEvent("retry", {{"attempt", 2}});
      inner->AddLink(outer_context, {{"why", "test"}});
      inner->SetStatus(SpanStatus::kError, "card declined");
      // Work handed to another thread keeps the context.
      std::thread worker(Context::Current().Wrap([&] { log.Warn("from a worker"); }));
      worker.join();
    }
  }
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  std::vector<tv1::Span> spans;
  for (const auto& b : fake.Stored()) spans.insert(spans.end(), b.spans().begin(), b.spans().end());
  ASSERT_EQ(spans.size(), 2u);
  const tv1::Span& charge = spans[0];  // the inner one ends first
  const tv1::Span& checkout = spans[1];
  EXPECT_EQ(charge.name(), "charge");
  EXPECT_EQ(checkout.kind(), tv1::SPAN_KIND_SERVER);
  EXPECT_EQ(charge.trace_id(), checkout.trace_id());
  EXPECT_EQ(charge.parent_span_id(), checkout.span_id());
  EXPECT_TRUE(checkout.parent_span_id().empty());
  EXPECT_EQ(charge.status_code(), tv1::STATUS_CODE_ERROR);
  EXPECT_EQ(charge.status_message(), "card declined");
  ASSERT_EQ(charge.events_size(), 1);
  EXPECT_EQ(charge.events(0).attributes(0).value(), "2");
  ASSERT_EQ(charge.links_size(), 1);
  EXPECT_EQ(charge.links(0).span_id(), checkout.span_id());
  EXPECT_GE(checkout.end_time_unix_nano(), charge.end_time_unix_nano());
  EXPECT_EQ(checkout.attributes(0).value(), "3");

  const auto logs = Logs(fake.Stored());
  ASSERT_EQ(logs.size(), 2u);
  const std::string outer_trace(reinterpret_cast<const char*>(outer_context.trace_id.data()), 16);
  const std::string outer_span(reinterpret_cast<const char*>(outer_context.span_id.data()), 8);
  const std::string inner_span(reinterpret_cast<const char*>(inner_context.span_id.data()), 8);
  EXPECT_EQ(logs[0].trace_id(), outer_trace);
  EXPECT_EQ(logs[0].span_id(), outer_span);
  EXPECT_EQ(logs[1].body(), "from a worker");
  EXPECT_EQ(logs[1].trace_id(), outer_trace);
  EXPECT_EQ(logs[1].span_id(), inner_span);
  EXPECT_EQ(logs[1].flags(), 1u);
}

TEST(ClientTest, MetricsAreAggregatedAndSentAsCumulativePoints) {
  FakeCollector fake;
  auto client = MustCreate(Options(fake));
  Counter requests = client->GetCounter("http_requests", "requests served", "1");
  UpDownCounter in_flight = client->GetUpDownCounter("in_flight");
  Gauge temperature = client->GetGauge("temperature", "", "Cel");
  Histogram latency = client->GetHistogram("latency_seconds", {0.1, 0.5, 1});
  requests.Add(1, {{"code", "200"}, {"method", "GET"}});
  requests.Add(2, {{"method", "GET"}, {"code", "200"}});  // same series, other order
  requests.Add(1, {{"code", "500"}, {"method", "GET"}});
  requests.Add(-5, {{"code", "500"}, {"method", "GET"}});  // ignored
  in_flight.Add(3);
  in_flight.Add(-1);
  temperature.Set(20.5);
  temperature.Set(21.5);
  for (double v : {0.05, 0.1, 0.3, 0.7, 2.0}) latency.Record(v);
  client->GetGauge("http_requests").Set(99);  // another kind: does nothing
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);

  std::map<std::string, tv1::MetricPoint> points;
  for (const auto& b : fake.Stored()) {
    for (const auto& m : b.metrics()) {
      std::string key = m.name();
      for (const auto& l : m.labels()) key += absl::StrCat(",", l.key(), "=", l.value());
      points[key] = m;
    }
  }
  ASSERT_EQ(points.count("http_requests,code=200,method=GET"), 1u);
  const tv1::MetricPoint& ok = points["http_requests,code=200,method=GET"];
  EXPECT_EQ(ok.as_double(), 3);
  EXPECT_EQ(ok.kind(), tv1::METRIC_KIND_COUNTER);
  EXPECT_EQ(ok.temporality(), tv1::TEMPORALITY_CUMULATIVE);
  EXPECT_EQ(ok.description(), "requests served");
  EXPECT_GT(ok.time_unix_nano(), ok.start_time_unix_nano());
  EXPECT_EQ(points["http_requests,code=500,method=GET"].as_double(), 1);
  EXPECT_EQ(points["in_flight"].as_double(), 2);
  EXPECT_EQ(points["in_flight"].kind(), tv1::METRIC_KIND_UP_DOWN_COUNTER);
  EXPECT_EQ(points["temperature"].as_double(), 21.5);
  EXPECT_EQ(points["temperature"].unit(), "Cel");
  const tv1::MetricPoint& h = points["latency_seconds"];
  EXPECT_EQ(h.kind(), tv1::METRIC_KIND_HISTOGRAM);
  EXPECT_EQ(h.count(), 5u);
  EXPECT_DOUBLE_EQ(h.sum(), 3.15);
  EXPECT_EQ(h.min(), 0.05);
  EXPECT_EQ(h.max(), 2.0);
  EXPECT_THAT(h.bucket_counts(), ::testing::ElementsAre(2, 1, 1, 1));  // (..0.1] (..0.5] (..1] +Inf
  // A name used for another kind gives an instrument that does nothing.
  EXPECT_THAT(client->stats().last_error, HasSubstr("http_requests"));
}

TEST(ClientTest, ItsOwnCountersCanBeSentAsMetrics) {
  FakeCollector fake;
  ClientOptions o = Options(fake);
  o.export_client_metrics = true;
  auto client = MustCreate(o);
  Logger log = client->GetLogger();
  for (int i = 0; i < 7; ++i) log.Info("counted");
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);  // sends the 7 records
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);  // and metrics that saw them
  double enqueued = -1;
  double delivered = -1;
  bool has_drop_reasons = false;
  double conflicts = -1;
  for (const auto& b : fake.Stored()) {
    for (const auto& m : b.metrics()) {
      if (m.name() == "tributary_client_records_enqueued_total") enqueued = m.as_double();
      if (m.name() == "tributary_client_producer_id_conflicts_total") conflicts = m.as_double();
      if (m.name() == "tributary_client_records_delivered_total") delivered = m.as_double();
      if (m.name() == "tributary_client_records_dropped_total" && m.labels_size() == 1 &&
          m.labels(0).value() == "sampled") {
        has_drop_reasons = true;
      }
    }
  }
  EXPECT_EQ(enqueued, 7);
  EXPECT_GE(delivered, 7);
  EXPECT_TRUE(has_drop_reasons);
  EXPECT_EQ(conflicts, 0);
}

TEST(ClientTest, SamplingKeepsWholeTracesAndProtectedLevels) {
  FakeCollector fake;
  ClientOptions o = Options(fake);
  o.sampling_ratio = 0.5;
  auto client = MustCreate(o);
  Logger log = client->GetLogger();
  int kept_traces = 0;
  for (int t = 0; t < 200; ++t) {
    SpanOptions new_trace;
    new_trace.root = true;
    Span root = client->StartSpan("op", new_trace);
    if (root.context().sampled()) ++kept_traces;
    ScopedContext scope(root.AsContext());
    for (int i = 0; i < 3; ++i) log.Info("in trace", {{"trace", t}});
    log.Error("always kept", {{"trace", t}});
  }
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  EXPECT_GT(kept_traces, 50);
  EXPECT_LT(kept_traces, 150);
  std::map<std::string, int> info_per_trace;
  int errors = 0;
  for (const auto& r : Logs(fake.Stored())) {
    if (r.severity_text() == "ERROR") {
      ++errors;
    } else {
      ++info_per_trace[Find(r.attributes(), "trace")->value()];
    }
  }
  EXPECT_EQ(errors, 200);
  EXPECT_EQ(info_per_trace.size(), static_cast<size_t>(kept_traces));
  for (const auto& [trace, n] : info_per_trace) EXPECT_EQ(n, 3) << "trace " << trace;
  EXPECT_EQ(client->stats().dropped_sampled, static_cast<uint64_t>(3 * (200 - kept_traces)));
  size_t spans = 0;
  for (const auto& b : fake.Stored()) spans += static_cast<size_t>(b.spans_size());
  EXPECT_EQ(spans, static_cast<size_t>(kept_traces));
}

TEST(ClientTest, OptionsComeFromTheEnvironmentAndBadValuesAreNamed) {
  FakeCollector fake;
  setenv("TRIBUTARY_ENDPOINT", fake.address().c_str(), 1);
  setenv("TRIBUTARY_SERVICE_NAME", "from-env", 1);
  setenv("TRIBUTARY_RESOURCE_ATTRIBUTES", "team=core, region=eu", 1);
  ClientOptions o;
  o.endpoints = {"127.0.0.1:1"};
  auto client = MustCreate(o);
  client->GetLogger().Info("configured by the environment");
  ASSERT_TRUE(client->Flush(absl::Seconds(30)).complete);
  const auto stored = fake.Stored();
  ASSERT_EQ(stored.size(), 1u);
  EXPECT_EQ(stored[0].resource().service_name(), "from-env");
  EXPECT_EQ(stored[0].resource().attributes_size(), 2);
  client.reset();

  setenv("TRIBUTARY_BACKPRESSURE", "sometimes", 1);
  setenv("TRIBUTARY_QUEUE_MAX_RECORDS", "lots", 1);
  setenv("TRIBUTARY_KEEPALIVE_TIME_MS", "often", 1);
  setenv("TRIBUTARY_COMPRESSION", "zip", 1);
  auto bad = Client::Create(ClientOptions());
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(), HasSubstr("TRIBUTARY_COMPRESSION=zip"));
  EXPECT_THAT(bad.status().message(), HasSubstr("TRIBUTARY_BACKPRESSURE=sometimes"));
  EXPECT_THAT(bad.status().message(), HasSubstr("TRIBUTARY_QUEUE_MAX_RECORDS=lots"));
  EXPECT_THAT(bad.status().message(), HasSubstr("TRIBUTARY_KEEPALIVE_TIME_MS=often"));
  for (const char* v : {"TRIBUTARY_ENDPOINT", "TRIBUTARY_SERVICE_NAME",
                        "TRIBUTARY_RESOURCE_ATTRIBUTES", "TRIBUTARY_BACKPRESSURE",
                        "TRIBUTARY_QUEUE_MAX_RECORDS", "TRIBUTARY_KEEPALIVE_TIME_MS",
                        "TRIBUTARY_COMPRESSION"}) {
    unsetenv(v);
  }
  ClientOptions invalid;
  invalid.sampling_ratio = 2;
  invalid.redaction.patterns = {{"broken", "(unclosed"}};
  invalid.tls.enabled = true;
  invalid.tls.ca_file = "/nonexistent/ca.pem";
  invalid.retry.keepalive_time = absl::Milliseconds(200);
  auto refused = Client::Create(invalid);
  ASSERT_FALSE(refused.ok());
  EXPECT_THAT(refused.status().message(), HasSubstr("sampling_ratio"));
  EXPECT_THAT(refused.status().message(), HasSubstr("broken"));
  EXPECT_THAT(refused.status().message(), HasSubstr("tls.ca_file /nonexistent/ca.pem"));
  EXPECT_THAT(refused.status().message(), HasSubstr("retry.keepalive_time must be 0"));
}

}  // namespace
}  // namespace tributary::client
