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

bool ForEachSample(const LabelSet& base, const tv1::MetricPoint& m,
                   const std::function<void(const PromSample&)>& emit) {
  std::string family = PrometheusName(m.name(), /*allow_colon=*/true);
  if (family.empty()) return false;
  const std::string help = m.description().empty() ? m.name() : m.description();
  LabelSet labels = base;
  for (const auto& a : m.labels()) {
    const std::string key = PrometheusName(a.key(), /*allow_colon=*/false);
    if (key.empty() || absl::StartsWith(key, "__")) continue;
    auto same = std::find_if(labels.begin(), labels.end(),
                             [&](const auto& l) { return l.first == key; });
    if (same == labels.end()) labels.emplace_back(key, a.value());
  }
  PromSample s{&family, FamilyType::kGauge, &help, "", {},
               0, static_cast<int64_t>(m.time_unix_nano() / 1000000),
               m.temporality() == tv1::TEMPORALITY_DELTA};
  auto sample = [&](std::string name, LabelSet sample_labels, double value) {
    s.name = std::move(name);
    s.labels = std::move(sample_labels);
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
      sample(family, labels, value);
      return true;
    case tv1::METRIC_KIND_COUNTER:
      if (!absl::EndsWith(family, "_total")) family += "_total";
      s.type = FamilyType::kCounter;
      sample(family, labels, value);
      return true;
    case tv1::METRIC_KIND_HISTOGRAM: {
      s.type = FamilyType::kHistogram;
      uint64_t running = 0;
      for (int i = 0; i < m.bucket_counts_size(); ++i) {
        running += m.bucket_counts(i);
        LabelSet with_le = labels;
        with_le.emplace_back("le", i < m.explicit_bounds_size()
                                       ? DoubleText(m.explicit_bounds(i))
                                       : std::string("+Inf"));
        sample(family + "_bucket", std::move(with_le), static_cast<double>(running));
      }
      // The +Inf bucket is required even when the point carried no buckets
      // (or as many buckets as bounds).
      if (m.bucket_counts_size() <= m.explicit_bounds_size()) {
        LabelSet with_le = labels;
        with_le.emplace_back("le", "+Inf");
        sample(family + "_bucket", std::move(with_le), static_cast<double>(m.count()));
      }
      sample(family + "_sum", labels, m.has_sum() ? m.sum() : 0);
      sample(family + "_count", labels, static_cast<double>(m.count()));
      return true;
    }
    case tv1::METRIC_KIND_SUMMARY:
      s.type = FamilyType::kSummary;
      for (const auto& q : m.quantiles()) {
        LabelSet with_q = labels;
        with_q.emplace_back("quantile", DoubleText(q.quantile()));
        sample(family, std::move(with_q), q.value());
      }
      sample(family + "_sum", labels, m.has_sum() ? m.sum() : 0);
      sample(family + "_count", labels, static_cast<double>(m.count()));
      return true;
    default:
      return false;
  }
}

}  // namespace tributary::exporters
