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
// The fast path (room available) is four atomic read-modify-writes and a
// fence: records and bytes are admitted together by one compare-and-swap on
// a packed word. A mutex and a condition variable are touched only by
// waiters (a full queue in kBlock or with drop_wait, and an idle consumer),
// and a push wakes an idle consumer only once `wake_threshold` records are
// queued, so producers do not pay for a wake-up per record; the consumer is
// expected to look on its own at least that often.
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
  // A push wakes a waiting consumer when this many records are queued.
  size_t wake_threshold = 1;
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
  // max_records is capped at 2^20 - 1 and max_bytes at 2^44 - 1 (they share
  // one word).
  explicit RecordQueue(QueueOptions options)
      : options_(Capped(options)),
        protected_(std::max<size_t>(options_.max_records, 2)),
        unprotected_(std::max<size_t>(options_.max_records, 2)) {}

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
    // Also counts what was enqueued: one order per admitted record.
    const uint64_t order = next_order_.fetch_add(1, std::memory_order_relaxed);
    auto put = [&](Slot& s) {
      s.order = order;
      s.bytes = bytes;
      fill(s.value);
    };
    // Admission guarantees a free cell (each lane holds max_records).
    while (!(is_protected ? protected_ : unprotected_).TryPush(put)) std::this_thread::yield();
    if (!is_protected) unclaimed_unprotected_.fetch_add(1, std::memory_order_release);
    const uint64_t now = Count(state_.load(std::memory_order_relaxed));
    if (now > high_watermark_.load(std::memory_order_relaxed)) {
      uint64_t high = high_watermark_.load(std::memory_order_relaxed);
      while (now > high && !high_watermark_.compare_exchange_weak(high, now)) {
      }
    }
    (is_protected ? protected_ : unprotected_).PrefetchNext(kPrefetchBytes);
    if (now >= options_.wake_threshold) {
      // Pairs with the fence in WaitForRecords: either the consumer sees
      // this many records and does not sleep, or this push sees it waiting.
      // Below the threshold a push never wakes it, so it needs no fence (the
      // fence would wait for this record's stores to reach the cache).
      std::atomic_thread_fence(std::memory_order_seq_cst);
      if (consumer_waiting_.load(std::memory_order_relaxed)) WakeConsumer();
    }
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
  // Pushes below the wake threshold do not wake it: it sees them when the
  // deadline passes.
  bool WaitForRecords(absl::Time deadline) {
    if (protected_.Peek() != nullptr || unprotected_.Peek() != nullptr) return true;
    std::unique_lock<std::mutex> lock(mu_);
    consumer_waiting_.store(true, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    const bool empty = protected_.Peek() == nullptr && unprotected_.Peek() == nullptr;
    if (empty && Count(state_.load(std::memory_order_relaxed)) < options_.wake_threshold) {
      changed_.wait_until(lock, absl::ToChronoTime(deadline), [&] { return woken_; });
    }
    woken_ = false;
    consumer_waiting_.store(false, std::memory_order_relaxed);
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

  size_t size() const { return Count(state_.load(std::memory_order_relaxed)); }

  QueueStats stats() const {
    QueueStats s;
    s.queued = size();
    s.high_watermark = high_watermark_.load(std::memory_order_relaxed);
    s.enqueued = next_order_.load(std::memory_order_relaxed);
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

  // state_ packs the admitted record count (high 20 bits) and their bytes
  // (low 44 bits), so one compare-and-swap admits both.
  static constexpr int kBytesBits = 44;
  static constexpr uint64_t kOneRecord = uint64_t{1} << kBytesBits;
  static constexpr uint64_t kBytesMask = kOneRecord - 1;
  static uint64_t Count(uint64_t state) { return state >> kBytesBits; }
  static uint64_t Bytes(uint64_t state) { return state & kBytesMask; }

  // The part of the next cell warmed for the next push: its header and a
  // typical record.
  static constexpr size_t kPrefetchBytes = 320;

  static QueueOptions Capped(QueueOptions o) {
    o.max_records = std::min<size_t>(o.max_records, (size_t{1} << (64 - kBytesBits)) - 1);
    o.max_bytes = std::min<size_t>(o.max_bytes, kBytesMask);
    o.wake_threshold = std::max<size_t>(1, std::min(o.wake_threshold, o.max_records));
    return o;
  }

  bool Waits() const {
    return options_.policy == FullPolicy::kBlock || options_.drop_wait > absl::ZeroDuration();
  }

  // Reserves room for one record, or takes over an unprotected one's.
  PushResult Admit(bool is_protected, size_t bytes) {
    uint64_t s = state_.load(std::memory_order_relaxed);
    for (;;) {
      const bool room = Count(s) < options_.max_records && Bytes(s) + bytes <= options_.max_bytes;
      if (!room) break;
      if (state_.compare_exchange_weak(s, s + kOneRecord + bytes, std::memory_order_acq_rel)) {
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
        state_.fetch_add(bytes, std::memory_order_relaxed);
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

  void Release(size_t bytes) { state_.fetch_sub(bytes, std::memory_order_relaxed); }

  void Taken() {
    state_.fetch_sub(kOneRecord, std::memory_order_acq_rel);
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

  // Admissions not yet taken, and their bytes (see Count and Bytes).
  alignas(64) std::atomic<uint64_t> state_{0};
  alignas(64) std::atomic<uint64_t> next_order_{0};
  std::atomic<uint64_t> high_watermark_{0};
  alignas(64) std::atomic<uint64_t> unclaimed_unprotected_{0};  // queued, not claimed by an eviction
  std::atomic<uint64_t> evict_credits_{0};

  alignas(64) std::atomic<uint64_t> dropped_protected_{0};
  std::atomic<uint64_t> dropped_unprotected_{0};
  std::atomic<uint64_t> evicted_{0};
  std::atomic<uint64_t> taken_{0};

  // Slow path only.
  std::mutex mu_;
  std::condition_variable changed_;
  std::atomic<uint64_t> frees_{0};
  std::atomic<bool> consumer_waiting_{false};
  std::atomic<int> waiting_producers_{0};
  bool woken_ = false;  // guarded by mu_
};

}  // namespace tributary::client::internal
