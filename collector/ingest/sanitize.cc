#include "collector/ingest/sanitize.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "base/utf8.h"

namespace tributary::collector {
namespace {

using google::protobuf::RepeatedPtrField;
using tributary::v1::Attribute;
using tributary::v1::ValueType;

// 2000-01-01T00:00:00Z. A non-zero timestamp before it is almost always a
// unit mistake (seconds or milliseconds sent as nanoseconds).
constexpr uint64_t kEarliestNanos = 946684800ull * 1000000000ull;

// The first problem found in a record: a reason and a human-readable example.
struct Problem {
  std::string reason;
  std::string example;
  bool found() const { return !reason.empty(); }
};

std::string Printable(const std::string& text) {
  std::string shown = absl::CHexEscape(text.substr(0, 48));
  if (text.size() > 48) shown += "...";
  return shown;
}

bool ValueIsText(ValueType type) {
  return type != tributary::v1::VALUE_TYPE_BYTES;
}

class Checker {
 public:
  Checker(const IngestLimits& limits, absl::Time now)
      : limits_(limits),
        latest_nanos_(static_cast<uint64_t>(
            std::max<int64_t>(0, absl::ToUnixNanos(now + limits.max_future_skew)))) {}

  Problem Utf8(const std::string& text, const char* what) const {
    if (utf8::IsValid(text)) return {};
    return {"invalid_utf8", absl::StrCat(what, " is not valid UTF-8: \"", Printable(text), "\"")};
  }

  Problem Attributes(const RepeatedPtrField<Attribute>& attrs, const char* what) const {
    if (attrs.size() > static_cast<int>(limits_.max_attributes)) {
      return {"too_many_attributes", absl::StrCat(what, ": ", attrs.size(), " attributes, limit ",
                                                  limits_.max_attributes)};
    }
    for (const Attribute& a : attrs) {
      if (a.key().empty()) return {"invalid_attribute", absl::StrCat(what, ": empty key")};
      if (a.key().size() > limits_.max_attribute_key_bytes) {
        return {"attribute_too_large", absl::StrCat(what, ": key of ", a.key().size(),
                                                    " bytes, limit ",
                                                    limits_.max_attribute_key_bytes)};
      }
      if (a.value().size() > limits_.max_attribute_value_bytes) {
        return {"attribute_too_large",
                absl::StrCat(what, ": value of \"", Printable(a.key()), "\" is ", a.value().size(),
                             " bytes, limit ", limits_.max_attribute_value_bytes)};
      }
      if (Problem p = Utf8(a.key(), "attribute key"); p.found()) return p;
      if (ValueIsText(a.type())) {
        if (Problem p = Utf8(a.value(), "attribute value"); p.found()) return p;
      }
      if (!ValueType_IsValid(a.type())) {
        return {"invalid_attribute", absl::StrCat(what, ": unknown value type ", a.type())};
      }
    }
    return {};
  }

  Problem Id(const std::string& id, size_t size, bool required, const char* reason,
             const char* what) const {
    if (id.empty() && !required) return {};
    if (id.size() != size) {
      return {reason, absl::StrCat(what, " has ", id.size(), " bytes, want ", size)};
    }
    if (std::all_of(id.begin(), id.end(), [](char c) { return c == 0; })) {
      return {reason, absl::StrCat(what, " is all zeros")};
    }
    return {};
  }

  Problem Time(uint64_t nanos, bool required, const char* what) const {
    if (nanos == 0) {
      if (required) return {"invalid_timestamp", absl::StrCat(what, " is missing")};
      return {};
    }
    if (nanos < kEarliestNanos) {
      return {"invalid_timestamp",
              absl::StrCat(what, " ", nanos,
                           " is before 2000-01-01 (seconds or milliseconds instead of "
                           "nanoseconds?)")};
    }
    if (nanos > latest_nanos_) {
      return {"timestamp_in_future",
              absl::StrCat(what, " is more than ", absl::FormatDuration(limits_.max_future_skew),
                           " ahead of the collector's clock")};
    }
    return {};
  }

  Problem Scope(uint32_t scope, int scopes) const {
    if (scope > static_cast<uint32_t>(scopes)) {
      return {"invalid_scope", absl::StrCat("scope index ", scope, " but the batch has ", scopes,
                                            " scopes")};
    }
    return {};
  }

  Problem Log(const tributary::v1::LogRecord& r, int scopes) const {
    Problem p;
    if (r.severity_number() < 0 || r.severity_number() > 24) {
      return {"invalid_severity",
              absl::StrCat("severity_number ", r.severity_number(), " is outside 0-24")};
    }
    if ((p = Id(r.trace_id(), 16, false, "invalid_trace_id", "trace_id")).found()) return p;
    if ((p = Id(r.span_id(), 8, false, "invalid_span_id", "span_id")).found()) return p;
    if (!r.span_id().empty() && r.trace_id().empty()) {
      return {"invalid_trace_id", "span_id is set without a trace_id"};
    }
    if ((p = Time(r.time_unix_nano(), false, "time_unix_nano")).found()) return p;
    if ((p = Time(r.observed_time_unix_nano(), false, "observed_time_unix_nano")).found()) {
      return p;
    }
    if (r.body().size() > limits_.max_body_bytes) {
      return {"body_too_large", absl::StrCat("body of ", r.body().size(), " bytes, limit ",
                                             limits_.max_body_bytes)};
    }
    if (ValueIsText(r.body_type()) && (p = Utf8(r.body(), "body")).found()) return p;
    if ((p = Utf8(r.severity_text(), "severity_text")).found()) return p;
    if ((p = Utf8(r.event_name(), "event_name")).found()) return p;
    if ((p = Attributes(r.attributes(), "log attributes")).found()) return p;
    return Scope(r.scope(), scopes);
  }

  Problem Span(const tributary::v1::Span& s, int scopes) const {
    Problem p;
    if ((p = Id(s.trace_id(), 16, true, "invalid_trace_id", "trace_id")).found()) return p;
    if ((p = Id(s.span_id(), 8, true, "invalid_span_id", "span_id")).found()) return p;
    if ((p = Id(s.parent_span_id(), 8, false, "invalid_parent_span_id", "parent_span_id"))
            .found()) {
      return p;
    }
    if ((p = Time(s.start_time_unix_nano(), true, "start_time_unix_nano")).found()) return p;
    if ((p = Time(s.end_time_unix_nano(), true, "end_time_unix_nano")).found()) return p;
    if (s.end_time_unix_nano() < s.start_time_unix_nano()) {
      return {"invalid_timestamp", "end_time_unix_nano is before start_time_unix_nano"};
    }
    if (s.name().empty()) return {"invalid_span", "name is empty"};
    if (!tributary::v1::SpanKind_IsValid(s.kind())) {
      return {"invalid_span", absl::StrCat("unknown span kind ", s.kind())};
    }
    if (!tributary::v1::StatusCode_IsValid(s.status_code())) {
      return {"invalid_span", absl::StrCat("unknown status code ", s.status_code())};
    }
    if ((p = Utf8(s.name(), "span name")).found()) return p;
    if ((p = Utf8(s.status_message(), "status_message")).found()) return p;
    if ((p = Utf8(s.trace_state(), "trace_state")).found()) return p;
    if ((p = Attributes(s.attributes(), "span attributes")).found()) return p;
    if (s.events_size() > static_cast<int>(limits_.max_span_events)) {
      return {"too_many_events", absl::StrCat(s.events_size(), " events, limit ",
                                              limits_.max_span_events)};
    }
    for (const auto& e : s.events()) {
      if ((p = Time(e.time_unix_nano(), false, "event time_unix_nano")).found()) return p;
      if ((p = Utf8(e.name(), "event name")).found()) return p;
      if ((p = Attributes(e.attributes(), "event attributes")).found()) return p;
    }
    if (s.links_size() > static_cast<int>(limits_.max_span_links)) {
      return {"too_many_links", absl::StrCat(s.links_size(), " links, limit ",
                                             limits_.max_span_links)};
    }
    for (const auto& l : s.links()) {
      if ((p = Id(l.trace_id(), 16, true, "invalid_trace_id", "link trace_id")).found()) return p;
      if ((p = Id(l.span_id(), 8, true, "invalid_span_id", "link span_id")).found()) return p;
      if ((p = Utf8(l.trace_state(), "link trace_state")).found()) return p;
      if ((p = Attributes(l.attributes(), "link attributes")).found()) return p;
    }
    return Scope(s.scope(), scopes);
  }

  Problem Metric(const tributary::v1::MetricPoint& m, int scopes) const {
    Problem p;
    if (m.name().empty()) return {"invalid_metric", "name is empty"};
    if ((p = Utf8(m.name(), "metric name")).found()) return p;
    if ((p = Utf8(m.description(), "metric description")).found()) return p;
    if ((p = Utf8(m.unit(), "metric unit")).found()) return p;
    if (m.kind() == tributary::v1::METRIC_KIND_UNSPECIFIED ||
        !tributary::v1::MetricKind_IsValid(m.kind())) {
      return {"invalid_metric", absl::StrCat("metric \"", Printable(m.name()),
                                             "\" has no valid kind")};
    }
    if (!tributary::v1::Temporality_IsValid(m.temporality())) {
      return {"invalid_metric", absl::StrCat("unknown temporality ", m.temporality())};
    }
    if ((p = Time(m.time_unix_nano(), true, "time_unix_nano")).found()) return p;
    if ((p = Time(m.start_time_unix_nano(), false, "start_time_unix_nano")).found()) return p;
    if (m.kind() == tributary::v1::METRIC_KIND_HISTOGRAM) {
      if (m.bucket_counts_size() != 0 && m.bucket_counts_size() != m.explicit_bounds_size() + 1) {
        return {"invalid_histogram",
                absl::StrCat("metric \"", Printable(m.name()), "\": ", m.bucket_counts_size(),
                             " bucket counts for ", m.explicit_bounds_size(), " bounds")};
      }
      for (int i = 0; i < m.explicit_bounds_size(); ++i) {
        if (std::isnan(m.explicit_bounds(i)) ||
            (i > 0 && m.explicit_bounds(i) <= m.explicit_bounds(i - 1))) {
          return {"invalid_histogram", absl::StrCat("metric \"", Printable(m.name()),
                                                    "\": bounds are not increasing")};
        }
      }
    }
    if ((p = Attributes(m.labels(), "metric labels")).found()) return p;
    return Scope(m.scope(), scopes);
  }

 private:
  const IngestLimits& limits_;
  const uint64_t latest_nanos_;
};

// Keeps the elements for which `check` finds no problem, in order, and counts
// the others in `rejected`.
template <typename T, typename F>
uint32_t Filter(RepeatedPtrField<T>* records, F&& check,
                std::map<std::string, SanitizeReport::Reason>* rejected) {
  int kept = 0;
  for (int i = 0; i < records->size(); ++i) {
    Problem p = check(records->Get(i));
    if (p.found()) {
      SanitizeReport::Reason& r = (*rejected)[p.reason];
      if (r.count++ == 0) r.example = std::move(p.example);
      continue;
    }
    if (kept != i) records->SwapElements(kept, i);
    ++kept;
  }
  while (records->size() > kept) records->RemoveLast();
  return static_cast<uint32_t>(kept);
}

}  // namespace

const char* SignalName(Signal s) {
  switch (s) {
    case Signal::kLogs: return "logs";
    case Signal::kMetrics: return "metrics";
    case Signal::kSpans: return "spans";
  }
  return "unknown";
}

uint32_t SanitizeReport::TotalRejected() const {
  uint32_t n = 0;
  for (const auto& by_reason : rejected) {
    for (const auto& [reason, r] : by_reason) n += r.count;
  }
  return n;
}

Sanitizer::Sanitizer(const IngestConfig& config, std::function<absl::Time()> clock)
    : limits_(config.limits), clock_(std::move(clock)) {
  // The config loader already refused patterns that do not compile.
  auto redactor = Redactor::Create(config.redaction.keys, config.redaction.patterns,
                                   config.redaction.replacement);
  redactor_ = redactor.ok() ? std::move(*redactor)
                            : *Redactor::Create(config.redaction.keys, {},
                                                config.redaction.replacement);
}

void Sanitizer::MaskText(std::string* text, SanitizeReport* report) const {
  redactor_->MaskText(text, [&](const std::string& name, int n) {
    report->redactions[name] += static_cast<uint64_t>(n);
  });
}

void Sanitizer::RedactAttributes(RepeatedPtrField<Attribute>* attrs,
                                 SanitizeReport* report) const {
  for (Attribute& a : *attrs) {
    if (redactor_->IsSensitiveKey(a.key())) {
      a.set_value(redactor_->replacement());
      a.set_type(tributary::v1::VALUE_TYPE_STRING);
      ++report->redactions["key"];
    } else if (redactor_->has_patterns() && (a.type() == tributary::v1::VALUE_TYPE_STRING ||
                                      a.type() == tributary::v1::VALUE_TYPE_JSON)) {
      MaskText(a.mutable_value(), report);
    }
  }
}

SanitizeReport Sanitizer::Apply(tributary::v1::IngestBatch* batch) const {
  SanitizeReport report;
  const Checker check(limits_, clock_());

  // What the whole batch shares.
  {
    const auto& res = batch->resource();
    Problem p;
    for (const std::string* text : {&res.service_name(), &res.service_instance_id(), &res.host(),
                                    &res.schema_url()}) {
      if ((p = check.Utf8(*text, "resource field")).found()) break;
    }
    if (!p.found()) p = check.Attributes(res.attributes(), "resource attributes");
    for (int i = 0; !p.found() && i < batch->scopes_size(); ++i) {
      const auto& s = batch->scopes(i);
      if (!(p = check.Utf8(s.name(), "scope name")).found() &&
          !(p = check.Utf8(s.version(), "scope version")).found()) {
        p = check.Attributes(s.attributes(), "scope attributes");
      }
    }
    if (p.found()) {
      report.batch_error = absl::StrCat(p.reason, ": ", p.example);
      return report;
    }
  }

  // A log outside any trace may carry all-zero ids (OTLP calls them invalid,
  // meaning absent): keep the record, drop the ids.
  const auto all_zero = [](const std::string& id) {
    return !id.empty() && std::all_of(id.begin(), id.end(), [](char c) { return c == 0; });
  };
  for (auto& r : *batch->mutable_logs()) {
    if (r.trace_id().size() == 16 && all_zero(r.trace_id())) {
      r.clear_trace_id();
      if (all_zero(r.span_id())) r.clear_span_id();
      ++report.normalized;
    }
  }

  const int scopes = batch->scopes_size();
  report.accepted[static_cast<int>(Signal::kLogs)] = Filter(
      batch->mutable_logs(), [&](const auto& r) { return check.Log(r, scopes); },
      &report.rejected[static_cast<int>(Signal::kLogs)]);
  report.accepted[static_cast<int>(Signal::kMetrics)] = Filter(
      batch->mutable_metrics(), [&](const auto& m) { return check.Metric(m, scopes); },
      &report.rejected[static_cast<int>(Signal::kMetrics)]);
  report.accepted[static_cast<int>(Signal::kSpans)] = Filter(
      batch->mutable_spans(), [&](const auto& s) { return check.Span(s, scopes); },
      &report.rejected[static_cast<int>(Signal::kSpans)]);

  // Redaction of what is kept.
  RedactAttributes(batch->mutable_resource()->mutable_attributes(), &report);
  for (auto& s : *batch->mutable_scopes()) RedactAttributes(s.mutable_attributes(), &report);
  for (auto& r : *batch->mutable_logs()) {
    RedactAttributes(r.mutable_attributes(), &report);
    if (redactor_->has_patterns() && (r.body_type() == tributary::v1::VALUE_TYPE_STRING ||
                               r.body_type() == tributary::v1::VALUE_TYPE_JSON)) {
      MaskText(r.mutable_body(), &report);
    }
  }
  for (auto& m : *batch->mutable_metrics()) RedactAttributes(m.mutable_labels(), &report);
  for (auto& s : *batch->mutable_spans()) {
    RedactAttributes(s.mutable_attributes(), &report);
    for (auto& e : *s.mutable_events()) RedactAttributes(e.mutable_attributes(), &report);
    for (auto& l : *s.mutable_links()) RedactAttributes(l.mutable_attributes(), &report);
  }
  return report;
}

}  // namespace tributary::collector
