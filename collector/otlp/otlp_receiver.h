// The OTLP/gRPC receiver: opentelemetry.proto.collector.{logs,trace,metrics}.v1
// Export on the collector's gRPC port.
//
// A request is converted to the record model (one batch per resource) and
// goes through the same Ingestor as our own stream; the reply is sent only
// once every batch is durable. Records refused by validation are reported in
// partial_success with the reasons; a full buffer answers UNAVAILABLE with a
// RetryInfo delay (the OTLP spec's throttling signal); a malformed request is
// INVALID_ARGUMENT and an oversized one RESOURCE_EXHAUSTED without RetryInfo
// (not worth retrying). gzip requests are decoded by gRPC itself.
#pragma once

#include <atomic>
#include <memory>

#include "collector/config/config.h"
#include "collector/ingest/ingestor.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.grpc.pb.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.grpc.pb.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace tributary::collector {

class OtlpReceiver {
 public:
  OtlpReceiver(Ingestor* ingestor, const ServerConfig& config);
  ~OtlpReceiver();

  // The three services to register with the gRPC server.
  std::vector<grpc::Service*> services();

  // New requests are answered UNAVAILABLE from now on.
  void BeginShutdown() { shutting_down_.store(true); }

  struct Shared {
    Ingestor* ingestor;
    const ServerConfig* config;
    std::atomic<bool>* shutting_down;
  };

 private:
  std::atomic<bool> shutting_down_{false};
  Shared shared_;
  std::unique_ptr<grpc::Service> logs_;
  std::unique_ptr<grpc::Service> traces_;
  std::unique_ptr<grpc::Service> metrics_;
};

}  // namespace tributary::collector
