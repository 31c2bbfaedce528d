#include "collector/http/http_server.h"

#include <microhttpd.h>
#include <sys/socket.h>

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
                                                               HttpHandler handler) {
  auto resolved = ResolveListenAddress(listen);
  if (!resolved.ok()) return resolved.status();
  const bool ipv6 = resolved->family == AF_INET6;

  auto server = std::unique_ptr<HttpServer>(new HttpServer(std::move(handler)));
  unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO;
  if (ipv6) flags |= MHD_USE_IPv6;
  server->daemon_ = MHD_start_daemon(
      flags, 0, nullptr, nullptr, &OnRequest, server.get(), MHD_OPTION_SOCK_ADDR,
      reinterpret_cast<sockaddr*>(&resolved->address), MHD_OPTION_CONNECTION_LIMIT, 64u,
      MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot listen on ", listen, " (address in use or not available)"));
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
