#include "client/internal/instruments.h"

#include <algorithm>
#include <functional>

namespace tributary::client::internal {
namespace {

uint64_t Mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdULL;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ULL;
  return x ^ (x >> 33);
}

// The same for any order of the same labels.
uint64_t HashLabels(LabelList labels) {
  uint64_t h = labels.size();
  for (const auto& [k, v] : labels) {
    h += Mix(std::hash<std::string_view>()(k) * 31 + std::hash<std::string_view>()(v));
  }
  return h;
}

tributary::v1::MetricKind ProtoKind(InstrumentKind k) {
  switch (k) {
    case InstrumentKind::kCounter: return tributary::v1::METRIC_KIND_COUNTER;
    case InstrumentKind::kUpDownCounter: return tributary::v1::METRIC_KIND_UP_DOWN_COUNTER;
    case InstrumentKind::kGauge: return tributary::v1::METRIC_KIND_GAUGE;
    case InstrumentKind::kHistogram: return tributary::v1::METRIC_KIND_HISTOGRAM;
  }
  return tributary::v1::METRIC_KIND_UNSPECIFIED;
}

}  // namespace

Instrument::Instrument(InstrumentKind kind, std::string name, std::string description,
                       std::string unit, std::vector<double> bounds, int64_t start_ns)
    : kind_(kind),
      name_(std::move(name)),
      description_(std::move(description)),
      unit_(std::move(unit)),
      bounds_(std::move(bounds)),
      start_ns_(start_ns) {}

Instrument::Series* Instrument::FindOrAdd(LabelList labels) {
  std::vector<std::unique_ptr<Series>>& candidates = series_[HashLabels(labels)];
  for (const auto& s : candidates) {
    if (s->labels.size() != labels.size()) continue;
    const bool same = std::all_of(labels.begin(), labels.end(), [&](const auto& l) {
      return std::any_of(s->labels.begin(), s->labels.end(), [&](const auto& m) {
        return m.first == l.first && m.second == l.second;
      });
    });
    if (same) return s.get();
  }
  auto s = std::make_unique<Series>();
  for (const auto& [k, v] : labels) s->labels.emplace_back(std::string(k), std::string(v));
  std::sort(s->labels.begin(), s->labels.end());
  if (kind_ == InstrumentKind::kHistogram) s->buckets.assign(bounds_.size() + 1, 0);
  candidates.push_back(std::move(s));
  return candidates.back().get();
}

void Instrument::Update(double value, LabelList labels) {
  MutexLock lock(&mu_);
  Series* s = FindOrAdd(labels);
  switch (kind_) {
    case InstrumentKind::kCounter:
    case InstrumentKind::kUpDownCounter:
      s->value += value;
      break;
    case InstrumentKind::kGauge:
      s->value = value;
      break;
    case InstrumentKind::kHistogram: {
      // Bucket i counts values in (bounds[i-1], bounds[i]]; the last is +Inf.
      const size_t i = static_cast<size_t>(
          std::lower_bound(bounds_.begin(), bounds_.end(), value) - bounds_.begin());
      ++s->buckets[i];
      s->min = s->count == 0 ? value : std::min(s->min, value);
      s->max = s->count == 0 ? value : std::max(s->max, value);
      s->value += value;
      break;
    }
  }
  ++s->count;
}

void Instrument::Collect(int64_t now_ns,
                         google::protobuf::RepeatedPtrField<tributary::v1::MetricPoint>* out) const {
  MutexLock lock(&mu_);
  for (const auto& [hash, candidates] : series_) {
    for (const auto& s : candidates) {
      tributary::v1::MetricPoint* p = out->Add();
      p->set_name(name_);
      p->set_description(description_);
      p->set_unit(unit_);
      for (const auto& [k, v] : s->labels) {
        tributary::v1::Attribute* a = p->add_labels();
        a->set_key(k);
        a->set_value(v);
      }
      p->set_kind(ProtoKind(kind_));
      p->set_time_unix_nano(static_cast<uint64_t>(now_ns));
      if (kind_ != InstrumentKind::kGauge) {
        p->set_temporality(tributary::v1::TEMPORALITY_CUMULATIVE);
        p->set_start_time_unix_nano(static_cast<uint64_t>(start_ns_));
      }
      if (kind_ == InstrumentKind::kHistogram) {
        p->set_count(s->count);
        p->set_sum(s->value);
        if (s->count > 0) {
          p->set_min(s->min);
          p->set_max(s->max);
        }
        for (double b : bounds_) p->add_explicit_bounds(b);
        for (uint64_t c : s->buckets) p->add_bucket_counts(c);
      } else {
        p->set_as_double(s->value);
      }
    }
  }
}

}  // namespace tributary::client::internal
