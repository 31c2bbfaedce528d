// How a stored metric point becomes Prometheus samples; shared by the
// remote-write exporter and the scrape endpoint so both name and label a
// point the same way.
//
// Names are made valid Prometheus names; counters get `_total`; histograms
// become `_bucket{le=...}` (cumulative counts, ending with `+Inf`), `_sum`
// and `_count`; summaries `{quantile=...}`, `_sum` and `_count`. Labels come
// from the resource (service.name -> job, service.instance.id or else
// host.name -> instance) and then from the point, with sanitised names;
// a point label never overrides a resource one, and `__`-prefixed names are
// reserved. Exponential histograms have no form here.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tributary/v1/records.pb.h"

namespace tributary::exporters {

using LabelSet = std::vector<std::pair<std::string, std::string>>;

enum class FamilyType { kGauge, kCounter, kHistogram, kSummary };
const char* FamilyTypeName(FamilyType type);

// One sample, described without copies: the name is family + suffix; the
// labels are `labels` plus, for a bucket or quantile, `extra`.
struct PromSample {
  const std::string* family;  // the family name (a counter's includes _total)
  FamilyType type;
  const std::string* help;    // the point's description, or its original name
  std::string_view suffix;    // "", "_bucket", "_sum" or "_count"
  const LabelSet* labels;     // sorted by name; no __name__, nor the extra's name
  const char* extra_name;     // "le" or "quantile", or nullptr
  std::string extra_value;
  double value;
  int64_t time_ms;
  bool delta;                 // delta temporality: the value is an increment

  std::string name() const { return *family + std::string(suffix); }
  // labels + extra, sorted by name.
  LabelSet AllLabels() const;
};

// "http.server.duration" -> "http_server_duration"; a leading digit gets "_".
std::string PrometheusName(const std::string& name, bool allow_colon);

// The labels every point of a batch from this resource carries: job and
// instance, then the resource attributes named in `extra` (sanitised names).
LabelSet ResourceLabels(const tributary::v1::Resource& resource,
                        const std::vector<std::string>& extra = {});

// Calls `emit` for each sample of `point`. Returns false (emitting nothing)
// for a point with no Prometheus form or no usable name.
bool ForEachSample(const LabelSet& base, const tributary::v1::MetricPoint& point,
                   const std::function<void(const PromSample&)>& emit);

}  // namespace tributary::exporters
