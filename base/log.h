// Structured lifecycle logging: one logfmt line per event on stderr, e.g.
//   ts=2026-11-22T22:40:01.123Z level=info msg="buffer opened" entries=12
// Meant for events (start, stop, errors), never for a line per record; the
// rate-limited form keeps a flood of bad input from flooding the log.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"

namespace tributary::log {

enum class Level { kInfo, kWarn, kError };

struct Field {
  Field(std::string_view k, std::string_view v) : key(k), value(v) {}
  Field(std::string_view k, const std::string& v) : key(k), value(v) {}
  Field(std::string_view k, const char* v) : key(k), value(v) {}
  Field(std::string_view k, bool v) : key(k), value(v ? "true" : "false") {}
  Field(std::string_view k, int v) : key(k), value(absl::StrCat(v)) {}
  Field(std::string_view k, long v) : key(k), value(absl::StrCat(v)) {}
  Field(std::string_view k, long long v) : key(k), value(absl::StrCat(v)) {}
  Field(std::string_view k, unsigned v) : key(k), value(absl::StrCat(v)) {}
  Field(std::string_view k, unsigned long v) : key(k), value(absl::StrCat(v)) {}
  Field(std::string_view k, unsigned long long v) : key(k), value(absl::StrCat(v)) {}
  Field(std::string_view k, double v) : key(k), value(absl::StrCat(v)) {}
  Field(std::string_view k, absl::Duration v) : key(k), value(absl::FormatDuration(v)) {}
  std::string key;
  std::string value;
};

// Formats one line (without the trailing newline). Exposed for tests.
std::string Format(absl::Time now, Level level, std::string_view msg,
                   std::initializer_list<Field> fields);

void Write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void Info(std::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kInfo, msg, fields);
}
inline void Warn(std::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kWarn, msg, fields);
}
inline void Error(std::string_view msg, std::initializer_list<Field> fields = {}) {
  Write(Level::kError, msg, fields);
}

// Writes at most one line per `key` every `interval`; the next line that gets
// through carries suppressed=N for the ones that did not.
void WarnEvery(std::string_view key, absl::Duration interval, std::string_view msg,
               std::initializer_list<Field> fields = {});

}  // namespace tributary::log
