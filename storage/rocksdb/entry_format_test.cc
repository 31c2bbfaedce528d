#include "storage/rocksdb/entry_format.h"

#include <string>

#include "gtest/gtest.h"
#include "storage/testing/buffer_test_util.h"

namespace tributary::storage::rocksdb_format {
namespace {

std::string Text(size_t bytes) { return testing::LogLines(0, bytes); }

TEST(EntryFormatTest, RawEntryRoundTrips) {
  const EntryHeader h{absl::FromUnixNanos(1700000000123456789), 42, 0};
  const std::string value = EncodeEntryHeader(h) + "payload";
  ASSERT_EQ(value.size(), kRawHeaderSize + 7);
  auto back = DecodeEntryHeader(value);
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->compressed());
  EXPECT_EQ(back->append_time, h.append_time);
  EXPECT_EQ(back->record_count, 42u);
  std::string payload;
  ASSERT_TRUE(DecodeEntryPayload(value, *back, &payload));
  EXPECT_EQ(payload, "payload");
}

TEST(EntryFormatTest, CompressedEntryRoundTrips) {
  const std::string text = Text(100000);
  std::string block;
  ASSERT_TRUE(CompressPayload(text, &block));
  EXPECT_LT(block.size(), text.size() / 8);
  const EntryHeader h{absl::FromUnixSeconds(1700000000), 7, static_cast<uint32_t>(text.size())};
  const std::string value = EncodeEntryHeader(h) + block;
  auto back = DecodeEntryHeader(value);
  ASSERT_TRUE(back.has_value());
  EXPECT_TRUE(back->compressed());
  EXPECT_EQ(back->size(), kLz4HeaderSize);
  EXPECT_EQ(back->payload_bytes, text.size());
  std::string payload;
  ASSERT_TRUE(DecodeEntryPayload(value, *back, &payload));
  EXPECT_EQ(payload, text);
}

TEST(EntryFormatTest, PayloadsThatDoNotShrinkByAnEighthAreNotCompressed) {
  std::string block;
  EXPECT_FALSE(CompressPayload(testing::Incompressible(10000), &block));
  EXPECT_FALSE(CompressPayload("", &block));
}

TEST(EntryFormatTest, DamagedCompressedBlocksAreRefused) {
  const std::string text = Text(50000);
  std::string block;
  ASSERT_TRUE(CompressPayload(text, &block));
  const EntryHeader h{absl::FromUnixSeconds(1700000000), 1, static_cast<uint32_t>(text.size())};
  std::string payload;

  // Cut short.
  const std::string truncated = EncodeEntryHeader(h) + block.substr(0, block.size() / 2);
  EXPECT_FALSE(DecodeEntryPayload(truncated, *DecodeEntryHeader(truncated), &payload));

  // A recorded size that does not match what the block holds.
  EntryHeader wrong = h;
  wrong.payload_bytes = h.payload_bytes + 1;
  const std::string mismatched = EncodeEntryHeader(wrong) + block;
  EXPECT_FALSE(DecodeEntryPayload(mismatched, *DecodeEntryHeader(mismatched), &payload));

  // Garbage where the block should be.
  const std::string garbage = EncodeEntryHeader(h) + testing::Incompressible(block.size());
  EXPECT_FALSE(DecodeEntryPayload(garbage, *DecodeEntryHeader(garbage), &payload));
}

TEST(EntryFormatTest, MalformedHeadersAreRefused) {
  EXPECT_FALSE(DecodeEntryHeader("").has_value());
  EXPECT_FALSE(DecodeEntryHeader(std::string(kRawHeaderSize - 1, '\1')).has_value());
  std::string unknown = EncodeEntryHeader({absl::UnixEpoch(), 1, 0});
  unknown[0] = 9;
  EXPECT_FALSE(DecodeEntryHeader(unknown).has_value());
  // A compressed entry cut inside its header, and one that claims no payload.
  const std::string lz4 = EncodeEntryHeader({absl::UnixEpoch(), 1, 100});
  EXPECT_FALSE(DecodeEntryHeader(lz4.substr(0, kLz4HeaderSize - 1)).has_value());
  std::string empty = lz4;
  empty[13] = empty[14] = empty[15] = empty[16] = 0;
  EXPECT_FALSE(DecodeEntryHeader(empty).has_value());
}

}  // namespace
}  // namespace tributary::storage::rocksdb_format
