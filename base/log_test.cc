#include "base/log.h"

#include "gtest/gtest.h"

namespace tributary::log {
namespace {

TEST(LogTest, FormatsLogfmtWithQuotingWhereNeeded) {
  const absl::Time t = absl::FromUnixMillis(1795392001123);
  EXPECT_EQ(Format(t, Level::kInfo, "buffer opened",
                   {{"entries", 12}, {"dir", "./data"}, {"empty", ""}, {"ok", true}}),
            "ts=2026-11-23T00:00:01.123Z level=info msg=\"buffer opened\" entries=12 "
            "dir=./data empty=\"\" ok=true");
  EXPECT_EQ(Format(t, Level::kWarn, "x", {{"why", "a \"b\"\nc=d\\"}}),
            "ts=2026-11-23T00:00:01.123Z level=warn msg=x why=\"a \\\"b\\\"\\nc=d\\\\\"");
  EXPECT_EQ(Format(t, Level::kError, "x", {{"ctl", std::string("a\x01")}}),
            "ts=2026-11-23T00:00:01.123Z level=error msg=x ctl=\"a\\x01\"");
}

}  // namespace
}  // namespace tributary::log
