// Settings shared by every buffer implementation (the `storage:` config block).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tributary::storage {

enum class Durability {
  kSync,   // complete an append after fsync (group commit)
  kAsync,  // complete after the write; fsync within sync_interval
};

enum class WhenFull {
  kBackpressure,  // refuse appends with RESOURCE_EXHAUSTED
  kDropOldest,    // evict the oldest entries, counted per consumer
};

enum class Compression {
  kNone,  // payloads are stored as appended
  kLz4,   // each payload is LZ4-compressed when that saves at least an eighth
};

struct BufferOptions {
  Durability durability = Durability::kSync;
  // Budget for retained payload bytes (as stored); 0 = unbounded.
  uint64_t max_disk_bytes = 10ull << 30;
  WhenFull when_full = WhenFull::kBackpressure;
  // How payloads are stored. Writing fewer bytes shortens the group fsync; the
  // disk budget counts bytes as stored. Implementations may ignore it (the
  // in-memory fake does).
  Compression compression = Compression::kLz4;
  // Entries older than this are removed even if unconsumed; zero = keep.
  absl::Duration retention = absl::Hours(72);
  // How long a producer's highest seq is remembered after its last append: the
  // dedupe window. A producer silent for longer is forgotten, and a batch it
  // re-sends after that is stored again. Zero = remember forever.
  absl::Duration producer_ttl = absl::Hours(24 * 7);
  // async mode: the longest an append may stay un-fsync'd.
  absl::Duration sync_interval = absl::Milliseconds(100);
  // How often consumed and expired entries are removed.
  absl::Duration maintenance_interval = absl::Seconds(1);
  // Memory for memtables and the block cache together.
  uint64_t memory_budget_bytes = 256ull << 20;
  // Time source; tests inject a fake one.
  std::function<absl::Time()> clock = [] { return absl::Now(); };
  // Free bytes on the file system holding `dir` (nullopt if it cannot be
  // told). Unset: statvfs. Tests inject a fake one.
  std::function<std::optional<uint64_t>(const std::string& dir)> free_space;
};

}  // namespace tributary::storage
