#include "base/grpc_credentials.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace tributary {
namespace {

std::string ReadPem(const std::string& path) {
  if (path.empty()) return "";
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials(bool tls, const std::string& ca_file,
                                                             const std::string& cert_file,
                                                             const std::string& key_file) {
  if (!tls) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadPem(ca_file);
  ssl.pem_cert_chain = ReadPem(cert_file);
  ssl.pem_private_key = ReadPem(key_file);
  return grpc::SslCredentials(ssl);
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> ServerTlsCredentials(
    const std::string& key_path, const std::string& cert_file, const std::string& key_file,
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
  auto cert = read("cert_file", cert_file, "-----BEGIN CERTIFICATE-----", "certificate");
  if (!cert.ok()) return cert.status();
  auto key = read("key_file", key_file, "PRIVATE KEY-----", "private key");
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!client_ca_file.empty()) {
    auto ca = read("client_ca_file", client_ca_file, "-----BEGIN CERTIFICATE-----", "certificate");
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *std::move(ca);
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  ssl.pem_key_cert_pairs.push_back({*std::move(key), *std::move(cert)});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace tributary
