// Conversion between OTLP and Tributary's record model, in both directions:
// the collector's OTLP receiver turns Export requests into IngestBatches, and
// the OTLP exporter turns stored batches back into Export requests.
//
// Nothing OTLP expresses is lost on the way in: typed attribute values keep
// their type (arrays and key/value lists travel as OTLP JSON), resource and
// scope attributes, schema URLs, dropped counts, flags, severity, trace and
// span ids, events, links, status, every metric kind with its temporality,
// buckets and exemplars. OTLP -> internal -> OTLP gives back the same
// messages, except that resource attributes come back with service.name,
// service.instance.id and host.name first.
#pragma once

#include <vector>

#include "opentelemetry/proto/collector/logs/v1/logs_service.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb.h"
#include "tributary/v1/ingest.pb.h"

namespace tributary::otlp {

namespace otlp_logs = ::opentelemetry::proto::collector::logs::v1;
namespace otlp_trace = ::opentelemetry::proto::collector::trace::v1;
namespace otlp_metrics = ::opentelemetry::proto::collector::metrics::v1;

// One IngestBatch per Resource{Logs,Spans,Metrics}, appended to `out`
// (producer_id and seq left empty). Metric data points become one
// MetricPoint each.
void ToInternal(const otlp_logs::ExportLogsServiceRequest& request,
                std::vector<tributary::v1::IngestBatch>* out);
void ToInternal(const otlp_trace::ExportTraceServiceRequest& request,
                std::vector<tributary::v1::IngestBatch>* out);
void ToInternal(const otlp_metrics::ExportMetricsServiceRequest& request,
                std::vector<tributary::v1::IngestBatch>* out);

// Appends the batch's records to `out` as one Resource{Logs,Spans,Metrics}
// (nothing if the batch holds none of that signal).
void AppendLogs(const tributary::v1::IngestBatch& batch,
                otlp_logs::ExportLogsServiceRequest* out);
void AppendSpans(const tributary::v1::IngestBatch& batch,
                 otlp_trace::ExportTraceServiceRequest* out);
void AppendMetrics(const tributary::v1::IngestBatch& batch,
                   otlp_metrics::ExportMetricsServiceRequest* out);

// Attribute values, exposed for the places that render them (queries, Loki).
void ToAttribute(const ::opentelemetry::proto::common::v1::KeyValue& kv,
                 tributary::v1::Attribute* out);
void ToKeyValue(const tributary::v1::Attribute& attribute,
                ::opentelemetry::proto::common::v1::KeyValue* out);

}  // namespace tributary::otlp
