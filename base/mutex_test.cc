#include "base/mutex.h"

#include <sys/resource.h>

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace tributary {
namespace {

// A thread that changes guarded state and then waits (without unlocking in
// between) must wake the threads whose conditions that change satisfied.
TEST(MutexTest, StateChangedBeforeAwaitWakesOtherWaiters) {
  Mutex mu;
  bool server_waiting = false;
  int requested = 0;
  int served = 0;
  std::thread server([&] {
    MutexLock l(&mu);
    server_waiting = true;
    mu.Await([&] { return requested > 0; });
    served = requested;
  });
  {
    MutexLock l(&mu);
    // Whichever thread gets the lock first, each side changes state and then
    // waits without unlocking: without the wake-up in Await both hang here.
    mu.Await([&] { return server_waiting; });
    requested = 1;
    mu.Await([&] { return served == 1; });
  }
  server.join();
  EXPECT_EQ(served, 1);
}

// Context switches the calling thread made of its own accord (it blocked).
long VoluntarySwitches() {
  struct rusage usage;
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_nvcsw;
}

// A release of the lock that leaves a waiter's condition false does not wake
// that waiter: 200 of them, spread out as an appender's are, cost it no more
// than the few context switches of waiting once (waking every waiter on every
// release costs about one each). The pause between releases is the load's
// pacing, not a wait for anything.
TEST(MutexTest, ReleasesThatDoNotSatisfyAWaiterLeaveItAsleep) {
  Mutex mu;
  bool waiting = false;
  bool done = false;
  int unrelated = 0;
  long switches = -1;
  std::thread waiter([&] {
    const long before = VoluntarySwitches();
    MutexLock l(&mu);
    waiting = true;
    mu.Await([&] { return done; });
    switches = VoluntarySwitches() - before;
  });
  {
    MutexLock l(&mu);
    mu.Await([&] { return waiting; });
  }
  for (int i = 0; i < 200; ++i) {
    {
      MutexLock l(&mu);
      ++unrelated;
    }
    absl::SleepFor(absl::Microseconds(200));
  }
  {
    MutexLock l(&mu);
    done = true;
  }
  waiter.join();
  EXPECT_EQ(unrelated, 200);
  EXPECT_GE(switches, 0);
  EXPECT_LT(switches, 20);
}

// Many threads waiting for different conditions on one mutex, each satisfied
// by another thread's change: every one is woken, none too early.
TEST(MutexTest, EachWaiterWakesWhenItsOwnConditionHolds) {
  constexpr int kThreads = 8;
  constexpr int kRounds = 200;
  Mutex mu;
  int turn = 0;  // thread `turn % kThreads` may go next
  std::vector<std::vector<int>> seen(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int r = 0; r < kRounds; ++r) {
        MutexLock l(&mu);
        mu.Await([&] { return turn % kThreads == t; });
        seen[t].push_back(turn);
        ++turn;
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_EQ(turn, kThreads * kRounds);
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(seen[t].size(), static_cast<size_t>(kRounds));
    for (int r = 0; r < kRounds; ++r) EXPECT_EQ(seen[t][r], r * kThreads + t);
  }
}

// A waiter woken because its condition held, but beaten to the lock by a
// thread that made it false again, goes back to waiting.
TEST(MutexTest, AWaiterWhoseConditionTurnedFalseAgainKeepsWaiting) {
  Mutex mu;
  int tokens = 0;
  int taken = 0;
  std::vector<std::thread> consumers;
  for (int c = 0; c < 4; ++c) {
    consumers.emplace_back([&] {
      for (int i = 0; i < 250; ++i) {
        MutexLock l(&mu);
        mu.Await([&] { return tokens > 0; });
        ASSERT_GT(tokens, 0);
        --tokens;
        ++taken;
      }
    });
  }
  for (int i = 0; i < 1000; ++i) {
    MutexLock l(&mu);
    ++tokens;
  }
  for (std::thread& th : consumers) th.join();
  EXPECT_EQ(taken, 1000);
  EXPECT_EQ(tokens, 0);
}

TEST(MutexTest, AwaitWithDeadlineSeesAConditionThatHoldsBeforeTheDeadline) {
  Mutex mu;
  bool ready = false;
  std::thread setter([&] {
    MutexLock l(&mu);
    ready = true;
  });
  {
    MutexLock l(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout([&] { return ready; }, absl::Seconds(30)));
  }
  setter.join();
}

TEST(MutexTest, AwaitWithDeadlineReturnsFalseWhenTheConditionNeverHolds) {
  Mutex mu;
  MutexLock l(&mu);
  const absl::Time start = absl::Now();
  EXPECT_FALSE(mu.AwaitWithTimeout([] { return false; }, absl::Milliseconds(20)));
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(20));
  EXPECT_TRUE(mu.AwaitWithTimeout([] { return true; }, absl::Milliseconds(20)));
}

}  // namespace
}  // namespace tributary
