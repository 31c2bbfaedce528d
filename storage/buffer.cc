#include "storage/buffer.h"

#include <optional>
#include <utility>

#include "base/mutex.h"

namespace tributary::storage {

absl::StatusOr<AppendResult> Buffer::AppendAndWait(AppendRequest request) {
  Mutex mu;
  std::optional<absl::StatusOr<AppendResult>> outcome;
  Append(std::move(request), [&](absl::StatusOr<AppendResult> result) {
    MutexLock lock(&mu);
    outcome.emplace(std::move(result));
  });
  MutexLock lock(&mu);
  mu.Await([&] { return outcome.has_value(); });
  return *std::move(outcome);
}

}  // namespace tributary::storage
