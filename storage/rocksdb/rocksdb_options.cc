#include "storage/rocksdb/rocksdb_options.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>

#include "rocksdb/cache.h"
#include "rocksdb/table.h"
#include "rocksdb/write_buffer_manager.h"
#include "storage/rocksdb/entry_format.h"

namespace tributary::storage {
namespace {

// Small families (index, meta) get small memtables.
constexpr size_t kSmallWriteBuffer = 4 << 20;

rocksdb::ColumnFamilyOptions SmallFamily(const std::shared_ptr<rocksdb::Cache>& cache) {
  rocksdb::ColumnFamilyOptions cf;
  cf.write_buffer_size = kSmallWriteBuffer;
  cf.max_write_buffer_number = 2;
  cf.compression = rocksdb::kNoCompression;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  return cf;
}

}  // namespace

bool DirectIoSupported(const std::string& dir) {
  const std::string probe = dir + "/.direct-io-probe";
  const int fd = open(probe.c_str(), O_CREAT | O_WRONLY | O_DIRECT, 0600);
  if (fd < 0) return false;
  close(fd);
  unlink(probe.c_str());
  return true;
}

rocksdb::Options BufferDbOptions(const BufferOptions& options, bool direct_io) {
  rocksdb::Options db;
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  db.paranoid_checks = true;
  db.max_open_files = -1;  // open (and checksum the metadata of) every table at startup
  // Two flush threads and one compaction thread. One flush thread fell behind
  // at full ingest, and with 3 immutable memtables RocksDB throttled every write
  // to 16 MB/s (Append p99 30-41 ms, against 9 ms with two; BENCHMARKS.md).
  db.max_background_flushes = 2;
  db.max_background_compactions = 1;
  // Written back gradually so a flush does not end in one long fsync.
  db.bytes_per_sync = 1 << 20;
  // Start WAL writeback as data arrives, so the group fsync has less to do.
  db.wal_bytes_per_sync = 1 << 20;
  // Flushes write each batch a second time (WAL, then table file). Through the
  // page cache that copy cost a quarter of all CPU and its writeback delayed
  // the WAL fsyncs; direct I/O raised throughput by ~45 % (BENCHMARKS.md).
  db.use_direct_io_for_flush_and_compaction = direct_io;
  // Table files (and the WAL) are written in pieces of at most this size. A
  // direct write of 1 MiB (the default) holds the disk's queue for as long as
  // it takes, and a WAL fsync waits behind it: append p99 at half rate 8.2 ms
  // with 1 MiB, 5.0 ms with 256 KiB (with 8 MiB memtables), for 3 % of the
  // maximum rate; 64 KiB cost 9 % (BENCHMARKS.md).
  db.writable_file_max_buffer_size = 256 << 10;
  db.keep_log_file_num = 3;
  db.max_log_file_size = 8 << 20;
  db.info_log_level = rocksdb::InfoLogLevel::WARN_LEVEL;
  // After a retryable I/O error (disk full, say) RocksDB retries on its own.
  db.bgerror_resume_retry_interval = 250 * 1000;  // microseconds
  const uint64_t budget = std::max<uint64_t>(options.memory_budget_bytes, 32ull << 20);
  // Three quarters of the budget for memtables (across all families), the rest
  // for the block cache.
  db.write_buffer_manager =
      std::make_shared<rocksdb::WriteBufferManager>(static_cast<size_t>(budget / 4 * 3));
  // Old WAL files are released once every family has flushed past them; force
  // the small families to flush instead of pinning WAL files.
  db.max_total_wal_size = budget;
  return db;
}

std::vector<rocksdb::ColumnFamilyDescriptor> BufferColumnFamilies(const BufferOptions& options) {
  const uint64_t budget = std::max<uint64_t>(options.memory_budget_bytes, 32ull << 20);
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(static_cast<size_t>(budget / 4));

  // Entries: large values under increasing keys, written once and read soon.
  // Each flushed file covers its own key range, so leveled compaction mostly
  // moves files without rewriting them. Compression off: on two cores,
  // compressing flushes stalls writes for seconds (see BENCHMARKS.md).
  rocksdb::ColumnFamilyOptions entries;
  // 8 MiB memtables: smaller flushes compete less with the WAL fsync (p99 at
  // half rate 20-32 ms with 16 MiB against 51-54 ms with 38-128 MiB, and
  // 7.0 ms with 8 MiB against 8.2 ms with 16 MiB; BENCHMARKS.md).
  entries.write_buffer_size = std::min<size_t>(8 << 20, budget / 4 * 3 / 5);
  entries.max_write_buffer_number = 8;  // room for flushes to catch up; capped by the budget
  entries.compression = rocksdb::kNoCompression;
  entries.level0_file_num_compaction_trigger = 4;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  table.block_size = 64 << 10;
  entries.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  return {
      {rocksdb::kDefaultColumnFamilyName, SmallFamily(cache)},
      {rocksdb_format::kEntriesFamily, entries},
      {rocksdb_format::kIndexFamily, SmallFamily(cache)},
      {rocksdb_format::kMetaFamily, SmallFamily(cache)},
  };
}

}  // namespace tributary::storage
