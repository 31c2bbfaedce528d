#include "base/metrics.h"

#include <thread>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tributary::metrics {
namespace {

using ::testing::HasSubstr;

TEST(MetricsTest, RendersCountersWithHelpTypeAndEscapedLabels) {
  Registry r;
  auto* received = r.AddCounter("x_records_total", "Records received.\nSecond line",
                                {"signal", "reason"});
  received->With({"logs", "bad \"quote\" \\ here\n"})->Add(3);
  received->With({"spans", "ok"})->Add();
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("# HELP x_records_total Records received.\\nSecond line\n"
                              "# TYPE x_records_total counter\n"));
  EXPECT_THAT(text, HasSubstr("x_records_total{signal=\"logs\",reason=\"bad \\\"quote\\\" "
                              "\\\\ here\\n\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("x_records_total{signal=\"spans\",reason=\"ok\"} 1\n"));
}

TEST(MetricsTest, HistogramBucketsAreCumulativeWithInf) {
  Registry r;
  Histogram* h = r.AddHistogram("x_latency_seconds", "Latency.", {0.0005 * 2, 0.01})->With({});
  h->Observe(0.0005);
  h->Observe(0.005);
  h->Observe(0.005);
  h->Observe(3);
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("x_latency_seconds_bucket{le=\"0.001\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("x_latency_seconds_bucket{le=\"0.01\"} 3\n"));
  EXPECT_THAT(text, HasSubstr("x_latency_seconds_bucket{le=\"+Inf\"} 4\n"));
  EXPECT_THAT(text, HasSubstr("x_latency_seconds_count 4\n"));
  EXPECT_THAT(text, HasSubstr("x_latency_seconds_sum 3.0105"));
  EXPECT_NEAR(h->Quantile(0.5), 0.0055, 1e-9);  // rank 2 of 4: inside (0.001, 0.01]
  EXPECT_DOUBLE_EQ(h->Quantile(1.0), 0.01);     // +Inf bucket reports the last bound
}

TEST(MetricsTest, BoundsPrintInTheirShortestForm) {
  Registry r;
  r.AddHistogram("x_seconds", "h", ExponentialBounds(0.0005, 2, 3))->With({})->Observe(1);
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("x_seconds_bucket{le=\"0.0005\"} 0\n"));
  EXPECT_THAT(text, HasSubstr("x_seconds_bucket{le=\"0.002\"} 0\n"));
}

TEST(MetricsTest, GaugesAndCollectors) {
  Registry r;
  Gauge* g = r.AddGauge("x_open_streams", "Open streams.")->With({});
  g->Add(2);
  g->Add(-0.5);
  r.AddCollector([](Exposition& x) {
    x.Family("x_buffer_bytes", "gauge", "Bytes.");
    x.Sample("x_buffer_bytes", {}, 1e18);
  });
  const std::string text = r.Render();
  EXPECT_THAT(text, HasSubstr("x_open_streams 1.5\n"));
  EXPECT_THAT(text, HasSubstr("# TYPE x_buffer_bytes gauge\nx_buffer_bytes 1e+18\n"));
}

TEST(MetricsTest, ConcurrentIncrementsAreAllCounted) {
  Registry r;
  auto* family = r.AddCounter("x_total", "n", {"t"});
  Histogram* h = r.AddHistogram("x_seconds", "h", {1})->With({});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) {
        family->With({t % 2 ? "a" : "b"})->Add();
        h->Observe(0.5);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(family->With({"a"})->Value() + family->With({"b"})->Value(), 40000u);
  EXPECT_EQ(h->Take().count, 40000u);
  EXPECT_DOUBLE_EQ(h->Take().sum, 20000);
}

}  // namespace
}  // namespace tributary::metrics
