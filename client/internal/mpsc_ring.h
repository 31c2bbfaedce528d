// A bounded lock-free ring for many producers and one consumer.
//
// Every cell carries a sequence number that says whose turn it is (a
// producer's for position p when sequence == p, the consumer's when
// sequence == p + 1), so a producer claims a position with one
// compare-and-swap and publishes with one store; nothing allocates after
// construction. Values live in the cells and are filled and emptied in
// place, so a T with inline storage is never copied as a whole.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace tributary::client::internal {

template <typename T>
class MpscRing {
 public:
  // `capacity` is rounded up to a power of two (at least 2).
  explicit MpscRing(size_t capacity) {
    size_t n = 2;
    while (n < capacity) n <<= 1;
    mask_ = n - 1;
    cells_ = std::make_unique<Cell[]>(n);
    for (size_t i = 0; i < n; ++i) cells_[i].sequence.store(i, std::memory_order_relaxed);
  }

  MpscRing(const MpscRing&) = delete;
  MpscRing& operator=(const MpscRing&) = delete;

  size_t capacity() const { return mask_ + 1; }

  // Any thread. Calls `fill(T&)` on a free cell and publishes it; false
  // (without calling `fill`) if the ring is full.
  template <typename Fill>
  bool TryPush(Fill&& fill) {
    uint64_t pos = enqueue_pos_.load(std::memory_order_relaxed);
    for (;;) {
      Cell& cell = cells_[pos & mask_];
      const uint64_t seq = cell.sequence.load(std::memory_order_acquire);
      const int64_t diff = static_cast<int64_t>(seq) - static_cast<int64_t>(pos);
      if (diff == 0) {
        if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_relaxed)) {
          fill(cell.value);
          cell.sequence.store(pos + 1, std::memory_order_release);
          return true;
        }
      } else if (diff < 0) {
        return false;  // the consumer has not emptied this cell yet: full
      } else {
        pos = enqueue_pos_.load(std::memory_order_relaxed);
      }
    }
  }

  // Any thread: asks the CPU to fetch, for writing, the first `bytes` of the
  // cell the next push will probably fill, so that push does not wait for
  // those cache lines (last read by the consumer's core) to come back.
  void PrefetchNext(size_t bytes) const {
    const Cell& cell = cells_[enqueue_pos_.load(std::memory_order_relaxed) & mask_];
    const char* p = reinterpret_cast<const char*>(&cell);
    for (size_t off = 0; off < bytes && off < sizeof(Cell); off += 64) {
      __builtin_prefetch(p + off, /*rw=*/1, /*locality=*/3);
    }
  }

  // The consumer thread only. Calls `take(T&)` on the oldest published
  // value and frees its cell; false if there is none.
  template <typename Take>
  bool TryPop(Take&& take) {
    const uint64_t pos = dequeue_pos_.load(std::memory_order_relaxed);
    Cell& cell = cells_[pos & mask_];
    const uint64_t seq = cell.sequence.load(std::memory_order_acquire);
    if (static_cast<int64_t>(seq) - static_cast<int64_t>(pos + 1) < 0) return false;
    take(cell.value);
    dequeue_pos_.store(pos + 1, std::memory_order_relaxed);
    cell.sequence.store(pos + mask_ + 1, std::memory_order_release);
    return true;
  }

  // The consumer thread only: the oldest published value, if any, without
  // taking it.
  const T* Peek() const {
    const uint64_t pos = dequeue_pos_.load(std::memory_order_relaxed);
    const Cell& cell = cells_[pos & mask_];
    const uint64_t seq = cell.sequence.load(std::memory_order_acquire);
    if (static_cast<int64_t>(seq) - static_cast<int64_t>(pos + 1) < 0) return nullptr;
    return &cell.value;
  }

 private:
  // Whole cache lines: a producer filling one cell never shares a line with
  // the consumer reading its neighbour.
  struct alignas(64) Cell {
    std::atomic<uint64_t> sequence{0};
    T value;
  };

  std::unique_ptr<Cell[]> cells_;
  size_t mask_ = 0;
  alignas(64) std::atomic<uint64_t> enqueue_pos_{0};
  alignas(64) std::atomic<uint64_t> dequeue_pos_{0};
};

}  // namespace tributary::client::internal
