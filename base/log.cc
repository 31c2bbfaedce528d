#include "base/log.h"

#include <cstdio>
#include <map>

#include "absl/time/clock.h"
#include "base/mutex.h"
#include "base/text_escape.h"

namespace tributary::log {
namespace {

const char* LevelName(Level level) {
  switch (level) {
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "info";
}

struct Limiter {
  absl::Time last = absl::InfinitePast();
  uint64_t suppressed = 0;
};

Mutex limiter_mu;
std::map<std::string, Limiter, std::less<>>& Limiters() {
  static auto* limiters = new std::map<std::string, Limiter, std::less<>>();
  return *limiters;
}

}  // namespace

std::string Format(absl::Time now, Level level, std::string_view msg,
                   std::initializer_list<Field> fields) {
  std::string line = absl::StrCat(
      "ts=", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", now, absl::UTCTimeZone()),
      " level=", LevelName(level), " msg=");
  AppendLogfmtValue(&line, msg);
  for (const Field& f : fields) {
    absl::StrAppend(&line, " ", f.key, "=");
    AppendLogfmtValue(&line, f.value);
  }
  return line;
}

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields) {
  std::string line = Format(absl::Now(), level, msg, fields);
  line.push_back('\n');
  // One fwrite per line: lines from several threads do not interleave.
  std::fwrite(line.data(), 1, line.size(), stderr);
}

void WarnEvery(std::string_view key, absl::Duration interval, std::string_view msg,
               std::initializer_list<Field> fields) {
  const absl::Time now = absl::Now();
  uint64_t suppressed = 0;
  {
    MutexLock lock(&limiter_mu);
    auto it = Limiters().find(key);
    if (it == Limiters().end()) it = Limiters().emplace(std::string(key), Limiter{}).first;
    if (now - it->second.last < interval) {
      ++it->second.suppressed;
      return;
    }
    it->second.last = now;
    suppressed = it->second.suppressed;
    it->second.suppressed = 0;
  }
  std::string line = Format(now, Level::kWarn, msg, fields);
  if (suppressed > 0) absl::StrAppend(&line, " suppressed=", suppressed);
  line.push_back('\n');
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace tributary::log
