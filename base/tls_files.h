// A server's TLS material read from PEM files, for any of our servers (the
// collector's gRPC port, its HTTP ports).
#pragma once

#include <string>

#include "absl/status/statusor.h"

namespace tributary {

struct ServerTlsPem {
  std::string cert;       // certificate chain
  std::string key;        // private key
  std::string client_ca;  // empty: clients are not asked for a certificate
};

// Reads `cert_file`, `key_file` and (if set) `client_ca_file`. A file that
// cannot be read or holds no PEM of the expected kind is FAILED_PRECONDITION
// naming `key_path` (e.g. "server.tls"), the key and the file.
absl::StatusOr<ServerTlsPem> ReadServerTlsFiles(const std::string& key_path,
                                                const std::string& cert_file,
                                                const std::string& key_file,
                                                const std::string& client_ca_file);

}  // namespace tributary
