// "HOST:PORT" listen addresses (as in server.grpc_listen, server.http_listen):
// resolving them, and checking one can be bound.
#pragma once

#include <sys/socket.h>

#include <string>

#include "absl/status/statusor.h"

namespace tributary::collector {

struct ResolvedAddress {
  sockaddr_storage address{};
  socklen_t length = 0;
  int family = 0;
};

// INVALID_ARGUMENT for a malformed address, FAILED_PRECONDITION if the host
// does not resolve. "[v6]:port" is accepted.
absl::StatusOr<ResolvedAddress> ResolveListenAddress(const std::string& address);

// Binds and listens on `address` for a moment; empty if that works, else why
// not (in use, say).
std::string ProbeListen(const std::string& address);

}  // namespace tributary::collector
