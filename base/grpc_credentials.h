// gRPC credentials from PEM files: the channel side, shared by every gRPC
// client we make (the client library's sender, the OTLP exporter), and the
// server side (the collector's gRPC port).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace tributary {

// Insecure when `tls` is false. Otherwise TLS with `ca_file` as the roots
// (empty: the system's) and, when both are set, `cert_file` and `key_file`
// as the client's certificate (mutual TLS). Files that cannot be read count
// as empty; callers check them first to report a clear error.
std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(bool tls, const std::string& ca_file,
                                                             const std::string& cert_file,
                                                             const std::string& key_file);

// Server TLS with `cert_file` and `key_file`; with `client_ca_file`, clients
// must present a certificate that CA signed. The files are read now;
// FAILED_PRECONDITION names `key_path` (e.g. "server.tls") and the file that
// cannot be read or holds no PEM of the expected kind.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerTlsCredentials(
    const std::string& key_path, const std::string& cert_file, const std::string& key_file,
    const std::string& client_ca_file);

}  // namespace tributary
