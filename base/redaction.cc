#include "base/redaction.h"

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace tributary {

const std::vector<std::string>& DefaultSensitiveKeys() {
  static const auto* const keys = new std::vector<std::string>{
      "password", "passwd",     "secret",  "token",       "api_key", "apikey",
      "authorization", "cookie", "set-cookie", "session", "credit_card", "ssn"};
  return *keys;
}

absl::StatusOr<std::unique_ptr<Redactor>> Redactor::Create(
    const std::vector<std::string>& keys, const std::vector<RedactionPattern>& patterns,
    std::string_view replacement) {
  std::unique_ptr<Redactor> r(new Redactor());
  r->replacement_ = std::string(replacement);
  r->rewrite_ = absl::StrReplaceAll(absl::string_view(replacement.data(), replacement.size()),
                                    {{"\\", "\\\\"}});
  for (const std::string& key : keys) {
    if (key.size() >= r->sensitive_by_length_.size()) {
      r->sensitive_by_length_.resize(key.size() + 1);
    }
    r->sensitive_by_length_[key.size()].push_back(key);
  }
  for (const RedactionPattern& p : patterns) {
    auto re = std::make_unique<RE2>(p.regex, RE2::Quiet);
    if (!re->ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("redaction pattern ", p.name, " is not valid RE2: ", re->error()));
    }
    r->patterns_.push_back({p.name, std::move(re)});
  }
  return r;
}

bool Redactor::IsSensitiveKey(std::string_view key) const {
  if (key.size() >= sensitive_by_length_.size()) return false;
  for (const std::string& candidate : sensitive_by_length_[key.size()]) {
    if (absl::EqualsIgnoreCase(absl::string_view(key.data(), key.size()), candidate)) return true;
  }
  return false;
}

}  // namespace tributary
