#include "exporters/prometheus/scrape.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/double_text.h"

namespace tributary::exporters {
namespace {

namespace tv1 = ::tributary::v1;

// The exposition format escapes only \, " and newline in label values, and
// \ and newline in HELP text.
void AppendEscaped(std::string* out, std::string_view s, bool quotes) {
  for (char c : s) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && quotes) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

// `labels` are sorted by name.
std::string RenderLabels(const LabelSet& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    absl::StrAppend(&out, out.empty() ? "" : ",", k, "=\"");
    AppendEscaped(&out, v, /*quotes=*/true);
    out.push_back('"');
  }
  return out;
}

std::string ValueText(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  return DoubleText(v);
}

}  // namespace

SeriesStore::ApplyResult SeriesStore::Apply(const std::vector<const tv1::IngestBatch*>& batches,
                                            absl::Time now) {
  ApplyResult result;
  MutexLock lock(&mu_);
  for (const tv1::IngestBatch* batch : batches) {
    if (batch->metrics_size() == 0) continue;
    const LabelSet base = ResourceLabels(batch->resource(), options_.resource_labels);
    for (const tv1::MetricPoint& m : batch->metrics()) {
      ++result.points;
      Refusal refused = Refusal::kNone;
      if (!ForEachSample(base, m, [&](const PromSample& s) ABSL_NO_THREAD_SAFETY_ANALYSIS {
            const Refusal r = Sample(s, now);
            if (refused == Refusal::kNone) refused = r;
          })) {
        ++result.unsupported;
      } else if (refused == Refusal::kOverLimit) {
        ++result.over_limit;
      } else if (refused == Refusal::kConflict) {
        ++result.conflicts;
      }
    }
  }
  if (now - last_expiry_ >= absl::Seconds(1)) Expire(now);
  return result;
}

SeriesStore::Refusal SeriesStore::Sample(const PromSample& s, absl::Time now) {
  auto family = families_.find(*s.family);
  if (family == families_.end()) {
    if (series_ >= options_.max_series) return Refusal::kOverLimit;
    family = families_.emplace(*s.family, Family{s.type, *s.help, {}}).first;
  } else if (family->second.type != s.type) {
    return Refusal::kConflict;
  }
  // Which line of the family: a histogram's buckets by le, then _sum and
  // _count; a summary's quantiles, then _sum and _count.
  double bound = 0;
  if (s.extra_name != nullptr) {
    if (s.extra_value == "+Inf") {
      bound = std::numeric_limits<double>::infinity();
    } else if (!absl::SimpleAtod(s.extra_value, &bound)) {
      bound = 0;
    }
  }
  const int part = s.suffix == "_sum" ? 1 : s.suffix == "_count" ? 2 : 0;
  Family::Key key{RenderLabels(*s.labels), part, bound,
                  s.extra_name == nullptr ? std::string() : RenderLabels(s.AllLabels())};
  auto it = family->second.samples.find(key);
  if (it == family->second.samples.end()) {
    if (series_ >= options_.max_series) return Refusal::kOverLimit;
    ++series_;
    family->second.samples.emplace(std::move(key),
                                   Family::Value{s.name(), s.value, s.time_ms, now});
    return Refusal::kNone;
  }
  Family::Value& v = it->second;
  if (s.delta) {
    v.value += s.value;
    v.time_ms = std::max(v.time_ms, s.time_ms);
  } else if (s.time_ms >= v.time_ms) {
    v.value = s.value;
    v.time_ms = s.time_ms;
  } else {
    return Refusal::kNone;  // older than what is held: the newer value stays
  }
  v.updated = now;
  return Refusal::kNone;
}

void SeriesStore::Expire(absl::Time now) {
  last_expiry_ = now;
  const absl::Time cutoff = now - options_.metric_expiration;
  for (auto f = families_.begin(); f != families_.end();) {
    auto& samples = f->second.samples;
    for (auto it = samples.begin(); it != samples.end();) {
      if (it->second.updated < cutoff) {
        it = samples.erase(it);
        --series_;
      } else {
        ++it;
      }
    }
    f = samples.empty() ? families_.erase(f) : std::next(f);
  }
}

std::string SeriesStore::Render(absl::Time now) {
  MutexLock lock(&mu_);
  Expire(now);
  std::string out;
  for (const auto& [name, family] : families_) {
    absl::StrAppend(&out, "# HELP ", name, " ");
    AppendEscaped(&out, family.help, /*quotes=*/false);
    absl::StrAppend(&out, "\n# TYPE ", name, " ", FamilyTypeName(family.type), "\n");
    for (const auto& [key, v] : family.samples) {
      out.append(v.name);
      const std::string& labels = key.sample_labels.empty() ? key.labels : key.sample_labels;
      if (!labels.empty()) absl::StrAppend(&out, "{", labels, "}");
      absl::StrAppend(&out, " ", ValueText(v.value), "\n");
    }
  }
  return out;
}

size_t SeriesStore::series() const {
  MutexLock lock(&mu_);
  return series_;
}

absl::StatusOr<std::vector<Request>> ScrapeExporter::Encode(
    const std::vector<const tv1::IngestBatch*>& batches) {
  const SeriesStore::ApplyResult r = store_->Apply(batches, absl::Now());
  std::vector<Request> out;
  const uint64_t refused = r.unsupported + r.over_limit + r.conflicts;
  if (refused > 0) {
    out.push_back({"refused",
                   absl::StrCat(r.unsupported, " points with no Prometheus form, ", r.over_limit,
                                " beyond max_series, ", r.conflicts,
                                " whose name is taken by a metric of another type"),
                   refused});
  }
  if (r.points > refused) out.push_back({"metrics", "", r.points - refused});
  return out;
}

SendResult ScrapeExporter::Send(const Request& request, absl::Time) {
  SendResult result;
  if (request.kind == "refused") {
    result.outcome = Outcome::kPermanent;
    result.message = request.payload;
  }
  return result;
}

}  // namespace tributary::exporters
