// UTF-8 checks (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF).
#pragma once

#include <string>
#include <string_view>

namespace tributary::utf8 {

bool IsValid(std::string_view text);

// The text with every invalid sequence replaced by U+FFFD.
std::string Repair(std::string_view text);

}  // namespace tributary::utf8
