#include "base/grpc_credentials.h"

#include <fstream>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/tls_files.h"

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
  absl::StatusOr<ServerTlsPem> pem =
      ReadServerTlsFiles(key_path, cert_file, key_file, client_ca_file);
  if (!pem.ok()) return pem.status();
  grpc::SslServerCredentialsOptions ssl(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  if (!pem->client_ca.empty()) {
    ssl.pem_root_certs = std::move(pem->client_ca);
    ssl.client_certificate_request = GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  ssl.pem_key_cert_pairs.push_back({std::move(pem->key), std::move(pem->cert)});
  return grpc::SslServerCredentials(ssl);
}

}  // namespace tributary
