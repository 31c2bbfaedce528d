// A small metrics registry rendered in the Prometheus text format (0.0.4).
//
// Counters, gauges and histograms are owned by the registry and live as long
// as it does, so hot paths keep plain pointers to them: an increment is one
// relaxed atomic add. Families with labels hand out one child per label-value
// tuple (looked up under a mutex; cache the pointer when the labels are
// fixed). State that lives elsewhere (buffer statistics, say) is read at
// scrape time by a collector callback.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"

namespace tributary::metrics {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Counter {
 public:
  void Add(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

class Gauge {
 public:
  void Set(double v) { bits_.store(Encode(v), std::memory_order_relaxed); }
  void Add(double delta);
  double Value() const { return Decode(bits_.load(std::memory_order_relaxed)); }

 private:
  static uint64_t Encode(double v);
  static double Decode(uint64_t bits);
  std::atomic<uint64_t> bits_{0};
};

class Histogram {
 public:
  // `bounds` are the buckets' inclusive upper bounds, increasing; +Inf is
  // implied.
  explicit Histogram(std::vector<double> bounds);
  void Observe(double value);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> counts;  // per bucket (not cumulative), +Inf last
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot Take() const;

  // A value below which `q` (0..1) of the observations fall, interpolated
  // within its bucket; 0 with no observations.
  double Quantile(double q) const;

 private:
  const std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;
  std::atomic<uint64_t> sum_bits_{0};
};

// Exponential bounds: start, start*factor, ... (count of them).
std::vector<double> ExponentialBounds(double start, double factor, int count);

// Writes families and samples in the text format. Used by the registry and
// by collector callbacks.
class Exposition {
 public:
  // Starts a family; its samples must follow before the next family.
  void Family(const std::string& name, const std::string& type, const std::string& help);
  // `name` may carry a suffix such as _bucket; label values are escaped.
  void Sample(const std::string& name, const Labels& labels, double value);
  void HistogramSamples(const std::string& name, const Labels& labels,
                        const Histogram::Snapshot& h);
  // Same, for a histogram kept elsewhere as bounds + per-bucket counts.
  void HistogramSamples(const std::string& name, const Labels& labels,
                        const std::vector<double>& bounds, const std::vector<uint64_t>& counts,
                        double sum);

  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

template <typename T>
class Family {
 public:
  Family(std::vector<std::string> label_names, std::function<std::unique_ptr<T>()> make)
      : label_names_(std::move(label_names)), make_(std::move(make)) {}

  // The child for these label values (one per label name, in order).
  T* With(const std::vector<std::string>& values) {
    MutexLock lock(&mu_);
    std::unique_ptr<T>& child = children_[values];
    if (!child) child = make_();
    return child.get();
  }

  const std::vector<std::string>& label_names() const { return label_names_; }

  template <typename F>
  void ForEach(F&& f) const {
    MutexLock lock(&mu_);
    for (const auto& [values, child] : children_) f(values, *child);
  }

 private:
  const std::vector<std::string> label_names_;
  const std::function<std::unique_ptr<T>()> make_;
  mutable Mutex mu_;
  std::map<std::vector<std::string>, std::unique_ptr<T>> children_;
};

class Registry {
 public:
  Registry() = default;
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // Names must be unique across the registry; counters end in _total.
  Family<Counter>* AddCounter(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names = {});
  Family<Gauge>* AddGauge(const std::string& name, const std::string& help,
                          std::vector<std::string> label_names = {});
  Family<Histogram>* AddHistogram(const std::string& name, const std::string& help,
                                  std::vector<double> bounds,
                                  std::vector<std::string> label_names = {});

  // Called at every Render, after the registry's own families.
  void AddCollector(std::function<void(Exposition&)> collect);

  std::string Render() const;

 private:
  struct Entry {
    std::string name;
    std::string help;
    std::unique_ptr<Family<Counter>> counters;
    std::unique_ptr<Family<Gauge>> gauges;
    std::unique_ptr<Family<Histogram>> histograms;
  };

  mutable Mutex mu_;
  std::vector<std::unique_ptr<Entry>> entries_;
  std::vector<std::function<void(Exposition&)>> collectors_;
};

}  // namespace tributary::metrics
