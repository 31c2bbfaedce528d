// The Prometheus remote-write exporter: stored metric points to
// `exporters.prometheus_remote_write.url` as a snappy-compressed
// prometheus.WriteRequest (remote write 1.0), with the required headers.
//
// Series are named and labelled as in exporters/prometheus/series.h, labels
// sorted, samples in timestamp order per series. Delta sums and histograms, and
// exponential histograms, have no remote-write form here: they are counted
// as dropped. 2xx is success, 429 and 5xx are retried (Retry-After
// honoured), other answers (e.g. 400 "out of order sample") are dropped with
// the receiver's message.
#pragma once

#include <map>
#include <memory>
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
};

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
  const std::string name_ = "prometheus_remote_write";
  const RemoteWriteOptions options_;
  std::vector<std::string> headers_;
  HttpPoster http_;
};

}  // namespace tributary::exporters
