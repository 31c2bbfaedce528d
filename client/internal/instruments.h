// Metric instruments aggregated in the client. Each label set is a series
// found by an order-independent hash of its labels, so an update allocates
// only the first time a series is seen. A short mutex per instrument guards
// its series (held for a lookup and an add, never across I/O).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "tributary/v1/records.pb.h"

namespace tributary::client::internal {

enum class InstrumentKind { kCounter, kUpDownCounter, kGauge, kHistogram };

using LabelList = std::initializer_list<std::pair<std::string_view, std::string_view>>;

class Instrument {
 public:
  Instrument(InstrumentKind kind, std::string name, std::string description, std::string unit,
             std::vector<double> bounds, int64_t start_ns);

  InstrumentKind kind() const { return kind_; }
  const std::string& name() const { return name_; }

  // Counter and up-down counter: add; gauge: set; histogram: record.
  void Update(double value, LabelList labels);

  // Appends one cumulative point per series, stamped `now_ns`.
  void Collect(int64_t now_ns,
               google::protobuf::RepeatedPtrField<tributary::v1::MetricPoint>* out) const;

 private:
  struct Series {
    std::vector<std::pair<std::string, std::string>> labels;
    double value = 0;  // sum, or the gauge's last value
    uint64_t count = 0;
    double min = 0;
    double max = 0;
    std::vector<uint64_t> buckets;  // histogram: bounds.size() + 1
  };

  Series* FindOrAdd(LabelList labels) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const InstrumentKind kind_;
  const std::string name_;
  const std::string description_;
  const std::string unit_;
  const std::vector<double> bounds_;
  const int64_t start_ns_;

  mutable Mutex mu_;
  std::unordered_map<uint64_t, std::vector<std::unique_ptr<Series>>> series_ ABSL_GUARDED_BY(mu_);
};

}  // namespace tributary::client::internal
