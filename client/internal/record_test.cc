// A log record's trip through a queue slot: encoded on the caller's thread,
// decoded by the sender, with limits applied and large records spilled.
#include "client/internal/record.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace tributary::client::internal {
namespace {

tributary::v1::LogRecord RoundTrip(const RecordLimits& limits, std::string_view message,
                                   std::initializer_list<Field> fields,
                                   const std::vector<OwnedField>* bound, RecordSlot* slot,
                                   bool* truncated = nullptr) {
  LogEncoder encoder(limits, message, fields, bound);
  encoder.Write(slot);
  EXPECT_EQ(slot->size, encoder.size());
  if (truncated != nullptr) *truncated = encoder.truncated();
  tributary::v1::LogRecord r;
  EXPECT_TRUE(DecodeLog(*slot, &r));
  return r;
}

TEST(RecordTest, FieldsOfEveryTypeRoundTripInOrderAfterBoundFields) {
  std::vector<OwnedField> bound(1);
  bound[0].key = "tenant";
  bound[0].text = "acme";
  RecordSlot slot;
  const auto r = RoundTrip(RecordLimits(), "hello",
                           {{"s", "text"}, {"i", -7}, {"d", 0.1}, {"b", true}, {"u", 5u}},
                           &bound, &slot);
  EXPECT_EQ(r.body(), "hello");
  ASSERT_EQ(r.attributes_size(), 6);
  EXPECT_EQ(r.attributes(0).key(), "tenant");
  EXPECT_EQ(r.attributes(0).value(), "acme");
  EXPECT_EQ(r.attributes(1).value(), "text");
  EXPECT_EQ(r.attributes(2).value(), "-7");
  EXPECT_EQ(r.attributes(2).type(), tributary::v1::VALUE_TYPE_INT);
  EXPECT_EQ(r.attributes(3).value(), "0.1");
  EXPECT_EQ(r.attributes(4).value(), "true");
  EXPECT_EQ(r.attributes(5).value(), "5");
  EXPECT_EQ(slot.overflow, nullptr);  // small records stay inline
}

TEST(RecordTest, LargeRecordsSpillAndSmallOnesReturnInline) {
  RecordSlot slot;
  const std::string big(2000, 'b');
  auto r = RoundTrip(RecordLimits(), big, {{"k", big}}, nullptr, &slot);
  EXPECT_NE(slot.overflow, nullptr);
  EXPECT_EQ(r.body(), big);
  EXPECT_EQ(r.attributes(0).value(), big);
  // The same slot reused for a small record is read from inline storage.
  r = RoundTrip(RecordLimits(), "small", {}, nullptr, &slot);
  EXPECT_EQ(slot.overflow, nullptr);
  EXPECT_EQ(r.body(), "small");
}

TEST(RecordTest, LimitsCutTextAndFieldsAndSaySo) {
  RecordLimits limits;
  limits.max_message_bytes = 4;
  limits.max_value_bytes = 3;
  limits.max_fields = 2;
  RecordSlot slot;
  bool truncated = false;
  const auto r = RoundTrip(limits, "message", {{"a", "abcdef"}, {"b", 1}, {"c", 2}}, nullptr,
                           &slot, &truncated);
  EXPECT_TRUE(truncated);
  EXPECT_EQ(r.body(), "mess");
  ASSERT_EQ(r.attributes_size(), 2);
  EXPECT_EQ(r.attributes(0).value(), "abc");
  RoundTrip(RecordLimits(), "fits", {{"a", 1}}, nullptr, &slot, &truncated);
  EXPECT_FALSE(truncated);
}

TEST(RecordTest, ABrokenLayoutIsReportedNotOverread) {
  RecordSlot slot;
  const std::initializer_list<Field> fields = {{"k", "v"}};  // outlives the encoder
  LogEncoder encoder(RecordLimits(), "hello", fields, nullptr);
  encoder.Write(&slot);
  for (uint32_t cut = 0; cut < slot.size; ++cut) {
    RecordSlot shorter;
    std::memcpy(shorter.inline_data, slot.inline_data, slot.size);
    shorter.size = cut;
    tributary::v1::LogRecord r;
    EXPECT_FALSE(DecodeLog(shorter, &r)) << "cut at " << cut;
  }
}

}  // namespace
}  // namespace tributary::client::internal
