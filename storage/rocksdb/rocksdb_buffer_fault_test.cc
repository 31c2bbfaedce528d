// RocksDbBuffer under I/O failure: a WAL that cannot be written (a full disk)
// or fsync'd. Failures are injected by a file system wrapper under RocksDB.
#include <atomic>
#include <memory>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "rocksdb/env.h"
#include "storage/rocksdb/rocksdb_buffer.h"
#include "storage/testing/buffer_test_util.h"
#include "storage/testing/faulty_file_system.h"

namespace tributary::storage {
namespace {

using testing::FaultyFileSystem;
using testing::Req;
using testing::TestDir;

// RocksDB recovers from a retryable I/O error on its own thread, with nothing
// to wait on; poll housekeeping for a bounded time.
bool AwaitWritable(RocksDbBuffer* buffer) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    buffer->RunMaintenance();
    if (buffer->Stats().writable) return true;
    absl::SleepFor(absl::Milliseconds(20));
  }
  return false;
}

class RocksDbBufferFaultTest : public ::testing::Test {
 protected:
  RocksDbBufferFaultTest()
      : fs_(std::make_shared<FaultyFileSystem>()), env_(rocksdb::NewCompositeEnv(fs_)) {}

  std::unique_ptr<RocksDbBuffer> Open(const std::string& name) {
    BufferOptions options;
    options.maintenance_interval = absl::Hours(1);  // RunMaintenance by hand
    auto b = RocksDbBuffer::Open(TestDir(name), options, env_.get());
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *std::move(b) : nullptr;
  }

  std::shared_ptr<FaultyFileSystem> fs_;
  std::unique_ptr<rocksdb::Env> env_;
};

TEST_F(RocksDbBufferFaultTest, FullDiskFailsTheAppendKeepsWhatWasAckedAndRecovers) {
  auto buffer = Open("full_disk");
  ASSERT_TRUE(buffer->AppendAndWait(Req("app", 1, "stored")).ok());

  fs_->fail_wal_writes = true;
  auto failed = buffer->AppendAndWait(Req("app", 2, "lost"));
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
  BufferStats stats = buffer->Stats();
  EXPECT_EQ(stats.append_errors, 1u);
  EXPECT_FALSE(stats.writable);
  EXPECT_NE(stats.last_error.find("append failed"), std::string::npos) << stats.last_error;
  EXPECT_EQ(stats.entries, 1u);  // the failed batch is not counted as retained
  EXPECT_EQ(buffer->ResumePoint("app"), 1u);

  // Space comes back; housekeeping resumes the database.
  fs_->fail_wal_writes = false;
  ASSERT_TRUE(AwaitWritable(buffer.get())) << buffer->Stats().last_error;
  // The failed seq was not stored, so its resend is stored (not a duplicate).
  auto resent = buffer->AppendAndWait(Req("app", 2, "resent"));
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_FALSE(resent->duplicate);
  auto read = buffer->Read(0, 10, 1 << 20);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 2u);
  EXPECT_EQ((*read)[0].payload, "stored");
  EXPECT_EQ((*read)[1].payload, "resent");
}

// Not only appends write to the log: a cursor commit that fails on a full
// disk leaves RocksDB's log writer failed just as a failed append does, and
// syncing a failed writer aborts the process (RocksDB asserts). Here the
// commit fails while the syncer is inside an fsync, with another append
// written and waiting for the next one: that next fsync must not happen until
// the database has been resumed.
TEST_F(RocksDbBufferFaultTest, AFailedCursorCommitIsNotFollowedByAnFsyncOfTheFailedLog) {
  auto buffer = Open("failed_commit");
  ASSERT_TRUE(buffer->AppendAndWait(Req("app", 1, "first")).ok());
  ASSERT_TRUE(buffer->OpenConsumer("reader").ok());

  fs_->HoldWalSyncs();
  absl::Mutex mu;
  int answered = 0;
  absl::Status second_status, third_status;
  buffer->Append(Req("app", 2, "second"), [&](absl::StatusOr<AppendResult> r) {
    absl::MutexLock lock(&mu);
    second_status = r.status();
    ++answered;
  });
  fs_->AwaitHeldSync();  // the syncer is inside the fsync that covers "second"
  buffer->Append(Req("app", 3, "third"), [&](absl::StatusOr<AppendResult> r) {
    absl::MutexLock lock(&mu);
    third_status = r.status();
    ++answered;
  });
  fs_->fail_wal_writes = true;
  const absl::Status commit = buffer->CommitCursor("reader", 1);
  fs_->fail_wal_writes = false;
  EXPECT_FALSE(commit.ok());
  EXPECT_FALSE(buffer->Stats().writable);
  fs_->ReleaseWalSyncs();

  // Housekeeping resumes the database; both appends get an answer.
  ASSERT_TRUE(AwaitWritable(buffer.get())) << buffer->Stats().last_error;
  {
    absl::MutexLock lock(&mu);
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(+[](int* n) { return *n == 2; }, &answered),
                                    absl::Seconds(20)));
    EXPECT_TRUE(second_status.ok()) << second_status;
  }
  // Whatever "third" was told, a resend settles it, and the commit works again.
  auto resent = buffer->AppendAndWait(Req("app", 3, "third"));
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_TRUE(buffer->CommitCursor("reader", 1).ok());
  auto read = buffer->Read(0, 10, 1 << 20);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 3u);
  EXPECT_EQ((*read)[1].payload, "second");
  EXPECT_EQ((*read)[2].payload, "third");
}

// A failed fsync cannot be retried safely (the kernel may have dropped the
// dirty pages), so the buffer refuses appends until it is reopened; reopening
// replays the log, and the batch is then stored exactly once.
TEST_F(RocksDbBufferFaultTest, FailedFsyncStopsAppendsUntilReopenWhichRecoversTheBatchOnce) {
  const std::string dir = TestDir("failed_fsync");
  BufferOptions options;
  {
    auto opened = RocksDbBuffer::Open(dir, options, env_.get());
    ASSERT_TRUE(opened.ok()) << opened.status();
    auto& buffer = *opened;
    fs_->fail_wal_syncs = true;
    auto failed = buffer->AppendAndWait(Req("app", 1, "first"));
    ASSERT_FALSE(failed.ok());
    EXPECT_EQ(failed.status().code(), absl::StatusCode::kUnavailable) << failed.status();
    fs_->fail_wal_syncs = false;

    const BufferStats stats = buffer->Stats();
    EXPECT_EQ(stats.sync_errors, 1u);
    EXPECT_FALSE(stats.writable);
    EXPECT_NE(stats.last_error.find("restarts"), std::string::npos) << stats.last_error;
    auto refused = buffer->AppendAndWait(Req("app", 2, "second"));
    EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
    EXPECT_NE(refused.status().message().find("fsync"), std::string::npos) << refused.status();
    // Nothing unsynced is shown to consumers.
    auto read = buffer->Read(0, 10, 1 << 20);
    ASSERT_TRUE(read.ok());
    EXPECT_TRUE(read->empty());
    // Closing may report the same I/O error again; what matters is the reopen.
    buffer->Close().IgnoreError();
  }
  auto reopened = RocksDbBuffer::Open(dir, options, env_.get());
  ASSERT_TRUE(reopened.ok()) << reopened.status();
  auto& buffer = *reopened;
  EXPECT_TRUE(buffer->Stats().writable);
  // The write had reached the log: it is back, once, and its resend is a duplicate.
  EXPECT_EQ(buffer->ResumePoint("app"), 1u);
  auto resent = buffer->AppendAndWait(Req("app", 1, "first"));
  ASSERT_TRUE(resent.ok()) << resent.status();
  EXPECT_TRUE(resent->duplicate);
  auto read = buffer->Read(0, 10, 1 << 20);
  ASSERT_TRUE(read.ok());
  ASSERT_EQ(read->size(), 1u);
  EXPECT_EQ((*read)[0].payload, "first");
  auto next = buffer->AppendAndWait(Req("app", 2, "second"));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_FALSE(next->duplicate);
}

}  // namespace
}  // namespace tributary::storage
