// Helpers shared by the buffer tests.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "base/mutex.h"
#include "storage/buffer.h"

namespace tributary::storage::testing {

// A fresh, empty directory under the test's TEST_TMPDIR.
inline std::string TestDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp ? tmp : "/tmp", "/", name);
  std::filesystem::remove_all(dir);
  return dir;
}

inline AppendRequest Req(std::string producer, uint64_t seq, std::string payload,
                         uint32_t records = 1) {
  AppendRequest r;
  r.producer_id = std::move(producer);
  r.seq = seq;
  r.payload = std::move(payload);
  r.record_count = records;
  return r;
}

// A clock the test moves by hand; thread-safe.
class FakeClock {
 public:
  absl::Time Now() {
    MutexLock l(&mu_);
    return now_;
  }
  void Advance(absl::Duration d) {
    MutexLock l(&mu_);
    now_ += d;
  }

 private:
  Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_) = absl::FromUnixSeconds(1700000000);
};

}  // namespace tributary::storage::testing
