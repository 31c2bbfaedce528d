#include "exporters/otlp/convert.h"

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"

namespace tributary::otlp {
namespace {

using google::protobuf::util::MessageDifferencer;

template <typename T>
T Parse(const std::string& text) {
  T message;
  EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(text, &message)) << text;
  return message;
}

template <typename T>
void ExpectEquivalent(const T& want, const T& got) {
  std::string diff;
  MessageDifferencer d;
  d.set_message_field_comparison(MessageDifferencer::EQUIVALENT);
  d.ReportDifferencesToString(&diff);
  EXPECT_TRUE(d.Compare(want, got)) << diff;
}

constexpr char kResource[] = R"(
  resource {
    attributes { key: "service.name" value { string_value: "checkout" } }
    attributes { key: "service.instance.id" value { string_value: "i-1" } }
    attributes { key: "host.name" value { string_value: "web-3" } }
    attributes { key: "deployment" value { string_value: "prod" } }
    attributes { key: "cpu.count" value { int_value: -4 } }
    attributes { key: "ratio" value { double_value: 0.1 } }
    attributes { key: "canary" value { bool_value: true } }
    attributes { key: "raw" value { bytes_value: "\x00\xff" } }
    attributes { key: "tags" value { array_value { values { string_value: "a" } values { int_value: 7 } } } }
    attributes { key: "nested" value { kvlist_value { values { key: "k" value { double_value: 1e300 } } } } }
    dropped_attributes_count: 2
  }
  schema_url: "https://opentelemetry.io/schemas/1.21.0"
)";

TEST(ConvertTest, LogsRoundTripWithEverythingTheModelHolds) {
  auto request = Parse<otlp_logs::ExportLogsServiceRequest>(absl::StrCat(R"(
resource_logs {)", kResource, R"(
  scope_logs {
    scope { name: "app.payments" version: "1.2.3" attributes { key: "lib" value { string_value: "x" } } dropped_attributes_count: 1 }
    schema_url: "https://example.com/scope"
    log_records {
      time_unix_nano: 1795392000000000001 observed_time_unix_nano: 1795392000000000002
      severity_number: SEVERITY_NUMBER_ERROR3 severity_text: "ERROR"
      body { string_value: "payment declined" }
      attributes { key: "order_id" value { int_value: 42 } }
      dropped_attributes_count: 3 flags: 1
      trace_id: "0123456789abcdef" span_id: "01234567" event_name: "payment.declined"
    }
    log_records { time_unix_nano: 1795392000000000003 body { kvlist_value { values { key: "a" value { bool_value: false } } } } }
    log_records { time_unix_nano: 1795392000000000004 }
  }
  scope_logs {
    log_records { severity_number: SEVERITY_NUMBER_INFO body { bytes_value: "\x01\x02" } }
  }
})"));
  std::vector<tributary::v1::IngestBatch> batches;
  ToInternal(request, &batches);
  ASSERT_EQ(batches.size(), 1u);
  const auto& b = batches[0];
  EXPECT_EQ(b.resource().service_name(), "checkout");
  EXPECT_EQ(b.resource().service_instance_id(), "i-1");
  EXPECT_EQ(b.resource().host(), "web-3");
  EXPECT_EQ(b.resource().attributes_size(), 7);
  ASSERT_EQ(b.logs_size(), 4);
  EXPECT_EQ(b.logs(0).scope(), 1u);
  EXPECT_EQ(b.logs(3).scope(), 0u);
  EXPECT_EQ(b.logs(0).attributes(0).type(), tributary::v1::VALUE_TYPE_INT);
  EXPECT_EQ(b.logs(0).attributes(0).value(), "42");

  otlp_logs::ExportLogsServiceRequest back;
  AppendLogs(b, &back);
  ExpectEquivalent(request, back);
}

TEST(ConvertTest, SpansRoundTripWithParentsEventsLinksAndStatus) {
  auto request = Parse<otlp_trace::ExportTraceServiceRequest>(absl::StrCat(R"(
resource_spans {)", kResource, R"(
  scope_spans {
    scope { name: "http" }
    spans {
      trace_id: "0123456789abcdef" span_id: "aaaaaaaa" parent_span_id: "bbbbbbbb"
      trace_state: "vendor=1" flags: 257 name: "GET /cart" kind: SPAN_KIND_SERVER
      start_time_unix_nano: 1795392000000000000 end_time_unix_nano: 1795392000500000000
      attributes { key: "http.status_code" value { int_value: 500 } }
      dropped_attributes_count: 1
      events { time_unix_nano: 1795392000100000000 name: "exception" attributes { key: "exception.message" value { string_value: "boom" } } dropped_attributes_count: 2 }
      dropped_events_count: 3
      links { trace_id: "fedcba9876543210" span_id: "cccccccc" trace_state: "t=2" attributes { key: "why" value { string_value: "batch" } } dropped_attributes_count: 4 flags: 1 }
      dropped_links_count: 5
      status { code: STATUS_CODE_ERROR message: "internal error" }
    }
    spans { trace_id: "0123456789abcdef" span_id: "bbbbbbbb" name: "root" kind: SPAN_KIND_CLIENT
            start_time_unix_nano: 1795392000000000000 end_time_unix_nano: 1795392001000000000 }
  }
})"));
  std::vector<tributary::v1::IngestBatch> batches;
  ToInternal(request, &batches);
  ASSERT_EQ(batches.size(), 1u);
  ASSERT_EQ(batches[0].spans_size(), 2);
  EXPECT_EQ(batches[0].spans(0).parent_span_id(), "bbbbbbbb");
  EXPECT_EQ(batches[0].spans(0).status_code(), tributary::v1::STATUS_CODE_ERROR);
  EXPECT_EQ(batches[0].spans(0).links(0).trace_id(), "fedcba9876543210");

  otlp_trace::ExportTraceServiceRequest back;
  AppendSpans(batches[0], &back);
  ExpectEquivalent(request, back);
}

TEST(ConvertTest, MetricsRoundTripEveryKindAndTemporality) {
  auto request = Parse<otlp_metrics::ExportMetricsServiceRequest>(absl::StrCat(R"(
resource_metrics {)", kResource, R"(
  scope_metrics {
    scope { name: "meter" version: "2" }
    metrics { name: "queue.depth" unit: "{items}" gauge {
      data_points { time_unix_nano: 1795392000000000000 as_int: 12 attributes { key: "queue" value { string_value: "a" } } }
      data_points { time_unix_nano: 1795392000000000000 as_double: 1.5 flags: 1 } } }
    metrics { name: "requests" description: "Requests served" sum {
      aggregation_temporality: AGGREGATION_TEMPORALITY_CUMULATIVE is_monotonic: true
      data_points { start_time_unix_nano: 1795391000000000000 time_unix_nano: 1795392000000000000 as_int: 100
        exemplars { time_unix_nano: 1795392000000000000 as_double: 3 trace_id: "0123456789abcdef" span_id: "aaaaaaaa"
                    filtered_attributes { key: "user" value { string_value: "u" } } } } } }
    metrics { name: "inflight" sum { aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA
      data_points { time_unix_nano: 1795392000000000000 as_int: -3 } } }
    metrics { name: "latency" unit: "s" histogram { aggregation_temporality: AGGREGATION_TEMPORALITY_DELTA
      data_points { time_unix_nano: 1795392000000000000 count: 6 sum: 2.5 bucket_counts: [1, 2, 3] explicit_bounds: [0.1, 1] min: 0.01 max: 3 } } }
    metrics { name: "sizes" exponential_histogram { aggregation_temporality: AGGREGATION_TEMPORALITY_CUMULATIVE
      data_points { time_unix_nano: 1795392000000000000 count: 4 sum: 10 scale: 3 zero_count: 1 zero_threshold: 0.001
                    positive { offset: -2 bucket_counts: [1, 2] } negative { offset: 1 bucket_counts: [0] } min: -1 max: 9 } } }
    metrics { name: "rpc.duration" summary {
      data_points { time_unix_nano: 1795392000000000000 count: 10 sum: 4.2
                    quantile_values { quantile: 0.5 value: 0.3 } quantile_values { quantile: 0.99 value: 1.1 } } } }
    metrics { name: "with.metadata" metadata { key: "origin" value { string_value: "sdk" } }
      gauge { data_points { time_unix_nano: 1795392000000000000 as_double: 0 } } }
  }
})"));
  std::vector<tributary::v1::IngestBatch> batches;
  ToInternal(request, &batches);
  ASSERT_EQ(batches.size(), 1u);
  const auto& points = batches[0].metrics();
  ASSERT_EQ(points.size(), 8);  // one per data point
  EXPECT_EQ(points[0].kind(), tributary::v1::METRIC_KIND_GAUGE);
  EXPECT_EQ(points[2].kind(), tributary::v1::METRIC_KIND_COUNTER);
  EXPECT_EQ(points[2].temporality(), tributary::v1::TEMPORALITY_CUMULATIVE);
  EXPECT_EQ(points[3].kind(), tributary::v1::METRIC_KIND_UP_DOWN_COUNTER);
  EXPECT_EQ(points[4].kind(), tributary::v1::METRIC_KIND_HISTOGRAM);
  EXPECT_EQ(points[4].bucket_counts_size(), 3);
  EXPECT_EQ(points[5].kind(), tributary::v1::METRIC_KIND_EXPONENTIAL_HISTOGRAM);
  EXPECT_EQ(points[6].kind(), tributary::v1::METRIC_KIND_SUMMARY);

  otlp_metrics::ExportMetricsServiceRequest back;
  AppendMetrics(batches[0], &back);
  ExpectEquivalent(request, back);
}

TEST(ConvertTest, OneBatchPerResource) {
  auto request = Parse<otlp_logs::ExportLogsServiceRequest>(R"(
resource_logs { resource { attributes { key: "service.name" value { string_value: "a" } } }
                scope_logs { log_records { body { string_value: "1" } } } }
resource_logs { resource { attributes { key: "service.name" value { string_value: "b" } } }
                scope_logs { log_records { body { string_value: "2" } } log_records { body { string_value: "3" } } } }
)");
  std::vector<tributary::v1::IngestBatch> batches;
  ToInternal(request, &batches);
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0].resource().service_name(), "a");
  EXPECT_EQ(batches[1].logs_size(), 2);
}

TEST(ConvertTest, NonStringServiceNameStaysAnAttribute) {
  auto request = Parse<otlp_logs::ExportLogsServiceRequest>(R"(
resource_logs { resource { attributes { key: "service.name" value { int_value: 5 } } }
                scope_logs { log_records { body { string_value: "x" } } } }
)");
  std::vector<tributary::v1::IngestBatch> batches;
  ToInternal(request, &batches);
  EXPECT_EQ(batches[0].resource().service_name(), "");
  ASSERT_EQ(batches[0].resource().attributes_size(), 1);
  EXPECT_EQ(batches[0].resource().attributes(0).type(), tributary::v1::VALUE_TYPE_INT);
  otlp_logs::ExportLogsServiceRequest back;
  AppendLogs(batches[0], &back);
  ExpectEquivalent(request, back);
}

TEST(ConvertTest, MetricWithoutDataBecomesAPointOfUnknownKind) {
  auto request = Parse<otlp_metrics::ExportMetricsServiceRequest>(R"(
resource_metrics { scope_metrics { metrics { name: "empty" } } })");
  std::vector<tributary::v1::IngestBatch> batches;
  ToInternal(request, &batches);
  ASSERT_EQ(batches[0].metrics_size(), 1);
  EXPECT_EQ(batches[0].metrics(0).kind(), tributary::v1::METRIC_KIND_UNSPECIFIED);
}

}  // namespace
}  // namespace tributary::otlp
