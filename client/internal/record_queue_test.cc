#include "client/internal/record_queue.h"

#include <atomic>
#include <cstdio>
#include <map>
#include <set>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tributary::client::internal {
namespace {

struct Item {
  int producer = 0;
  int n = 0;
  bool is_protected = false;
};

QueueOptions Options(size_t records, FullPolicy policy = FullPolicy::kDrop) {
  QueueOptions o;
  o.max_records = records;
  o.policy = policy;
  return o;
}

PushResult Push(RecordQueue<Item>& q, int n, bool is_protected = false, size_t bytes = 10) {
  return q.Push(is_protected, bytes, [&](Item& it) {
    it.n = n;
    it.is_protected = is_protected;
  });
}

std::vector<int> Drain(RecordQueue<Item>& q) {
  std::vector<int> out;
  while (q.Pop([&](Item& it) { out.push_back(it.n); })) {
  }
  return out;
}

TEST(RecordQueueTest, FifoAndBoundedByRecords) {
  RecordQueue<Item> q(Options(4));
  for (int i = 0; i < 4; ++i) EXPECT_EQ(Push(q, i), PushResult::kQueued);
  EXPECT_EQ(Push(q, 4), PushResult::kDropped);
  EXPECT_EQ(q.size(), 4u);
  EXPECT_EQ(Drain(q), (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(Push(q, 5), PushResult::kQueued);  // room again
  const QueueStats s = q.stats();
  EXPECT_EQ(s.enqueued, 5u);
  EXPECT_EQ(s.dropped_unprotected, 1u);
  EXPECT_EQ(s.taken, 4u);
  EXPECT_EQ(s.high_watermark, 4u);
}

TEST(RecordQueueTest, BoundedByBytes) {
  QueueOptions o = Options(100);
  o.max_bytes = 250;
  RecordQueue<Item> q(o);
  EXPECT_EQ(Push(q, 0, false, 100), PushResult::kQueued);
  EXPECT_EQ(Push(q, 1, false, 100), PushResult::kQueued);
  EXPECT_EQ(Push(q, 2, false, 100), PushResult::kDropped);
  EXPECT_EQ(Push(q, 3, false, 50), PushResult::kQueued);
  EXPECT_EQ(Drain(q), (std::vector<int>{0, 1, 3}));
}

TEST(RecordQueueTest, ProtectedRecordsEvictTheOldestUnprotectedOnes) {
  RecordQueue<Item> q(Options(4));
  for (int i = 0; i < 4; ++i) Push(q, i);
  EXPECT_EQ(Push(q, 100, true), PushResult::kQueuedByEviction);
  EXPECT_EQ(Push(q, 101, true), PushResult::kQueuedByEviction);
  EXPECT_EQ(Push(q, 5), PushResult::kDropped);  // unprotected: still full
  EXPECT_EQ(q.size(), 4u);
  // 0 and 1 (the oldest unprotected) are gone; order otherwise kept.
  EXPECT_EQ(Drain(q), (std::vector<int>{2, 3, 100, 101}));
  const QueueStats s = q.stats();
  EXPECT_EQ(s.evicted, 2u);
  EXPECT_EQ(s.taken, 4u);
  EXPECT_EQ(s.dropped_unprotected, 1u);
}

TEST(RecordQueueTest, ProtectedRecordsAreDroppedOnlyWhenNothingElseIsQueued) {
  RecordQueue<Item> q(Options(2));
  Push(q, 0);
  EXPECT_EQ(Push(q, 100, true), PushResult::kQueued);
  EXPECT_EQ(Push(q, 101, true), PushResult::kQueuedByEviction);  // evicts 0
  EXPECT_EQ(Push(q, 102, true), PushResult::kDropped);           // only protected left
  EXPECT_EQ(Drain(q), (std::vector<int>{100, 101}));
  EXPECT_EQ(q.stats().dropped_protected, 1u);
}

TEST(RecordQueueTest, BlockWaitsForRoomAndGivesUpAtItsDeadline) {
  QueueOptions o = Options(1, FullPolicy::kBlock);
  {
    RecordQueue<Item> q(o);
    Push(q, 0);
    std::atomic<bool> pushed{false};
    std::thread producer([&] {
      EXPECT_EQ(Push(q, 1), PushResult::kQueued);
      pushed = true;
    });
    // The producer can only finish once the consumer makes room.
    std::vector<int> got;
    while (got.size() < 2) {
      q.WaitForRecords(absl::Now() + absl::Seconds(10));
      q.Pop([&](Item& it) { got.push_back(it.n); });
    }
    producer.join();
    EXPECT_TRUE(pushed);
    EXPECT_EQ(got, (std::vector<int>{0, 1}));
  }
  o.block_deadline = absl::Milliseconds(20);
  RecordQueue<Item> q(o);
  Push(q, 0);
  const absl::Time start = absl::Now();
  EXPECT_EQ(Push(q, 1), PushResult::kDropped);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
}

TEST(RecordQueueTest, DropModeMayWaitBriefly) {
  QueueOptions o = Options(1);
  o.drop_wait = absl::Milliseconds(5);
  RecordQueue<Item> q(o);
  Push(q, 0);
  EXPECT_EQ(Push(q, 1), PushResult::kDropped);
  EXPECT_EQ(q.stats().dropped_unprotected, 1u);
}

TEST(RecordQueueTest, WakeConsumerEndsAWait) {
  RecordQueue<Item> q(Options(4));
  std::thread waker([&] { q.WakeConsumer(); });
  EXPECT_FALSE(q.WaitForRecords(absl::Now() + absl::Seconds(30)));
  waker.join();
}

TEST(RecordQueueTest, APushAtTheWakeThresholdWakesAWaitingConsumer) {
  QueueOptions o = Options(16);
  o.wake_threshold = 3;
  RecordQueue<Item> q(o);
  std::atomic<bool> waiting{false};
  absl::Duration waited;
  std::thread consumer([&] {
    const absl::Time start = absl::Now();
    waiting = true;
    // Without the wake it would sleep until this deadline.
    EXPECT_TRUE(q.WaitForRecords(start + absl::Minutes(5)));
    waited = absl::Now() - start;
  });
  while (!waiting) std::this_thread::yield();
  for (int i = 0; i < 3; ++i) Push(q, i);
  consumer.join();
  EXPECT_LT(waited, absl::Minutes(1));
  EXPECT_EQ(Drain(q), (std::vector<int>{0, 1, 2}));
}

// Many producers, protected and not, against one consumer on a small queue:
// every push is accounted for exactly once (taken, dropped or evicted), no
// record is taken twice, and each producer's records of one kind keep their
// order.
TEST(RecordQueueTest, ConcurrentProducersAreAllAccountedFor) {
  constexpr int kProducers = 4, kPerProducer = 20000;
  RecordQueue<Item> q(Options(64));
  std::atomic<int> producers_done{0};
  std::atomic<uint64_t> queued{0};
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.emplace_back([&, p] {
      for (int i = 0; i < kPerProducer; ++i) {
        const bool prot = i % 7 == 0;
        const PushResult r = q.Push(prot, 16, [&](Item& it) {
          it.producer = p;
          it.n = i;
          it.is_protected = prot;
        });
        if (r != PushResult::kDropped) ++queued;
      }
      ++producers_done;
    });
  }
  std::set<std::pair<int, int>> seen;
  std::map<std::pair<int, bool>, int> last;
  uint64_t taken = 0;
  bool ordered = true, unique = true;
  for (;;) {
    const bool done = producers_done.load() == kProducers;
    while (q.Pop([&](Item& it) {
      unique = unique && seen.insert({it.producer, it.n}).second;
      auto key = std::make_pair(it.producer, it.is_protected);
      auto prev = last.find(key);
      if (prev != last.end() && prev->second >= it.n) ordered = false;
      last[key] = it.n;
      ++taken;
    })) {
    }
    if (done) break;
    q.WaitForRecords(absl::Now() + absl::Milliseconds(10));
  }
  for (auto& t : producers) t.join();
  while (q.Pop([&](Item&) { ++taken; })) {
  }
  const QueueStats s = q.stats();
  EXPECT_TRUE(unique);
  EXPECT_TRUE(ordered);
  EXPECT_EQ(s.taken, taken);
  EXPECT_EQ(s.enqueued, queued.load());
  EXPECT_EQ(s.taken + s.evicted, s.enqueued);
  EXPECT_EQ(s.enqueued + s.dropped_protected + s.dropped_unprotected,
            static_cast<uint64_t>(kProducers) * kPerProducer);
  EXPECT_EQ(q.size(), 0u);
  // The paths under test were taken (4 threads against 64 slots fill it).
  EXPECT_GT(s.evicted, 0u);
  EXPECT_GT(s.dropped_unprotected, 0u);
  std::printf("taken %llu, evicted %llu, dropped %llu protected / %llu unprotected\n",
              static_cast<unsigned long long>(s.taken), static_cast<unsigned long long>(s.evicted),
              static_cast<unsigned long long>(s.dropped_protected),
              static_cast<unsigned long long>(s.dropped_unprotected));
}

}  // namespace
}  // namespace tributary::client::internal
