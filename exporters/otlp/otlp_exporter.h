// The OTLP exporter: stored batches back to OTLP/gRPC Export calls (logs,
// traces, metrics) to any OTLP endpoint, with gzip, custom headers (for
// auth) and TLS. Answers are read through the shared retry table; an
// Export's partial_success counts its refused items as dropped, with the
// backend's message; RetryInfo in an error sets the retry delay.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "exporters/exporter.h"
#include "grpcpp/channel.h"
#include "grpcpp/generic/generic_stub.h"

namespace tributary::otlp {

struct OtlpExporterOptions {
  std::string endpoint = "127.0.0.1:14317";  // host:port
  bool gzip = true;
  std::map<std::string, std::string> headers;  // sent with every call (e.g. authorization)
  struct Tls {
    bool enabled = false;
    std::string ca_file;    // PEM roots; empty = the system's
    std::string cert_file;  // client certificate (mutual TLS)
    std::string key_file;
    std::string server_name;  // overrides the name checked in the certificate
  } tls;
};

class OtlpExporter : public exporters::Exporter {
 public:
  explicit OtlpExporter(OtlpExporterOptions options);

  const std::string& name() const override { return name_; }
  absl::StatusOr<std::vector<exporters::Request>> Encode(
      const std::vector<const tributary::v1::IngestBatch*>& batches) override;
  exporters::SendResult Send(const exporters::Request& request, absl::Time deadline) override;

 private:
  const std::string name_ = "otlp";
  const OtlpExporterOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

}  // namespace tributary::otlp
