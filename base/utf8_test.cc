#include "base/utf8.h"

#include "gtest/gtest.h"

namespace tributary::utf8 {
namespace {

TEST(Utf8Test, AcceptsValidText) {
  EXPECT_TRUE(IsValid(""));
  EXPECT_TRUE(IsValid("plain ascii"));
  EXPECT_TRUE(IsValid("Grüße, 東京, \xF0\x9F\x98\x80"));  // 2-, 3- and 4-byte forms
  EXPECT_TRUE(IsValid("\xED\x9F\xBF"));                  // U+D7FF, just below surrogates
  EXPECT_TRUE(IsValid("\xF4\x8F\xBF\xBF"));              // U+10FFFF
}

TEST(Utf8Test, RejectsInvalidText) {
  EXPECT_FALSE(IsValid("\xFF"));
  EXPECT_FALSE(IsValid("abc\xC3"));            // truncated
  EXPECT_FALSE(IsValid("\xC0\xAF"));           // overlong '/'
  EXPECT_FALSE(IsValid("\xE0\x80\xAF"));       // overlong
  EXPECT_FALSE(IsValid("\xED\xA0\x80"));       // surrogate U+D800
  EXPECT_FALSE(IsValid("\xF4\x90\x80\x80"));   // above U+10FFFF
  EXPECT_FALSE(IsValid("\x80"));               // lone continuation
}

TEST(Utf8Test, FindsBadBytesAtEveryPositionOfALongText) {
  // The eight-byte ASCII path must not skip a bad byte at any alignment.
  for (size_t at = 0; at < 40; ++at) {
    std::string text(40, 'a');
    text[at] = '\xFF';
    EXPECT_FALSE(IsValid(text)) << at;
    text[at] = '\xC3';
    if (at + 1 < text.size()) {
      text[at + 1] = '\xA9';  // é
      EXPECT_TRUE(IsValid(text)) << at;
    }
  }
}

TEST(Utf8Test, RepairReplacesEachBadByte) {
  EXPECT_EQ(Repair("ok"), "ok");
  EXPECT_EQ(Repair("a\xFF" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(Repair("\xC3"), "\xEF\xBF\xBD");
  EXPECT_TRUE(IsValid(Repair("\xED\xA0\x80 x \xF4\x90")));
}

}  // namespace
}  // namespace tributary::utf8
