#include "base/text_escape.h"

#include "absl/strings/str_cat.h"

namespace tributary {
namespace {

enum class Style { kJson, kGo };

bool Plain(char c) { return c != '"' && c != '\\' && static_cast<unsigned char>(c) >= 0x20; }

void AppendEscaped(std::string* out, std::string_view s, Style style) {
  out->reserve(out->size() + s.size() + 2);
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    // Runs of characters that need no escape are copied at once.
    size_t run = i;
    while (run < s.size() && Plain(s[run])) ++run;
    out->append(s.data() + i, run - i);
    if (run == s.size()) break;
    const char c = s[run];
    i = run + 1;
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:  // the other control characters
        if (style == Style::kJson) {
          absl::StrAppend(out, "\\u", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad4));
        } else {
          absl::StrAppend(out, "\\x", absl::Hex(static_cast<unsigned char>(c), absl::kZeroPad2));
        }
    }
  }
  out->push_back('"');
}

bool NeedsQuotes(std::string_view v) {
  if (v.empty()) return true;
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || c == '\\' || static_cast<unsigned char>(c) < 0x20) {
      return true;
    }
  }
  return false;
}

}  // namespace

void AppendJsonString(std::string* out, std::string_view s) {
  AppendEscaped(out, s, Style::kJson);
}

std::string JsonString(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  AppendJsonString(&out, s);
  return out;
}

void AppendQuoted(std::string* out, std::string_view s) { AppendEscaped(out, s, Style::kGo); }

void AppendLogfmtValue(std::string* out, std::string_view v) {
  if (NeedsQuotes(v)) {
    AppendQuoted(out, v);
  } else {
    out->append(v);
  }
}

}  // namespace tributary
