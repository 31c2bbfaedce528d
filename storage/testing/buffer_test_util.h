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

// `n` pseudo-random bytes that no compressor shrinks, so that a payload takes
// the same room stored as appended. Tests that count bytes use these.
inline std::string Incompressible(size_t n, uint64_t seed = 1) {
  std::string s(n, '\0');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = static_cast<char>(x >> 56);
  }
  return s;
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
