// Mutex and MutexLock with absl::Mutex's waiting API (Await, AwaitWithDeadline)
// built on std::mutex and std::condition_variable.
//
// Why not absl::Mutex: Debian's Abseil is a prebuilt, uninstrumented shared
// library, so ThreadSanitizer cannot see absl::Mutex's happens-before edges and
// reports every access it protects as a race. std::mutex goes through pthread,
// which TSan intercepts, so `--config=tsan` checks our locking for real. The
// clang thread-safety annotations work the same as with absl::Mutex.
//
// As with absl::Mutex, the thread that releases the lock (Unlock, or Await
// giving it up) evaluates the conditions of the threads waiting in Await, and
// wakes only those whose condition now holds. A condition may read any state
// the mutex guards; it runs on whichever thread releases the lock, so it must
// be cheap and change nothing. A thread may change guarded state and then
// Await without unlocking in between: giving the lock up in Await wakes the
// waiters that change satisfied.
//
// Waking every waiter on every release instead (the simple way) cost the
// collector a fifth of its context switches under load: its buffer's
// maintenance thread, waiting a second at a time for shutdown, was woken by
// every append (BENCHMARKS.md).
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
  // Wakes before unlocking: a waiter that sees its condition hold may destroy
  // the Mutex as soon as the lock is free.
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    WakeSatisfied();
    mu_.unlock();
  }

  // With the lock held: releases it until `cond()` holds, then returns with it held.
  template <typename Cond>
  void Await(Cond cond) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    Wait(cond, absl::InfiniteFuture());
  }

  // As Await, but gives up at `deadline`. Returns cond() (evaluated with the lock held).
  template <typename Cond>
  bool AwaitWithDeadline(Cond cond, absl::Time deadline) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    return Wait(cond, deadline);
  }

  template <typename Cond>
  bool AwaitWithTimeout(Cond cond, absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    return AwaitWithDeadline(cond, absl::Now() + timeout);
  }

 private:
  // A thread in Await, on its own stack, linked while it sleeps.
  struct Waiter {
    bool (*holds)(void* cond);
    void* cond;
    std::condition_variable wake;
    bool woken = false;  // its condition held when the lock was last released
    Waiter* prev = nullptr;
    Waiter* next = nullptr;
  };

  // With mu_ held, about to give it up.
  void WakeSatisfied() {
    for (Waiter* w = waiters_; w != nullptr; w = w->next) {
      if (!w->woken && w->holds(w->cond)) {
        w->woken = true;
        w->wake.notify_one();
      }
    }
  }

  template <typename Cond>
  bool Wait(Cond& cond, absl::Time deadline) {
    if (cond()) return true;
    // The caller may have changed guarded state since it took the lock.
    WakeSatisfied();
    Waiter self;
    self.holds = [](void* c) -> bool { return (*static_cast<Cond*>(c))(); };
    self.cond = &cond;
    self.next = waiters_;
    if (waiters_ != nullptr) waiters_->prev = &self;
    waiters_ = &self;

    std::unique_lock<std::mutex> lock(mu_, std::adopt_lock);
    bool result = false;
    for (;;) {
      const auto woken = [&self] { return self.woken; };
      if (deadline == absl::InfiniteFuture()) {
        self.wake.wait(lock, woken);
      } else if (!self.wake.wait_until(lock, absl::ToChronoTime(deadline), woken)) {
        result = cond();  // timed out
        break;
      }
      // It held when the lock was released; another thread may have taken
      // the lock and changed the state before this one got it back.
      if (cond()) {
        result = true;
        break;
      }
      self.woken = false;
    }
    if (self.prev != nullptr) self.prev->next = self.next;
    if (self.next != nullptr) self.next->prev = self.prev;
    if (waiters_ == &self) waiters_ = self.next;
    lock.release();
    return result;
  }

  std::mutex mu_;
  Waiter* waiters_ = nullptr;  // guarded by mu_
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
