// The Prometheus remote-write exporter: stored metric points to
// `exporters.prometheus_remote_write.url` as a snappy-compressed
// prometheus.WriteRequest (remote write 1.0), with the required headers.
//
// Series are named and labelled as in exporters/prometheus/series.h, labels
// sorted, samples in timestamp order per series. Delta sums and histograms, and
// exponential histograms, have no remote-write form here: they are counted
// as dropped. 2xx is success, 429 and 5xx are retried (Retry-After
// honoured), other answers are dropped with the receiver's message.
//
// A receiver answers 400 for a whole request when it cannot store one of its
// samples (Prometheus rolls the request back on the first out-of-order,
// out-of-bounds or conflicting sample). So that one stale sample does not
// take the thousand beside it down with it, a refused request is split in
// halves, in sample order, and each half sent again, down to the samples the
// receiver refuses alone; those are dropped (reason "rejected") and the rest
// is stored. The split costs about 2 log2(n) requests per refused sample;
// after `max_split_requests` a part not yet tried is tried once more whole
// (at most log2(n) requests) and what is refused then is dropped whole. The
// split shares the request's deadline (send_timeout): a retryable answer or
// a timeout on the way retries the whole request, split again from the
// start (what was stored on the way is stored again as the same samples).
// A receiver too slow to take ~64 small requests within send_timeout would
// keep a request with refused samples retrying.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "exporters/exporter.h"
#include "exporters/http/http_post.h"
#include "exporters/prometheus/series.h"
#include "prometheus/remote.pb.h"

namespace tributary::exporters {

struct RemoteWriteOptions {
  std::string url = "http://127.0.0.1:9090/api/v1/write";
  std::map<std::string, std::string> headers;  // e.g. Authorization
  int max_split_requests = 64;  // per refused request; see above
};

// The samples in `request`, and `request` split after its first `n`
// samples (series in order; a series that straddles the cut is in both, each
// with its part of the samples). Exposed for tests.
int64_t SampleCount(const prometheus::WriteRequest& request);
void SplitSamples(const prometheus::WriteRequest& request, int64_t n, prometheus::WriteRequest* head,
                  prometheus::WriteRequest* tail);

// The WriteRequest for some batches; `skipped` counts points with no
// remote-write form. Exposed for tests.
prometheus::WriteRequest ToWriteRequest(
    const std::vector<const tributary::v1::IngestBatch*>& batches, uint64_t* points,
    uint64_t* skipped);

class RemoteWriteExporter : public Exporter {
 public:
  explicit RemoteWriteExporter(RemoteWriteOptions options);
  ~RemoteWriteExporter() override;

  const std::string& name() const override { return name_; }
  uint32_t signals() const override { return kMetrics; }
  absl::StatusOr<std::vector<Request>> Encode(
      const std::vector<const tributary::v1::IngestBatch*>& batches) override;
  SendResult Send(const Request& request, absl::Time deadline) override;

 private:
  SendResult Post(const prometheus::WriteRequest& request, absl::Time deadline);
  // Sends the halves of `refused` (which the receiver answered 400), and
  // their halves, until what is refused is single samples; adds them to
  // `*dropped`. A retryable answer on the way ends the split: it is returned.
  std::optional<SendResult> Split(const prometheus::WriteRequest& refused, absl::Time deadline,
                                  int* budget, int64_t* dropped);

  const std::string name_ = "prometheus_remote_write";
  const RemoteWriteOptions options_;
  std::vector<std::string> headers_;
  HttpPoster http_;
};

}  // namespace tributary::exporters
