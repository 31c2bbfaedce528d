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

int64_t SampleCount(const prometheus::WriteRequest& request) {
  int64_t n = 0;
  for (const prometheus::TimeSeries& ts : request.timeseries()) n += ts.samples_size();
  return n;
}

void SplitSamples(const prometheus::WriteRequest& request, int64_t n,
                  prometheus::WriteRequest* head, prometheus::WriteRequest* tail) {
  head->Clear();
  tail->Clear();
  int64_t taken = 0;
  for (const prometheus::TimeSeries& ts : request.timeseries()) {
    const int64_t in_head = std::clamp<int64_t>(n - taken, 0, ts.samples_size());
    taken += in_head;
    if (in_head == ts.samples_size()) {
      *head->add_timeseries() = ts;
    } else if (in_head == 0) {
      *tail->add_timeseries() = ts;
    } else {
      prometheus::TimeSeries* first = head->add_timeseries();
      prometheus::TimeSeries* rest = tail->add_timeseries();
      *first->mutable_labels() = ts.labels();
      *rest->mutable_labels() = ts.labels();
      for (int i = 0; i < ts.samples_size(); ++i) {
        *(i < in_head ? first : rest)->add_samples() = ts.samples(i);
      }
    }
  }
}

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
  if (request.kind == "unsupported") {
    SendResult result;
    result.outcome = Outcome::kPermanent;
    result.message =
        "points with no remote-write form (delta temporality or exponential histogram)";
    return result;
  }
  SendResult result = http_.Post(options_.url, headers_, request.payload, deadline);
  if (result.outcome != Outcome::kPermanent || result.http_status != 400) return result;

  std::string raw;
  prometheus::WriteRequest refused;
  if (!snappy::Uncompress(request.payload.data(), request.payload.size(), &raw) ||
      !refused.ParseFromString(raw)) {
    return result;  // not ours to split (cannot happen for what Encode made)
  }
  const int64_t samples = SampleCount(refused);
  if (samples <= 1) return result;
  int budget = options_.max_split_requests;
  int64_t dropped = 0;
  if (std::optional<SendResult> retry = Split(refused, deadline, &budget, &dropped)) {
    return *std::move(retry);  // the whole request again, later
  }
  if (dropped >= samples) return result;
  if (dropped == 0) return SendResult{};  // every half was taken: refused for what it was together
  // Samples to records: exact for counters and gauges (one sample a point),
  // in proportion for histograms (a point is several samples).
  result.dropped_records = std::max<uint64_t>(
      1, static_cast<uint64_t>(static_cast<double>(dropped) * request.records / samples + 0.5));
  result.outcome = Outcome::kSuccess;
  result.message = absl::StrCat(result.message, " (", dropped, " of ", samples,
                                " samples refused; the rest stored)");
  return result;
}

SendResult RemoteWriteExporter::Post(const prometheus::WriteRequest& request,
                                     absl::Time deadline) {
  std::string body;
  snappy::Compress(request.SerializeAsString().data(), request.ByteSizeLong(), &body);
  return http_.Post(options_.url, headers_, body, deadline);
}

std::optional<SendResult> RemoteWriteExporter::Split(const prometheus::WriteRequest& refused,
                                                     absl::Time deadline, int* budget,
                                                     int64_t* dropped) {
  const int64_t n = SampleCount(refused);
  if (n <= 1) {
    *dropped += n;
    return std::nullopt;
  }
  prometheus::WriteRequest halves[2];
  SplitSamples(refused, n / 2, &halves[0], &halves[1]);
  // In order: the older samples of a series must arrive before the newer.
  for (const prometheus::WriteRequest& half : halves) {
    // Out of splits, a half not yet tried is still tried once, whole.
    const bool last_try = *budget <= 0;
    --*budget;
    SendResult r = Post(half, deadline);
    if (r.outcome == Outcome::kRetryable) return r;
    if (r.outcome == Outcome::kSuccess) continue;
    if (r.http_status != 400 || last_try) {
      *dropped += SampleCount(half);  // refused for another reason, or out of splits: whole
      continue;
    }
    if (std::optional<SendResult> retry = Split(half, deadline, budget, dropped)) return retry;
  }
  return std::nullopt;
}

}  // namespace tributary::exporters
