// Redaction shared by the collector and the client: values of sensitive
// attribute keys are replaced, and patterns (RE2) are masked inside text.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "re2/re2.h"

namespace tributary {

// password, passwd, secret, token, api_key, apikey, authorization, cookie,
// set-cookie, session, credit_card, ssn.
const std::vector<std::string>& DefaultSensitiveKeys();

inline constexpr std::string_view kDefaultRedactionReplacement = "***REDACTED***";

struct RedactionPattern {
  std::string name;
  std::string regex;  // RE2 syntax
};

class Redactor {
 public:
  // Fails if a pattern does not compile; the message names it.
  static absl::StatusOr<std::unique_ptr<Redactor>> Create(
      const std::vector<std::string>& keys, const std::vector<RedactionPattern>& patterns,
      std::string_view replacement = kDefaultRedactionReplacement);

  // Case-insensitive exact match against the configured keys. Compares only
  // keys of the same length: no copy, no hash, nothing at all for most keys.
  bool IsSensitiveKey(std::string_view key) const;

  // Masks every pattern's matches in `text`; calls `counted(name, n)` for each
  // pattern that matched n > 0 times. Returns the number of replacements.
  template <typename Counted>
  int MaskText(std::string* text, Counted&& counted) const {
    int total = 0;
    for (const Pattern& p : patterns_) {
      const int n = RE2::GlobalReplace(text, *p.re, rewrite_);
      if (n > 0) {
        counted(p.name, n);
        total += n;
      }
    }
    return total;
  }

  bool has_patterns() const { return !patterns_.empty(); }
  const std::string& replacement() const { return replacement_; }

 private:
  struct Pattern {
    std::string name;
    std::unique_ptr<RE2> re;
  };

  Redactor() = default;

  std::string replacement_;
  std::string rewrite_;  // replacement_ as an RE2 rewrite (backslashes escaped)
  std::vector<std::vector<std::string>> sensitive_by_length_;
  std::vector<Pattern> patterns_;
};

}  // namespace tributary
