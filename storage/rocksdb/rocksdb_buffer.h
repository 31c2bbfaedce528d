// The write-ahead buffer on RocksDB.
//
// Each batch is one value under an 8-byte big-endian offset key (see
// entry_format.h). Durability uses our own group commit: appenders write with
// sync=false on their own thread (RocksDB merges concurrent writers into one
// WAL write), and one syncer thread repeatedly fsyncs the WAL and completes
// every append whose write finished before that fsync began. Many appends
// therefore share one fsync, and no appender thread ever waits for one.
//
// RocksDB shows a sync=false write to readers before it is fsync'd, so readers
// are limited to `durable_end`, the offset below which every write finished
// and was fsync'd.
//
// Opening first replays the WAL strictly. If that finds damage, it reopens
// tolerating a torn tail (writes in progress at a crash, never acknowledged)
// and says so in open_report(); damage beyond the tail fails the open with
// DATA_LOSS and points at `tributary wal verify|repair`.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/mutex.h"
#include "rocksdb/db.h"
#include "storage/buffer.h"
#include "storage/options.h"

namespace tributary::storage {

class RocksDbBuffer final : public Buffer {
 public:
  struct OpenReport {
    bool wal_tail_dropped = false;  // a damaged WAL tail was discarded
    std::string detail;             // RocksDB's description of the damage
    uint64_t entries = 0;           // entries found
  };

  // Opens (creating if needed) the buffer in `dir`. DATA_LOSS if the files are
  // damaged beyond a torn WAL tail; UNAVAILABLE if the directory is locked by
  // another process or unusable. `env` (not owned; must outlive the buffer)
  // replaces RocksDB's default file access, e.g. to inject I/O failures in tests.
  static absl::StatusOr<std::unique_ptr<RocksDbBuffer>> Open(const std::string& dir,
                                                              BufferOptions options,
                                                              rocksdb::Env* env = nullptr);

  ~RocksDbBuffer() override;

  const OpenReport& open_report() const { return open_report_; }

  // Flushes memtables to table files (tests use it to exercise files on disk).
  absl::Status FlushForTesting();

  // Runs one round of the background housekeeping now: removes entries every
  // consumer has read and entries past retention, gives their space back and
  // re-measures the files. Thread-safe.
  void RunMaintenance();

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
  struct Producer {
    uint64_t durable_seq = 0;  // highest seq known durable
    uint64_t claimed_seq = 0;  // highest seq appended (durable or in flight)
    absl::Time last_append = absl::InfinitePast();
    uint64_t claimed_offset = 0;
  };
  struct Pending {
    AppendCallback done;
    std::string producer_id;
    uint64_t seq = 0;
  };
  struct WaitingDuplicate {
    uint64_t offset;  // answered once this offset is durable
    AppendCallback done;
  };
  // A run of consecutive entries, the unit of trimming and eviction; keeps the
  // in-memory accounting small however many entries the buffer holds.
  struct Block {
    uint64_t first = 0;
    uint64_t end = 0;  // exclusive
    uint64_t entries = 0;
    uint64_t bytes = 0;
    uint64_t records = 0;
    absl::Time oldest = absl::InfiniteFuture();
    absl::Time newest = absl::InfinitePast();
  };
  struct Completion {
    AppendCallback done;
    absl::StatusOr<AppendResult> result;
  };

  RocksDbBuffer(std::string dir, BufferOptions options, rocksdb::Env* env);
  absl::Status OpenDb();
  absl::Status LoadState();
  void Start();

  void SyncLoop();
  // Waits until an fsync that started after this call has completed.
  absl::Status AwaitGroupSync();
  // Fails every append waiting for durability and every resend waiting on one.
  void FailAllPendingLocked(const std::string& why, std::vector<Completion>* out)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MaintenanceLoop();
  // Whether the file system holding the buffer has less than a margin free
  // (statvfs); updated at open, by the maintenance thread, and by the syncer
  // at most every 10 ms (so the gate below closes within milliseconds of the
  // disk getting close to full, not a maintenance interval later).
  void UpdateNearFull();
  void FinishWrite(uint64_t offset, const rocksdb::Status& status, uint64_t payload_bytes,
                   uint32_t records);
  // Completes appends and waiting duplicates that durable_end_ now covers.
  void CollectDurableLocked(std::vector<Completion>* out) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddToBlocksLocked(uint64_t offset, uint64_t bytes, uint32_t records, absl::Time t)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Removes every entry below `new_first` (whole blocks popped by the caller),
  // moving cursors that were below it and counting what they lost.
  absl::Status DropBelowLocked(uint64_t new_first, const std::vector<Block>& dropped,
                               bool count_as_evicted) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool EvictForLocked(uint64_t bytes) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets the first `n` blocks (already removed from the database).
  void PopBlocksLocked(size_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Every write to the database goes through here (see wal_gate_).
  rocksdb::Status WriteToLog(const rocksdb::WriteOptions& options, rocksdb::WriteBatch* batch);
  void TrimConsumedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ExpireLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ForgetIdleProducersLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ReclaimFiles();
  uint64_t MeasureDiskBytes() const;
  static void RunCompletions(std::vector<Completion>* completions);

  const std::string dir_;
  const BufferOptions options_;
  rocksdb::Env* const env_;
  OpenReport open_report_;

  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  rocksdb::ColumnFamilyHandle* entries_ = nullptr;
  rocksdb::ColumnFamilyHandle* index_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_ = nullptr;

  // Serialises housekeeping rounds and Close's release of the database.
  // RocksDB asserts (it aborts the process: Debian builds it with assertions)
  // when a log writer that failed is synced, and a write can fail between the
  // syncer's check of write_error_ and its SyncWAL. A failed write is a full
  // disk in practice, so on a nearly full file system writes hold this shared
  // and the syncer exclusively, and a failed write sets wal_write_failed_
  // before letting go; elsewhere nothing waits on it. Every write counts, not
  // only appends: a cursor commit, a trim or a consumer registration that
  // fails leaves the log writer as failed as an append does (WriteToLog).
  // Acquired after mu_ where both are held.
  absl::Mutex wal_gate_;
  std::atomic<bool> near_full_{false};
  static constexpr uint64_t kFreeUnknown = ~uint64_t{0};
  std::atomic<uint64_t> free_bytes_{kFreeUnknown};  // as last measured
  std::atomic<bool> wal_write_failed_{false};
  // Acquired before mu_.
  Mutex maintenance_mu_;
  // Serialises cursor commits. Acquired before mu_.
  Mutex commit_mu_;
  Mutex mu_;
  uint64_t first_offset_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_offset_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t written_end_ ABSL_GUARDED_BY(mu_) = 0;  // every offset below finished its write
  uint64_t durable_end_ ABSL_GUARDED_BY(mu_) = 0;  // ... and was fsync'd
  std::set<uint64_t> written_ahead_ ABSL_GUARDED_BY(mu_);  // finished, above written_end_
  std::map<uint64_t, Pending> pending_ ABSL_GUARDED_BY(mu_);
  std::vector<WaitingDuplicate> waiting_duplicates_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, Producer> producers_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, ConsumerState> consumers_ ABSL_GUARDED_BY(mu_);
  // The last cursor value written per consumer, perhaps not yet durable.
  std::map<std::string, uint64_t> cursor_written_ ABSL_GUARDED_BY(mu_);
  std::deque<Block> blocks_ ABSL_GUARDED_BY(mu_);
  uint64_t retained_entries_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t retained_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t retained_records_ ABSL_GUARDED_BY(mu_) = 0;
  int writes_in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t sync_requested_ ABSL_GUARDED_BY(mu_) = 0;  // tickets handed to AwaitGroupSync
  uint64_t sync_completed_ ABSL_GUARDED_BY(mu_) = 0;  // tickets covered by a finished fsync
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_threads_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool reclaim_wanted_ ABSL_GUARDED_BY(mu_) = false;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  bool write_error_ ABSL_GUARDED_BY(mu_) = false;  // RocksDB refuses writes until resumed
  bool sync_failed_ ABSL_GUARDED_BY(mu_) = false;  // permanent until reopened

  // Counters (BufferStats).
  uint64_t appends_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t appended_payload_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t appended_stored_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t duplicates_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t rejected_full_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t append_errors_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t evicted_entries_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t expired_entries_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t forgotten_producers_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t syncs_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t sync_errors_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<uint64_t> sync_latency_counts_ ABSL_GUARDED_BY(mu_);
  double sync_latency_sum_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t disk_bytes_ ABSL_GUARDED_BY(mu_) = 0;

  std::thread syncer_;
  std::thread maintenance_;
};

}  // namespace tributary::storage
