#include "storage/memory/memory_buffer.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"

namespace tributary::storage {

MemoryBuffer::MemoryBuffer(BufferOptions options) : options_(std::move(options)) {}

void MemoryBuffer::FailNextAppends(int n) {
  MutexLock lock(&mu_);
  fail_next_ = n;
}

uint64_t MemoryBuffer::ResumePoint(const std::string& producer_id) {
  MutexLock lock(&mu_);
  auto it = producers_.find(producer_id);
  return it == producers_.end() ? 0 : it->second;
}

void MemoryBuffer::EvictOldestLocked() {
  auto it = entries_.begin();
  for (auto& [name, c] : consumers_) {
    if (c.next <= it->first) {
      ++c.lost_entries;
      c.lost_records += it->second.record_count;
      c.next = it->first + 1;
    }
  }
  bytes_ -= it->second.payload.size();
  entries_.erase(it);
  ++evicted_;
}

void MemoryBuffer::Append(AppendRequest request, AppendCallback done) {
  absl::StatusOr<AppendResult> result;
  {
    MutexLock lock(&mu_);
    const uint64_t size = request.payload.size();
    auto producer = request.producer_id.empty() ? producers_.end()
                                                : producers_.find(request.producer_id);
    if (closed_) {
      result = absl::UnavailableError("write-ahead buffer is closing");
    } else if (producer != producers_.end() && request.seq <= producer->second) {
      ++duplicates_;
      result = AppendResult{0, true};
    } else if (fail_next_ > 0) {
      --fail_next_;
      result = absl::UnavailableError("injected append failure");
    } else if (options_.max_disk_bytes > 0 && size > options_.max_disk_bytes) {
      result = absl::InvalidArgumentError("entry exceeds the buffer budget");
    } else {
      if (options_.max_disk_bytes > 0 && options_.when_full == WhenFull::kDropOldest) {
        while (bytes_ + size > options_.max_disk_bytes && !entries_.empty()) EvictOldestLocked();
      }
      if (options_.max_disk_bytes > 0 && bytes_ + size > options_.max_disk_bytes) {
        ++rejected_full_;
        result = absl::ResourceExhaustedError(
            absl::StrCat("write-ahead buffer is full (", bytes_, " of ", options_.max_disk_bytes,
                         " bytes retained); retry later"));
      } else {
        const uint64_t offset = next_offset_++;
        entries_[offset] =
            Entry{offset, options_.clock(), request.record_count, std::move(request.payload)};
        bytes_ += size;
        if (!request.producer_id.empty()) producers_[request.producer_id] = request.seq;
        ++appends_;
        appended_bytes_ += size;
        result = AppendResult{offset, false};
      }
    }
  }
  std::move(done)(std::move(result));
}

absl::StatusOr<ConsumerState> MemoryBuffer::OpenConsumer(const std::string& name) {
  if (name.empty()) return absl::InvalidArgumentError("consumer name must not be empty");
  MutexLock lock(&mu_);
  auto [it, inserted] = consumers_.try_emplace(name);
  if (inserted) {
    it->second.name = name;
    it->second.next = entries_.empty() ? next_offset_ : entries_.begin()->first;
  }
  return it->second;
}

absl::Status MemoryBuffer::RemoveConsumer(const std::string& name) {
  MutexLock lock(&mu_);
  if (consumers_.erase(name) == 0) return absl::NotFoundError("no consumer named " + name);
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Entry>> MemoryBuffer::Read(uint64_t from, size_t max_entries,
                                                      size_t max_bytes) {
  MutexLock lock(&mu_);
  std::vector<Entry> out;
  size_t bytes = 0;
  for (auto it = entries_.lower_bound(from); it != entries_.end() && out.size() < max_entries;
       ++it) {
    if (!out.empty() && bytes + it->second.payload.size() > max_bytes) break;
    bytes += it->second.payload.size();
    out.push_back(it->second);
  }
  return out;
}

bool MemoryBuffer::WaitForEntries(uint64_t from, absl::Time deadline) {
  MutexLock lock(&mu_);
  auto ready = [&] { return closed_ || entries_.lower_bound(from) != entries_.end(); };
  mu_.AwaitWithDeadline(ready, deadline);
  return entries_.lower_bound(from) != entries_.end();
}

absl::Status MemoryBuffer::CommitCursor(const std::string& consumer, uint64_t next) {
  MutexLock lock(&mu_);
  auto it = consumers_.find(consumer);
  if (it == consumers_.end()) return absl::NotFoundError("no consumer named " + consumer);
  if (next < it->second.next) return absl::InvalidArgumentError("cursor would move back");
  if (next > next_offset_) return absl::OutOfRangeError("cursor past the durable end");
  it->second.next = next;
  // Drop what every consumer has read.
  uint64_t slowest = next;
  for (const auto& [name, c] : consumers_) slowest = std::min(slowest, c.next);
  while (!entries_.empty() && entries_.begin()->first < slowest) {
    bytes_ -= entries_.begin()->second.payload.size();
    entries_.erase(entries_.begin());
  }
  return absl::OkStatus();
}

BufferStats MemoryBuffer::Stats() {
  MutexLock lock(&mu_);
  BufferStats s;
  s.first_offset = entries_.empty() ? next_offset_ : entries_.begin()->first;
  s.next_offset = s.durable_end = next_offset_;
  s.entries = entries_.size();
  for (const auto& [offset, e] : entries_) s.records += e.record_count;
  s.bytes = bytes_;
  s.max_bytes = options_.max_disk_bytes;
  if (!entries_.empty()) s.oldest_append_time = entries_.begin()->second.append_time;
  s.appends = appends_;
  s.appended_payload_bytes = s.appended_stored_bytes = appended_bytes_;  // stored as is
  s.duplicates = duplicates_;
  s.rejected_full = rejected_full_;
  s.evicted_entries = evicted_;
  s.writable = !closed_;
  for (const auto& [name, c] : consumers_) s.consumers.push_back(c);
  return s;
}

absl::Status MemoryBuffer::Close() {
  MutexLock lock(&mu_);
  closed_ = true;
  return absl::OkStatus();
}

}  // namespace tributary::storage
