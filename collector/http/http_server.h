// A small HTTP/1.1 server for the collector's own endpoints (/metrics,
// /health/*, the status page) and the Prometheus exporter's, on GNU
// libmicrohttpd, plain or over TLS (GnuTLS), optionally requiring client
// certificates. GET and HEAD only; handlers run on the server's thread and
// must be quick.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "base/tls_files.h"

struct MHD_Daemon;

namespace tributary::collector {

struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
};

// Called with the request path (without the query string).
using HttpHandler = std::function<HttpResponse(const std::string& path)>;

class HttpServer {
 public:
  // Binds `listen` ("HOST:PORT"; port 0 picks a free one) and starts serving,
  // over TLS when `tls` is given; with its `client_ca`, a request without a
  // certificate that CA signed is answered 403. FAILED_PRECONDITION if the
  // address cannot be bound (in use, say) or the key does not fit the
  // certificate.
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(const std::string& listen,
                                                            HttpHandler handler,
                                                            const ServerTlsPem* tls = nullptr);
  ~HttpServer();

  int port() const { return port_; }
  // Stops accepting and waits for the server thread. Idempotent.
  void Stop();

 private:
  explicit HttpServer(HttpHandler handler) : handler_(std::move(handler)) {}

 public:
  // Internal: called by microhttpd's request callback.
  HttpResponse Handle(const std::string& method, const std::string& path) const;
  bool requires_client_certificate() const { return !tls_.client_ca.empty(); }

 private:
  HttpHandler handler_;
  ServerTlsPem tls_;  // microhttpd keeps pointers into these while it runs
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
};

}  // namespace tributary::collector
