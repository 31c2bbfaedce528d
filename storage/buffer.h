// The write-ahead buffer: the spine of the collector.
//
// Receivers append batches; every downstream part is a named consumer that
// reads from its own durable cursor and commits it after a final outcome.
//
// Guarantees every implementation keeps:
// - Append completes successfully only once the entry is durable (in `sync`
//   mode: fsync'd; in `async` mode: written, and fsync'd within a bounded
//   interval). A successful completion is never taken back by a crash.
// - Offsets are strictly increasing in append order. They are not necessarily
//   contiguous: an append that failed leaves a gap.
// - Producer dedupe: the highest stored seq per producer_id is kept atomically
//   with the append; an append whose seq is not above it is answered as a
//   duplicate and not stored again.
// - Readers see only durable entries: Read never returns an entry a crash
//   could take back.
// - Cursors never move backwards, and a new consumer starts at the oldest
//   retained entry.
// - Nothing is dropped silently: entries removed before a consumer read them
//   (drop_oldest eviction, retention) are counted against that consumer.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace tributary::storage {

struct AppendRequest {
  // Empty: no dedupe (at-least-once senders such as OTLP).
  std::string producer_id;
  // Strictly increasing per producer; ignored when producer_id is empty.
  uint64_t seq = 0;
  // Number of records in the payload, for accounting only.
  uint32_t record_count = 0;
  // The serialized batch, stored as one value.
  std::string payload;
};

struct AppendResult {
  // The entry's offset; 0 for a duplicate (the original's offset is not kept).
  uint64_t offset = 0;
  bool duplicate = false;
};

// Runs exactly once per Append, possibly on an internal thread. It must be
// cheap and must not block or call back into the buffer's Close().
using AppendCallback = absl::AnyInvocable<void(absl::StatusOr<AppendResult>) &&>;

struct Entry {
  uint64_t offset = 0;
  absl::Time append_time;
  uint32_t record_count = 0;
  std::string payload;
};

struct ConsumerState {
  std::string name;
  uint64_t next = 0;  // the cursor: the first offset not yet consumed
  uint64_t lost_entries = 0;  // evicted or expired before this consumer read them
  uint64_t lost_records = 0;
};

struct BufferStats {
  uint64_t first_offset = 0;  // oldest retained entry (== next_offset when empty)
  uint64_t next_offset = 0;   // the offset the next append gets
  uint64_t durable_end = 0;   // entries below this are durable and readable
  uint64_t entries = 0;
  uint64_t records = 0;
  uint64_t bytes = 0;           // payload bytes retained, as stored (after compression)
  uint64_t max_bytes = 0;       // the configured budget (0 = unbounded)
  uint64_t disk_bytes = 0;      // measured size of the buffer's files
  // Free space on the file system holding the files (unset: no files, or it
  // could not be told), and whether it is below the margin where writes and
  // fsyncs are made to exclude each other (see RocksDbBuffer).
  std::optional<uint64_t> filesystem_free_bytes;
  bool filesystem_nearly_full = false;
  absl::Time oldest_append_time = absl::InfinitePast();
  uint64_t appends = 0;
  uint64_t appended_payload_bytes = 0;  // payload bytes appended, as received
  uint64_t appended_stored_bytes = 0;   // the same payloads as stored
  uint64_t duplicates = 0;
  uint64_t rejected_full = 0;   // appends refused with RESOURCE_EXHAUSTED
  uint64_t append_errors = 0;   // appends failed by an I/O error
  uint64_t evicted_entries = 0; // removed by drop_oldest
  uint64_t expired_entries = 0; // removed by retention
  uint64_t producers = 0;       // producers whose highest seq is remembered
  uint64_t forgotten_producers = 0;  // dropped after producer_ttl without appends
  uint64_t syncs = 0;
  uint64_t sync_errors = 0;
  // fsync latency histogram: counts per upper bound (last bucket is +Inf).
  std::vector<double> sync_latency_bounds_seconds;
  std::vector<uint64_t> sync_latency_counts;
  double sync_latency_sum_seconds = 0;
  bool writable = true;
  std::string last_error;
  std::vector<ConsumerState> consumers;
};

class Buffer {
 public:
  virtual ~Buffer() = default;

  // Appends one batch. `done` runs once: with the offset after the entry is
  // durable; with a duplicate result if the producer already stored this seq;
  // or with RESOURCE_EXHAUSTED (disk budget reached in backpressure mode),
  // UNAVAILABLE (I/O failure or closing) or INVALID_ARGUMENT (entry larger than
  // the whole budget). Thread-safe; never waits for an fsync.
  virtual void Append(AppendRequest request, AppendCallback done) = 0;

  // The highest seq durably stored for `producer_id` (0 if none). Thread-safe.
  virtual uint64_t ResumePoint(const std::string& producer_id) = 0;

  // Registers `name` (if new, its cursor starts at the oldest retained entry)
  // and returns its state. Thread-safe.
  virtual absl::StatusOr<ConsumerState> OpenConsumer(const std::string& name) = 0;

  // Removes a consumer so it no longer holds entries back. NOT_FOUND if absent.
  virtual absl::Status RemoveConsumer(const std::string& name) = 0;

  // Up to `max_entries` durable entries with offset >= `from`, in offset order,
  // stopping before `max_bytes` of payload is exceeded (but always at least one
  // entry if any is available). Entries below the oldest retained one are
  // skipped. DATA_LOSS if stored data is corrupt. Thread-safe.
  virtual absl::StatusOr<std::vector<Entry>> Read(uint64_t from, size_t max_entries,
                                                  size_t max_bytes) = 0;

  // Waits until an entry at or after `from` is readable, the deadline passes or
  // the buffer closes. Returns whether one is readable. Thread-safe.
  virtual bool WaitForEntries(uint64_t from, absl::Time deadline) = 0;

  // Durably moves `consumer`'s cursor to `next`. NOT_FOUND for an unknown
  // consumer, INVALID_ARGUMENT if it would move backwards, OUT_OF_RANGE if past
  // the durable end. Thread-safe.
  virtual absl::Status CommitCursor(const std::string& consumer, uint64_t next) = 0;

  virtual BufferStats Stats() = 0;

  // Stops accepting appends, completes every append in flight, makes
  // everything durable and releases the files. Idempotent.
  virtual absl::Status Close() = 0;

  // Convenience for callers that may block: Append and wait for the outcome.
  absl::StatusOr<AppendResult> AppendAndWait(AppendRequest request);
};

}  // namespace tributary::storage
