#include "collector/http/http_server.h"

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <sys/socket.h>

#include <vector>

#include "absl/strings/str_cat.h"
#include "collector/http/listen_address.h"

namespace tributary::collector {
namespace {

MHD_Result Answer(MHD_Connection* connection, const HttpResponse& r) {
  MHD_Response* response = MHD_create_response_from_buffer(
      r.body.size(), const_cast<char*>(r.body.data()), MHD_RESPMEM_MUST_COPY);
  if (response == nullptr) return MHD_NO;
  MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, r.content_type.c_str());
  MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
  if (r.status == MHD_HTTP_METHOD_NOT_ALLOWED) {
    MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
  }
  const MHD_Result result =
      MHD_queue_response(connection, static_cast<unsigned>(r.status), response);
  MHD_destroy_response(response);
  return result;
}

// microhttpd asks for the client's certificate when given a trust list, but
// leaves checking it to us.
bool PeerCertificateVerified(MHD_Connection* connection) {
  const MHD_ConnectionInfo* info =
      MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
  if (info == nullptr || info->tls_session == nullptr) return false;
  auto session = static_cast<gnutls_session_t>(info->tls_session);
  unsigned int presented = 0;
  if (gnutls_certificate_get_peers(session, &presented) == nullptr || presented == 0) return false;
  unsigned int status = 0;
  return gnutls_certificate_verify_peers2(session, &status) == GNUTLS_E_SUCCESS && status == 0;
}

MHD_Result OnRequest(void* cls, MHD_Connection* connection, const char* url, const char* method,
                     const char* /*version*/, const char* /*upload_data*/,
                     size_t* upload_data_size, void** request_state) {
  // microhttpd calls once when the headers are in, then for any body; answer
  // once the body (ignored) is consumed.
  static int marker;
  if (*request_state == nullptr) {
    *request_state = &marker;
    return MHD_YES;
  }
  if (*upload_data_size != 0) {
    *upload_data_size = 0;
    return MHD_YES;
  }
  const auto* server = static_cast<const HttpServer*>(cls);
  if (server->requires_client_certificate() && !PeerCertificateVerified(connection)) {
    return Answer(connection, {403, "text/plain; charset=utf-8",
                               "a client certificate signed by the configured client CA is "
                               "required\n"});
  }
  return Answer(connection, server->Handle(method, url));
}

}  // namespace

HttpResponse HttpServer::Handle(const std::string& method, const std::string& path) const {
  if (method != MHD_HTTP_METHOD_GET && method != MHD_HTTP_METHOD_HEAD) {
    return {MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain; charset=utf-8",
            "only GET and HEAD are served here\n"};
  }
  return handler_(path);
}

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const std::string& listen,
                                                               HttpHandler handler,
                                                               const ServerTlsPem* tls) {
  auto resolved = ResolveListenAddress(listen);
  if (!resolved.ok()) return resolved.status();
  const bool ipv6 = resolved->family == AF_INET6;

  auto server = std::unique_ptr<HttpServer>(new HttpServer(std::move(handler)));
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
  if (ipv6) flags |= MHD_USE_IPv6;
  std::vector<MHD_OptionItem> options = {
      {MHD_OPTION_SOCK_ADDR, 0, &resolved->address},
      {MHD_OPTION_CONNECTION_LIMIT, 64, nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, 30, nullptr},
  };
  if (tls != nullptr) {
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot serve TLS on ", listen, ": libmicrohttpd was built without it"));
    }
    server->tls_ = *tls;
    flags |= MHD_USE_TLS;
    options.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, server->tls_.cert.data()});
    options.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, server->tls_.key.data()});
    if (!server->tls_.client_ca.empty()) {
      options.push_back({MHD_OPTION_HTTPS_MEM_TRUST, 0, server->tls_.client_ca.data()});
    }
  }
  options.push_back({MHD_OPTION_END, 0, nullptr});
  server->daemon_ = MHD_start_daemon(flags, 0, nullptr, nullptr, &OnRequest, server.get(),
                                     MHD_OPTION_ARRAY, options.data(), MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot listen on ", listen,
        tls != nullptr ? " (address in use or not available, or the key is not the private key of "
                         "the certificate)"
                       : " (address in use or not available)"));
  }
  const MHD_DaemonInfo* info = MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = info != nullptr ? info->port : 0;
  return server;
}

void HttpServer::Stop() {
  if (daemon_ != nullptr) {
    MHD_stop_daemon(daemon_);
    daemon_ = nullptr;
  }
}

HttpServer::~HttpServer() { Stop(); }

}  // namespace tributary::collector
