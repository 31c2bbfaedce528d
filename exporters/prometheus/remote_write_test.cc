// Metric points as remote-write series: names, labels, histogram buckets,
// sample order, what has no remote-write form, the snappy body, a receiver
// that is not there, one that never answers, and one that refuses a whole
// request for one sample it cannot store.
#include "exporters/prometheus/remote_write.h"

#include <microhttpd.h>
#include <netinet/in.h>
#include <snappy.h>
#include <sys/socket.h>
#include <unistd.h>

#include <limits>
#include <map>
#include <memory>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tributary::exporters {
namespace {

namespace tv1 = ::tributary::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

std::string Key(const prometheus::TimeSeries& ts) {
  std::string k;
  for (const auto& l : ts.labels()) k += l.name() + "=" + l.value() + ",";
  return k;
}

tv1::IngestBatch Sample() {
  tv1::IngestBatch b;
  b.mutable_resource()->set_service_name("checkout");
  b.mutable_resource()->set_service_instance_id("web-1");
  auto* c = b.add_metrics();
  c->set_name("http.requests");
  c->set_kind(tv1::METRIC_KIND_COUNTER);
  c->set_temporality(tv1::TEMPORALITY_CUMULATIVE);
  c->set_as_int(7);
  c->set_time_unix_nano(2000000000);
  auto* l = c->add_labels();
  l->set_key("http.method");
  l->set_value("GET");
  auto* earlier = b.add_metrics();
  *earlier = *c;
  earlier->set_as_int(5);
  earlier->set_time_unix_nano(1000000000);
  auto* h = b.add_metrics();
  h->set_name("latency_seconds");
  h->set_kind(tv1::METRIC_KIND_HISTOGRAM);
  h->set_temporality(tv1::TEMPORALITY_CUMULATIVE);
  h->set_time_unix_nano(1000000000);
  h->set_count(6);
  h->set_sum(4.5);
  for (double bound : {0.1, 1.0}) h->add_explicit_bounds(bound);
  for (uint64_t n : {1, 2, 3}) h->add_bucket_counts(n);
  auto* g = b.add_metrics();
  g->set_name("2xx.ratio");
  g->set_kind(tv1::METRIC_KIND_GAUGE);
  g->set_as_double(0.5);
  g->set_time_unix_nano(1000000000);
  auto* delta = b.add_metrics();
  delta->set_name("bytes");
  delta->set_kind(tv1::METRIC_KIND_COUNTER);
  delta->set_temporality(tv1::TEMPORALITY_DELTA);
  delta->set_as_double(3);
  return b;
}

TEST(RemoteWriteTest, PointsBecomeSortedSeriesWithPrometheusNames) {
  uint64_t points = 0, skipped = 0;
  const tv1::IngestBatch sample = Sample();
  const prometheus::WriteRequest req = ToWriteRequest({&sample}, &points, &skipped);
  EXPECT_EQ(points, 5u);
  EXPECT_EQ(skipped, 1u);  // the delta counter
  std::map<std::string, const prometheus::TimeSeries*> by_key;
  for (const auto& ts : req.timeseries()) by_key[Key(ts)] = &ts;
  const auto* counter =
      by_key["__name__=http_requests_total,http_method=GET,instance=web-1,job=checkout,"];
  ASSERT_NE(counter, nullptr);
  ASSERT_EQ(counter->samples_size(), 2);
  EXPECT_EQ(counter->samples(0).timestamp(), 1000);  // timestamp order, milliseconds
  EXPECT_EQ(counter->samples(0).value(), 5);
  EXPECT_EQ(counter->samples(1).value(), 7);
  std::vector<std::pair<std::string, double>> buckets;
  for (const auto& [key, ts] : by_key) {
    if (key.rfind("__name__=latency_seconds_bucket", 0) == 0) {
      for (const auto& l : ts->labels()) {
        if (l.name() == "le") buckets.emplace_back(l.value(), ts->samples(0).value());
      }
    }
  }
  std::sort(buckets.begin(), buckets.end());
  EXPECT_THAT(buckets, ElementsAre(Pair("+Inf", 6), Pair("0.1", 1), Pair("1", 3)));  // cumulative
  ASSERT_NE(by_key["__name__=latency_seconds_sum,instance=web-1,job=checkout,"], nullptr);
  EXPECT_EQ(by_key["__name__=latency_seconds_count,instance=web-1,job=checkout,"]
                ->samples(0)
                .value(),
            6);
  ASSERT_NE(by_key["__name__=_2xx_ratio,instance=web-1,job=checkout,"], nullptr);
  EXPECT_EQ(PrometheusName("a.b-c:d", true), "a_b_c:d");
  EXPECT_EQ(PrometheusName("a:b", false), "a_b");
}

TEST(RemoteWriteTest, EncodesASnappyBodyAndReportsWhatItCannotSend) {
  RemoteWriteExporter exporter({});
  const tv1::IngestBatch sample = Sample();
  auto requests = exporter.Encode({&sample});
  ASSERT_TRUE(requests.ok());
  ASSERT_EQ(requests->size(), 2u);
  EXPECT_EQ((*requests)[0].kind, "unsupported");
  EXPECT_EQ((*requests)[0].records, 1u);
  EXPECT_EQ(exporter.Send((*requests)[0], absl::Now()).outcome, Outcome::kPermanent);
  const Request& metrics = (*requests)[1];
  EXPECT_EQ(metrics.records, 4u);
  std::string raw;
  ASSERT_TRUE(snappy::Uncompress(metrics.payload.data(), metrics.payload.size(), &raw));
  prometheus::WriteRequest back;
  ASSERT_TRUE(back.ParseFromString(raw));
  EXPECT_EQ(back.timeseries_size(), 7);  // counter, 3 buckets, _sum, _count, gauge
}

TEST(RemoteWriteTest, AReceiverThatIsNotThereIsRetryable) {
  RemoteWriteOptions o;
  o.url = "http://127.0.0.1:1/api/v1/write";
  RemoteWriteExporter exporter(o);
  const tv1::IngestBatch sample = Sample();
  auto requests = exporter.Encode({&sample});
  ASSERT_TRUE(requests.ok());
  const SendResult r = exporter.Send(requests->back(), absl::Now() + absl::Seconds(5));
  EXPECT_EQ(r.outcome, Outcome::kRetryable);
  EXPECT_THAT(r.message, HasSubstr("127.0.0.1:1"));
}

// A receiver that takes the connection and then says nothing (a hung
// process): the send gives up at its deadline, as a retryable failure.
TEST(RemoteWriteTest, AReceiverThatNeverAnswersTimesOutAsRetryable) {
  const int listener = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), len), 0);
  ASSERT_EQ(listen(listener, 4), 0);  // connections complete in the backlog; none is read
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  RemoteWriteOptions o;
  o.url = absl::StrCat("http://127.0.0.1:", ntohs(addr.sin_port), "/api/v1/write");
  RemoteWriteExporter exporter(o);
  const tv1::IngestBatch sample = Sample();
  auto requests = exporter.Encode({&sample});
  ASSERT_TRUE(requests.ok());
  const absl::Time start = absl::Now();
  const SendResult r = exporter.Send(requests->back(), start + absl::Milliseconds(300));
  const absl::Duration took = absl::Now() - start;
  close(listener);
  EXPECT_EQ(r.outcome, Outcome::kRetryable) << r.message;
  EXPECT_GE(took, absl::Milliseconds(250));
  EXPECT_LT(took, absl::Seconds(5)) << "the send outlived its deadline";
}

// A remote-write receiver with Prometheus' rules for what it stores: per
// series, samples must come in time order (one older than the series' newest
// is out of order; one at the same time with another value conflicts), and a
// request is all or nothing: one sample it cannot store and it stores none,
// answering 400. It can be told to answer 503 from some request on.
class StrictReceiver {
 public:
  StrictReceiver() {
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0, nullptr,
                               nullptr, &StrictReceiver::Answer, this,
                               MHD_OPTION_NOTIFY_COMPLETED, &StrictReceiver::Completed, nullptr,
                               MHD_OPTION_END);
    if (daemon_ != nullptr) {
      port_ = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
    }
  }
  ~StrictReceiver() {
    if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
  }

  std::string url() const { return absl::StrCat("http://127.0.0.1:", port_, "/api/v1/write"); }
  bool running() const { return daemon_ != nullptr; }
  // Requests from the n-th on (counting from 1) are answered 503.
  void UnavailableFrom(int n) {
    absl::MutexLock lock(&mu_);
    unavailable_from_ = n;
  }
  // The n-th request (counting from 1) is answered 400, whatever it holds.
  void Refuse(int n) {
    absl::MutexLock lock(&mu_);
    refuse_ = n;
  }
  int requests() const {
    absl::MutexLock lock(&mu_);
    return requests_;
  }
  // Each stored series (by its labels) with its samples, in the order stored.
  std::map<std::string, std::vector<std::pair<int64_t, double>>> stored() const {
    absl::MutexLock lock(&mu_);
    return {stored_.begin(), stored_.end()};
  }

 private:
  std::pair<int, std::string> Apply(const std::string& body) {
    absl::MutexLock lock(&mu_);
    if (++requests_ >= unavailable_from_) return {503, "unavailable"};
    if (requests_ == refuse_) return {400, "too many samples together"};
    std::string raw;
    prometheus::WriteRequest req;
    if (!snappy::Uncompress(body.data(), body.size(), &raw) || !req.ParseFromString(raw)) {
      return {400, "undecodable"};
    }
    // Checked against what is stored and against the request's own samples.
    auto staged = stored_;
    for (const prometheus::TimeSeries& ts : req.timeseries()) {
      auto& series = staged[Key(ts)];
      for (const prometheus::Sample& sample : ts.samples()) {
        if (!series.empty() && sample.timestamp() < series.back().first) {
          return {400, "out of order sample"};
        }
        if (!series.empty() && sample.timestamp() == series.back().first) {
          if (sample.value() != series.back().second) {
            return {400, "duplicate sample for timestamp"};
          }
          continue;
        }
        series.emplace_back(sample.timestamp(), sample.value());
      }
    }
    stored_ = std::move(staged);
    return {204, ""};
  }

  static MHD_Result Answer(void* self, MHD_Connection* c, const char*, const char*, const char*,
                           const char* data, size_t* size, void** state) {
    if (*state == nullptr) {
      *state = new std::string;
      return MHD_YES;
    }
    auto* body = static_cast<std::string*>(*state);
    if (*size > 0) {
      body->append(data, *size);
      *size = 0;
      return MHD_YES;
    }
    const auto [status, text] = static_cast<StrictReceiver*>(self)->Apply(*body);
    MHD_Response* r = MHD_create_response_from_buffer(text.size(), const_cast<char*>(text.data()),
                                                      MHD_RESPMEM_MUST_COPY);
    const MHD_Result result = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return result;
  }
  static void Completed(void*, MHD_Connection*, void** state, MHD_RequestTerminationCode) {
    delete static_cast<std::string*>(*state);
    *state = nullptr;
  }

  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  mutable absl::Mutex mu_;
  int unavailable_from_ = std::numeric_limits<int>::max();
  int refuse_ = 0;
  int requests_ = 0;
  absl::flat_hash_map<std::string, std::vector<std::pair<int64_t, double>>> stored_;
};

void AddGauge(tv1::IngestBatch* b, const std::string& name, double value, int64_t time_ms) {
  auto* g = b->add_metrics();
  g->set_name(name);
  g->set_kind(tv1::METRIC_KIND_GAUGE);
  g->set_as_double(value);
  g->set_time_unix_nano(time_ms * 1000000);
}

SendResult EncodeAndSend(RemoteWriteExporter& exporter, const tv1::IngestBatch& batch) {
  auto requests = exporter.Encode({&batch});
  EXPECT_TRUE(requests.ok());
  EXPECT_EQ(requests->size(), 1u);
  return exporter.Send(requests->back(), absl::Now() + absl::Seconds(10));
}

class StrictReceiverTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(receiver_.running()); }

  std::unique_ptr<RemoteWriteExporter> Exporter(int max_split_requests = 64) {
    RemoteWriteOptions o;
    o.url = receiver_.url();
    o.max_split_requests = max_split_requests;
    return std::make_unique<RemoteWriteExporter>(o);
  }

  StrictReceiver receiver_;
};

TEST(RemoteWriteTest, SplitSamplesCutsASeriesThatStraddlesTheCut) {
  prometheus::WriteRequest req;
  for (int s = 0; s < 3; ++s) {
    auto* ts = req.add_timeseries();
    auto* l = ts->add_labels();
    l->set_name("__name__");
    l->set_value(absl::StrCat("s", s));
    for (int i = 0; i < 3; ++i) ts->add_samples()->set_timestamp(10 * s + i);
  }
  ASSERT_EQ(SampleCount(req), 9);
  prometheus::WriteRequest head, tail;
  SplitSamples(req, 4, &head, &tail);
  ASSERT_EQ(head.timeseries_size(), 2);
  ASSERT_EQ(tail.timeseries_size(), 2);
  EXPECT_EQ(SampleCount(head), 4);
  EXPECT_EQ(SampleCount(tail), 5);
  EXPECT_EQ(head.timeseries(1).labels(0).value(), "s1");
  EXPECT_EQ(tail.timeseries(0).labels(0).value(), "s1");
  EXPECT_EQ(head.timeseries(1).samples(0).timestamp(), 10);
  EXPECT_EQ(tail.timeseries(0).samples(0).timestamp(), 11);
  EXPECT_EQ(tail.timeseries(1).samples(2).timestamp(), 22);
}

// One stale sample among a hundred: the receiver refuses the request whole,
// the exporter splits it until the stale sample is alone, and everything
// else, including a newer sample of the stale sample's own series, is stored.
TEST_F(StrictReceiverTest, OneRefusedSampleIsDroppedAloneAndTheRestIsStored) {
  auto exporter = Exporter();
  tv1::IngestBatch first;
  AddGauge(&first, "level", 1, 5000);
  ASSERT_EQ(EncodeAndSend(*exporter, first).outcome, Outcome::kSuccess);

  tv1::IngestBatch batch;
  for (int i = 0; i < 100; ++i) AddGauge(&batch, absl::StrCat("g", i), i, 6000);
  AddGauge(&batch, "level", 2, 1000);  // older than the 5000 stored
  AddGauge(&batch, "level", 3, 7000);
  const int before = receiver_.requests();
  const SendResult r = EncodeAndSend(*exporter, batch);
  EXPECT_EQ(r.outcome, Outcome::kSuccess) << r.message;
  EXPECT_EQ(r.dropped_records, 1u);
  EXPECT_THAT(r.message, HasSubstr("out of order sample"));
  EXPECT_THAT(r.message, HasSubstr("1 of 102 samples refused"));
  // The refused request, then about two per halving (102 -> 1: 7 halvings).
  EXPECT_LE(receiver_.requests() - before, 1 + 2 * 7);

  const auto stored = receiver_.stored();
  EXPECT_EQ(stored.size(), 101u);
  EXPECT_THAT(stored.at("__name__=level,"), ElementsAre(Pair(5000, 1.0), Pair(7000, 3.0)));
  EXPECT_THAT(stored.at("__name__=g42,"), ElementsAre(Pair(6000, 42.0)));
}

// Every sample refused: the split stops at its budget, the request is
// dropped as refused, and nothing was stored on the way.
TEST_F(StrictReceiverTest, ARequestRefusedThroughoutCostsAtMostTheSplitBudget) {
  auto exporter = Exporter(16);
  tv1::IngestBatch now, stale;
  for (int i = 0; i < 50; ++i) {
    AddGauge(&now, absl::StrCat("g", i), 1, 9000);
    AddGauge(&stale, absl::StrCat("g", i), 2, 1000);
  }
  ASSERT_EQ(EncodeAndSend(*exporter, now).outcome, Outcome::kSuccess);
  const int before = receiver_.requests();
  const SendResult r = EncodeAndSend(*exporter, stale);
  EXPECT_EQ(r.outcome, Outcome::kPermanent);
  EXPECT_THAT(r.message, HasSubstr("out of order sample"));
  // The refused request, the budget, and each untried half once (50 -> 1: 6 halvings).
  EXPECT_LE(receiver_.requests() - before, 1 + 16 + 6);
  EXPECT_GT(receiver_.requests() - before, 1) << "no split was tried";
  for (const auto& [series, samples] : receiver_.stored()) {
    EXPECT_THAT(samples, ElementsAre(Pair(9000, 1.0))) << series;
  }
}

// Refused whole, taken in halves: nothing is dropped.
TEST_F(StrictReceiverTest, ARequestTakenInHalvesDropsNothing) {
  auto exporter = Exporter();
  tv1::IngestBatch batch;
  for (int i = 0; i < 10; ++i) AddGauge(&batch, absl::StrCat("g", i), i, 6000);
  receiver_.Refuse(receiver_.requests() + 1);
  const SendResult r = EncodeAndSend(*exporter, batch);
  EXPECT_EQ(r.outcome, Outcome::kSuccess) << r.message;
  EXPECT_EQ(r.dropped_records, 0u);
  EXPECT_EQ(receiver_.stored().size(), 10u);
}

// The receiver goes away during the split: the whole request is retried
// later, and split again.
TEST_F(StrictReceiverTest, ARetryableAnswerDuringTheSplitRetriesTheWholeRequest) {
  auto exporter = Exporter();
  tv1::IngestBatch first, batch;
  AddGauge(&first, "level", 1, 5000);
  ASSERT_EQ(EncodeAndSend(*exporter, first).outcome, Outcome::kSuccess);
  AddGauge(&batch, "a", 1, 6000);
  AddGauge(&batch, "level", 2, 1000);
  auto requests = exporter->Encode({&batch});
  ASSERT_TRUE(requests.ok());
  // Refused whole first; then unavailable for the halves.
  receiver_.UnavailableFrom(receiver_.requests() + 2);
  const SendResult r = exporter->Send(requests->back(), absl::Now() + absl::Seconds(10));
  EXPECT_EQ(r.outcome, Outcome::kRetryable) << r.message;
  EXPECT_EQ(receiver_.stored().count("__name__=a,"), 0u);
  // Back: the retry splits again and stores the good half.
  receiver_.UnavailableFrom(std::numeric_limits<int>::max());
  const SendResult again = exporter->Send(requests->back(), absl::Now() + absl::Seconds(10));
  EXPECT_EQ(again.outcome, Outcome::kSuccess) << again.message;
  EXPECT_EQ(again.dropped_records, 1u);
  EXPECT_EQ(receiver_.stored().count("__name__=a,"), 1u);
}

}  // namespace
}  // namespace tributary::exporters
