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

// `n` random letters and digits, which LZ4 cannot shrink (it finds no
// repeats to refer back to), so a payload takes the same room stored as
// appended. Tests that count bytes use these; being ASCII, they also serve as
// record bodies.
inline std::string Incompressible(size_t n, uint64_t seed = 1) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
  std::string s(n, ' ');
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 0x2545F4914F6CDD1Dull;
  for (char& c : s) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    c = kAlphabet[(x >> 32) % 62];
  }
  return s;
}

// `bytes` of log-like text for record `n`: LZ4 stores it in a fraction of its
// size.
inline std::string LogLines(int n, size_t bytes) {
  std::string s;
  while (s.size() < bytes) {
    absl::StrAppend(&s, "ts=", 1700000000 + s.size(), " level=info msg=\"request handled\" id=", n,
                    " status=200\n");
  }
  s.resize(bytes);
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
