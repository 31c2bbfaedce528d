// The canonical text of a double in the record model: the shortest decimal
// that parses back to the same value ("inf", "-inf" and "nan" for the rest).
#pragma once

#include <charconv>
#include <string>

namespace tributary {

inline std::string DoubleText(double v) {
  char buf[64];
  auto result = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, result.ptr);
}

}  // namespace tributary
