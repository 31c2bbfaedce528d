#include "collector/status.h"

#include <algorithm>

namespace tributary::collector {

std::vector<ConsumerLag> ConsumerLags(storage::Buffer* buffer, const storage::BufferStats& stats,
                                      absl::Time now) {
  std::vector<ConsumerLag> lags;
  for (const storage::ConsumerState& c : stats.consumers) {
    ConsumerLag lag;
    lag.name = c.name;
    lag.cursor = c.next;
    const uint64_t from = std::max(c.next, stats.first_offset);
    lag.lag_entries = stats.durable_end > from ? stats.durable_end - from : 0;
    if (lag.lag_entries > 0) {
      auto entries = buffer->Read(from, 1, 1);
      if (entries.ok() && !entries->empty()) {
        lag.lag_seconds = std::max(0.0, absl::ToDoubleSeconds(now - entries->front().append_time));
      }
    }
    lag.lost_entries = c.lost_entries;
    lag.lost_records = c.lost_records;
    lags.push_back(std::move(lag));
  }
  return lags;
}

}  // namespace tributary::collector
