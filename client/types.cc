#include "client/types.h"

#include <cctype>

namespace tributary::client {
namespace {

struct LevelInfo {
  int severity;
  std::string_view name;
};

constexpr LevelInfo kLevelInfo[kLevels] = {
    {1, "TRACE"}, {5, "DEBUG"}, {9, "INFO"},  {13, "WARN"},
    {17, "ERROR"}, {21, "FATAL"}, {12, "AUDIT"}, {20, "SECURITY"},
};

}  // namespace

int SeverityNumber(Level level) { return kLevelInfo[static_cast<int>(level)].severity; }

std::string_view LevelName(Level level) { return kLevelInfo[static_cast<int>(level)].name; }

bool ParseLevel(std::string_view name, Level* level) {
  for (int i = 0; i < kLevels; ++i) {
    const std::string_view candidate = kLevelInfo[i].name;
    if (candidate.size() != name.size()) continue;
    bool same = true;
    for (size_t j = 0; j < name.size() && same; ++j) {
      same = std::toupper(static_cast<unsigned char>(name[j])) == candidate[j];
    }
    if (same) {
      *level = static_cast<Level>(i);
      return true;
    }
  }
  if (name == "warning" || name == "WARNING") {
    *level = Level::kWarn;
    return true;
  }
  return false;
}

}  // namespace tributary::client
