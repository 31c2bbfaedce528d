// Metric points as remote-write series: names, labels, histogram buckets,
// sample order, what has no remote-write form, the snappy body, a receiver
// that is not there, and one that never answers.
#include "exporters/prometheus/remote_write.h"

#include <netinet/in.h>
#include <snappy.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>
#include <string>

#include "absl/strings/str_cat.h"
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

}  // namespace
}  // namespace tributary::exporters
