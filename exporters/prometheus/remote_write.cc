#include "exporters/prometheus/remote_write.h"

#include <snappy.h>

#include <algorithm>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace tributary::exporters {
namespace {

namespace tv1 = ::tributary::v1;

struct Series {
  LabelSet labels;  // sorted, with __name__
  std::vector<std::pair<int64_t, double>> samples;
};

class Builder {
 public:
  void Add(const tv1::IngestBatch& batch, uint64_t* points, uint64_t* skipped) {
    const LabelSet base = ResourceLabels(batch.resource());
    for (const tv1::MetricPoint& m : batch.metrics()) {
      ++*points;
      // A delta has no remote-write form: the receiver stores values, not
      // increments.
      if (m.temporality() == tv1::TEMPORALITY_DELTA ||
          !ForEachSample(base, m, [this](const PromSample& s) { Sample(s); })) {
        ++*skipped;
      }
    }
  }

  prometheus::WriteRequest Finish() {
    prometheus::WriteRequest req;
    // In key order, so a request's series come out the same way every time.
    std::vector<std::pair<const std::string, Series>*> ordered;
    ordered.reserve(series_.size());
    for (auto& entry : series_) ordered.push_back(&entry);
    std::sort(ordered.begin(), ordered.end(),
              [](const auto* a, const auto* b) { return a->first < b->first; });
    req.mutable_timeseries()->Reserve(static_cast<int>(ordered.size()));
    for (auto* entry : ordered) {
      Series& s = entry->second;
      std::stable_sort(s.samples.begin(), s.samples.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      prometheus::TimeSeries* ts = req.add_timeseries();
      for (const auto& [k, v] : s.labels) {
        prometheus::Label* l = ts->add_labels();
        l->set_name(k);
        l->set_value(v);
      }
      for (const auto& [t, v] : s.samples) {
        prometheus::Sample* sample = ts->add_samples();
        sample->set_timestamp(t);
        sample->set_value(v);
      }
    }
    return req;
  }

 private:
  void Sample(const PromSample& sample) {
    // The series key: name, then the labels (with the extra in its place).
    key_.assign(*sample.family);
    key_.append(sample.suffix);
    const absl::string_view extra = sample.extra_name ? sample.extra_name : "";
    bool extra_done = sample.extra_name == nullptr;
    for (const auto& [k, v] : *sample.labels) {
      if (!extra_done && extra < k) {
        absl::StrAppend(&key_, "\x01", extra, "\x02", sample.extra_value);
        extra_done = true;
      }
      absl::StrAppend(&key_, "\x01", k, "\x02", v);
    }
    if (!extra_done) absl::StrAppend(&key_, "\x01", extra, "\x02", sample.extra_value);
    auto [it, added] = series_.try_emplace(key_);
    Series& s = it->second;
    if (added) {
      s.labels = sample.AllLabels();
      s.labels.emplace_back("__name__", sample.name());
      std::sort(s.labels.begin(), s.labels.end());
    }
    s.samples.emplace_back(sample.time_ms, sample.value);
  }

  std::string key_;
  absl::flat_hash_map<std::string, Series> series_;
};

}  // namespace

prometheus::WriteRequest ToWriteRequest(const std::vector<const tv1::IngestBatch*>& batches,
                                        uint64_t* points, uint64_t* skipped) {
  Builder b;
  for (const tv1::IngestBatch* batch : batches) b.Add(*batch, points, skipped);
  return b.Finish();
}

RemoteWriteExporter::RemoteWriteExporter(RemoteWriteOptions options)
    : options_(std::move(options)) {
  headers_ = {"Content-Type: application/x-protobuf", "Content-Encoding: snappy",
              "X-Prometheus-Remote-Write-Version: 0.1.0"};
  for (const auto& [k, v] : options_.headers) headers_.push_back(absl::StrCat(k, ": ", v));
}

RemoteWriteExporter::~RemoteWriteExporter() = default;

absl::StatusOr<std::vector<Request>> RemoteWriteExporter::Encode(
    const std::vector<const tv1::IngestBatch*>& batches) {
  uint64_t points = 0, skipped = 0;
  const prometheus::WriteRequest req = ToWriteRequest(batches, &points, &skipped);
  std::vector<Request> out;
  if (skipped > 0) {
    // Nothing to send for these; reported as permanently refused by us.
    out.push_back({"unsupported", "", skipped});
  }
  if (req.timeseries_size() > 0) {
    Request r;
    r.kind = "metrics";
    snappy::Compress(req.SerializeAsString().data(), req.ByteSizeLong(), &r.payload);
    r.records = points - skipped;
    out.push_back(std::move(r));
  }
  return out;
}

SendResult RemoteWriteExporter::Send(const Request& request, absl::Time deadline) {
  SendResult result;
  if (request.kind == "unsupported") {
    result.outcome = Outcome::kPermanent;
    result.message =
        "points with no remote-write form (delta temporality or exponential histogram)";
    return result;
  }
  return http_.Post(options_.url, headers_, request.payload, deadline);
}

}  // namespace tributary::exporters
