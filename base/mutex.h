// Mutex and MutexLock with absl::Mutex's waiting API (Await, AwaitWithDeadline)
// built on std::mutex and std::condition_variable.
//
// Why not absl::Mutex: Debian's Abseil is a prebuilt, uninstrumented shared
// library, so ThreadSanitizer cannot see absl::Mutex's happens-before edges and
// reports every access it protects as a race. std::mutex goes through pthread,
// which TSan intercepts, so `--config=tsan` checks our locking for real. The
// clang thread-safety annotations work the same as with absl::Mutex.
//
// Every release of the lock (Unlock, and Await giving it up) wakes the
// waiters, which re-check their conditions under the lock: a condition may
// read any state the mutex guards, and a thread may change that state and then
// Await without unlocking in between.
#pragma once

#include <condition_variable>
#include <mutex>

#include "absl/base/thread_annotations.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tributary {

class ABSL_LOCKABLE Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  // Notifies before unlocking: a waiter that sees its condition hold may
  // destroy the Mutex as soon as the lock is free.
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    changed_.notify_all();
    mu_.unlock();
  }

  // With the lock held: releases it until `cond()` holds, then returns with it held.
  template <typename Cond>
  void Await(Cond cond) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    changed_.notify_all();
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    changed_.wait(lock, cond);
    lock.release();
  }

  // As Await, but gives up at `deadline`. Returns cond() (evaluated with the lock held).
  template <typename Cond>
  bool AwaitWithDeadline(Cond cond, absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    if (deadline == absl::InfiniteFuture()) {
      Await(cond);
      return true;
    }
    changed_.notify_all();
    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    const bool result = changed_.wait_until(lock, absl::ToChronoTime(deadline), cond);
    lock.release();
    return result;
  }

  template <typename Cond>
  bool AwaitWithTimeout(Cond cond, absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    return AwaitWithDeadline(cond, absl::Now() + timeout);
  }

 private:
  std::mutex mu_;
  std::condition_variable changed_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

}  // namespace tributary
