#include "storage/rocksdb/entry_format.h"

#include <cstring>

#include "lz4.h"

namespace tributary::storage::rocksdb_format {
namespace {

void PutLittle(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLittle(const char* p, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<uint8_t>(p[i])) << (8 * i);
  return v;
}

}  // namespace

std::string OffsetKey(uint64_t offset) {
  std::string key(8, '\0');
  for (int i = 7; i >= 0; --i) {
    key[i] = static_cast<char>(offset & 0xff);
    offset >>= 8;
  }
  return key;
}

std::optional<uint64_t> ParseOffsetKey(absl::string_view key) {
  if (key.size() != 8) return std::nullopt;
  uint64_t v = 0;
  for (char c : key) v = (v << 8) | static_cast<uint8_t>(c);
  return v;
}

std::string EncodeFixed64(uint64_t v) {
  std::string s;
  PutLittle(&s, v, 8);
  return s;
}

std::optional<uint64_t> DecodeFixed64(absl::string_view s) {
  if (s.size() != 8) return std::nullopt;
  return GetLittle(s.data(), 8);
}

std::string EncodeEntryHeader(const EntryHeader& h) {
  std::string s;
  s.reserve(h.size());
  s.push_back(static_cast<char>(h.compressed() ? kEntryLz4 : kEntryRaw));
  PutLittle(&s, static_cast<uint64_t>(absl::ToUnixNanos(h.append_time)), 8);
  PutLittle(&s, h.record_count, 4);
  if (h.compressed()) PutLittle(&s, h.payload_bytes, 4);
  return s;
}

std::optional<EntryHeader> DecodeEntryHeader(absl::string_view value) {
  if (value.empty()) return std::nullopt;
  const uint8_t format = static_cast<uint8_t>(value[0]);
  if (format != kEntryRaw && format != kEntryLz4) return std::nullopt;
  const size_t header_size = format == kEntryLz4 ? kLz4HeaderSize : kRawHeaderSize;
  if (value.size() < header_size) return std::nullopt;
  EntryHeader h;
  h.append_time = absl::FromUnixNanos(static_cast<int64_t>(GetLittle(value.data() + 1, 8)));
  h.record_count = static_cast<uint32_t>(GetLittle(value.data() + 9, 4));
  if (format == kEntryLz4) {
    h.payload_bytes = static_cast<uint32_t>(GetLittle(value.data() + 13, 4));
    if (h.payload_bytes == 0) return std::nullopt;
  }
  return h;
}

bool CompressPayload(absl::string_view payload, std::string* out) {
  // LZ4 takes int sizes; a payload that large (2 GiB) is never worth trying.
  if (payload.empty() || payload.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) return false;
  const int input = static_cast<int>(payload.size());
  // Room for at most 7/8 of the input: a block that does not fit is not worth
  // storing compressed, and LZ4 gives up on it early.
  const int room = input - input / 8;
  out->resize(static_cast<size_t>(room));
  const int written = LZ4_compress_default(payload.data(), out->data(), input, room);
  if (written <= 0) return false;
  out->resize(static_cast<size_t>(written));
  return true;
}

bool DecodeEntryPayload(absl::string_view value, const EntryHeader& h, std::string* payload) {
  const absl::string_view stored = value.substr(h.size());
  if (!h.compressed()) {
    payload->assign(stored.data(), stored.size());
    return true;
  }
  if (stored.size() > static_cast<size_t>(LZ4_MAX_INPUT_SIZE)) return false;
  payload->resize(h.payload_bytes);
  const int n = LZ4_decompress_safe(stored.data(), payload->data(), static_cast<int>(stored.size()),
                                    static_cast<int>(h.payload_bytes));
  return n >= 0 && static_cast<uint32_t>(n) == h.payload_bytes;
}

std::string EncodeIndexValue(const IndexValue& v) {
  std::string s;
  s.reserve(16);
  PutLittle(&s, static_cast<uint64_t>(absl::ToUnixNanos(v.append_time)), 8);
  PutLittle(&s, v.payload_bytes, 4);
  PutLittle(&s, v.record_count, 4);
  return s;
}

std::optional<IndexValue> DecodeIndexValue(absl::string_view s) {
  if (s.size() != 16) return std::nullopt;
  IndexValue v;
  v.append_time = absl::FromUnixNanos(static_cast<int64_t>(GetLittle(s.data(), 8)));
  v.payload_bytes = static_cast<uint32_t>(GetLittle(s.data() + 8, 4));
  v.record_count = static_cast<uint32_t>(GetLittle(s.data() + 12, 4));
  return v;
}

std::string EncodeProducerValue(const ProducerValue& v) {
  std::string s;
  PutLittle(&s, v.seq, 8);
  PutLittle(&s, static_cast<uint64_t>(absl::ToUnixNanos(v.last_append)), 8);
  return s;
}

std::optional<ProducerValue> DecodeProducerValue(absl::string_view s) {
  if (s.size() != 16) return std::nullopt;
  return ProducerValue{GetLittle(s.data(), 8),
                       absl::FromUnixNanos(static_cast<int64_t>(GetLittle(s.data() + 8, 8)))};
}

std::string EncodeLossValue(const LossValue& v) {
  std::string s;
  PutLittle(&s, v.entries, 8);
  PutLittle(&s, v.records, 8);
  return s;
}

std::optional<LossValue> DecodeLossValue(absl::string_view s) {
  if (s.size() != 16) return std::nullopt;
  return LossValue{GetLittle(s.data(), 8), GetLittle(s.data() + 8, 8)};
}

}  // namespace tributary::storage::rocksdb_format
