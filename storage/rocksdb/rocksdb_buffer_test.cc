#include "storage/rocksdb/rocksdb_buffer.h"
#include "storage/rocksdb/rocksdb_options.h"
#include "storage/testing/buffer_test_util.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "gtest/gtest.h"

namespace tributary::storage {
namespace {

namespace fs = std::filesystem;
using testing::FakeClock;
using testing::Incompressible;
using testing::LogLines;
using testing::Req;
using testing::TestDir;



std::unique_ptr<RocksDbBuffer> OpenOrDie(const std::string& dir, BufferOptions options = {}) {
  auto b = RocksDbBuffer::Open(dir, std::move(options));
  EXPECT_TRUE(b.ok()) << b.status();
  return b.ok() ? *std::move(b) : nullptr;
}

uint64_t DirBytes(const std::string& dir) {
  uint64_t total = 0;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.is_regular_file()) total += f.file_size();
  }
  return total;
}

std::vector<fs::path> FilesWithExtension(const std::string& dir, const std::string& ext) {
  std::vector<fs::path> out;
  for (const auto& f : fs::directory_iterator(dir)) {
    if (f.path().extension() == ext) out.push_back(f.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}


TEST(RocksDbBufferTest, ReopenKeepsEntriesCursorsLossAndDedupe) {
  const std::string dir = TestDir("reopen");
  uint64_t second_offset;
  {
    auto buffer = OpenOrDie(dir);
    ASSERT_TRUE(buffer->AppendAndWait(Req("app", 1, "one", 2)).ok());
    auto r = buffer->AppendAndWait(Req("app", 2, "two", 3));
    ASSERT_TRUE(r.ok());
    second_offset = r->offset;
    ASSERT_TRUE(buffer->OpenConsumer("otlp").ok());
    ASSERT_TRUE(buffer->CommitCursor("otlp", second_offset).ok());
    ASSERT_TRUE(buffer->Close().ok());
  }
  auto buffer = OpenOrDie(dir);
  EXPECT_FALSE(buffer->open_report().wal_tail_dropped);
  EXPECT_EQ(buffer->open_report().entries, 2u);
  EXPECT_EQ(buffer->ResumePoint("app"), 2u);
  auto dup = buffer->AppendAndWait(Req("app", 2, "two"));
  ASSERT_TRUE(dup.ok());
  EXPECT_TRUE(dup->duplicate);
  auto consumer = buffer->OpenConsumer("otlp");
  ASSERT_TRUE(consumer.ok());
  EXPECT_EQ(consumer->next, second_offset);
  auto read = buffer->Read(consumer->next, 10, 1 << 20);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].payload, "two");
  EXPECT_EQ((*read)[0].record_count, 3u);
  auto next = buffer->AppendAndWait(Req("app", 3, "three"));
  ASSERT_TRUE(next.ok());
  EXPECT_GT(next->offset, second_offset);
  EXPECT_EQ(buffer->Stats().records, 2u + 3u + 1u);
}

TEST(RocksDbBufferTest, OffsetsAreNeverReusedAfterEverythingWasConsumed) {
  const std::string dir = TestDir("no_reuse");
  uint64_t last;
  {
    auto buffer = OpenOrDie(dir);
    ASSERT_TRUE(buffer->OpenConsumer("c").ok());
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(buffer->AppendAndWait(Req("", 0, "x")).ok());
    last = buffer->Stats().durable_end;
    ASSERT_TRUE(buffer->CommitCursor("c", last).ok());
    buffer->RunMaintenance();
    EXPECT_EQ(buffer->Stats().entries, 0u);
    ASSERT_TRUE(buffer->RemoveConsumer("c").ok());
    ASSERT_TRUE(buffer->Close().ok());
  }
  auto buffer = OpenOrDie(dir);
  auto r = buffer->AppendAndWait(Req("", 0, "y"));
  ASSERT_TRUE(r.ok());
  EXPECT_GE(r->offset, last);
}

TEST(RocksDbBufferTest, ConsumedEntriesAreRemovedAndTheirSpaceComesBack) {
  const std::string dir = TestDir("reclaim");
  BufferOptions options;
  options.memory_budget_bytes = 32 << 20;
  options.maintenance_interval = absl::Hours(1);  // run by hand below
  auto buffer = OpenOrDie(dir, options);
  ASSERT_TRUE(buffer->OpenConsumer("c").ok());
  for (int i = 0; i < 160; ++i) {
    ASSERT_TRUE(buffer->AppendAndWait(Req("", 0, Incompressible(256 << 10, i))).ok());
  }
  ASSERT_TRUE(buffer->FlushForTesting().ok());
  const uint64_t full = DirBytes(dir);
  EXPECT_GT(full, 40ull << 20);

  const uint64_t end = buffer->Stats().durable_end;
  ASSERT_TRUE(buffer->CommitCursor("c", end).ok());
  buffer->RunMaintenance();
  BufferStats stats = buffer->Stats();
  EXPECT_EQ(stats.entries, 0u);
  EXPECT_EQ(stats.bytes, 0u);
  EXPECT_EQ(stats.first_offset, end);
  auto read = buffer->Read(0, 10, 1 << 30);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(read->empty());
  // The table files holding the consumed entries are gone from disk.
  EXPECT_LT(DirBytes(dir), full / 4) << "before " << full;
  EXPECT_EQ(stats.disk_bytes, DirBytes(dir));
}

TEST(RocksDbBufferTest, CompressiblePayloadsAreStoredCompressedAndReadBackWhole) {
  const std::string dir = TestDir("compressed");
  {
    auto buffer = OpenOrDie(dir);
    for (int i = 0; i < 20; ++i) {
      ASSERT_TRUE(buffer->AppendAndWait(Req("p", i + 1, LogLines(i, 50000), 7)).ok());
    }
    const BufferStats stats = buffer->Stats();
    EXPECT_EQ(stats.appended_payload_bytes, 20u * 50000);
    EXPECT_LT(stats.appended_stored_bytes, stats.appended_payload_bytes / 3);
    EXPECT_EQ(stats.bytes, stats.appended_stored_bytes);  // the budget counts bytes as stored
    // Read from the memtable, then (reopened) replayed from the log, then
    // from table files.
    auto read = buffer->Read(0, 100, 1 << 30);
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_EQ(read->size(), 20u);
    for (int i = 0; i < 20; ++i) EXPECT_EQ((*read)[i].payload, LogLines(i, 50000)) << i;
    EXPECT_EQ((*read)[0].record_count, 7u);
  }
  for (const bool flush : {false, true}) {
    auto buffer = OpenOrDie(dir);
    if (flush) {
      ASSERT_TRUE(buffer->FlushForTesting().ok());
    }
    EXPECT_LT(buffer->Stats().bytes, 20u * 50000 / 3);
    auto read = buffer->Read(0, 100, 1 << 30);
    ASSERT_TRUE(read.ok()) << read.status();
    ASSERT_EQ(read->size(), 20u);
    for (int i = 0; i < 20; ++i) EXPECT_EQ((*read)[i].payload, LogLines(i, 50000)) << i;
  }
}

TEST(RocksDbBufferTest, IncompressiblePayloadsAreStoredAsIs) {
  auto buffer = OpenOrDie(TestDir("incompressible"));
  ASSERT_TRUE(buffer->AppendAndWait(Req("", 0, Incompressible(50000))).ok());
  const BufferStats stats = buffer->Stats();
  EXPECT_EQ(stats.appended_stored_bytes, 50000u);
  EXPECT_EQ(stats.appended_payload_bytes, 50000u);
  auto read = buffer->Read(0, 10, 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].payload, Incompressible(50000));
}

TEST(RocksDbBufferTest, EntriesStoredEitherWayStayReadableWhenTheSettingChanges) {
  const std::string dir = TestDir("mixed");
  BufferOptions none;
  none.compression = Compression::kNone;
  {
    auto buffer = OpenOrDie(dir, none);
    ASSERT_TRUE(buffer->AppendAndWait(Req("p", 1, LogLines(1, 20000))).ok());
    EXPECT_EQ(buffer->Stats().appended_stored_bytes, 20000u);
  }
  {
    auto buffer = OpenOrDie(dir);  // lz4
    ASSERT_TRUE(buffer->AppendAndWait(Req("p", 2, LogLines(2, 20000))).ok());
    EXPECT_LT(buffer->Stats().appended_stored_bytes, 20000u / 3);
  }
  auto buffer = OpenOrDie(dir, none);
  EXPECT_EQ(buffer->ResumePoint("p"), 2u);
  auto read = buffer->Read(0, 10, 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status();
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].payload, LogLines(1, 20000));
  EXPECT_EQ((*read)[1].payload, LogLines(2, 20000));
}

// max_bytes bounds what a reader holds in memory: payloads as appended, not
// as stored.
TEST(RocksDbBufferTest, ReadCountsPayloadsAsAppendedAgainstMaxBytes) {
  auto buffer = OpenOrDie(TestDir("read_bytes"));
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(buffer->AppendAndWait(Req("", 0, LogLines(i, 10000))).ok());
  }
  ASSERT_LT(buffer->Stats().bytes, 10000u);  // all three stored in less than one
  auto read = buffer->Read(0, 10, 15000);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->size(), 1u);
}

// Appends until the buffer reports `nearly_full` (false if it has not within
// 10 s). Each append makes the syncer run, and it measures the free space
// again at most every 10 ms.
bool AppendUntilNearlyFullIs(RocksDbBuffer* buffer, bool nearly_full) {
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (buffer->Stats().filesystem_nearly_full != nearly_full) {
    if (absl::Now() > deadline) return false;
    auto r = buffer->AppendAndWait(Req("", 0, "x"));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return false;
  }
  return true;
}

TEST(RocksDbBufferTest, NoticesWithinMillisecondsThatTheFileSystemIsNearlyFull) {
  const std::string dir = TestDir("nearly_full");
  std::atomic<uint64_t> free_bytes{uint64_t{50} << 30};
  BufferOptions options;
  options.maintenance_interval = absl::Hours(1);  // only the syncer measures again
  options.free_space = [&free_bytes](const std::string&) {
    return std::optional<uint64_t>(free_bytes.load());
  };
  auto buffer = OpenOrDie(dir, options);
  BufferStats stats = buffer->Stats();
  ASSERT_TRUE(stats.filesystem_free_bytes.has_value());
  EXPECT_EQ(*stats.filesystem_free_bytes, uint64_t{50} << 30);
  EXPECT_FALSE(stats.filesystem_nearly_full);

  // Below the margin (max(1 GiB, twice the memory budget)): writes and fsyncs
  // now exclude each other, and appends still succeed.
  free_bytes = 100 << 20;
  ASSERT_TRUE(AppendUntilNearlyFullIs(buffer.get(), true));
  EXPECT_EQ(buffer->Stats().filesystem_free_bytes, uint64_t{100} << 20);
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(buffer->AppendAndWait(Req("", 0, "gated")).ok());

  // Room again: back to writes that never wait for an fsync.
  free_bytes = uint64_t{50} << 30;
  ASSERT_TRUE(AppendUntilNearlyFullIs(buffer.get(), false));
  auto read = buffer->Read(0, 1000, 1 << 20);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->size(), buffer->Stats().appends);
}

TEST(RocksDbBufferTest, RetentionRemovesOldEntriesAndCountsThemAgainstConsumers) {
  const std::string dir = TestDir("retention");
  FakeClock clock;
  BufferOptions options;
  options.retention = absl::Hours(1);
  options.maintenance_interval = absl::Hours(1);
  options.clock = [&clock] { return clock.Now(); };
  auto buffer = OpenOrDie(dir, options);
  ASSERT_TRUE(buffer->OpenConsumer("never-reads").ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(buffer->AppendAndWait(Req("", 0, "old", 5)).ok());
  clock.Advance(absl::Minutes(90));
  buffer->RunMaintenance();
  BufferStats stats = buffer->Stats();
  EXPECT_EQ(stats.expired_entries, 3u);
  EXPECT_EQ(stats.entries, 0u);
  ASSERT_EQ(stats.consumers.size(), 1u);
  EXPECT_EQ(stats.consumers[0].lost_entries, 3u);
  EXPECT_EQ(stats.consumers[0].lost_records, 15u);
  auto fresh = buffer->AppendAndWait(Req("", 0, "new"));
  ASSERT_TRUE(fresh.ok());
  clock.Advance(absl::Minutes(10));
  ASSERT_TRUE(buffer->AppendAndWait(Req("", 0, "newer")).ok());
  buffer->RunMaintenance();
  EXPECT_EQ(buffer->Stats().entries, 2u);
  // The oldest retained entry is the one appended 10 minutes before "newer".
  EXPECT_EQ(buffer->Stats().oldest_append_time, clock.Now() - absl::Minutes(10));
}

TEST(RocksDbBufferTest, IdleProducersAreForgottenAfterTheirTtlAndStayForgottenAfterReopen) {
  const std::string dir = TestDir("producer_ttl");
  FakeClock clock;
  BufferOptions options;
  options.producer_ttl = absl::Hours(24);
  options.maintenance_interval = absl::Hours(1000);
  options.clock = [&clock] { return clock.Now(); };
  {
    auto buffer = OpenOrDie(dir, options);
    ASSERT_TRUE(buffer->AppendAndWait(Req("idle", 7, "a")).ok());
    clock.Advance(absl::Hours(20));
    ASSERT_TRUE(buffer->AppendAndWait(Req("busy", 3, "b")).ok());
    clock.Advance(absl::Hours(5));  // idle: 25 h since its append; busy: 5 h
    buffer->RunMaintenance();
    const BufferStats stats = buffer->Stats();
    EXPECT_EQ(stats.producers, 1u);
    EXPECT_EQ(stats.forgotten_producers, 1u);
    EXPECT_EQ(buffer->ResumePoint("idle"), 0u);
    EXPECT_EQ(buffer->ResumePoint("busy"), 3u);
    ASSERT_TRUE(buffer->Close().ok());
  }
  auto buffer = OpenOrDie(dir, options);
  EXPECT_EQ(buffer->ResumePoint("idle"), 0u);
  EXPECT_EQ(buffer->ResumePoint("busy"), 3u);
  // Past the dedupe window a resend is stored again, as documented.
  auto resent = buffer->AppendAndWait(Req("idle", 7, "a"));
  ASSERT_TRUE(resent.ok());
  EXPECT_FALSE(resent->duplicate);
}

TEST(RocksDbBufferTest, TornWalTailIsReportedAndEverythingBeforeItKept) {
  const std::string dir = TestDir("torn");
  {
    auto buffer = OpenOrDie(dir);
    for (int i = 1; i <= 5; ++i) {
      ASSERT_TRUE(buffer->AppendAndWait(Req("p", i, Incompressible(10000, i))).ok());
    }
    ASSERT_TRUE(buffer->Close().ok());
  }
  auto wals = FilesWithExtension(dir, ".log");
  ASSERT_FALSE(wals.empty());
  const fs::path wal = wals.back();
  fs::resize_file(wal, fs::file_size(wal) - 3000);  // cut into the last record

  auto buffer = OpenOrDie(dir);
  EXPECT_TRUE(buffer->open_report().wal_tail_dropped);
  EXPECT_FALSE(buffer->open_report().detail.empty());
  EXPECT_EQ(buffer->open_report().entries, 4u);
  EXPECT_EQ(buffer->ResumePoint("p"), 4u);  // the torn batch can be resent
  auto read = buffer->Read(0, 10, 1 << 30);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 4u);
  EXPECT_EQ((*read)[3].payload, Incompressible(10000, 4));
}

TEST(RocksDbBufferTest, CorruptionInsideTheWalFailsOpenWithAClearError) {
  const std::string dir = TestDir("corrupt_wal");
  {
    auto buffer = OpenOrDie(dir);
    for (int i = 1; i <= 5; ++i) {
      ASSERT_TRUE(buffer->AppendAndWait(Req("p", i, Incompressible(10000, i))).ok());
    }
    ASSERT_TRUE(buffer->Close().ok());
  }
  const fs::path wal = FilesWithExtension(dir, ".log").back();
  {
    std::fstream f(wal, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(12000);
    f.write("CORRUPTION!!", 12);
  }
  auto buffer = RocksDbBuffer::Open(dir, {});
  ASSERT_FALSE(buffer.ok());
  EXPECT_EQ(buffer.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(buffer.status().message().find("tributary wal repair"), std::string::npos)
      << buffer.status();
}

TEST(RocksDbBufferTest, CorruptTableFileIsReportedWhenRead) {
  const std::string dir = TestDir("corrupt_sst");
  {
    auto buffer = OpenOrDie(dir);
    for (int i = 1; i <= 5; ++i) {
      ASSERT_TRUE(buffer->AppendAndWait(Req("p", i, Incompressible(100000, i))).ok());
    }
    ASSERT_TRUE(buffer->FlushForTesting().ok());
    ASSERT_TRUE(buffer->Close().ok());
  }
  // The largest table file holds the entries; damage a byte in the middle.
  fs::path sst;
  for (const auto& f : FilesWithExtension(dir, ".sst")) {
    if (sst.empty() || fs::file_size(f) > fs::file_size(sst)) sst = f;
  }
  ASSERT_FALSE(sst.empty());
  {
    std::fstream f(sst, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(fs::file_size(sst) / 2);
    f.write("\xde\xad\xbe\xef", 4);
  }
  auto buffer = RocksDbBuffer::Open(dir, {});
  if (!buffer.ok()) {
    EXPECT_EQ(buffer.status().code(), absl::StatusCode::kDataLoss) << buffer.status();
    return;
  }
  auto read = (*buffer)->Read(0, 10, 1 << 30);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(read.status().message().find("wal verify"), std::string::npos) << read.status();
}

TEST(RocksDbBufferTest, SecondOpenOfTheSameDirectoryIsRefused) {
  const std::string dir = TestDir("locked");
  auto first = OpenOrDie(dir);
  auto second = RocksDbBuffer::Open(dir, {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable) << second.status();
  EXPECT_NE(second.status().message().find("in use by another process"), std::string::npos)
      << second.status();
}

TEST(RocksDbBufferTest, ManyAppendsShareOneFsync) {
  const std::string dir = TestDir("group_commit");
  auto buffer = OpenOrDie(dir);
  constexpr int kAppends = 400;
  Mutex mu;
  int done = 0, failed = 0;
  for (int i = 0; i < kAppends; ++i) {
    buffer->Append(Req("", 0, std::string(4000, 'g')), [&](absl::StatusOr<AppendResult> r) {
      MutexLock l(&mu);
      ++done;
      if (!r.ok()) ++failed;
    });
  }
  {
    MutexLock l(&mu);
    auto all = [&] { return done == kAppends; };
    mu.Await(all);
  }
  EXPECT_EQ(failed, 0);
  const BufferStats stats = buffer->Stats();
  EXPECT_GT(stats.syncs, 0u);
  EXPECT_LT(stats.syncs, static_cast<uint64_t>(kAppends));
  uint64_t histogram_total = 0;
  for (uint64_t c : stats.sync_latency_counts) histogram_total += c;
  EXPECT_EQ(histogram_total, stats.syncs);
}

// Flushes use O_DIRECT only where a probe file can be opened with it.
TEST(RocksDbBufferTest, DirectIoProbeFailsWhereNoFileCanBeOpened) {
  EXPECT_FALSE(DirectIoSupported(TestDir("no_such_dir")));
  const std::string dir = TestDir("probe");
  fs::create_directories(dir);
  DirectIoSupported(dir);
  EXPECT_TRUE(fs::is_empty(dir)) << "the probe file was left behind";
}

// A buffer on tmpfs (O_DIRECT support there depends on the kernel) opens and
// flushes either way.
TEST(RocksDbBufferTest, OpensAndFlushesOnTmpfs) {
  // A directory of its own: /dev/shm is shared by every sandbox, and runs of
  // this test in separate PID namespaces can have the same pid.
  char name[] = "/dev/shm/tributary-test-XXXXXX";
  if (mkdtemp(name) == nullptr) GTEST_SKIP() << "no writable /dev/shm here";
  const std::string dir = name;
  std::error_code ec;
  {
    auto buffer = OpenOrDie(dir);
    ASSERT_NE(buffer, nullptr);
    ASSERT_TRUE(buffer->AppendAndWait(Req("", 0, std::string(100000, 'd'))).ok());
    ASSERT_TRUE(buffer->FlushForTesting().ok());
    auto read = buffer->Read(0, 10, 1 << 20);
    ASSERT_TRUE(read.ok()) << read.status();
    EXPECT_EQ(read->size(), 1u);
  }
  fs::remove_all(dir, ec);
}

}  // namespace
}  // namespace tributary::storage
