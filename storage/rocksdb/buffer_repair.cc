#include "storage/rocksdb/buffer_repair.h"

#include <filesystem>
#include <memory>
#include <optional>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "storage/rocksdb/entry_format.h"
#include "storage/rocksdb/rocksdb_options.h"

namespace tributary::storage {
namespace {

namespace fs = std::filesystem;
namespace fmt = rocksdb_format;

absl::string_view AsView(const rocksdb::Slice& s) { return absl::string_view(s.data(), s.size()); }

// A read-only handle on a buffer directory.
struct ReadOnlyDb {
  std::unique_ptr<rocksdb::DB> db;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::ColumnFamilyHandle* entries() const { return handles[1]; }
  rocksdb::ColumnFamilyHandle* index() const { return handles[2]; }
  rocksdb::ColumnFamilyHandle* meta() const { return handles[3]; }
  ~ReadOnlyDb() {
    for (auto* h : handles) db->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  }
};

rocksdb::Status OpenReadOnly(const std::string& dir, rocksdb::WALRecoveryMode mode,
                             std::unique_ptr<ReadOnlyDb>* out) {
  BufferOptions defaults;
  rocksdb::Options options = BufferDbOptions(defaults);
  options.create_if_missing = false;
  options.wal_recovery_mode = mode;
  auto ro = std::make_unique<ReadOnlyDb>();
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::OpenForReadOnly(options, dir, BufferColumnFamilies(defaults),
                                                   &ro->handles, &raw);
  if (s.ok()) {
    ro->db.reset(raw);
    *out = std::move(ro);
  }
  return s;
}

absl::Status CheckIsBuffer(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return absl::NotFoundError(absl::StrCat(dir, " is not a directory"));
  if (!fs::exists(fs::path(dir) / "CURRENT", ec)) {
    return absl::NotFoundError(absl::StrCat(dir, " does not hold a write-ahead buffer (no CURRENT file)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<VerifyReport> VerifyBuffer(const std::string& dir) {
  if (absl::Status s = CheckIsBuffer(dir); !s.ok()) return s;
  VerifyReport report;
  auto problem = [&](std::string p) {
    report.healthy = false;
    report.problems.push_back(std::move(p));
  };

  std::unique_ptr<ReadOnlyDb> db;
  rocksdb::Status s = OpenReadOnly(dir, rocksdb::WALRecoveryMode::kAbsoluteConsistency, &db);
  if (s.IsCorruption()) {
    const std::string strict = s.ToString();
    s = OpenReadOnly(dir, rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords, &db);
    if (s.ok()) {
      problem(absl::StrCat("The write-ahead log ends in a torn record (", strict,
                           "); the collector drops it on open, losing only writes that were "
                           "never acknowledged."));
    } else {
      problem(absl::StrCat("The write-ahead log is damaged before its end: ", strict,
                           ". Entries after the damage are not replayed; run `tributary wal "
                           "repair` to keep every intact entry."));
      s = OpenReadOnly(dir, rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords, &db);
      if (!s.ok()) s = OpenReadOnly(dir, rocksdb::WALRecoveryMode::kPointInTimeRecovery, &db);
    }
  }
  if (!s.ok()) {
    problem(absl::StrCat("The buffer's files cannot be opened: ", s.ToString(),
                         ". Run `tributary wal repair`."));
    return report;
  }

  rocksdb::Status checksums = db->db->VerifyChecksum();
  if (!checksums.ok()) {
    problem(absl::StrCat("A table file failed its checksum: ", checksums.ToString(), "."));
  }

  // Entries and index must describe the same offsets.
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> entries(db->db->NewIterator(ro, db->entries()));
  std::unique_ptr<rocksdb::Iterator> index(db->db->NewIterator(ro, db->index()));
  entries->SeekToFirst();
  index->SeekToFirst();
  uint64_t mismatches = 0;
  bool first = true;
  std::string payload;
  while (entries->Valid() || index->Valid()) {
    auto eo = entries->Valid() ? fmt::ParseOffsetKey(AsView(entries->key())) : std::nullopt;
    auto io = index->Valid() ? fmt::ParseOffsetKey(AsView(index->key())) : std::nullopt;
    if ((entries->Valid() && !eo) || (index->Valid() && !io)) {
      problem("A key of the wrong shape was found in the entries or index.");
      break;
    }
    if (eo && (!io || *eo < *io)) {
      ++mismatches;
      entries->Next();
      continue;
    }
    if (io && (!eo || *io < *eo)) {
      ++mismatches;
      index->Next();
      continue;
    }
    const absl::string_view value = AsView(entries->value());
    auto header = fmt::DecodeEntryHeader(value);
    auto row = fmt::DecodeIndexValue(AsView(index->value()));
    // A compressed payload is decompressed too: its block has no checksum of
    // its own beyond RocksDB's.
    const bool intact = header && fmt::DecodeEntryPayload(value, *header, &payload);
    const uint64_t size = header ? value.size() - header->size() : 0;
    if (!intact || !row || row->payload_bytes != size ||
        row->record_count != header->record_count) {
      ++mismatches;
    } else {
      ++report.entries;
      report.records += header->record_count;
      report.payload_bytes += size;
      report.appended_payload_bytes += payload.size();
      if (first) report.first_offset = *eo;
      first = false;
      report.last_offset = *eo;
    }
    entries->Next();
    index->Next();
  }
  if (!entries->status().ok()) {
    problem(absl::StrCat("Reading entries stopped after offset ", report.last_offset, ": ",
                         entries->status().ToString(), "."));
  }
  if (!index->status().ok()) {
    problem(absl::StrCat("Reading the index failed: ", index->status().ToString(), "."));
  }
  if (mismatches > 0) {
    problem(absl::StrCat(mismatches, " entries and index rows disagree or are malformed."));
  }

  std::unique_ptr<rocksdb::Iterator> meta(db->db->NewIterator(ro, db->meta()));
  for (meta->SeekToFirst(); meta->Valid(); meta->Next()) {
    const absl::string_view key = AsView(meta->key());
    if (absl::StartsWith(key, fmt::kCursorPrefix)) {
      ++report.consumers;
      auto next = fmt::DecodeFixed64(AsView(meta->value()));
      if (!next) {
        problem(absl::StrCat("The cursor of ", key.substr(2), " is malformed."));
        continue;
      }
      report.cursor_lines.push_back(absl::StrCat(key.substr(2), ": next=", *next));
    } else if (absl::StartsWith(key, fmt::kProducerPrefix)) {
      ++report.producers;
      if (!fmt::DecodeProducerValue(AsView(meta->value()))) {
        problem(absl::StrCat("The dedupe row of producer ", key.substr(2), " is malformed."));
      }
    }
  }
  if (!meta->status().ok()) {
    problem(absl::StrCat("Reading metadata failed: ", meta->status().ToString(), "."));
  }
  return report;
}

absl::StatusOr<RepairReport> RepairBuffer(const std::string& dir_in) {
  const std::string dir = fs::path(dir_in).lexically_normal().string();
  if (absl::Status s = CheckIsBuffer(dir); !s.ok()) return s;
  RepairReport report;
  report.damaged_copy =
      absl::StrCat(dir, ".damaged-", absl::FormatTime("%Y%m%dT%H%M%S", absl::Now(), absl::UTCTimeZone()));
  std::error_code ec;
  fs::rename(dir, report.damaged_copy, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("cannot move ", dir, " aside to ", report.damaged_copy, ": ", ec.message()));
  }

  // Open the damaged files as tolerantly as possible; if even that fails (a
  // damaged MANIFEST), let RocksDB rebuild its metadata on a scratch copy.
  std::unique_ptr<ReadOnlyDb> src;
  rocksdb::Status s =
      OpenReadOnly(report.damaged_copy, rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords, &src);
  if (!s.ok()) {
    // Skipping damaged records can splice fragments of a large record into a
    // bogus one; then keep everything before the damage instead.
    report.notes.push_back(absl::StrCat("Skipping damaged log records failed (", s.ToString(),
                                        "); kept the log up to the damage."));
    s = OpenReadOnly(report.damaged_copy, rocksdb::WALRecoveryMode::kPointInTimeRecovery, &src);
  }
  std::string scratch;
  if (!s.ok()) {
    report.notes.push_back(absl::StrCat("Opening the damaged files failed (", s.ToString(),
                                        "); rebuilt their metadata on a scratch copy."));
    scratch = dir + ".repair-scratch";
    fs::remove_all(scratch, ec);
    fs::copy(report.damaged_copy, scratch, fs::copy_options::recursive, ec);
    if (ec) return absl::UnavailableError(absl::StrCat("cannot copy to ", scratch, ": ", ec.message()));
    BufferOptions defaults;
    rocksdb::Options options = BufferDbOptions(defaults);
    s = rocksdb::RepairDB(scratch, options, BufferColumnFamilies(defaults));
    if (s.ok()) s = OpenReadOnly(scratch, rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords, &src);
    if (!s.ok()) {
      return absl::DataLossError(absl::StrCat("cannot recover anything from ", report.damaged_copy,
                                              ": ", s.ToString()));
    }
  }

  // The fresh buffer.
  BufferOptions defaults;
  rocksdb::Options options = BufferDbOptions(defaults);
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  s = rocksdb::DB::Open(options, dir, BufferColumnFamilies(defaults), &handles, &raw);
  if (!s.ok()) return absl::UnavailableError(absl::StrCat("cannot create ", dir, ": ", s.ToString()));
  std::unique_ptr<rocksdb::DB> dst(raw);
  rocksdb::WriteOptions wo;
  absl::Status result = absl::OkStatus();
  auto write = [&](rocksdb::WriteBatch* b) {
    if (!result.ok()) return;
    rocksdb::Status ws = dst->Write(wo, b);
    if (!ws.ok()) result = absl::UnavailableError(absl::StrCat("writing ", dir, ": ", ws.ToString()));
    b->Clear();
  };

  // Metadata: cursors, loss counters, producer seqs, the offset floor.
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  {
    rocksdb::WriteBatch batch;
    std::unique_ptr<rocksdb::Iterator> it(src->db->NewIterator(ro, src->meta()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      batch.Put(handles[3], it->key(), it->value());
    }
    if (!it->status().ok()) {
      report.notes.push_back(absl::StrCat("Part of the metadata (cursors, producer seqs) was "
                                          "unreadable: ", it->status().ToString()));
    }
    write(&batch);
  }

  // The offsets the old index knew of, to tell what was lost.
  std::map<uint64_t, uint32_t> known;  // offset -> records
  {
    std::unique_ptr<rocksdb::Iterator> it(src->db->NewIterator(ro, src->index()));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      auto off = fmt::ParseOffsetKey(AsView(it->key()));
      auto row = fmt::DecodeIndexValue(AsView(it->value()));
      if (off) known[*off] = row ? row->record_count : 0;
    }
    if (!it->status().ok()) {
      report.index_readable = false;
      report.notes.push_back(absl::StrCat("The index was partly unreadable (", it->status().ToString(),
                                          "); lost entries may be undercounted."));
    }
  }
  const uint64_t probe_limit = known.empty() ? 0 : known.rbegin()->first;

  // Entries: copy every one that reads back intact. After a damaged block,
  // probe forward offset by offset to the next readable entry.
  std::set<uint64_t> kept;
  {
    rocksdb::WriteBatch batch;
    std::string payload;
    std::unique_ptr<rocksdb::Iterator> it(src->db->NewIterator(ro, src->entries()));
    it->SeekToFirst();
    uint64_t last = 0;
    bool any = false;
    for (;;) {
      while (it->Valid()) {
        auto off = fmt::ParseOffsetKey(AsView(it->key()));
        const absl::string_view value = AsView(it->value());
        auto header = fmt::DecodeEntryHeader(value);
        if (off && header && fmt::DecodeEntryPayload(value, *header, &payload)) {
          const uint32_t size = static_cast<uint32_t>(value.size() - header->size());
          batch.Put(handles[1], it->key(), it->value());
          batch.Put(handles[2], it->key(),
                    fmt::EncodeIndexValue({header->append_time, size, header->record_count}));
          kept.insert(*off);
          ++report.kept_entries;
          report.kept_records += header->record_count;
          if (batch.GetDataSize() > (16u << 20)) write(&batch);
        }
        if (off) {
          last = *off;
          any = true;
        }
        it->Next();
      }
      if (it->status().ok()) break;
      // Damaged data: skip to the next offset that can be read.
      bool resumed = false;
      for (uint64_t probe = any ? last + 1 : 0; probe <= probe_limit; ++probe) {
        it->Seek(fmt::OffsetKey(probe));
        if (it->status().ok()) {
          resumed = true;
          break;
        }
        last = probe;
        any = true;
      }
      if (!resumed) break;
    }
    write(&batch);
  }
  if (!result.ok()) return result;

  // What was lost, as ranges of offsets.
  uint64_t range_start = 0, range_end = 0;
  bool in_range = false;
  auto flush_range = [&] {
    if (in_range) {
      report.lost_ranges.push_back(range_start == range_end
                                       ? absl::StrCat("offset ", range_start)
                                       : absl::StrCat("offsets ", range_start, "-", range_end));
    }
    in_range = false;
  };
  for (const auto& [off, records] : known) {
    if (kept.count(off)) {
      flush_range();
      continue;
    }
    ++report.lost_entries;
    report.lost_records += records;
    if (in_range && off == range_end + 1) {
      range_end = off;
    } else {
      flush_range();
      range_start = range_end = off;
      in_range = true;
    }
  }
  flush_range();

  rocksdb::Status fs_status = dst->SyncWAL();
  for (auto* h : handles) dst->DestroyColumnFamilyHandle(h).PermitUncheckedError();
  if (fs_status.ok()) fs_status = dst->Close();
  src.reset();
  if (!scratch.empty()) fs::remove_all(scratch, ec);
  if (!fs_status.ok()) {
    return absl::UnavailableError(absl::StrCat("finishing ", dir, ": ", fs_status.ToString()));
  }
  return report;
}

}  // namespace tributary::storage
