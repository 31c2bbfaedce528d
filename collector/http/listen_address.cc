#include "collector/http/listen_address.h"

#include <netdb.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "collector/config/config.h"

namespace tributary::collector {

absl::StatusOr<ResolvedAddress> ResolveListenAddress(const std::string& address) {
  if (std::string why = CheckListenAddress(address); !why.empty()) {
    return absl::InvalidArgumentError(why);
  }
  const size_t colon = address.rfind(':');
  std::string host = address.substr(0, colon);
  const std::string port = address.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found); rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot resolve \"", host, "\": ", gai_strerror(rc)));
  }
  ResolvedAddress r;
  std::memcpy(&r.address, found->ai_addr, found->ai_addrlen);
  r.length = found->ai_addrlen;
  r.family = found->ai_family;
  freeaddrinfo(found);
  return r;
}

std::string ProbeListen(const std::string& address) {
  auto resolved = ResolveListenAddress(address);
  if (!resolved.ok()) return std::string(resolved.status().message());
  const int fd = socket(resolved->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::StrCat("cannot open a socket: ", std::strerror(errno));
  std::string problem;
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&resolved->address), resolved->length) != 0 ||
      listen(fd, 1) != 0) {
    problem = absl::StrCat("cannot listen on ", address, " (", std::strerror(errno), ")");
  }
  close(fd);
  return problem;
}

}  // namespace tributary::collector
