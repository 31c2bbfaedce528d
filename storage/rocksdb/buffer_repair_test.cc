#include "storage/rocksdb/buffer_repair.h"

#include <filesystem>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "storage/rocksdb/rocksdb_buffer.h"
#include "storage/testing/buffer_test_util.h"

namespace tributary::storage {
namespace {

namespace fs = std::filesystem;
using testing::Req;
using testing::TestDir;



// Incompressible, so that damage at a given file position lands in an entry.
std::string PayloadFor(int i) { return testing::Incompressible(20000, static_cast<uint64_t>(i)); }

// Stored LZ4-compressed.
std::string CompressibleFor(int i) { return testing::LogLines(i, 20000); }

// A buffer of `n` entries with a consumer at offset 2; optionally flushed to
// table files.
void Fill(const std::string& dir, int n, bool flush, bool compressible = false) {
  auto buffer = RocksDbBuffer::Open(dir, {});
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  for (int i = 0; i < n; ++i) {
    const std::string payload = compressible ? CompressibleFor(i) : PayloadFor(i);
    ASSERT_TRUE((*buffer)->AppendAndWait(Req("p", i + 1, payload, 2)).ok());
  }
  ASSERT_TRUE((*buffer)->OpenConsumer("loki").ok());
  ASSERT_TRUE((*buffer)->CommitCursor("loki", 2).ok());
  if (flush) {
    ASSERT_TRUE((*buffer)->FlushForTesting().ok());
  }
  ASSERT_TRUE((*buffer)->Close().ok());
}

fs::path Largest(const std::string& dir, const std::string& ext) {
  fs::path best;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() != ext) continue;
    if (best.empty() || fs::file_size(f) > fs::file_size(best)) best = f.path();
  }
  return best;
}

void Scribble(const fs::path& file, uint64_t at) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(at);
  f.write("\xde\xad\xbe\xef\xde\xad\xbe\xef", 8);
}

// Both ways entries are stored (LZ4 blocks and raw payloads), from the log and
// from table files.
TEST(BufferRepairTest, HealthyBufferVerifiesCleanAndRepairKeepsEverything) {
  for (const bool compressible : {false, true}) {
    for (const bool flush : {false, true}) {
      SCOPED_TRACE(absl::StrCat("compressible=", compressible, " flush=", flush));
      const std::string dir = TestDir(absl::StrCat("healthy", compressible, flush));
      Fill(dir, 10, flush, compressible);
      auto report = VerifyBuffer(dir);
      ASSERT_TRUE(report.ok()) << report.status();
      EXPECT_TRUE(report->healthy);
      EXPECT_TRUE(report->problems.empty()) << report->problems[0];
      EXPECT_EQ(report->entries, 10u);
      EXPECT_EQ(report->records, 20u);
      EXPECT_EQ(report->consumers, 1u);
      EXPECT_EQ(report->producers, 1u);
      EXPECT_EQ(report->appended_payload_bytes, 200000u);
      // Compressed, stored in under half of that.
      if (compressible) {
        EXPECT_LT(report->payload_bytes, 100000u);
      }

      auto repaired = RepairBuffer(dir);
      ASSERT_TRUE(repaired.ok()) << repaired.status();
      EXPECT_EQ(repaired->kept_entries, 10u);
      EXPECT_EQ(repaired->lost_entries, 0u);
      EXPECT_TRUE(fs::exists(repaired->damaged_copy));
      auto buffer = RocksDbBuffer::Open(dir, {});
      ASSERT_TRUE(buffer.ok()) << buffer.status();
      EXPECT_EQ((*buffer)->ResumePoint("p"), 10u);
      EXPECT_EQ((*buffer)->OpenConsumer("loki")->next, 2u);
      auto read = (*buffer)->Read(0, 100, 1 << 30);
      ASSERT_TRUE(read.ok()) << read.status();
      ASSERT_EQ(read->size(), 10u);
      for (const Entry& e : *read) {
        const int i = static_cast<int>(e.offset);
        EXPECT_EQ(e.payload, compressible ? CompressibleFor(i) : PayloadFor(i));
      }
    }
  }
}

TEST(BufferRepairTest, NotABufferIsAnError) {
  const std::string dir = TestDir("empty");
  fs::create_directories(dir);
  EXPECT_EQ(VerifyBuffer(dir).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(RepairBuffer(dir).status().code(), absl::StatusCode::kNotFound);
}

TEST(BufferRepairTest, TruncatedWalTailIsReportedAndRepairKeepsTheIntactEntries) {
  const std::string dir = TestDir("truncated");
  Fill(dir, 6, false);
  const fs::path wal = Largest(dir, ".log");
  fs::resize_file(wal, fs::file_size(wal) - 5000);
  auto report = VerifyBuffer(dir);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->healthy);
  ASSERT_FALSE(report->problems.empty());
  EXPECT_NE(report->problems[0].find("torn"), std::string::npos) << report->problems[0];
  EXPECT_EQ(report->entries, 5u);

  auto repaired = RepairBuffer(dir);
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_EQ(repaired->kept_entries, 5u);
  auto buffer = RocksDbBuffer::Open(dir, {});
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  EXPECT_FALSE((*buffer)->open_report().wal_tail_dropped);
  auto read = (*buffer)->Read(0, 100, 1 << 30);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 5u);
  for (int i = 0; i < 5; ++i) EXPECT_EQ((*read)[i].payload, PayloadFor(i));
}

TEST(BufferRepairTest, DamageInsideTheWalIsReportedAndRepairKeepsEntriesOnBothSides) {
  const std::string dir = TestDir("wal_middle");
  Fill(dir, 8, false);
  const fs::path wal = Largest(dir, ".log");
  Scribble(wal, fs::file_size(wal) / 2);
  ASSERT_EQ(RocksDbBuffer::Open(dir, {}).status().code(), absl::StatusCode::kDataLoss);
  auto report = VerifyBuffer(dir);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->healthy);

  auto repaired = RepairBuffer(dir);
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  EXPECT_GE(repaired->kept_entries, 6u);
  EXPECT_LT(repaired->kept_entries, 8u);
  auto buffer = RocksDbBuffer::Open(dir, {});
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  auto read = (*buffer)->Read(0, 100, 1 << 30);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->size(), repaired->kept_entries);
  // The last entry, written after the damaged record, survived.
  EXPECT_EQ(read->back().payload, PayloadFor(7));
  auto after = VerifyBuffer(dir);
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(after->healthy) << after->problems[0];
}

TEST(BufferRepairTest, CorruptTableFileIsFoundByVerifyAndRepairSkipsOnlyTheDamagedEntry) {
  const std::string dir = TestDir("sst");
  Fill(dir, 12, true);
  const fs::path sst = Largest(dir, ".sst");
  ASSERT_FALSE(sst.empty());
  Scribble(sst, fs::file_size(sst) / 2);
  auto report = VerifyBuffer(dir);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->healthy);
  bool mentions_checksum = false;
  for (const auto& p : report->problems) mentions_checksum |= p.find("checksum") != std::string::npos;
  EXPECT_TRUE(mentions_checksum);

  auto repaired = RepairBuffer(dir);
  ASSERT_TRUE(repaired.ok()) << repaired.status();
  // Only the damaged 64 KiB data block is lost: it holds at most four of these
  // 20 KB entries.
  EXPECT_GE(repaired->lost_entries, 1u);
  EXPECT_LE(repaired->lost_entries, 4u);
  EXPECT_EQ(repaired->kept_entries + repaired->lost_entries, 12u);
  EXPECT_EQ(repaired->lost_records, repaired->lost_entries * 2);
  ASSERT_FALSE(repaired->lost_ranges.empty());
  auto buffer = RocksDbBuffer::Open(dir, {});
  ASSERT_TRUE(buffer.ok()) << buffer.status();
  auto read = (*buffer)->Read(0, 100, 1 << 30);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->size(), repaired->kept_entries);
  for (const Entry& e : *read) EXPECT_EQ(e.payload, PayloadFor(static_cast<int>(e.offset)));
}

}  // namespace
}  // namespace tributary::storage
