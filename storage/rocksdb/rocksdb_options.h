// RocksDB settings for the write-ahead buffer, shared by RocksDbBuffer and the
// offline verify/repair tool so both open the files the same way.
#pragma once

#include <string>
#include <vector>

#include "rocksdb/db.h"
#include "rocksdb/options.h"
#include "storage/options.h"

namespace tributary::storage {

// DB-wide options sized from the buffer's memory budget. `direct_io` makes
// flushes and compactions bypass the page cache (see DirectIoSupported).
rocksdb::Options BufferDbOptions(const BufferOptions& options, bool direct_io = false);

// Whether files in `dir` can be opened with O_DIRECT (not on tmpfs, say).
bool DirectIoSupported(const std::string& dir);

// The column families (default, entries, index, meta) with their options.
std::vector<rocksdb::ColumnFamilyDescriptor> BufferColumnFamilies(const BufferOptions& options);

}  // namespace tributary::storage
