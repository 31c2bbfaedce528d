#include "base/mutex.h"

#include <thread>

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
