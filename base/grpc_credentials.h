// Channel credentials from PEM files, shared by every gRPC client we make
// (the client library's sender, the OTLP exporter).
#pragma once

#include <memory>
#include <string>

#include "grpcpp/security/credentials.h"

namespace tributary {

// Insecure when `tls` is false. Otherwise TLS with `ca_file` as the roots
// (empty: the system's) and, when both are set, `cert_file` and `key_file`
// as the client's certificate (mutual TLS). Files that cannot be read count
// as empty; callers check them first to report a clear error.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(bool tls, const std::string& ca_file,
                                                             const std::string& cert_file,
                                                             const std::string& key_file);

}  // namespace tributary
