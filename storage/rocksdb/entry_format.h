// How the RocksDB buffer lays out its data. Shared by RocksDbBuffer and the
// offline verify/repair tool.
//
// Column families:
//   entries: key = 8-byte big-endian offset, value = EntryHeader + payload
//            (LZ4-compressed when that saves at least an eighth)
//   index:   key = 8-byte big-endian offset, value = IndexValue (16 bytes)
//   meta:    "c/<consumer>" cursor, "l/<consumer>" loss counters,
//            "p/<producer>" highest seq and last append time (ProducerValue),
//            "first" oldest retained offset
// An entry, its index row and its producer's seq are written in one WriteBatch,
// so they are durable together.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace tributary::storage::rocksdb_format {

inline constexpr char kEntriesFamily[] = "entries";
inline constexpr char kIndexFamily[] = "index";
inline constexpr char kMetaFamily[] = "meta";

inline constexpr char kCursorPrefix[] = "c/";
inline constexpr char kLossPrefix[] = "l/";
inline constexpr char kProducerPrefix[] = "p/";
inline constexpr char kFirstKey[] = "first";

// The first byte of an entry value says how the payload is stored.
inline constexpr uint8_t kEntryRaw = 1;  // header (13 bytes), then the payload as appended
inline constexpr uint8_t kEntryLz4 = 2;  // header, payload size (4 bytes), then one LZ4 block
inline constexpr size_t kRawHeaderSize = 13;  // format, time ns, record count
inline constexpr size_t kLz4HeaderSize = 17;

std::string OffsetKey(uint64_t offset);
std::optional<uint64_t> ParseOffsetKey(absl::string_view key);

std::string EncodeFixed64(uint64_t v);
std::optional<uint64_t> DecodeFixed64(absl::string_view s);

struct EntryHeader {
  absl::Time append_time;
  uint32_t record_count = 0;
  // The payload's size as appended, for an LZ4 entry; 0 for a raw one.
  uint32_t payload_bytes = 0;
  bool compressed() const { return payload_bytes > 0; }
  size_t size() const { return compressed() ? kLz4HeaderSize : kRawHeaderSize; }
};
std::string EncodeEntryHeader(const EntryHeader& h);
// Parses the header at the start of an entry value; nullopt if malformed.
std::optional<EntryHeader> DecodeEntryHeader(absl::string_view value);

// LZ4-compresses `payload` into `out` when that saves at least an eighth of
// its size; otherwise returns false (the payload is then stored as is).
bool CompressPayload(absl::string_view payload, std::string* out);
// The payload of an entry value whose header is `h`, decompressed if need be.
// False if the value is malformed (a compressed block that does not decode to
// exactly the recorded size).
bool DecodeEntryPayload(absl::string_view value, const EntryHeader& h, std::string* payload);

struct IndexValue {
  absl::Time append_time;
  uint32_t payload_bytes = 0;  // as stored: after compression, without the header
  uint32_t record_count = 0;
};
std::string EncodeIndexValue(const IndexValue& v);
std::optional<IndexValue> DecodeIndexValue(absl::string_view s);

struct ProducerValue {
  uint64_t seq = 0;
  absl::Time last_append;
};
std::string EncodeProducerValue(const ProducerValue& v);
std::optional<ProducerValue> DecodeProducerValue(absl::string_view s);

struct LossValue {
  uint64_t entries = 0;
  uint64_t records = 0;
};
std::string EncodeLossValue(const LossValue& v);
std::optional<LossValue> DecodeLossValue(absl::string_view s);

}  // namespace tributary::storage::rocksdb_format
