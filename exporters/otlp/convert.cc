#include "exporters/otlp/convert.h"

#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/double_text.h"
#include "google/protobuf/util/json_util.h"

namespace tributary::otlp {
namespace {

namespace common = ::opentelemetry::proto::common::v1;
namespace resource = ::opentelemetry::proto::resource::v1;
namespace logs = ::opentelemetry::proto::logs::v1;
namespace trace = ::opentelemetry::proto::trace::v1;
namespace metrics = ::opentelemetry::proto::metrics::v1;
namespace tv1 = ::tributary::v1;

using google::protobuf::RepeatedPtrField;

// AnyValue -> (text, type).
void FromAnyValue(const common::AnyValue& v, std::string* text, tv1::ValueType* type) {
  switch (v.value_case()) {
    case common::AnyValue::kStringValue:
      *text = v.string_value();
      *type = tv1::VALUE_TYPE_STRING;
      return;
    case common::AnyValue::kBoolValue:
      *text = v.bool_value() ? "true" : "false";
      *type = tv1::VALUE_TYPE_BOOL;
      return;
    case common::AnyValue::kIntValue:
      *text = absl::StrCat(v.int_value());
      *type = tv1::VALUE_TYPE_INT;
      return;
    case common::AnyValue::kDoubleValue:
      *text = DoubleText(v.double_value());
      *type = tv1::VALUE_TYPE_DOUBLE;
      return;
    case common::AnyValue::kBytesValue:
      *text = v.bytes_value();
      *type = tv1::VALUE_TYPE_BYTES;
      return;
    case common::AnyValue::kArrayValue:
    case common::AnyValue::kKvlistValue: {
      text->clear();
      google::protobuf::util::JsonPrintOptions options;
      options.preserve_proto_field_names = false;
      // Cannot fail for a well-formed message.
      (void)google::protobuf::util::MessageToJsonString(v, text, options);
      *type = tv1::VALUE_TYPE_JSON;
      return;
    }
    case common::AnyValue::VALUE_NOT_SET:
      text->clear();
      *type = tv1::VALUE_TYPE_EMPTY;
      return;
  }
}

// (text, type) -> AnyValue. Text that does not parse (possible only for
// records not made by ToInternal) is kept as a string.
void ToAnyValue(const std::string& text, tv1::ValueType type, common::AnyValue* v) {
  switch (type) {
    case tv1::VALUE_TYPE_BOOL:
      if (text == "true" || text == "false") {
        v->set_bool_value(text == "true");
        return;
      }
      break;
    case tv1::VALUE_TYPE_INT: {
      int64_t i;
      if (absl::SimpleAtoi(text, &i)) {
        v->set_int_value(i);
        return;
      }
      break;
    }
    case tv1::VALUE_TYPE_DOUBLE: {
      double d;
      if (absl::SimpleAtod(text, &d)) {
        v->set_double_value(d);
        return;
      }
      break;
    }
    case tv1::VALUE_TYPE_BYTES:
      v->set_bytes_value(text);
      return;
    case tv1::VALUE_TYPE_JSON:
      if (google::protobuf::util::JsonStringToMessage(text, v).ok()) return;
      v->Clear();
      break;
    case tv1::VALUE_TYPE_EMPTY:
      v->Clear();
      return;
    default:
      break;
  }
  v->set_string_value(text);
}

void ToAttributes(const RepeatedPtrField<common::KeyValue>& in,
                  RepeatedPtrField<tv1::Attribute>* out) {
  out->Reserve(out->size() + in.size());
  for (const common::KeyValue& kv : in) ToAttribute(kv, out->Add());
}

void ToKeyValues(const RepeatedPtrField<tv1::Attribute>& in,
                 RepeatedPtrField<common::KeyValue>* out) {
  out->Reserve(out->size() + in.size());
  for (const tv1::Attribute& a : in) ToKeyValue(a, out->Add());
}

void ToResource(const resource::Resource& in, const std::string& schema_url,
                tv1::Resource* out) {
  for (const common::KeyValue& kv : in.attributes()) {
    // The well-known keys get their own fields when they hold a non-empty
    // string (and are seen for the first time); anything else stays an
    // attribute so nothing is lost.
    if (kv.value().value_case() == common::AnyValue::kStringValue &&
        !kv.value().string_value().empty()) {
      const std::string& s = kv.value().string_value();
      if (kv.key() == "service.name" && out->service_name().empty()) {
        out->set_service_name(s);
        continue;
      }
      if (kv.key() == "service.instance.id" && out->service_instance_id().empty()) {
        out->set_service_instance_id(s);
        continue;
      }
      if (kv.key() == "host.name" && out->host().empty()) {
        out->set_host(s);
        continue;
      }
    }
    ToAttribute(kv, out->add_attributes());
  }
  out->set_dropped_attributes_count(in.dropped_attributes_count());
  out->set_schema_url(schema_url);
}

void FromResource(const tv1::Resource& in, resource::Resource* out, std::string* schema_url) {
  auto add = [&](const char* key, const std::string& value) {
    if (value.empty()) return;
    common::KeyValue* kv = out->add_attributes();
    kv->set_key(key);
    kv->mutable_value()->set_string_value(value);
  };
  add("service.name", in.service_name());
  add("service.instance.id", in.service_instance_id());
  add("host.name", in.host());
  ToKeyValues(in.attributes(), out->mutable_attributes());
  out->set_dropped_attributes_count(in.dropped_attributes_count());
  *schema_url = in.schema_url();
}

// Adds the scope of a Scope{Logs,Spans,Metrics} to the batch; returns its
// 1-based index, or 0 when the message carries no scope and no schema URL.
template <typename ScopeX>
uint32_t AddScope(const ScopeX& sx, tv1::IngestBatch* batch) {
  if (!sx.has_scope() && sx.schema_url().empty()) return 0;
  tv1::Scope* s = batch->add_scopes();
  s->set_name(sx.scope().name());
  s->set_version(sx.scope().version());
  ToAttributes(sx.scope().attributes(), s->mutable_attributes());
  s->set_dropped_attributes_count(sx.scope().dropped_attributes_count());
  s->set_schema_url(sx.schema_url());
  return static_cast<uint32_t>(batch->scopes_size());
}

template <typename ScopeX>
void FromScope(const tv1::IngestBatch& batch, uint32_t index, ScopeX* sx) {
  if (index == 0 || index > static_cast<uint32_t>(batch.scopes_size())) return;
  const tv1::Scope& s = batch.scopes(static_cast<int>(index - 1));
  common::InstrumentationScope* scope = sx->mutable_scope();
  scope->set_name(s.name());
  scope->set_version(s.version());
  ToKeyValues(s.attributes(), scope->mutable_attributes());
  scope->set_dropped_attributes_count(s.dropped_attributes_count());
  sx->set_schema_url(s.schema_url());
}

// Records of one signal grouped by consecutive scope index, as OTLP nests them.
template <typename Record, typename ScopeX, typename AddScopeX, typename Convert>
void GroupByScope(const tv1::IngestBatch& batch, const RepeatedPtrField<Record>& records,
                  AddScopeX add_scope_x, Convert convert) {
  ScopeX* current = nullptr;
  uint32_t current_scope = 0;
  for (const Record& r : records) {
    if (current == nullptr || r.scope() != current_scope) {
      current = add_scope_x();
      current_scope = r.scope();
      FromScope(batch, current_scope, current);
    }
    convert(r, current);
  }
}

void ToExemplars(const RepeatedPtrField<metrics::Exemplar>& in,
                 RepeatedPtrField<tv1::Exemplar>* out) {
  for (const metrics::Exemplar& e : in) {
    tv1::Exemplar* x = out->Add();
    ToAttributes(e.filtered_attributes(), x->mutable_filtered_attributes());
    x->set_time_unix_nano(e.time_unix_nano());
    if (e.value_case() == metrics::Exemplar::kAsDouble) x->set_as_double(e.as_double());
    if (e.value_case() == metrics::Exemplar::kAsInt) x->set_as_int(e.as_int());
    x->set_trace_id(e.trace_id());
    x->set_span_id(e.span_id());
  }
}

void FromExemplars(const RepeatedPtrField<tv1::Exemplar>& in,
                   RepeatedPtrField<metrics::Exemplar>* out) {
  for (const tv1::Exemplar& x : in) {
    metrics::Exemplar* e = out->Add();
    ToKeyValues(x.filtered_attributes(), e->mutable_filtered_attributes());
    e->set_time_unix_nano(x.time_unix_nano());
    if (x.value_case() == tv1::Exemplar::kAsDouble) e->set_as_double(x.as_double());
    if (x.value_case() == tv1::Exemplar::kAsInt) e->set_as_int(x.as_int());
    e->set_trace_id(x.trace_id());
    e->set_span_id(x.span_id());
  }
}

tv1::Temporality ToTemporality(metrics::AggregationTemporality t) {
  switch (t) {
    case metrics::AGGREGATION_TEMPORALITY_DELTA: return tv1::TEMPORALITY_DELTA;
    case metrics::AGGREGATION_TEMPORALITY_CUMULATIVE: return tv1::TEMPORALITY_CUMULATIVE;
    default: return tv1::TEMPORALITY_UNSPECIFIED;
  }
}

metrics::AggregationTemporality FromTemporality(tv1::Temporality t) {
  switch (t) {
    case tv1::TEMPORALITY_DELTA: return metrics::AGGREGATION_TEMPORALITY_DELTA;
    case tv1::TEMPORALITY_CUMULATIVE: return metrics::AGGREGATION_TEMPORALITY_CUMULATIVE;
    default: return metrics::AGGREGATION_TEMPORALITY_UNSPECIFIED;
  }
}

// The metric-level fields every point of one OTLP Metric shares.
tv1::MetricPoint* NewPoint(const metrics::Metric& m, uint32_t scope, tv1::MetricKind kind,
                           tv1::Temporality temporality, tv1::IngestBatch* batch) {
  tv1::MetricPoint* p = batch->add_metrics();
  p->set_name(m.name());
  p->set_description(m.description());
  p->set_unit(m.unit());
  p->set_kind(kind);
  p->set_temporality(temporality);
  p->set_scope(scope);
  ToAttributes(m.metadata(), p->mutable_metadata());
  return p;
}

void ToMetricPoints(const metrics::Metric& m, uint32_t scope, tv1::IngestBatch* batch) {
  switch (m.data_case()) {
    case metrics::Metric::kGauge:
    case metrics::Metric::kSum: {
      const bool gauge = m.data_case() == metrics::Metric::kGauge;
      const auto& points = gauge ? m.gauge().data_points() : m.sum().data_points();
      const tv1::MetricKind kind = gauge                     ? tv1::METRIC_KIND_GAUGE
                                   : m.sum().is_monotonic() ? tv1::METRIC_KIND_COUNTER
                                                            : tv1::METRIC_KIND_UP_DOWN_COUNTER;
      const tv1::Temporality temporality =
          gauge ? tv1::TEMPORALITY_UNSPECIFIED : ToTemporality(m.sum().aggregation_temporality());
      for (const metrics::NumberDataPoint& d : points) {
        tv1::MetricPoint* p = NewPoint(m, scope, kind, temporality, batch);
        ToAttributes(d.attributes(), p->mutable_labels());
        p->set_start_time_unix_nano(d.start_time_unix_nano());
        p->set_time_unix_nano(d.time_unix_nano());
        if (d.value_case() == metrics::NumberDataPoint::kAsDouble) p->set_as_double(d.as_double());
        if (d.value_case() == metrics::NumberDataPoint::kAsInt) p->set_as_int(d.as_int());
        ToExemplars(d.exemplars(), p->mutable_exemplars());
        p->set_flags(d.flags());
      }
      return;
    }
    case metrics::Metric::kHistogram:
      for (const metrics::HistogramDataPoint& d : m.histogram().data_points()) {
        tv1::MetricPoint* p =
            NewPoint(m, scope, tv1::METRIC_KIND_HISTOGRAM,
                     ToTemporality(m.histogram().aggregation_temporality()), batch);
        ToAttributes(d.attributes(), p->mutable_labels());
        p->set_start_time_unix_nano(d.start_time_unix_nano());
        p->set_time_unix_nano(d.time_unix_nano());
        p->set_count(d.count());
        if (d.has_sum()) p->set_sum(d.sum());
        p->mutable_bucket_counts()->CopyFrom(d.bucket_counts());
        p->mutable_explicit_bounds()->CopyFrom(d.explicit_bounds());
        if (d.has_min()) p->set_min(d.min());
        if (d.has_max()) p->set_max(d.max());
        ToExemplars(d.exemplars(), p->mutable_exemplars());
        p->set_flags(d.flags());
      }
      return;
    case metrics::Metric::kExponentialHistogram:
      for (const metrics::ExponentialHistogramDataPoint& d :
           m.exponential_histogram().data_points()) {
        tv1::MetricPoint* p =
            NewPoint(m, scope, tv1::METRIC_KIND_EXPONENTIAL_HISTOGRAM,
                     ToTemporality(m.exponential_histogram().aggregation_temporality()), batch);
        ToAttributes(d.attributes(), p->mutable_labels());
        p->set_start_time_unix_nano(d.start_time_unix_nano());
        p->set_time_unix_nano(d.time_unix_nano());
        p->set_count(d.count());
        if (d.has_sum()) p->set_sum(d.sum());
        p->set_scale(d.scale());
        p->set_zero_count(d.zero_count());
        p->set_zero_threshold(d.zero_threshold());
        if (d.has_positive()) {
          p->mutable_positive()->set_offset(d.positive().offset());
          p->mutable_positive()->mutable_bucket_counts()->CopyFrom(d.positive().bucket_counts());
        }
        if (d.has_negative()) {
          p->mutable_negative()->set_offset(d.negative().offset());
          p->mutable_negative()->mutable_bucket_counts()->CopyFrom(d.negative().bucket_counts());
        }
        if (d.has_min()) p->set_min(d.min());
        if (d.has_max()) p->set_max(d.max());
        ToExemplars(d.exemplars(), p->mutable_exemplars());
        p->set_flags(d.flags());
      }
      return;
    case metrics::Metric::kSummary:
      for (const metrics::SummaryDataPoint& d : m.summary().data_points()) {
        tv1::MetricPoint* p = NewPoint(m, scope, tv1::METRIC_KIND_SUMMARY,
                                       tv1::TEMPORALITY_UNSPECIFIED, batch);
        ToAttributes(d.attributes(), p->mutable_labels());
        p->set_start_time_unix_nano(d.start_time_unix_nano());
        p->set_time_unix_nano(d.time_unix_nano());
        p->set_count(d.count());
        p->set_sum(d.sum());
        for (const auto& q : d.quantile_values()) {
          tv1::Quantile* out = p->add_quantiles();
          out->set_quantile(q.quantile());
          out->set_value(q.value());
        }
        p->set_flags(d.flags());
      }
      return;
    case metrics::Metric::DATA_NOT_SET:
      // A metric without data: kept as one point of unknown kind, which
      // validation rejects with a reason instead of dropping it unseen.
      NewPoint(m, scope, tv1::METRIC_KIND_UNSPECIFIED, tv1::TEMPORALITY_UNSPECIFIED, batch);
      return;
  }
}

bool SameMetric(const tv1::MetricPoint& a, const tv1::MetricPoint& b) {
  if (a.name() != b.name() || a.description() != b.description() || a.unit() != b.unit() ||
      a.kind() != b.kind() || a.temporality() != b.temporality() || a.scope() != b.scope() ||
      a.metadata_size() != b.metadata_size()) {
    return false;
  }
  for (int i = 0; i < a.metadata_size(); ++i) {
    if (a.metadata(i).SerializeAsString() != b.metadata(i).SerializeAsString()) return false;
  }
  return true;
}

// Starts an OTLP Metric for point `p`; returns it.
metrics::Metric* NewMetric(const tv1::MetricPoint& p, metrics::ScopeMetrics* sm) {
  metrics::Metric* m = sm->add_metrics();
  m->set_name(p.name());
  m->set_description(p.description());
  m->set_unit(p.unit());
  ToKeyValues(p.metadata(), m->mutable_metadata());
  switch (p.kind()) {
    case tv1::METRIC_KIND_GAUGE:
      m->mutable_gauge();
      break;
    case tv1::METRIC_KIND_COUNTER:
    case tv1::METRIC_KIND_UP_DOWN_COUNTER:
      m->mutable_sum()->set_is_monotonic(p.kind() == tv1::METRIC_KIND_COUNTER);
      m->mutable_sum()->set_aggregation_temporality(FromTemporality(p.temporality()));
      break;
    case tv1::METRIC_KIND_HISTOGRAM:
      m->mutable_histogram()->set_aggregation_temporality(FromTemporality(p.temporality()));
      break;
    case tv1::METRIC_KIND_EXPONENTIAL_HISTOGRAM:
      m->mutable_exponential_histogram()->set_aggregation_temporality(
          FromTemporality(p.temporality()));
      break;
    case tv1::METRIC_KIND_SUMMARY:
      m->mutable_summary();
      break;
    default:
      break;
  }
  return m;
}

void AppendPoint(const tv1::MetricPoint& p, metrics::Metric* m) {
  switch (m->data_case()) {
    case metrics::Metric::kGauge:
    case metrics::Metric::kSum: {
      metrics::NumberDataPoint* d = m->data_case() == metrics::Metric::kGauge
                                        ? m->mutable_gauge()->add_data_points()
                                        : m->mutable_sum()->add_data_points();
      ToKeyValues(p.labels(), d->mutable_attributes());
      d->set_start_time_unix_nano(p.start_time_unix_nano());
      d->set_time_unix_nano(p.time_unix_nano());
      if (p.value_case() == tv1::MetricPoint::kAsDouble) d->set_as_double(p.as_double());
      if (p.value_case() == tv1::MetricPoint::kAsInt) d->set_as_int(p.as_int());
      FromExemplars(p.exemplars(), d->mutable_exemplars());
      d->set_flags(p.flags());
      return;
    }
    case metrics::Metric::kHistogram: {
      metrics::HistogramDataPoint* d = m->mutable_histogram()->add_data_points();
      ToKeyValues(p.labels(), d->mutable_attributes());
      d->set_start_time_unix_nano(p.start_time_unix_nano());
      d->set_time_unix_nano(p.time_unix_nano());
      d->set_count(p.count());
      if (p.has_sum()) d->set_sum(p.sum());
      d->mutable_bucket_counts()->CopyFrom(p.bucket_counts());
      d->mutable_explicit_bounds()->CopyFrom(p.explicit_bounds());
      if (p.has_min()) d->set_min(p.min());
      if (p.has_max()) d->set_max(p.max());
      FromExemplars(p.exemplars(), d->mutable_exemplars());
      d->set_flags(p.flags());
      return;
    }
    case metrics::Metric::kExponentialHistogram: {
      metrics::ExponentialHistogramDataPoint* d =
          m->mutable_exponential_histogram()->add_data_points();
      ToKeyValues(p.labels(), d->mutable_attributes());
      d->set_start_time_unix_nano(p.start_time_unix_nano());
      d->set_time_unix_nano(p.time_unix_nano());
      d->set_count(p.count());
      if (p.has_sum()) d->set_sum(p.sum());
      d->set_scale(p.scale());
      d->set_zero_count(p.zero_count());
      d->set_zero_threshold(p.zero_threshold());
      if (p.has_positive()) {
        d->mutable_positive()->set_offset(p.positive().offset());
        d->mutable_positive()->mutable_bucket_counts()->CopyFrom(p.positive().bucket_counts());
      }
      if (p.has_negative()) {
        d->mutable_negative()->set_offset(p.negative().offset());
        d->mutable_negative()->mutable_bucket_counts()->CopyFrom(p.negative().bucket_counts());
      }
      if (p.has_min()) d->set_min(p.min());
      if (p.has_max()) d->set_max(p.max());
      FromExemplars(p.exemplars(), d->mutable_exemplars());
      d->set_flags(p.flags());
      return;
    }
    case metrics::Metric::kSummary: {
      metrics::SummaryDataPoint* d = m->mutable_summary()->add_data_points();
      ToKeyValues(p.labels(), d->mutable_attributes());
      d->set_start_time_unix_nano(p.start_time_unix_nano());
      d->set_time_unix_nano(p.time_unix_nano());
      d->set_count(p.count());
      d->set_sum(p.sum());
      for (const tv1::Quantile& q : p.quantiles()) {
        auto* out = d->add_quantile_values();
        out->set_quantile(q.quantile());
        out->set_value(q.value());
      }
      d->set_flags(p.flags());
      return;
    }
    case metrics::Metric::DATA_NOT_SET:
      return;
  }
}

}  // namespace

void ToAttribute(const common::KeyValue& kv, tv1::Attribute* out) {
  out->set_key(kv.key());
  tv1::ValueType type;
  FromAnyValue(kv.value(), out->mutable_value(), &type);
  out->set_type(type);
}

void ToKeyValue(const tv1::Attribute& attribute, common::KeyValue* out) {
  out->set_key(attribute.key());
  ToAnyValue(attribute.value(), attribute.type(), out->mutable_value());
}

void ToInternal(const otlp_logs::ExportLogsServiceRequest& request,
                std::vector<tv1::IngestBatch>* out) {
  for (const logs::ResourceLogs& rl : request.resource_logs()) {
    tv1::IngestBatch& batch = out->emplace_back();
    ToResource(rl.resource(), rl.schema_url(), batch.mutable_resource());
    for (const logs::ScopeLogs& sl : rl.scope_logs()) {
      const uint32_t scope = AddScope(sl, &batch);
      batch.mutable_logs()->Reserve(batch.logs_size() + sl.log_records_size());
      for (const logs::LogRecord& r : sl.log_records()) {
        tv1::LogRecord* l = batch.add_logs();
        l->set_time_unix_nano(r.time_unix_nano());
        l->set_observed_time_unix_nano(r.observed_time_unix_nano());
        l->set_severity_number(r.severity_number());
        l->set_severity_text(r.severity_text());
        if (r.has_body()) {
          tv1::ValueType type;
          FromAnyValue(r.body(), l->mutable_body(), &type);
          l->set_body_type(type);
        } else {
          l->set_body_type(tv1::VALUE_TYPE_EMPTY);
        }
        ToAttributes(r.attributes(), l->mutable_attributes());
        l->set_dropped_attributes_count(r.dropped_attributes_count());
        l->set_flags(r.flags());
        l->set_trace_id(r.trace_id());
        l->set_span_id(r.span_id());
        l->set_event_name(r.event_name());
        l->set_scope(scope);
      }
    }
  }
}

void ToInternal(const otlp_trace::ExportTraceServiceRequest& request,
                std::vector<tv1::IngestBatch>* out) {
  for (const trace::ResourceSpans& rs : request.resource_spans()) {
    tv1::IngestBatch& batch = out->emplace_back();
    ToResource(rs.resource(), rs.schema_url(), batch.mutable_resource());
    for (const trace::ScopeSpans& ss : rs.scope_spans()) {
      const uint32_t scope = AddScope(ss, &batch);
      batch.mutable_spans()->Reserve(batch.spans_size() + ss.spans_size());
      for (const trace::Span& s : ss.spans()) {
        tv1::Span* t = batch.add_spans();
        t->set_trace_id(s.trace_id());
        t->set_span_id(s.span_id());
        t->set_parent_span_id(s.parent_span_id());
        t->set_name(s.name());
        t->set_kind(static_cast<tv1::SpanKind>(s.kind()));
        t->set_start_time_unix_nano(s.start_time_unix_nano());
        t->set_end_time_unix_nano(s.end_time_unix_nano());
        ToAttributes(s.attributes(), t->mutable_attributes());
        for (const trace::Span::Event& e : s.events()) {
          tv1::SpanEvent* te = t->add_events();
          te->set_time_unix_nano(e.time_unix_nano());
          te->set_name(e.name());
          ToAttributes(e.attributes(), te->mutable_attributes());
          te->set_dropped_attributes_count(e.dropped_attributes_count());
        }
        for (const trace::Span::Link& l : s.links()) {
          tv1::SpanLink* tl = t->add_links();
          tl->set_trace_id(l.trace_id());
          tl->set_span_id(l.span_id());
          tl->set_trace_state(l.trace_state());
          ToAttributes(l.attributes(), tl->mutable_attributes());
          tl->set_dropped_attributes_count(l.dropped_attributes_count());
          tl->set_flags(l.flags());
        }
        t->set_status_code(static_cast<tv1::StatusCode>(s.status().code()));
        t->set_status_message(s.status().message());
        t->set_trace_state(s.trace_state());
        t->set_flags(s.flags());
        t->set_scope(scope);
        t->set_dropped_attributes_count(s.dropped_attributes_count());
        t->set_dropped_events_count(s.dropped_events_count());
        t->set_dropped_links_count(s.dropped_links_count());
      }
    }
  }
}

void ToInternal(const otlp_metrics::ExportMetricsServiceRequest& request,
                std::vector<tv1::IngestBatch>* out) {
  for (const metrics::ResourceMetrics& rm : request.resource_metrics()) {
    tv1::IngestBatch& batch = out->emplace_back();
    ToResource(rm.resource(), rm.schema_url(), batch.mutable_resource());
    for (const metrics::ScopeMetrics& sm : rm.scope_metrics()) {
      const uint32_t scope = AddScope(sm, &batch);
      for (const metrics::Metric& m : sm.metrics()) ToMetricPoints(m, scope, &batch);
    }
  }
}

void AppendLogs(const tv1::IngestBatch& batch, otlp_logs::ExportLogsServiceRequest* out) {
  if (batch.logs_size() == 0) return;
  logs::ResourceLogs* rl = out->add_resource_logs();
  FromResource(batch.resource(), rl->mutable_resource(), rl->mutable_schema_url());
  GroupByScope<tv1::LogRecord, logs::ScopeLogs>(
      batch, batch.logs(), [&] { return rl->add_scope_logs(); },
      [](const tv1::LogRecord& l, logs::ScopeLogs* sl) {
        logs::LogRecord* r = sl->add_log_records();
        r->set_time_unix_nano(l.time_unix_nano());
        r->set_observed_time_unix_nano(l.observed_time_unix_nano());
        r->set_severity_number(static_cast<logs::SeverityNumber>(l.severity_number()));
        r->set_severity_text(l.severity_text());
        if (l.body_type() != tv1::VALUE_TYPE_EMPTY || !l.body().empty()) {
          ToAnyValue(l.body(), l.body_type(), r->mutable_body());
        }
        ToKeyValues(l.attributes(), r->mutable_attributes());
        r->set_dropped_attributes_count(l.dropped_attributes_count());
        r->set_flags(l.flags());
        r->set_trace_id(l.trace_id());
        r->set_span_id(l.span_id());
        r->set_event_name(l.event_name());
      });
}

void AppendSpans(const tv1::IngestBatch& batch, otlp_trace::ExportTraceServiceRequest* out) {
  if (batch.spans_size() == 0) return;
  trace::ResourceSpans* rs = out->add_resource_spans();
  FromResource(batch.resource(), rs->mutable_resource(), rs->mutable_schema_url());
  GroupByScope<tv1::Span, trace::ScopeSpans>(
      batch, batch.spans(), [&] { return rs->add_scope_spans(); },
      [](const tv1::Span& t, trace::ScopeSpans* ss) {
        trace::Span* s = ss->add_spans();
        s->set_trace_id(t.trace_id());
        s->set_span_id(t.span_id());
        s->set_trace_state(t.trace_state());
        s->set_parent_span_id(t.parent_span_id());
        s->set_flags(t.flags());
        s->set_name(t.name());
        s->set_kind(static_cast<trace::Span::SpanKind>(t.kind()));
        s->set_start_time_unix_nano(t.start_time_unix_nano());
        s->set_end_time_unix_nano(t.end_time_unix_nano());
        ToKeyValues(t.attributes(), s->mutable_attributes());
        s->set_dropped_attributes_count(t.dropped_attributes_count());
        for (const tv1::SpanEvent& te : t.events()) {
          trace::Span::Event* e = s->add_events();
          e->set_time_unix_nano(te.time_unix_nano());
          e->set_name(te.name());
          ToKeyValues(te.attributes(), e->mutable_attributes());
          e->set_dropped_attributes_count(te.dropped_attributes_count());
        }
        s->set_dropped_events_count(t.dropped_events_count());
        for (const tv1::SpanLink& tl : t.links()) {
          trace::Span::Link* l = s->add_links();
          l->set_trace_id(tl.trace_id());
          l->set_span_id(tl.span_id());
          l->set_trace_state(tl.trace_state());
          ToKeyValues(tl.attributes(), l->mutable_attributes());
          l->set_dropped_attributes_count(tl.dropped_attributes_count());
          l->set_flags(tl.flags());
        }
        s->set_dropped_links_count(t.dropped_links_count());
        if (t.status_code() != tv1::STATUS_CODE_UNSET || !t.status_message().empty()) {
          s->mutable_status()->set_code(static_cast<trace::Status::StatusCode>(t.status_code()));
          s->mutable_status()->set_message(t.status_message());
        }
      });
}

void AppendMetrics(const tv1::IngestBatch& batch,
                   otlp_metrics::ExportMetricsServiceRequest* out) {
  if (batch.metrics_size() == 0) return;
  metrics::ResourceMetrics* rm = out->add_resource_metrics();
  FromResource(batch.resource(), rm->mutable_resource(), rm->mutable_schema_url());
  metrics::Metric* current = nullptr;
  const tv1::MetricPoint* previous = nullptr;
  GroupByScope<tv1::MetricPoint, metrics::ScopeMetrics>(
      batch, batch.metrics(),
      [&] {
        current = nullptr;  // a new scope starts a new metric
        return rm->add_scope_metrics();
      },
      [&](const tv1::MetricPoint& p, metrics::ScopeMetrics* sm) {
        if (current == nullptr || !SameMetric(*previous, p)) current = NewMetric(p, sm);
        previous = &p;
        AppendPoint(p, current);
      });
}

}  // namespace tributary::otlp
