// A record as it waits in the queue: a fixed-size slot filled in place on the
// caller's thread, so a log call copies its message and fields into memory
// the queue already owns and allocates nothing. Only a record larger than the
// inline area takes a heap block (freed by the sender once it is encoded).
//
// A log record's text is laid out as
//   [u32 message length][message][u16 field count]
//   then per field: [u8 type][u16 key length][key][value]
// with a string value as [u32 length][bytes], int64 and double as 8 bytes and
// bool as 1 byte. Ended spans are already built and travel as a pointer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <memory>
#include <string_view>
#include <vector>

#include "client/types.h"
#include "tributary/v1/records.pb.h"

namespace tributary::client::internal {

// A field copied into a Context: it owns its key and text.
struct OwnedField {
  std::string key;
  Field::Type type = Field::Type::kString;
  std::string text;  // kString
  int64_t int_value = 0;
  double double_value = 0;
  bool bool_value = false;

  Field view() const;
};

inline constexpr size_t kInlineRecordBytes = 384;

enum class RecordKind : uint8_t { kLog, kSpan };

// Every field a log call reads or writes comes before inline_data, so a call
// touches the slot's first cache lines (which the queue prefetches) and the
// ones its text fills, not the end of the slot.
struct RecordSlot {
  RecordKind kind = RecordKind::kLog;
  Level level = Level::kInfo;
  uint8_t trace_flags = 0;
  bool has_trace = false;
  uint32_t scope = 0;  // 1-based logger index; 0 = none
  uint32_t size = 0;   // bytes used in data()
  int64_t time_ns = 0;
  uint8_t trace_id[16];
  uint8_t span_id[8];
  std::unique_ptr<char[]> overflow;  // set when size > kInlineRecordBytes
  std::unique_ptr<tributary::v1::Span> span;  // kSpan
  char inline_data[kInlineRecordBytes];

  const char* data() const { return overflow ? overflow.get() : inline_data; }
};

// Sizes and writes one log record's text. Construct, read size(), then call
// Write on the slot once it is admitted. It keeps views of the message and
// the fields: use it within the call that received them.
class LogEncoder {
 public:
  LogEncoder(const RecordLimits& limits, std::string_view message,
             std::initializer_list<Field> fields, const std::vector<OwnedField>* bound);

  size_t size() const { return size_; }
  bool truncated() const { return truncated_; }

  // Fills slot->size and its data (inline, or a new overflow block).
  void Write(RecordSlot* slot) const;

 private:
  static size_t FieldSize(const Field& f, uint32_t max_value);
  static char* PutField(char* p, const Field& f, uint32_t max_value);

  const RecordLimits limits_;
  std::string_view message_;
  std::initializer_list<Field> fields_;
  const std::vector<OwnedField>* bound_;
  uint32_t field_count_ = 0;
  size_t size_ = 0;
  bool truncated_ = false;
};

// The record model's attribute for a field (numbers and bools as canonical
// text with their type).
void FieldToAttribute(const Field& f, tributary::v1::Attribute* a);

// Decodes a log slot's text into `out` (body and attributes, in the order the
// bound fields, then the call's fields, were given). Text is copied as is;
// the sender repairs invalid UTF-8 afterwards. False if the layout is broken.
bool DecodeLog(const RecordSlot& slot, tributary::v1::LogRecord* out);

}  // namespace tributary::client::internal
