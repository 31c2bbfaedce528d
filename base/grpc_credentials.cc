#include "base/grpc_credentials.h"

#include <fstream>
#include <sstream>

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

}  // namespace tributary
