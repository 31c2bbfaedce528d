#include "storage/buffer.h"

#include <optional>
#include <utility>

#include "absl/synchronization/notification.h"

namespace tributary::storage {

absl::StatusOr<AppendResult> Buffer::AppendAndWait(AppendRequest request) {
  absl::Notification done;
  std::optional<absl::StatusOr<AppendResult>> outcome;
  Append(std::move(request), [&](absl::StatusOr<AppendResult> result) {
    outcome.emplace(std::move(result));
    done.Notify();
  });
  done.WaitForNotification();
  return *std::move(outcome);
}

}  // namespace tributary::storage
