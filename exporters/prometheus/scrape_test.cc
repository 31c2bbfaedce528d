// The scrape endpoint's series: exposition text (HELP/TYPE, _total, buckets
// with +Inf, escaping), cumulative vs delta points, expiry, the series bound,
// type conflicts, and what has no Prometheus form.
#include "exporters/prometheus/scrape.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tributary::exporters {
namespace {

namespace tv1 = ::tributary::v1;
using ::testing::HasSubstr;
using ::testing::Not;

const absl::Time kT0 = absl::FromUnixSeconds(1800000000);

tv1::MetricPoint* Point(tv1::IngestBatch* b, const std::string& name, tv1::MetricKind kind,
                        double value, int64_t time_s) {
  tv1::MetricPoint* m = b->add_metrics();
  m->set_name(name);
  m->set_kind(kind);
  m->set_temporality(tv1::TEMPORALITY_CUMULATIVE);
  m->set_as_double(value);
  m->set_time_unix_nano(static_cast<uint64_t>(time_s) * 1000000000);
  return m;
}

void Label(tv1::MetricPoint* m, const std::string& k, const std::string& v) {
  auto* l = m->add_labels();
  l->set_key(k);
  l->set_value(v);
}

tv1::IngestBatch Batch() {
  tv1::IngestBatch b;
  b.mutable_resource()->set_service_name("checkout");
  b.mutable_resource()->set_service_instance_id("web-1");
  auto* env = b.mutable_resource()->add_attributes();
  env->set_key("deployment.environment");
  env->set_value("prod");
  return b;
}

TEST(ScrapeTest, RendersFamiliesWithHelpTypeAndLabels) {
  ScrapeOptions options;
  options.resource_labels = {"deployment.environment"};
  SeriesStore store(options);
  tv1::IngestBatch b = Batch();
  tv1::MetricPoint* c = Point(&b, "http.requests", tv1::METRIC_KIND_COUNTER, 7, 10);
  c->set_description("Requests\nserved \\ so far");
  Label(c, "path", "/a\"b\"\n");
  tv1::MetricPoint* h = Point(&b, "latency_seconds", tv1::METRIC_KIND_HISTOGRAM, 0, 10);
  h->set_count(6);
  h->set_sum(4.5);
  for (double bound : {0.1, 1.0}) h->add_explicit_bounds(bound);
  for (uint64_t n : {1, 2, 3}) h->add_bucket_counts(n);
  Point(&b, "temperature", tv1::METRIC_KIND_GAUGE, -2.5, 10);
  Point(&b, "queue.depth", tv1::METRIC_KIND_UP_DOWN_COUNTER, 3, 10);
  const SeriesStore::ApplyResult r = store.Apply({&b}, kT0);
  EXPECT_EQ(r.points, 4u);
  EXPECT_EQ(r.unsupported + r.over_limit + r.conflicts, 0u);
  const std::string base = "deployment_environment=\"prod\",instance=\"web-1\",job=\"checkout\"";
  EXPECT_EQ(store.Render(kT0),
            "# HELP http_requests_total Requests\\nserved \\\\ so far\n"
            "# TYPE http_requests_total counter\n"
            "http_requests_total{" + base + ",path=\"/a\\\"b\\\"\\n\"} 7\n"
            "# HELP latency_seconds latency_seconds\n"
            "# TYPE latency_seconds histogram\n"
            "latency_seconds_bucket{" + base + ",le=\"0.1\"} 1\n"
            "latency_seconds_bucket{" + base + ",le=\"1\"} 3\n"
            "latency_seconds_bucket{" + base + ",le=\"+Inf\"} 6\n"
            "latency_seconds_sum{" + base + "} 4.5\n"
            "latency_seconds_count{" + base + "} 6\n"
            "# HELP queue_depth queue.depth\n"
            "# TYPE queue_depth gauge\n"
            "queue_depth{" + base + "} 3\n"
            "# HELP temperature temperature\n"
            "# TYPE temperature gauge\n"
            "temperature{" + base + "} -2.5\n");
  EXPECT_EQ(store.series(), 8u);
}

TEST(ScrapeTest, APointLabelNamedLeClashesOnlyWithAHistogramsBuckets) {
  SeriesStore store(ScrapeOptions{});
  tv1::IngestBatch b;
  tv1::MetricPoint* h = Point(&b, "size", tv1::METRIC_KIND_HISTOGRAM, 0, 10);
  h->set_count(1);
  h->add_bucket_counts(1);
  Label(h, "le", "mine");
  Label(h, "zone", "a");
  Label(Point(&b, "level", tv1::METRIC_KIND_GAUGE, 3, 10), "le", "kept");
  store.Apply({&b}, kT0);
  const std::string text = store.Render(kT0);
  EXPECT_THAT(text, HasSubstr("size_bucket{le=\"+Inf\",zone=\"a\"} 1\n"));
  EXPECT_THAT(text, Not(HasSubstr("mine")));
  EXPECT_THAT(text, HasSubstr("level{le=\"kept\"} 3\n"));
}

TEST(ScrapeTest, CumulativeReplacesDeltaAddsOlderIsIgnored) {
  SeriesStore store(ScrapeOptions{});
  tv1::IngestBatch b = Batch();
  Point(&b, "hits", tv1::METRIC_KIND_COUNTER, 5, 20);
  Point(&b, "hits", tv1::METRIC_KIND_COUNTER, 3, 10);  // older: ignored
  tv1::MetricPoint* d = Point(&b, "bytes", tv1::METRIC_KIND_COUNTER, 100, 10);
  d->set_temporality(tv1::TEMPORALITY_DELTA);
  d = Point(&b, "bytes", tv1::METRIC_KIND_COUNTER, 50, 20);
  d->set_temporality(tv1::TEMPORALITY_DELTA);
  store.Apply({&b}, kT0);
  tv1::IngestBatch later = Batch();
  Point(&later, "hits", tv1::METRIC_KIND_COUNTER, 9, 30);
  store.Apply({&later}, kT0 + absl::Seconds(1));
  const std::string text = store.Render(kT0 + absl::Seconds(1));
  EXPECT_THAT(text, HasSubstr("hits_total{instance=\"web-1\",job=\"checkout\"} 9\n"));
  EXPECT_THAT(text, HasSubstr("bytes_total{instance=\"web-1\",job=\"checkout\"} 150\n"));
}

TEST(ScrapeTest, SeriesNotUpdatedForTheExpirationDisappear) {
  ScrapeOptions options;
  options.metric_expiration = absl::Minutes(1);
  SeriesStore store(options);
  tv1::IngestBatch old = Batch();
  Point(&old, "stale", tv1::METRIC_KIND_GAUGE, 1, 10);
  store.Apply({&old}, kT0);
  tv1::IngestBatch fresh = Batch();
  Point(&fresh, "fresh", tv1::METRIC_KIND_GAUGE, 2, 50);
  store.Apply({&fresh}, kT0 + absl::Seconds(50));
  EXPECT_THAT(store.Render(kT0 + absl::Seconds(59)), HasSubstr("stale{"));
  const std::string text = store.Render(kT0 + absl::Seconds(61));
  EXPECT_THAT(text, Not(HasSubstr("stale")));  // HELP and TYPE go with it
  EXPECT_THAT(text, HasSubstr("fresh{"));
  EXPECT_EQ(store.series(), 1u);
}

TEST(ScrapeTest, TheSeriesBoundAndTypeConflictsRefusePoints) {
  ScrapeOptions options;
  options.max_series = 2;
  auto store = std::make_shared<SeriesStore>(options);
  ScrapeExporter exporter(store);
  tv1::IngestBatch b = Batch();
  for (int i = 0; i < 4; ++i) {
    Label(Point(&b, "users", tv1::METRIC_KIND_GAUGE, i, 10), "id", std::to_string(i));
  }
  Point(&b, "users", tv1::METRIC_KIND_SUMMARY, 1, 10);  // the name is a gauge's
  Point(&b, "spread", tv1::METRIC_KIND_EXPONENTIAL_HISTOGRAM, 1, 10);
  auto requests = exporter.Encode({&b});
  ASSERT_TRUE(requests.ok());
  ASSERT_EQ(requests->size(), 2u);
  const Request& refused = (*requests)[0];
  EXPECT_EQ(refused.records, 4u);
  const SendResult result = exporter.Send(refused, absl::InfiniteFuture());
  EXPECT_EQ(result.outcome, Outcome::kPermanent);
  EXPECT_THAT(result.message, HasSubstr("1 points with no Prometheus form, 2 beyond max_series, "
                                        "1 whose name is taken"));
  EXPECT_EQ((*requests)[1].records, 2u);
  EXPECT_EQ(exporter.Send((*requests)[1], absl::InfiniteFuture()).outcome, Outcome::kSuccess);
  EXPECT_EQ(store->series(), 2u);
}

}  // namespace
}  // namespace tributary::exporters
