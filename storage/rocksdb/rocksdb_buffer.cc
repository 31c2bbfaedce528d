#include "storage/rocksdb/rocksdb_buffer.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/match.h"
#include "rocksdb/convenience.h"
#include "rocksdb/write_batch.h"
#include "storage/rocksdb/entry_format.h"
#include "storage/rocksdb/rocksdb_options.h"

namespace tributary::storage {
namespace {

namespace fmt = rocksdb_format;

// A block is closed once it holds this many entries or bytes.
constexpr uint64_t kBlockMaxEntries = 1024;
constexpr uint64_t kBlockMaxBytes = 8ull << 20;

// Upper bounds (seconds) of the fsync latency histogram.
const std::vector<double>& SyncLatencyBounds() {
  static const auto* bounds = new std::vector<double>{
      0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0};
  return *bounds;
}

absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  return absl::UnavailableError(msg);  // I/O errors, busy, lock held: worth retrying later
}

rocksdb::Slice AsSlice(const std::string& s) { return rocksdb::Slice(s.data(), s.size()); }
absl::string_view AsView(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

}  // namespace

RocksDbBuffer::RocksDbBuffer(std::string dir, BufferOptions options, rocksdb::Env* env)
    : dir_(std::move(dir)), options_(std::move(options)), env_(env) {
  sync_latency_counts_.assign(SyncLatencyBounds().size() + 1, 0);
}

absl::StatusOr<std::unique_ptr<RocksDbBuffer>> RocksDbBuffer::Open(const std::string& dir,
                                                                    BufferOptions options,
                                                                    rocksdb::Env* env) {
  std::unique_ptr<RocksDbBuffer> buffer(new RocksDbBuffer(dir, std::move(options), env));
  if (absl::Status s = buffer->OpenDb(); !s.ok()) return s;
  if (absl::Status s = buffer->LoadState(); !s.ok()) return s;
  buffer->UpdateNearFull();
  buffer->Start();
  return buffer;
}

absl::Status RocksDbBuffer::OpenDb() {
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot create buffer directory ", dir_, ": ", ec.message()));
  }
  rocksdb::Options db_options = BufferDbOptions(options_, DirectIoSupported(dir_));
  if (env_ != nullptr) db_options.env = env_;
  const std::vector<rocksdb::ColumnFamilyDescriptor> families = BufferColumnFamilies(options_);

  auto try_open = [&](rocksdb::WALRecoveryMode mode) {
    db_options.wal_recovery_mode = mode;
    rocksdb::DB* raw = nullptr;
    handles_.clear();
    rocksdb::Status s = rocksdb::DB::Open(db_options, dir_, families, &handles_, &raw);
    if (s.ok()) db_.reset(raw);
    return s;
  };

  // Strict first, so that any damage is noticed and reported.
  rocksdb::Status s = try_open(rocksdb::WALRecoveryMode::kAbsoluteConsistency);
  if (s.IsCorruption()) {
    const std::string strict_error = s.ToString();
    // A torn record at the very end of the WAL is what a crash mid-write leaves;
    // it was never acknowledged. Anything worse still fails here.
    s = try_open(rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords);
    if (!s.ok()) {
      return absl::DataLossError(absl::StrCat(
          "write-ahead buffer in ", dir_, " is damaged: ", s.ToString(), " (strict replay: ",
          strict_error, "). Run `tributary wal verify ", dir_, "` to see what is intact and `",
          "tributary wal repair ", dir_, "` to recover it."));
    }
    open_report_.wal_tail_dropped = true;
    open_report_.detail = strict_error;
  }
  if (!s.ok()) {
    if (s.IsCorruption()) {
      return absl::DataLossError(absl::StrCat("write-ahead buffer in ", dir_, " is damaged: ",
                                              s.ToString(), ". Run `tributary wal repair ", dir_,
                                              "`."));
    }
    if (s.IsIOError() && s.ToString().find("/LOCK") != std::string::npos) {
      // RocksDB's lock file: another process has the buffer open.
      return absl::UnavailableError(absl::StrCat(
          "write-ahead buffer in ", dir_, " is in use by another process (is another tributaryd ",
          "running with this data_dir?): ", s.ToString()));
    }
    return FromRocks(s, absl::StrCat("cannot open write-ahead buffer in ", dir_));
  }
  entries_ = handles_[1];
  index_ = handles_[2];
  meta_ = handles_[3];
  return absl::OkStatus();
}

absl::Status RocksDbBuffer::LoadState() {
  MutexLock lock(&mu_);
  uint64_t floor = 0;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), meta_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const absl::string_view key = AsView(it->key());
      const absl::string_view value = AsView(it->value());
      if (absl::StartsWith(key, fmt::kCursorPrefix)) {
        std::string name(key.substr(2));
        auto next = fmt::DecodeFixed64(value);
        if (!next) return absl::DataLossError(absl::StrCat("malformed cursor for ", name));
        ConsumerState& c = consumers_[name];
        c.name = name;
        c.next = *next;
      } else if (absl::StartsWith(key, fmt::kLossPrefix)) {
        std::string name(key.substr(2));
        auto loss = fmt::DecodeLossValue(value);
        if (!loss) return absl::DataLossError(absl::StrCat("malformed loss counters for ", name));
        ConsumerState& c = consumers_[name];
        c.name = name;
        c.lost_entries = loss->entries;
        c.lost_records = loss->records;
      } else if (absl::StartsWith(key, fmt::kProducerPrefix)) {
        auto row = fmt::DecodeProducerValue(value);
        if (!row) return absl::DataLossError(absl::StrCat("malformed producer row ", key));
        Producer& p = producers_[std::string(key.substr(2))];
        p.durable_seq = p.claimed_seq = row->seq;
        p.last_append = row->last_append;
      } else if (key == fmt::kFirstKey) {
        floor = fmt::DecodeFixed64(value).value_or(0);
      }
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading buffer metadata");
  }
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), index_));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto offset = fmt::ParseOffsetKey(AsView(it->key()));
      auto row = fmt::DecodeIndexValue(AsView(it->value()));
      if (!offset || !row) return absl::DataLossError("malformed row in the buffer's index");
      AddToBlocksLocked(*offset, row->payload_bytes, row->record_count, row->append_time);
      next_offset_ = std::max(next_offset_, *offset + 1);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading the buffer's index");
  }
  next_offset_ = std::max(next_offset_, floor);
  for (auto& [name, c] : consumers_) next_offset_ = std::max(next_offset_, c.next);
  first_offset_ = blocks_.empty() ? next_offset_ : blocks_.front().first;
  for (auto& [name, c] : consumers_) c.next = std::max(c.next, first_offset_);
  written_end_ = durable_end_ = next_offset_;
  open_report_.entries = retained_entries_;
  disk_bytes_ = MeasureDiskBytes();
  return absl::OkStatus();
}

void RocksDbBuffer::Start() {
  syncer_ = std::thread([this] { SyncLoop(); });
  maintenance_ = std::thread([this] { MaintenanceLoop(); });
}

RocksDbBuffer::~RocksDbBuffer() { Close().IgnoreError(); }

void RocksDbBuffer::AddToBlocksLocked(uint64_t offset, uint64_t bytes, uint32_t records,
                                      absl::Time t) {
  if (blocks_.empty() || blocks_.back().end != offset ||
      blocks_.back().entries >= kBlockMaxEntries || blocks_.back().bytes >= kBlockMaxBytes) {
    Block b;
    b.first = offset;
    b.end = offset;
    blocks_.push_back(b);
  }
  Block& b = blocks_.back();
  b.end = offset + 1;
  ++b.entries;
  b.bytes += bytes;
  b.records += records;
  b.oldest = std::min(b.oldest, t);
  b.newest = std::max(b.newest, t);
  ++retained_entries_;
  retained_bytes_ += bytes;
  retained_records_ += records;
}

void RocksDbBuffer::RunCompletions(std::vector<Completion>* completions) {
  for (Completion& c : *completions) std::move(c.done)(std::move(c.result));
  completions->clear();
}

void RocksDbBuffer::Append(AppendRequest request, AppendCallback done) {
  // Compressed on the caller's thread, before anything is claimed: the budget
  // counts bytes as stored.
  std::string compressed;
  const bool is_compressed = options_.compression == Compression::kLz4 &&
                             fmt::CompressPayload(request.payload, &compressed);
  const absl::string_view stored = is_compressed ? compressed : request.payload;
  const uint64_t bytes = stored.size();
  const absl::Time now = options_.clock();
  uint64_t offset = 0;
  std::optional<absl::StatusOr<AppendResult>> early;
  {
    MutexLock lock(&mu_);
    if (closing_) {
      early = absl::UnavailableError("write-ahead buffer is closing");
    } else if (sync_failed_) {
      early = absl::UnavailableError(last_error_);
    } else if (!request.producer_id.empty()) {
      auto it = producers_.find(request.producer_id);
      if (it != producers_.end() && request.seq <= it->second.claimed_seq) {
        ++duplicates_;
        if (request.seq <= it->second.durable_seq) {
          early = AppendResult{0, true};
        } else {
          // The original is still in flight: answer once it is durable.
          waiting_duplicates_.push_back({it->second.claimed_offset, std::move(done)});
          return;
        }
      }
    }
    if (!early && options_.max_disk_bytes > 0) {
      if (bytes > options_.max_disk_bytes) {
        early = absl::InvalidArgumentError(absl::StrCat("entry of ", bytes,
                                                        " bytes exceeds the buffer budget of ",
                                                        options_.max_disk_bytes, " bytes"));
      } else if (retained_bytes_ + bytes > options_.max_disk_bytes) {
        if (options_.when_full == WhenFull::kDropOldest) EvictForLocked(bytes);
        if (retained_bytes_ + bytes > options_.max_disk_bytes) {
          ++rejected_full_;
          early = absl::ResourceExhaustedError(
              absl::StrCat("write-ahead buffer is full (", retained_bytes_, " of ",
                           options_.max_disk_bytes, " bytes retained); retry later"));
        }
      }
    }
    if (!early) {
      offset = next_offset_++;
      AddToBlocksLocked(offset, bytes, request.record_count, now);
      if (!request.producer_id.empty()) {
        Producer& p = producers_[request.producer_id];
        p.claimed_seq = request.seq;
        p.claimed_offset = offset;
        p.last_append = now;
      }
      pending_.emplace(offset, Pending{std::move(done), request.producer_id, request.seq});
      ++writes_in_flight_;
      ++appends_;
      appended_payload_bytes_ += request.payload.size();
      appended_stored_bytes_ += bytes;
    }
  }
  if (early) {
    std::move(done)(*std::move(early));
    return;
  }

  const std::string key = fmt::OffsetKey(offset);
  const std::string header = fmt::EncodeEntryHeader(
      {now, request.record_count,
       is_compressed ? static_cast<uint32_t>(request.payload.size()) : 0});
  rocksdb::Slice key_slice = AsSlice(key);
  rocksdb::Slice value_parts[2] = {AsSlice(header), rocksdb::Slice(stored.data(), stored.size())};
  rocksdb::WriteBatch batch(bytes + header.size() + 128);
  rocksdb::Status s = batch.Put(entries_, rocksdb::SliceParts(&key_slice, 1),
                                rocksdb::SliceParts(value_parts, 2));
  if (s.ok()) {
    s = batch.Put(index_, key,
                  fmt::EncodeIndexValue({now, static_cast<uint32_t>(bytes), request.record_count}));
  }
  if (s.ok() && !request.producer_id.empty()) {
    s = batch.Put(meta_, absl::StrCat(fmt::kProducerPrefix, request.producer_id),
                  fmt::EncodeProducerValue({request.seq, now}));
  }
  if (s.ok()) {
    rocksdb::WriteOptions wo;
    wo.sync = false;
    s = WriteToLog(wo, &batch);
  }
  FinishWrite(offset, s, bytes, request.record_count);
}

rocksdb::Status RocksDbBuffer::WriteToLog(const rocksdb::WriteOptions& options,
                                          rocksdb::WriteBatch* batch) {
  const bool gated = near_full_.load(std::memory_order_acquire);
  if (gated) wal_gate_.ReaderLock();
  const rocksdb::Status s = db_->Write(options, batch);
  if (!s.ok()) wal_write_failed_.store(true, std::memory_order_release);
  if (gated) wal_gate_.ReaderUnlock();
  return s;
}

void RocksDbBuffer::FinishWrite(uint64_t offset, const rocksdb::Status& status,
                                uint64_t payload_bytes, uint32_t records) {
  std::vector<Completion> completions;
  {
    MutexLock lock(&mu_);
    --writes_in_flight_;
    auto it = pending_.find(offset);
    if (!status.ok()) {
      ++append_errors_;
      write_error_ = true;
      last_error_ = absl::StrCat("append failed: ", status.ToString());
      // Nothing was stored: take the entry out of the accounting.
      for (auto b = blocks_.rbegin(); b != blocks_.rend(); ++b) {
        if (offset >= b->first && offset < b->end) {
          --b->entries;
          b->bytes -= payload_bytes;
          b->records -= records;
          break;
        }
      }
      --retained_entries_;
      retained_bytes_ -= payload_bytes;
      retained_records_ -= records;
      Pending& p = it->second;
      if (!p.producer_id.empty()) {
        Producer& prod = producers_[p.producer_id];
        if (prod.claimed_offset == offset) {
          prod.claimed_seq = std::max(prod.durable_seq, p.seq - 1);
        }
      }
      completions.push_back(
          {std::move(p.done), FromRocks(status, "write-ahead buffer append failed")});
      pending_.erase(it);
      // Resends that were waiting for this append must not be told it is stored.
      auto failed = std::stable_partition(
          waiting_duplicates_.begin(), waiting_duplicates_.end(),
          [offset](const WaitingDuplicate& w) { return w.offset != offset; });
      for (auto w = failed; w != waiting_duplicates_.end(); ++w) {
        completions.push_back(
            {std::move(w->done), absl::UnavailableError(absl::StrCat(
                                     "the original of this resent batch failed to store (",
                                     status.ToString(), "); send it again"))});
      }
      waiting_duplicates_.erase(failed, waiting_duplicates_.end());
    } else if (options_.durability == Durability::kAsync) {
      Pending& p = it->second;
      if (!p.producer_id.empty()) {
        Producer& prod = producers_[p.producer_id];
        prod.durable_seq = std::max(prod.durable_seq, p.seq);
      }
      completions.push_back({std::move(p.done), AppendResult{offset, false}});
      pending_.erase(it);
    } else if (sync_failed_) {
      completions.push_back({std::move(it->second.done), absl::UnavailableError(last_error_)});
      pending_.erase(it);
    }
    if (offset == written_end_) {
      ++written_end_;
      while (!written_ahead_.empty() && *written_ahead_.begin() == written_end_) {
        written_ahead_.erase(written_ahead_.begin());
        ++written_end_;
      }
    } else {
      written_ahead_.insert(offset);
    }
  }
  RunCompletions(&completions);
}

void RocksDbBuffer::CollectDurableLocked(std::vector<Completion>* out) {
  auto end = pending_.lower_bound(durable_end_);
  for (auto it = pending_.begin(); it != end; ++it) {
    Pending& p = it->second;
    if (!p.producer_id.empty()) {
      Producer& prod = producers_[p.producer_id];
      prod.durable_seq = std::max(prod.durable_seq, p.seq);
    }
    out->push_back({std::move(p.done), AppendResult{it->first, false}});
  }
  pending_.erase(pending_.begin(), end);
  auto keep = std::partition(waiting_duplicates_.begin(), waiting_duplicates_.end(),
                             [&](const WaitingDuplicate& w) { return w.offset >= durable_end_; });
  for (auto it = keep; it != waiting_duplicates_.end(); ++it) {
    out->push_back({std::move(it->done), AppendResult{0, true}});
  }
  waiting_duplicates_.erase(keep, waiting_duplicates_.end());
}

void RocksDbBuffer::SyncLoop() {
  const bool sync_mode = options_.durability == Durability::kSync;
  absl::Time last_space_check = absl::Now();
  for (;;) {
    uint64_t target = 0;
    uint64_t requests = 0;  // commits waiting when this fsync starts are covered by it
    {
      MutexLock lock(&mu_);
      // After a failed write RocksDB's WAL writer must not be synced (it asserts)
      // until the database is resumed: the maintenance thread does that.
      auto wanted = [this] {
        return (written_end_ > durable_end_ || sync_requested_ > sync_completed_) &&
               !write_error_ && !sync_failed_;
      };
      auto requested = [this] {
        return stop_threads_ || (sync_requested_ > sync_completed_ && !write_error_);
      };
      auto work = [&] { return stop_threads_ || wanted(); };
      // async mode: fsync every sync_interval, or at once when a commit waits.
      if (!sync_mode) mu_.AwaitWithTimeout(requested, options_.sync_interval);
      mu_.Await(work);
      if (!wanted()) {
        if (stop_threads_) return;
        continue;
      }
      target = written_end_;
      requests = sync_requested_;
    }
    const absl::Time start = absl::Now();
    if (start - last_space_check >= absl::Milliseconds(10)) {
      UpdateNearFull();
      last_space_check = start;
    }
    const bool gated = near_full_.load(std::memory_order_acquire);
    if (gated) wal_gate_.WriterLock();
    // A write failed since the check above: leave the log alone until the
    // maintenance thread has resumed RocksDB (write_error_ stops the loop).
    const bool skip = wal_write_failed_.load(std::memory_order_acquire);
    const rocksdb::Status s = skip ? rocksdb::Status::OK() : db_->SyncWAL();
    if (gated) wal_gate_.WriterUnlock();
    if (skip) {
      MutexLock lock(&mu_);
      mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return write_error_ || stop_threads_;
      }, absl::Milliseconds(100));
      continue;
    }
    const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
    std::vector<Completion> completions;
    {
      MutexLock lock(&mu_);
      ++syncs_;
      sync_latency_sum_ += seconds;
      const auto& bounds = SyncLatencyBounds();
      sync_latency_counts_[std::lower_bound(bounds.begin(), bounds.end(), seconds) -
                           bounds.begin()]++;
      if (s.ok()) {
        durable_end_ = target;
        sync_completed_ = std::max(sync_completed_, requests);
        CollectDurableLocked(&completions);
      } else {
        // After a failed fsync the kernel may have dropped the dirty pages, so
        // a later fsync that succeeds proves nothing. Stop accepting appends;
        // a restart replays the log and recovers whatever reached it.
        ++sync_errors_;
        sync_failed_ = true;
        last_error_ = absl::StrCat("fsync of the write-ahead log failed (", s.ToString(),
                                   "); appends are refused until the collector restarts");
        FailAllPendingLocked(last_error_, &completions);
      }
    }
    RunCompletions(&completions);
  }
}

void RocksDbBuffer::FailAllPendingLocked(const std::string& why,
                                         std::vector<Completion>* out) {
  for (auto& [offset, p] : pending_) {
    out->push_back({std::move(p.done), absl::UnavailableError(why)});
  }
  pending_.clear();
  for (auto& w : waiting_duplicates_) {
    out->push_back({std::move(w.done), absl::UnavailableError(why)});
  }
  waiting_duplicates_.clear();
}

uint64_t RocksDbBuffer::ResumePoint(const std::string& producer_id) {
  MutexLock lock(&mu_);
  auto it = producers_.find(producer_id);
  return it == producers_.end() ? 0 : it->second.durable_seq;
}

absl::StatusOr<ConsumerState> RocksDbBuffer::OpenConsumer(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("consumer name must not be empty");
  MutexLock lock(&mu_);
  auto it = consumers_.find(name);
  if (it != consumers_.end()) return it->second;
  ConsumerState c;
  c.name = name;
  c.next = first_offset_;
  rocksdb::WriteOptions wo;
  wo.sync = true;
  rocksdb::WriteBatch batch;
  rocksdb::Status s =
      batch.Put(meta_, absl::StrCat(fmt::kCursorPrefix, name), fmt::EncodeFixed64(c.next));
  if (s.ok()) s = WriteToLog(wo, &batch);
  if (!s.ok()) return FromRocks(s, "registering consumer " + name);
  consumers_[name] = c;
  return c;
}

absl::Status RocksDbBuffer::RemoveConsumer(const std::string& name) {
  MutexLock lock(&mu_);
  if (consumers_.erase(name) == 0) return absl::NotFoundError("no consumer named " + name);
  cursor_written_.erase(name);
  rocksdb::WriteBatch batch;
  batch.Delete(meta_, absl::StrCat(fmt::kCursorPrefix, name));
  batch.Delete(meta_, absl::StrCat(fmt::kLossPrefix, name));
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(WriteToLog(wo, &batch), "removing consumer " + name);
}

absl::StatusOr<std::vector<Entry>> RocksDbBuffer::Read(uint64_t from, size_t max_entries,
                                                       size_t max_bytes) {
  uint64_t end;
  {
    MutexLock lock(&mu_);
    end = durable_end_;
    from = std::max(from, first_offset_);
  }
  std::vector<Entry> out;
  if (from >= end || max_entries == 0) return out;
  const std::string upper = fmt::OffsetKey(end);
  rocksdb::Slice upper_slice = AsSlice(upper);
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, entries_));
  size_t bytes = 0;
  for (it->Seek(fmt::OffsetKey(from)); it->Valid() && out.size() < max_entries; it->Next()) {
    auto offset = fmt::ParseOffsetKey(AsView(it->key()));
    const absl::string_view value = AsView(it->value());
    auto header = fmt::DecodeEntryHeader(value);
    if (!offset || !header) {
      return absl::DataLossError(absl::StrCat("malformed entry in the write-ahead buffer near offset ",
                                              from, "; run `tributary wal verify ", dir_, "`"));
    }
    // max_bytes bounds what the reader holds: payloads as appended.
    const size_t size =
        header->compressed() ? header->payload_bytes : value.size() - header->size();
    if (!out.empty() && bytes + size > max_bytes) break;
    bytes += size;
    Entry e;
    e.offset = *offset;
    e.append_time = header->append_time;
    e.record_count = header->record_count;
    if (!fmt::DecodeEntryPayload(value, *header, &e.payload)) {
      return absl::DataLossError(absl::StrCat("entry ", *offset,
                                              " in the write-ahead buffer does not decompress; run "
                                              "`tributary wal verify ", dir_, "`"));
    }
    out.push_back(std::move(e));
  }
  if (!it->status().ok()) {
    if (it->status().IsCorruption()) {
      return absl::DataLossError(absl::StrCat("write-ahead buffer data is corrupt: ",
                                              it->status().ToString(), "; run `tributary wal verify ",
                                              dir_, "`"));
    }
    return FromRocks(it->status(), "reading the write-ahead buffer");
  }
  return out;
}

bool RocksDbBuffer::WaitForEntries(uint64_t from, absl::Time deadline) {
  MutexLock lock(&mu_);
  auto ready = [&] { return durable_end_ > std::max(from, first_offset_) || closing_; };
  mu_.AwaitWithDeadline(ready, deadline);
  return durable_end_ > std::max(from, first_offset_);
}

absl::Status RocksDbBuffer::CommitCursor(const std::string& consumer, uint64_t next) {
  {
    // One cursor write at a time, so values reach the database in the order
    // they were checked. The fsync below is shared by every waiting commit.
    MutexLock commit_lock(&commit_mu_);
    {
      MutexLock lock(&mu_);
      auto it = consumers_.find(consumer);
      if (it == consumers_.end()) return absl::NotFoundError("no consumer named " + consumer);
      // Compare with the last value written, durable or not yet.
      uint64_t& written = cursor_written_[consumer];
      const uint64_t current = std::max(it->second.next, written);
      if (next < current) {
        return absl::InvalidArgumentError(absl::StrCat(
            "cursor of ", consumer, " would move back from ", current, " to ", next));
      }
      if (next > durable_end_) {
        return absl::OutOfRangeError(absl::StrCat("cursor of ", consumer, " would move to ", next,
                                                  " past the durable end ", durable_end_));
      }
      if (next == it->second.next) return absl::OkStatus();
      written = next;
    }
    // Not under mu_, and without an fsync of its own: appenders never wait
    // for a commit.
    rocksdb::WriteOptions wo;
    wo.sync = false;
    rocksdb::WriteBatch batch;
    rocksdb::Status s =
        batch.Put(meta_, absl::StrCat(fmt::kCursorPrefix, consumer), fmt::EncodeFixed64(next));
    if (s.ok()) s = WriteToLog(wo, &batch);
    if (!s.ok()) return FromRocks(s, "committing cursor of " + consumer);
  }
  if (absl::Status durable = AwaitGroupSync(); !durable.ok()) return durable;
  MutexLock lock(&mu_);
  auto it = consumers_.find(consumer);
  // Eviction may have moved the cursor further meanwhile; it never moves back.
  if (it != consumers_.end()) it->second.next = std::max(it->second.next, next);
  return absl::OkStatus();
}

absl::Status RocksDbBuffer::AwaitGroupSync() {
  MutexLock lock(&mu_);
  const uint64_t ticket = ++sync_requested_;
  mu_.Await([&] { return sync_completed_ >= ticket || sync_failed_ || stop_threads_; });
  if (sync_completed_ >= ticket) return absl::OkStatus();
  return absl::UnavailableError(
      sync_failed_ ? last_error_ : std::string("write-ahead buffer closed before the commit was durable"));
}

absl::Status RocksDbBuffer::DropBelowLocked(uint64_t new_first, const std::vector<Block>& dropped,
                                            bool count_as_evicted) {
  rocksdb::WriteBatch batch;
  const std::string begin = fmt::OffsetKey(first_offset_);
  const std::string end = fmt::OffsetKey(new_first);
  batch.DeleteRange(entries_, begin, end);
  batch.DeleteRange(index_, begin, end);
  batch.Put(meta_, fmt::kFirstKey, fmt::EncodeFixed64(new_first));
  uint64_t dropped_entries = 0;
  for (const Block& b : dropped) dropped_entries += b.entries;
  for (auto& [name, c] : consumers_) {
    if (c.next >= new_first) continue;
    // Count exactly what this consumer had not read yet.
    uint64_t lost_entries = 0, lost_records = 0;
    for (const Block& b : dropped) {
      if (c.next <= b.first) {
        lost_entries += b.entries;
        lost_records += b.records;
      } else if (c.next < b.end) {
        std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), index_));
        for (it->Seek(fmt::OffsetKey(c.next)); it->Valid(); it->Next()) {
          auto off = fmt::ParseOffsetKey(AsView(it->key()));
          if (!off || *off >= b.end) break;
          auto row = fmt::DecodeIndexValue(AsView(it->value()));
          ++lost_entries;
          if (row) lost_records += row->record_count;
        }
      }
    }
    c.lost_entries += lost_entries;
    c.lost_records += lost_records;
    c.next = new_first;
    batch.Put(meta_, absl::StrCat(fmt::kCursorPrefix, name), fmt::EncodeFixed64(c.next));
    batch.Put(meta_, absl::StrCat(fmt::kLossPrefix, name),
              fmt::EncodeLossValue({c.lost_entries, c.lost_records}));
  }
  rocksdb::WriteOptions wo;
  wo.sync = false;  // made durable by the next group fsync; redoing it after a crash is harmless
  rocksdb::Status s = WriteToLog(wo, &batch);
  if (!s.ok()) {
    last_error_ = absl::StrCat("removing old entries failed: ", s.ToString());
    return FromRocks(s, "removing old entries");
  }
  if (count_as_evicted) {
    evicted_entries_ += dropped_entries;
  }
  first_offset_ = new_first;
  reclaim_wanted_ = true;
  return absl::OkStatus();
}

bool RocksDbBuffer::EvictForLocked(uint64_t bytes) {
  std::vector<Block> dropped;
  uint64_t freed = 0;
  // Only whole blocks whose writes have finished: an entry still being
  // written must not be deleted under its writer.
  size_t n = 0;
  while (n < blocks_.size() && retained_bytes_ - freed + bytes > options_.max_disk_bytes &&
         blocks_[n].end <= written_end_) {
    freed += blocks_[n].bytes;
    dropped.push_back(blocks_[n]);
    ++n;
  }
  if (dropped.empty()) return false;
  if (!DropBelowLocked(dropped.back().end, dropped, /*count_as_evicted=*/true).ok()) return false;
  PopBlocksLocked(n);
  return true;
}

void RocksDbBuffer::TrimConsumedLocked() {
  if (consumers_.empty()) return;  // with no consumer, entries wait for one (or retention)
  uint64_t slowest = durable_end_;
  for (const auto& [name, c] : consumers_) slowest = std::min(slowest, c.next);
  size_t n = 0;
  while (n < blocks_.size() && blocks_[n].end <= slowest) ++n;
  if (n == 0) return;
  std::vector<Block> dropped(blocks_.begin(), blocks_.begin() + n);
  if (!DropBelowLocked(dropped.back().end, dropped, false).ok()) return;
  PopBlocksLocked(n);
}

void RocksDbBuffer::ExpireLocked() {
  if (options_.retention <= absl::ZeroDuration()) return;
  const absl::Time cutoff = options_.clock() - options_.retention;
  size_t n = 0;
  while (n < blocks_.size() && blocks_[n].newest < cutoff && blocks_[n].end <= written_end_) ++n;
  if (n == 0) return;
  std::vector<Block> dropped(blocks_.begin(), blocks_.begin() + n);
  if (!DropBelowLocked(dropped.back().end, dropped, false).ok()) return;
  for (const Block& b : dropped) expired_entries_ += b.entries;
  PopBlocksLocked(n);
}

void RocksDbBuffer::ForgetIdleProducersLocked() {
  if (options_.producer_ttl <= absl::ZeroDuration()) return;
  const absl::Time cutoff = options_.clock() - options_.producer_ttl;
  rocksdb::WriteBatch batch;
  std::vector<std::string> idle;
  for (const auto& [id, p] : producers_) {
    // Never while an append of it is still in flight.
    if (p.last_append < cutoff && p.claimed_seq == p.durable_seq) idle.push_back(id);
  }
  if (idle.empty()) return;
  for (const std::string& id : idle) batch.Delete(meta_, absl::StrCat(fmt::kProducerPrefix, id));
  rocksdb::WriteOptions wo;
  wo.sync = false;  // made durable by the next group fsync
  if (rocksdb::Status s = WriteToLog(wo, &batch); !s.ok()) {
    last_error_ = absl::StrCat("forgetting idle producers failed: ", s.ToString());
    return;
  }
  for (const std::string& id : idle) producers_.erase(id);
  forgotten_producers_ += idle.size();
}

void RocksDbBuffer::PopBlocksLocked(size_t n) {
  for (size_t i = 0; i < n; ++i) {
    retained_entries_ -= blocks_[i].entries;
    retained_bytes_ -= blocks_[i].bytes;
    retained_records_ -= blocks_[i].records;
  }
  blocks_.erase(blocks_.begin(), blocks_.begin() + n);
}

void RocksDbBuffer::ReclaimFiles() {
  uint64_t first;
  {
    MutexLock lock(&mu_);
    if (!reclaim_wanted_) return;
    reclaim_wanted_ = false;
    first = first_offset_;
  }
  // Table files wholly below the oldest retained entry are deleted at once;
  // what remains of the range is dropped by compaction of the range.
  const std::string begin = fmt::OffsetKey(0);
  const std::string end = fmt::OffsetKey(first);
  rocksdb::Slice b = AsSlice(begin), e = AsSlice(end);
  for (rocksdb::ColumnFamilyHandle* cf : {entries_, index_}) {
    rocksdb::DeleteFilesInRange(db_.get(), cf, &b, &e, /*include_end=*/false).PermitUncheckedError();
    rocksdb::CompactRangeOptions cro;
    cro.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kSkip;
    db_->CompactRange(cro, cf, &b, &e).PermitUncheckedError();
  }
}

void RocksDbBuffer::UpdateNearFull() {
  // Room for a few memtables and log files; below it a write may find the
  // disk full.
  const uint64_t margin = std::max<uint64_t>(1ull << 30, 2 * options_.memory_budget_bytes);
  std::optional<uint64_t> free_bytes;
  if (options_.free_space) {
    free_bytes = options_.free_space(dir_);
  } else if (struct statvfs fs; statvfs(dir_.c_str(), &fs) == 0) {
    free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
  }
  free_bytes_.store(free_bytes.value_or(kFreeUnknown), std::memory_order_relaxed);
  near_full_.store(free_bytes.has_value() && *free_bytes < margin, std::memory_order_release);
}

uint64_t RocksDbBuffer::MeasureDiskBytes() const {
  uint64_t total = 0;
  std::error_code ec;
  for (const auto& f : std::filesystem::directory_iterator(dir_, ec)) {
    std::error_code size_ec;
    if (f.is_regular_file(size_ec)) {
      const uint64_t size = f.file_size(size_ec);
      if (!size_ec) total += size;
    }
  }
  return total;
}

void RocksDbBuffer::MaintenanceLoop() {
  for (;;) {
    {
      MutexLock lock(&mu_);
      auto stop = [this] { return stop_threads_; };
      mu_.AwaitWithTimeout(stop, options_.maintenance_interval);
      if (stop_threads_) return;
    }
    RunMaintenance();
  }
}

void RocksDbBuffer::RunMaintenance() {
  MutexLock maintenance_lock(&maintenance_mu_);
  {
    MutexLock lock(&mu_);
    if (closed_) return;
    TrimConsumedLocked();
    ExpireLocked();
    ForgetIdleProducersLocked();
  }
  ReclaimFiles();
  UpdateNearFull();
  const uint64_t disk = MeasureDiskBytes();
  bool try_resume = false;
  {
    MutexLock lock(&mu_);
    disk_bytes_ = disk;
    try_resume = write_error_ || wal_write_failed_.load(std::memory_order_acquire);
  }
  // After an I/O error (a full disk, say) RocksDB refuses writes until it is
  // resumed. For retryable errors it retries by itself (Resume then answers
  // Busy); Resume succeeds once nothing is wrong any more.
  if (try_resume) {
    const rocksdb::Status resumed = db_->Resume();
    MutexLock lock(&mu_);
    if (resumed.ok()) {
      write_error_ = false;
      wal_write_failed_.store(false, std::memory_order_release);
    } else if (!resumed.IsBusy()) {
      last_error_ = absl::StrCat("cannot resume writing after an I/O error: ", resumed.ToString());
    }
  }
}

absl::Status RocksDbBuffer::FlushForTesting() {
  rocksdb::FlushOptions fo;
  fo.wait = true;
  return FromRocks(db_->Flush(fo, handles_), "flush");
}

BufferStats RocksDbBuffer::Stats() {
  MutexLock lock(&mu_);
  BufferStats s;
  s.first_offset = first_offset_;
  s.next_offset = next_offset_;
  s.durable_end = durable_end_;
  s.entries = retained_entries_;
  s.records = retained_records_;
  s.bytes = retained_bytes_;
  s.max_bytes = options_.max_disk_bytes;
  s.disk_bytes = disk_bytes_;
  if (const uint64_t free_bytes = free_bytes_.load(std::memory_order_relaxed);
      free_bytes != kFreeUnknown) {
    s.filesystem_free_bytes = free_bytes;
  }
  s.filesystem_nearly_full = near_full_.load(std::memory_order_acquire);
  for (const Block& b : blocks_) {
    if (b.entries > 0) {
      s.oldest_append_time = b.oldest;
      break;
    }
  }
  s.appends = appends_;
  s.appended_payload_bytes = appended_payload_bytes_;
  s.appended_stored_bytes = appended_stored_bytes_;
  s.duplicates = duplicates_;
  s.rejected_full = rejected_full_;
  s.append_errors = append_errors_;
  s.evicted_entries = evicted_entries_;
  s.expired_entries = expired_entries_;
  s.producers = producers_.size();
  s.forgotten_producers = forgotten_producers_;
  s.syncs = syncs_;
  s.sync_errors = sync_errors_;
  s.sync_latency_bounds_seconds = SyncLatencyBounds();
  s.sync_latency_counts = sync_latency_counts_;
  s.sync_latency_sum_seconds = sync_latency_sum_;
  s.writable = !closing_ && !write_error_ && !sync_failed_ &&
               !wal_write_failed_.load(std::memory_order_acquire) &&
               (options_.max_disk_bytes == 0 || options_.when_full == WhenFull::kDropOldest ||
                retained_bytes_ < options_.max_disk_bytes);
  s.last_error = last_error_;
  for (const auto& [name, c] : consumers_) s.consumers.push_back(c);
  return s;
}

absl::Status RocksDbBuffer::Close() {
  {
    MutexLock lock(&mu_);
    if (closed_) return absl::OkStatus();
    closing_ = true;
    // Every write in flight finishes, then the syncer makes it durable and
    // completes it before it stops.
    auto drained = [this] { return writes_in_flight_ == 0; };
    mu_.Await(drained);
    stop_threads_ = true;
  }
  if (syncer_.joinable()) syncer_.join();
  if (maintenance_.joinable()) maintenance_.join();
  absl::Status status;
  std::vector<Completion> leftovers;
  {
    MutexLock lock(&mu_);
    closed_ = true;
    // Appends that could not be made durable before the end (after an I/O
    // error), and resends waiting for them.
    FailAllPendingLocked("write-ahead buffer closed before this append was durable", &leftovers);
  }
  RunCompletions(&leftovers);
  MutexLock maintenance_lock(&maintenance_mu_);
  if (db_) {
    bool io_failed;
    {
      MutexLock lock(&mu_);
      io_failed = write_error_ || sync_failed_;
    }
    rocksdb::Status s = io_failed ? rocksdb::Status::OK() : db_->SyncWAL();
    if (s.ok()) {
      for (rocksdb::ColumnFamilyHandle* h : handles_) {
        s = db_->DestroyColumnFamilyHandle(h);
        if (!s.ok()) break;
      }
      handles_.clear();
    }
    if (s.ok()) s = db_->Close();
    status = FromRocks(s, "closing the write-ahead buffer");
    db_.reset();
  }
  return status;
}

}  // namespace tributary::storage
