// Offline inspection and repair of a RocksDB write-ahead buffer directory:
// what `tributary wal verify|repair DIR` runs. Neither needs the collector to
// be stopped to verify (it opens read-only); repair needs it stopped.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace tributary::storage {

struct VerifyReport {
  bool healthy = true;
  std::vector<std::string> problems;  // each a complete sentence
  uint64_t entries = 0;
  uint64_t records = 0;
  uint64_t payload_bytes = 0;           // as stored (compressed or not)
  uint64_t appended_payload_bytes = 0;  // as appended, after decompression
  uint64_t first_offset = 0;
  uint64_t last_offset = 0;
  uint64_t consumers = 0;
  uint64_t producers = 0;
  std::vector<std::string> cursor_lines;  // "name: next=N lost=M"
};

// Checks every file's checksums, the WAL, and that entries, the index and the
// metadata agree. An error status only when the directory cannot be examined
// at all (missing, not a buffer); damage is reported in the report.
absl::StatusOr<VerifyReport> VerifyBuffer(const std::string& dir);

struct RepairReport {
  uint64_t kept_entries = 0;
  uint64_t kept_records = 0;
  uint64_t lost_entries = 0;  // known from the old index; see index_readable
  uint64_t lost_records = 0;
  bool index_readable = true;
  std::vector<std::string> lost_ranges;  // "offsets A-B"
  std::vector<std::string> notes;
  std::string damaged_copy;  // where the original files were moved
};

// Rebuilds the buffer in `dir` from everything that can still be read: the
// original files are moved aside to `<dir>.damaged-<time>`, and every intact
// entry (with its offset), cursor and producer seq is copied into a fresh
// buffer in `dir`. Entries that could not be read are listed as lost.
absl::StatusOr<RepairReport> RepairBuffer(const std::string& dir);

}  // namespace tributary::storage
