#include "base/tls_files.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tributary {

absl::StatusOr<ServerTlsPem> ReadServerTlsFiles(const std::string& key_path,
                                                const std::string& cert_file,
                                                const std::string& key_file,
                                                const std::string& client_ca_file) {
  // The file's text if it can be read and holds `marker`.
  auto read = [&](const char* key, const std::string& file, const char* marker,
                  const char* kind) -> absl::StatusOr<std::string> {
    std::ifstream in(file);
    if (!in) {
      return absl::FailedPreconditionError(
          absl::StrCat(key_path, ".", key, ": ", file, " cannot be read"));
    }
    std::stringstream s;
    s << in.rdbuf();
    if (s.str().find(marker) == std::string::npos) {
      return absl::FailedPreconditionError(
          absl::StrCat(key_path, ".", key, ": ", file, " holds no PEM ", kind));
    }
    return s.str();
  };
  ServerTlsPem pem;
  auto cert = read("cert_file", cert_file, "-----BEGIN CERTIFICATE-----", "certificate");
  if (!cert.ok()) return cert.status();
  pem.cert = *std::move(cert);
  auto key = read("key_file", key_file, "PRIVATE KEY-----", "private key");
  if (!key.ok()) return key.status();
  pem.key = *std::move(key);
  if (!client_ca_file.empty()) {
    auto ca = read("client_ca_file", client_ca_file, "-----BEGIN CERTIFICATE-----", "certificate");
    if (!ca.ok()) return ca.status();
    pem.client_ca = *std::move(ca);
  }
  return pem;
}

}  // namespace tributary
