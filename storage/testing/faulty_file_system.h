// A file system under RocksDB that fails writes to, or syncs of, the WAL on
// demand (a full disk, or a failed fsync), or holds WAL syncs until released,
// for tests.
#pragma once

#include <atomic>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/file_system.h"

namespace tributary::storage::testing {

// Fails writes to, or syncs of, RocksDB's WAL files (*.log) while told to.
class FaultyFileSystem : public rocksdb::FileSystemWrapper {
 public:
  FaultyFileSystem() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FaultyFileSystem"; }

  std::atomic<bool> fail_wal_writes{false};
  std::atomic<bool> fail_wal_syncs{false};

  // While held, a WAL sync waits (inside the file, after RocksDB's own checks)
  // until released.
  void HoldWalSyncs() {
    absl::MutexLock lock(&hold_mu_);
    held_ = true;
  }
  void ReleaseWalSyncs() {
    absl::MutexLock lock(&hold_mu_);
    held_ = false;
  }
  // Waits until a WAL sync is waiting on the hold.
  void AwaitHeldSync() {
    absl::MutexLock lock(&hold_mu_);
    hold_mu_.Await(absl::Condition(+[](int* n) { return *n > 0; }, &syncs_waiting_));
  }

  rocksdb::IOStatus NewWritableFile(const std::string& name, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* file,
                                    rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewWritableFile(name, options, file, dbg);
    if (s.ok() && absl::EndsWith(name, ".log")) file->reset(new WalFile(std::move(*file), this));
    return s;
  }

 private:
  class WalFile : public rocksdb::FSWritableFileOwnerWrapper {
   public:
    WalFile(std::unique_ptr<rocksdb::FSWritableFile> file, FaultyFileSystem* fs)
        : FSWritableFileOwnerWrapper(std::move(file)), fs_(fs) {}
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
      if (fs_->fail_wal_writes) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return FSWritableFileOwnerWrapper::Append(data, options, dbg);
    }
    rocksdb::IOStatus Append(const rocksdb::Slice& data, const rocksdb::IOOptions& options,
                             const rocksdb::DataVerificationInfo& info,
                             rocksdb::IODebugContext* dbg) override {
      if (fs_->fail_wal_writes) return rocksdb::IOStatus::NoSpace("injected: disk full");
      return FSWritableFileOwnerWrapper::Append(data, options, info, dbg);
    }
    rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
      fs_->WaitWhileHeld();
      if (fs_->fail_wal_syncs) return rocksdb::IOStatus::IOError("injected: fsync failed");
      return FSWritableFileOwnerWrapper::Sync(options, dbg);
    }
    rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                            rocksdb::IODebugContext* dbg) override {
      fs_->WaitWhileHeld();
      if (fs_->fail_wal_syncs) return rocksdb::IOStatus::IOError("injected: fsync failed");
      return FSWritableFileOwnerWrapper::Fsync(options, dbg);
    }

   private:
    FaultyFileSystem* const fs_;
  };

  void WaitWhileHeld() {
    absl::MutexLock lock(&hold_mu_);
    ++syncs_waiting_;
    hold_mu_.Await(absl::Condition(+[](bool* held) { return !*held; }, &held_));
    --syncs_waiting_;
  }

  absl::Mutex hold_mu_;
  bool held_ ABSL_GUARDED_BY(hold_mu_) = false;
  int syncs_waiting_ ABSL_GUARDED_BY(hold_mu_) = 0;
};

}  // namespace tributary::storage::testing
