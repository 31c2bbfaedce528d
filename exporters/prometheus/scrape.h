// The Prometheus exporter's scrape side: stored metric points kept as the
// latest value per series, served in the text exposition format (0.0.4) on
// `exporters.prometheus.listen` at /metrics.
//
// A DeliveryLoop feeds it like any exporter (its cursor, lag and counters
// come with that); "sending" a group updates the series in memory. Series
// are named and labelled as in series.h, plus any configured resource
// attributes as labels. Cumulative points replace the value (an older point
// than the one held is ignored); delta points are added up into a running
// total. A series not updated for `metric_expiration` disappears. At most
// `max_series` series are held; points of new series beyond that are dropped
// and counted.
//
// After a restart the series come back as the applications send their next
// points (cumulative metrics are re-sent every flush interval); what was
// stored before the restart is not replayed.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/time/time.h"
#include "base/mutex.h"
#include "exporters/exporter.h"
#include "exporters/prometheus/series.h"

namespace tributary::exporters {

struct ScrapeOptions {
  std::string listen = "127.0.0.1:8889";
  absl::Duration metric_expiration = absl::Minutes(5);
  size_t max_series = 100000;
  // Resource attributes exposed as labels (besides job and instance).
  std::vector<std::string> resource_labels;
};

// The series the endpoint serves. Thread-safe.
class SeriesStore {
 public:
  struct ApplyResult {
    uint64_t points = 0;
    uint64_t unsupported = 0;  // no Prometheus form (exponential histograms)
    uint64_t over_limit = 0;   // new series beyond max_series
    uint64_t conflicts = 0;    // a family name already used with another type
  };

  explicit SeriesStore(ScrapeOptions options) : options_(std::move(options)) {}

  ApplyResult Apply(const std::vector<const tributary::v1::IngestBatch*>& batches,
                    absl::Time now);
  // The exposition text; series expired by `now` are removed first.
  std::string Render(absl::Time now);
  size_t series() const;

 private:
  struct Family {
    FamilyType type;
    std::string help;
    // (labels without le/quantile, part, bound) -> sample; parts order a
    // histogram's _bucket (by le), _sum and _count lines.
    struct Key {
      std::string labels;  // rendered, sorted: {a="b",c="d"} without braces
      int part;
      double bound;
      std::string sample_labels;  // rendered with le/quantile; empty if none
      bool operator<(const Key& o) const {
        return std::tie(labels, part, bound) < std::tie(o.labels, o.part, o.bound);
      }
    };
    struct Value {
      std::string name;  // family + suffix
      double value;
      int64_t time_ms;
      absl::Time updated;
    };
    std::map<Key, Value> samples;
  };

  enum class Refusal { kNone, kOverLimit, kConflict };
  Refusal Sample(const PromSample& s, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Expire(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const ScrapeOptions options_;
  mutable Mutex mu_;
  std::map<std::string, Family> families_ ABSL_GUARDED_BY(mu_);
  size_t series_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time last_expiry_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

// The exporter a DeliveryLoop drives: each group updates the store.
class ScrapeExporter : public Exporter {
 public:
  explicit ScrapeExporter(std::shared_ptr<SeriesStore> store) : store_(std::move(store)) {}

  const std::string& name() const override { return name_; }
  uint32_t signals() const override { return kMetrics; }
  absl::StatusOr<std::vector<Request>> Encode(
      const std::vector<const tributary::v1::IngestBatch*>& batches) override;
  SendResult Send(const Request& request, absl::Time deadline) override;

 private:
  const std::string name_ = "prometheus";
  std::shared_ptr<SeriesStore> store_;
};

}  // namespace tributary::exporters
