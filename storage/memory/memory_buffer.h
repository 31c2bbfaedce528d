// An in-memory Buffer for tests of the parts built on the buffer (consumers,
// the ingest handler). It keeps the interface's contract (offsets, dedupe,
// cursors, budget, loss counting) but nothing survives the process, and every
// append is "durable" as soon as it is stored.
#pragma once

#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "base/mutex.h"
#include "storage/buffer.h"
#include "storage/options.h"

namespace tributary::storage {

class MemoryBuffer final : public Buffer {
 public:
  explicit MemoryBuffer(BufferOptions options = {});

  // Makes the next `n` appends fail with UNAVAILABLE, as an I/O error would.
  void FailNextAppends(int n);

  // storage::Buffer
  void Append(AppendRequest request, AppendCallback done) override;
  uint64_t ResumePoint(const std::string& producer_id) override;
  absl::StatusOr<ConsumerState> OpenConsumer(const std::string& name) override;
  absl::Status RemoveConsumer(const std::string& name) override;
  absl::StatusOr<std::vector<Entry>> Read(uint64_t from, size_t max_entries,
                                          size_t max_bytes) override;
  bool WaitForEntries(uint64_t from, absl::Time deadline) override;
  absl::Status CommitCursor(const std::string& consumer, uint64_t next) override;
  BufferStats Stats() override;
  absl::Status Close() override;

 private:
  void EvictOldestLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const BufferOptions options_;
  Mutex mu_;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t next_offset_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, uint64_t> producers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ConsumerState> consumers_ ABSL_GUARDED_BY(mu_);
  int fail_next_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t appends_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t appended_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t duplicates_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rejected_full_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t evicted_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tributary::storage
