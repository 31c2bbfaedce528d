// The client's bounded queue between the application's threads (many
// producers) and the background sender (one consumer).
//
// - Bounded by records and (softly) by bytes. Nothing allocates after
//   construction: values live in preallocated cells and are filled in place.
// - When full, by policy: kDrop refuses at once (or after waiting up to
//   `drop_wait`), kBlock waits for room (up to `block_deadline`).
// - Protected records (ERROR and above, AUDIT, SECURITY in the client) have a
//   lane of their own. When the queue is full, a protected record evicts the
//   oldest queued unprotected one instead of being dropped; it is dropped only
//   when the queue holds nothing else. Eviction is O(1) and lock-free: the
//   producer takes over the victim's admission and leaves a credit; the
//   consumer discards one unprotected record per credit, oldest first.
// - The consumer sees records in push order across both lanes.
//
// The fast path (room available) is a few atomic operations; a mutex and a
// condition variable are touched only by waiters (a full queue in kBlock or
// with drop_wait, and an idle consumer).
#pragma once

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/internal/mpsc_ring.h"

namespace tributary::client::internal {

enum class FullPolicy { kDrop, kBlock };

struct QueueOptions {
  size_t max_records = 65536;
  size_t max_bytes = 64 << 20;
  FullPolicy policy = FullPolicy::kDrop;
  // kDrop: how long a push may wait for room before it drops (0 = not at all).
  absl::Duration drop_wait = absl::ZeroDuration();
  // kBlock: how long a push may wait for room (infinite = until there is).
  absl::Duration block_deadline = absl::InfiniteDuration();
};

enum class PushResult {
  kQueued,
  kQueuedByEviction,  // queued; an older unprotected record will be discarded
  kDropped,           // full (for a protected record: nothing left to evict)
};

struct QueueStats {
  uint64_t queued = 0;          // admitted and not yet taken (approximate while busy)
  uint64_t high_watermark = 0;
  uint64_t enqueued = 0;
  uint64_t dropped_protected = 0;
  uint64_t dropped_unprotected = 0;
  uint64_t evicted = 0;         // unprotected records discarded for protected ones
  uint64_t taken = 0;
};

template <typename T>
class RecordQueue {
 public:
  explicit RecordQueue(QueueOptions options)
      : options_(options),
        protected_(std::max<size_t>(options.max_records, 2)),
        unprotected_(std::max<size_t>(options.max_records, 2)) {}

  RecordQueue(const RecordQueue&) = delete;
  RecordQueue& operator=(const RecordQueue&) = delete;

  // Any thread. `fill(T&)` runs (on the caller's thread) only if the record
  // is admitted; `bytes` is its size for the byte bound.
  template <typename Fill>
  PushResult Push(bool is_protected, size_t bytes, Fill&& fill) {
    PushResult result = Admit(is_protected, bytes);
    if (result == PushResult::kDropped && Waits()) result = AdmitWaiting(is_protected, bytes);
    if (result == PushResult::kDropped) {
      (is_protected ? dropped_protected_ : dropped_unprotected_)
          .fetch_add(1, std::memory_order_relaxed);
      return result;
    }
    const uint64_t order = next_order_.fetch_add(1, std::memory_order_relaxed);
    auto put = [&](Slot& s) {
      s.order = order;
      s.bytes = bytes;
      fill(s.value);
    };
    // Admission guarantees a free cell (each lane holds max_records).
    while (!(is_protected ? protected_ : unprotected_).TryPush(put)) std::this_thread::yield();
    if (!is_protected) unclaimed_unprotected_.fetch_add(1, std::memory_order_release);
    enqueued_.fetch_add(1, std::memory_order_relaxed);
    const uint64_t now = count_.load(std::memory_order_relaxed);
    uint64_t high = high_watermark_.load(std::memory_order_relaxed);
    while (now > high && !high_watermark_.compare_exchange_weak(high, now)) {
    }
    pushes_.fetch_add(1, std::memory_order_seq_cst);
    if (consumer_waiting_.load(std::memory_order_seq_cst)) Wake();
    return result;
  }

  // The consumer thread only. Calls `take(T&)` on the oldest record of both
  // lanes and returns true; false if there is none. Evicted records are
  // discarded on the way, never taken.
  template <typename Take>
  bool Pop(Take&& take) {
    for (;;) {
      const Slot* p = protected_.Peek();
      const Slot* u = unprotected_.Peek();
      if (p == nullptr && u == nullptr) return false;
      if (u == nullptr || (p != nullptr && p->order < u->order)) {
        protected_.TryPop([&](Slot& s) {
          Release(s.bytes);
          take(s.value);
        });
        Taken();
        return true;
      }
      bool deliver = false;
      unprotected_.TryPop([&](Slot& s) {
        deliver = ClaimUnprotected();
        Release(s.bytes);
        if (deliver) take(s.value);
      });
      if (deliver) {
        Taken();
        return true;
      }
      evicted_.fetch_add(1, std::memory_order_relaxed);
      Freed();
    }
  }

  // The consumer thread only: waits until a record may be there or the
  // deadline passes. True if one is.
  bool WaitForRecords(absl::Time deadline) {
    if (protected_.Peek() != nullptr || unprotected_.Peek() != nullptr) return true;
    std::unique_lock<std::mutex> lock(mu_);
    const uint64_t seen = pushes_.load(std::memory_order_seq_cst);
    consumer_waiting_.store(true, std::memory_order_seq_cst);
    if (protected_.Peek() == nullptr && unprotected_.Peek() == nullptr) {
      changed_.wait_until(lock, absl::ToChronoTime(deadline), [&] {
        return pushes_.load(std::memory_order_seq_cst) != seen || woken_;
      });
    }
    woken_ = false;
    consumer_waiting_.store(false, std::memory_order_seq_cst);
    return protected_.Peek() != nullptr || unprotected_.Peek() != nullptr;
  }

  // Any thread: makes WaitForRecords return (to flush or stop).
  void WakeConsumer() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      woken_ = true;
    }
    changed_.notify_all();
  }

  size_t size() const { return count_.load(std::memory_order_relaxed); }

  QueueStats stats() const {
    QueueStats s;
    s.queued = count_.load(std::memory_order_relaxed);
    s.high_watermark = high_watermark_.load(std::memory_order_relaxed);
    s.enqueued = enqueued_.load(std::memory_order_relaxed);
    s.dropped_protected = dropped_protected_.load(std::memory_order_relaxed);
    s.dropped_unprotected = dropped_unprotected_.load(std::memory_order_relaxed);
    s.evicted = evicted_.load(std::memory_order_relaxed);
    s.taken = taken_.load(std::memory_order_relaxed);
    return s;
  }

 private:
  struct Slot {
    uint64_t order = 0;
    size_t bytes = 0;
    T value;
  };

  bool Waits() const {
    return options_.policy == FullPolicy::kBlock || options_.drop_wait > absl::ZeroDuration();
  }

  // Reserves room for one record, or takes over an unprotected one's.
  PushResult Admit(bool is_protected, size_t bytes) {
    uint64_t c = count_.load(std::memory_order_relaxed);
    for (;;) {
      const bool room = c < options_.max_records &&
                        bytes_.load(std::memory_order_relaxed) + bytes <= options_.max_bytes;
      if (!room) break;
      if (count_.compare_exchange_weak(c, c + 1, std::memory_order_acq_rel)) {
        bytes_.fetch_add(bytes, std::memory_order_relaxed);
        return PushResult::kQueued;
      }
    }
    if (!is_protected) return PushResult::kDropped;
    // Full: claim a queued unprotected record for eviction. The victim's
    // admission passes to this record; its bytes are released when the
    // consumer discards it.
    uint64_t u = unclaimed_unprotected_.load(std::memory_order_acquire);
    while (u > 0) {
      if (unclaimed_unprotected_.compare_exchange_weak(u, u - 1, std::memory_order_acq_rel)) {
        evict_credits_.fetch_add(1, std::memory_order_release);
        bytes_.fetch_add(bytes, std::memory_order_relaxed);
        return PushResult::kQueuedByEviction;
      }
    }
    return PushResult::kDropped;
  }

  PushResult AdmitWaiting(bool is_protected, size_t bytes) {
    const absl::Time deadline =
        absl::Now() + (options_.policy == FullPolicy::kBlock ? options_.block_deadline
                                                             : options_.drop_wait);
    for (;;) {
      const uint64_t seen = frees_.load(std::memory_order_seq_cst);
      PushResult r = Admit(is_protected, bytes);
      if (r != PushResult::kDropped) return r;
      std::unique_lock<std::mutex> lock(mu_);
      waiting_producers_.fetch_add(1, std::memory_order_seq_cst);
      const bool freed = changed_.wait_until(lock, absl::ToChronoTime(deadline), [&] {
        return frees_.load(std::memory_order_seq_cst) != seen;
      });
      waiting_producers_.fetch_sub(1, std::memory_order_seq_cst);
      if (!freed) {
        lock.unlock();
        return Admit(is_protected, bytes);
      }
    }
  }

  // Decides whether the unprotected record being popped is delivered (true)
  // or was claimed by an eviction (false). Credits go first, so the oldest
  // unprotected records are the ones discarded.
  bool ClaimUnprotected() {
    for (;;) {
      uint64_t credits = evict_credits_.load(std::memory_order_acquire);
      if (credits > 0) {
        if (evict_credits_.compare_exchange_weak(credits, credits - 1,
                                                 std::memory_order_acq_rel)) {
          return false;
        }
        continue;
      }
      uint64_t u = unclaimed_unprotected_.load(std::memory_order_acquire);
      if (u > 0) {
        if (unclaimed_unprotected_.compare_exchange_weak(u, u - 1, std::memory_order_acq_rel)) {
          return true;
        }
        continue;
      }
      // An evictor claimed this record and is about to post its credit.
      std::this_thread::yield();
    }
  }

  void Release(size_t bytes) { bytes_.fetch_sub(bytes, std::memory_order_relaxed); }

  void Taken() {
    count_.fetch_sub(1, std::memory_order_acq_rel);
    taken_.fetch_add(1, std::memory_order_relaxed);
    Freed();
  }

  // Room (records or bytes) came back: wake producers waiting for it.
  void Freed() {
    frees_.fetch_add(1, std::memory_order_seq_cst);
    if (waiting_producers_.load(std::memory_order_seq_cst) > 0) Wake();
  }

  void Wake() {
    { std::lock_guard<std::mutex> lock(mu_); }
    changed_.notify_all();
  }

  const QueueOptions options_;
  MpscRing<Slot> protected_;
  MpscRing<Slot> unprotected_;

  alignas(64) std::atomic<uint64_t> count_{0};  // admissions not yet taken
  alignas(64) std::atomic<uint64_t> bytes_{0};
  alignas(64) std::atomic<uint64_t> next_order_{0};
  std::atomic<uint64_t> unclaimed_unprotected_{0};  // queued, not claimed by an eviction
  std::atomic<uint64_t> evict_credits_{0};

  std::atomic<uint64_t> enqueued_{0};
  std::atomic<uint64_t> dropped_protected_{0};
  std::atomic<uint64_t> dropped_unprotected_{0};
  std::atomic<uint64_t> evicted_{0};
  std::atomic<uint64_t> taken_{0};
  std::atomic<uint64_t> high_watermark_{0};

  // Slow path only.
  std::mutex mu_;
  std::condition_variable changed_;
  std::atomic<uint64_t> pushes_{0};
  std::atomic<uint64_t> frees_{0};
  std::atomic<bool> consumer_waiting_{false};
  std::atomic<int> waiting_producers_{0};
  bool woken_ = false;  // guarded by mu_
};

}  // namespace tributary::client::internal
