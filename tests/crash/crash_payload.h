// Deterministic payloads for the crash tests: the content names its producer
// and seq, so a stored entry can be checked and attributed after a crash.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace tributary::crash {

inline std::string Payload(const std::string& producer, uint64_t seq, size_t size) {
  std::string p = absl::StrCat(producer, ":", seq, ":");
  const char fill = static_cast<char>('a' + seq % 26);
  if (p.size() < size) p.append(size - p.size(), fill);
  return p;
}

// (producer, seq) if `payload` is exactly what Payload() makes for them.
inline std::optional<std::pair<std::string, uint64_t>> ParsePayload(const std::string& payload,
                                                                    size_t size) {
  std::vector<std::string> parts = absl::StrSplit(payload, absl::MaxSplits(':', 2));
  uint64_t seq = 0;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[1], &seq)) return std::nullopt;
  if (Payload(parts[0], seq, size) != payload) return std::nullopt;
  return std::make_pair(parts[0], seq);
}

}  // namespace tributary::crash
