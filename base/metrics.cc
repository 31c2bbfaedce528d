#include "base/metrics.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace tributary::metrics {
namespace {

void AddDouble(std::atomic<uint64_t>& bits, double delta) {
  uint64_t old = bits.load(std::memory_order_relaxed);
  for (;;) {
    double v;
    std::memcpy(&v, &old, sizeof v);
    v += delta;
    uint64_t next;
    std::memcpy(&next, &v, sizeof next);
    if (bits.compare_exchange_weak(old, next, std::memory_order_relaxed)) return;
  }
}

double LoadDouble(const std::atomic<uint64_t>& bits) {
  const uint64_t b = bits.load(std::memory_order_relaxed);
  double v;
  std::memcpy(&v, &b, sizeof v);
  return v;
}

std::string FormatValue(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) return absl::StrFormat("%.0f", v);
  // The shortest text that reads back as the same double ("0.0005", not
  // "0.00050000000000000001").
  char buf[64];
  const double magnitude = std::fabs(v);
  const auto result =
      magnitude >= 1e-6 && magnitude < 1e15
          ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
          : std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, result.ptr);
}

void EscapeInto(std::string* out, const std::string& text, bool quote) {
  for (char c : text) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (quote && c == '"') {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

Labels Zip(const std::vector<std::string>& names, const std::vector<std::string>& values) {
  Labels labels;
  for (size_t i = 0; i < names.size() && i < values.size(); ++i) {
    labels.emplace_back(names[i], values[i]);
  }
  return labels;
}

}  // namespace

uint64_t Gauge::Encode(double v) {
  uint64_t b;
  std::memcpy(&b, &v, sizeof b);
  return b;
}

double Gauge::Decode(uint64_t bits) {
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

void Gauge::Add(double delta) { AddDouble(bits_, delta); }

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(new std::atomic<uint64_t>[bounds_.size() + 1]) {
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0, std::memory_order_relaxed);
}

void Histogram::Observe(double value) {
  size_t i = 0;
  while (i < bounds_.size() && value > bounds_[i]) ++i;
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  AddDouble(sum_bits_, value);
}

Histogram::Snapshot Histogram::Take() const {
  Snapshot s;
  s.bounds = bounds_;
  s.counts.resize(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    s.counts[i] = counts_[i].load(std::memory_order_relaxed);
    s.count += s.counts[i];
  }
  s.sum = LoadDouble(sum_bits_);
  return s;
}

double Histogram::Quantile(double q) const {
  const Snapshot s = Take();
  if (s.count == 0) return 0;
  const double rank = q * static_cast<double>(s.count);
  double seen = 0;
  for (size_t i = 0; i < s.counts.size(); ++i) {
    if (seen + static_cast<double>(s.counts[i]) >= rank && s.counts[i] > 0) {
      const double lo = i == 0 ? 0 : s.bounds[i - 1];
      if (i == s.bounds.size()) return lo;  // +Inf bucket: the highest finite bound
      const double hi = s.bounds[i];
      return lo + (hi - lo) * (rank - seen) / static_cast<double>(s.counts[i]);
    }
    seen += static_cast<double>(s.counts[i]);
  }
  return s.bounds.empty() ? 0 : s.bounds.back();
}

std::vector<double> ExponentialBounds(double start, double factor, int count) {
  std::vector<double> bounds;
  double b = start;
  for (int i = 0; i < count; ++i) {
    bounds.push_back(b);
    b *= factor;
  }
  return bounds;
}

void Exposition::Family(const std::string& name, const std::string& type,
                        const std::string& help) {
  absl::StrAppend(&out_, "# HELP ", name, " ");
  EscapeInto(&out_, help, /*quote=*/false);
  absl::StrAppend(&out_, "\n# TYPE ", name, " ", type, "\n");
}

void Exposition::Sample(const std::string& name, const Labels& labels, double value) {
  out_.append(name);
  if (!labels.empty()) {
    out_.push_back('{');
    for (size_t i = 0; i < labels.size(); ++i) {
      if (i > 0) out_.push_back(',');
      absl::StrAppend(&out_, labels[i].first, "=\"");
      EscapeInto(&out_, labels[i].second, /*quote=*/true);
      out_.push_back('"');
    }
    out_.push_back('}');
  }
  absl::StrAppend(&out_, " ", FormatValue(value), "\n");
}

void Exposition::HistogramSamples(const std::string& name, const Labels& labels,
                                  const Histogram::Snapshot& h) {
  HistogramSamples(name, labels, h.bounds, h.counts, h.sum);
}

void Exposition::HistogramSamples(const std::string& name, const Labels& labels,
                                  const std::vector<double>& bounds,
                                  const std::vector<uint64_t>& counts, double sum) {
  uint64_t cumulative = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    cumulative += counts[i];
    Labels with_le = labels;
    with_le.emplace_back("le", i < bounds.size() ? FormatValue(bounds[i]) : "+Inf");
    Sample(name + "_bucket", with_le, static_cast<double>(cumulative));
  }
  Sample(name + "_sum", labels, sum);
  Sample(name + "_count", labels, static_cast<double>(cumulative));
}

Family<Counter>* Registry::AddCounter(const std::string& name, const std::string& help,
                                      std::vector<std::string> label_names) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->counters = std::make_unique<Family<Counter>>(std::move(label_names),
                                                  [] { return std::make_unique<Counter>(); });
  MutexLock lock(&mu_);
  entries_.push_back(std::move(e));
  return entries_.back()->counters.get();
}

Family<Gauge>* Registry::AddGauge(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->gauges = std::make_unique<Family<Gauge>>(std::move(label_names),
                                              [] { return std::make_unique<Gauge>(); });
  MutexLock lock(&mu_);
  entries_.push_back(std::move(e));
  return entries_.back()->gauges.get();
}

Family<Histogram>* Registry::AddHistogram(const std::string& name, const std::string& help,
                                          std::vector<double> bounds,
                                          std::vector<std::string> label_names) {
  auto e = std::make_unique<Entry>();
  e->name = name;
  e->help = help;
  e->histograms = std::make_unique<Family<Histogram>>(
      std::move(label_names), [bounds] { return std::make_unique<Histogram>(bounds); });
  MutexLock lock(&mu_);
  entries_.push_back(std::move(e));
  return entries_.back()->histograms.get();
}

void Registry::AddCollector(std::function<void(Exposition&)> collect) {
  MutexLock lock(&mu_);
  collectors_.push_back(std::move(collect));
}

std::string Registry::Render() const {
  Exposition x;
  MutexLock lock(&mu_);
  for (const auto& e : entries_) {
    if (e->counters) {
      x.Family(e->name, "counter", e->help);
      e->counters->ForEach([&](const std::vector<std::string>& values, const Counter& c) {
        x.Sample(e->name, Zip(e->counters->label_names(), values),
                 static_cast<double>(c.Value()));
      });
    } else if (e->gauges) {
      x.Family(e->name, "gauge", e->help);
      e->gauges->ForEach([&](const std::vector<std::string>& values, const Gauge& g) {
        x.Sample(e->name, Zip(e->gauges->label_names(), values), g.Value());
      });
    } else if (e->histograms) {
      x.Family(e->name, "histogram", e->help);
      e->histograms->ForEach([&](const std::vector<std::string>& values, const Histogram& h) {
        x.HistogramSamples(e->name, Zip(e->histograms->label_names(), values), h.Take());
      });
    }
  }
  for (const auto& collect : collectors_) collect(x);
  return x.Take();
}

}  // namespace tributary::metrics
