#include "exporters/prometheus/series.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "base/double_text.h"

namespace tributary::exporters {

namespace tv1 = ::tributary::v1;

const char* FamilyTypeName(FamilyType type) {
  switch (type) {
    case FamilyType::kGauge:
      return "gauge";
    case FamilyType::kCounter:
      return "counter";
    case FamilyType::kHistogram:
      return "histogram";
    case FamilyType::kSummary:
      return "summary";
  }
  return "untyped";
}

std::string PrometheusName(const std::string& name, bool allow_colon) {
  std::string out;
  out.reserve(name.size() + 1);
  for (char c : name) {
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                    (allow_colon && c == ':');
    out.push_back(ok ? c : '_');
  }
  if (!out.empty() && absl::ascii_isdigit(static_cast<unsigned char>(out[0]))) out.insert(0, "_");
  return out;
}

LabelSet ResourceLabels(const tv1::Resource& r, const std::vector<std::string>& extra) {
  LabelSet base;
  if (!r.service_name().empty()) base.emplace_back("job", r.service_name());
  if (!r.service_instance_id().empty()) {
    base.emplace_back("instance", r.service_instance_id());
  } else if (!r.host().empty()) {
    base.emplace_back("instance", r.host());
  }
  for (const std::string& key : extra) {
    const std::string name = PrometheusName(key, /*allow_colon=*/false);
    if (name.empty() || absl::StartsWith(name, "__") ||
        std::any_of(base.begin(), base.end(), [&](const auto& l) { return l.first == name; })) {
      continue;
    }
    for (const tv1::Attribute& a : r.attributes()) {
      if (a.key() == key && !a.value().empty()) {
        base.emplace_back(name, a.value());
        break;
      }
    }
  }
  return base;
}

LabelSet PromSample::AllLabels() const {
  LabelSet all = *labels;
  if (extra_name != nullptr) {
    auto at = std::lower_bound(all.begin(), all.end(), std::string_view(extra_name),
                               [](const auto& l, std::string_view k) { return l.first < k; });
    all.emplace(at, extra_name, extra_value);
  }
  return all;
}

bool ForEachSample(const LabelSet& base, const tv1::MetricPoint& m,
                   const std::function<void(const PromSample&)>& emit) {
  std::string family = PrometheusName(m.name(), /*allow_colon=*/true);
  if (family.empty()) return false;
  LabelSet labels = base;
  for (const auto& a : m.labels()) {
    std::string key = PrometheusName(a.key(), /*allow_colon=*/false);
    if (key.empty() || absl::StartsWith(key, "__")) continue;
    if (std::none_of(labels.begin(), labels.end(), [&](const auto& l) { return l.first == key; })) {
      labels.emplace_back(std::move(key), a.value());
    }
  }
  std::sort(labels.begin(), labels.end());
  // A histogram's le and a summary's quantile come as `extra`; a point label
  // of that name would clash.
  const char* reserved = m.kind() == tv1::METRIC_KIND_HISTOGRAM ? "le"
                         : m.kind() == tv1::METRIC_KIND_SUMMARY ? "quantile"
                                                                : nullptr;
  if (reserved != nullptr) {
    labels.erase(std::remove_if(labels.begin(), labels.end(),
                                [&](const auto& l) { return l.first == reserved; }),
                 labels.end());
  }
  PromSample s{&family, FamilyType::kGauge, m.description().empty() ? &m.name() : &m.description(),
               "", &labels, nullptr, "", 0, static_cast<int64_t>(m.time_unix_nano() / 1000000),
               m.temporality() == tv1::TEMPORALITY_DELTA};
  auto sample = [&](std::string_view suffix, const char* extra_name, std::string extra_value,
                    double value) {
    s.suffix = suffix;
    s.extra_name = extra_name;
    s.extra_value = std::move(extra_value);
    s.value = value;
    emit(s);
  };
  const double value = m.value_case() == tv1::MetricPoint::kAsInt
                           ? static_cast<double>(m.as_int())
                           : m.as_double();
  switch (m.kind()) {
    case tv1::METRIC_KIND_GAUGE:
    case tv1::METRIC_KIND_UP_DOWN_COUNTER:
      s.type = FamilyType::kGauge;
      sample("", nullptr, "", value);
      return true;
    case tv1::METRIC_KIND_COUNTER:
      if (!absl::EndsWith(family, "_total")) family += "_total";
      s.type = FamilyType::kCounter;
      sample("", nullptr, "", value);
      return true;
    case tv1::METRIC_KIND_HISTOGRAM: {
      s.type = FamilyType::kHistogram;
      uint64_t running = 0;
      for (int i = 0; i < m.bucket_counts_size(); ++i) {
        running += m.bucket_counts(i);
        sample("_bucket", "le",
               i < m.explicit_bounds_size() ? DoubleText(m.explicit_bounds(i)) : "+Inf",
               static_cast<double>(running));
      }
      // The +Inf bucket is required even when the point carried no buckets
      // (or as many buckets as bounds).
      if (m.bucket_counts_size() <= m.explicit_bounds_size()) {
        sample("_bucket", "le", "+Inf", static_cast<double>(m.count()));
      }
      sample("_sum", nullptr, "", m.has_sum() ? m.sum() : 0);
      sample("_count", nullptr, "", static_cast<double>(m.count()));
      return true;
    }
    case tv1::METRIC_KIND_SUMMARY:
      s.type = FamilyType::kSummary;
      for (const auto& q : m.quantiles()) {
        sample("", "quantile", DoubleText(q.quantile()), q.value());
      }
      sample("_sum", nullptr, "", m.has_sum() ? m.sum() : 0);
      sample("_count", nullptr, "", static_cast<double>(m.count()));
      return true;
    default:
      return false;
  }
}

}  // namespace tributary::exporters
