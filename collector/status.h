// How far behind each buffer consumer is, shared by /metrics, /health/ready,
// the status page, GetStats and the lifecycle log.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "storage/buffer.h"

namespace tributary::collector {

struct ConsumerLag {
  std::string name;
  uint64_t cursor = 0;
  uint64_t lag_entries = 0;  // offsets between the cursor and the durable end
  double lag_seconds = 0;    // age of the oldest entry not yet consumed
  uint64_t lost_entries = 0;
  uint64_t lost_records = 0;
};

std::vector<ConsumerLag> ConsumerLags(storage::Buffer* buffer, const storage::BufferStats& stats,
                                      absl::Time now);

}  // namespace tributary::collector
