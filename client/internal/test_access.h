// For tests of the client: a Client on a fake clock.
#pragma once

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/client.h"

namespace tributary::client::internal {

class TestAccess {
 public:
  // The sender batches, backs off and times out by `clock`; call Wake after
  // moving it so the sender looks again.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options,
                                                        std::function<absl::Time()> clock);
  static void Wake(Client* client);
};

}  // namespace tributary::client::internal
