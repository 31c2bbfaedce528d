#include "client/internal/record.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "base/double_text.h"

namespace tributary::client::internal {
namespace {

template <typename T>
char* Put(char* p, T v) {
  std::memcpy(p, &v, sizeof(v));
  return p + sizeof(v);
}

template <typename T>
bool Get(const char*& p, const char* end, T* v) {
  if (static_cast<size_t>(end - p) < sizeof(T)) return false;
  std::memcpy(v, p, sizeof(T));
  p += sizeof(T);
  return true;
}

}  // namespace

void FieldToAttribute(const Field& f, tributary::v1::Attribute* a) {
  a->set_key(f.key().data(), f.key().size());
  switch (f.type()) {
    case Field::Type::kString:
      a->set_value(f.string_value().data(), f.string_value().size());
      break;
    case Field::Type::kInt:
      a->set_type(tributary::v1::VALUE_TYPE_INT);
      a->set_value(absl::StrCat(f.int_value()));
      break;
    case Field::Type::kDouble:
      a->set_type(tributary::v1::VALUE_TYPE_DOUBLE);
      a->set_value(DoubleText(f.double_value()));
      break;
    case Field::Type::kBool:
      a->set_type(tributary::v1::VALUE_TYPE_BOOL);
      a->set_value(f.bool_value() ? "true" : "false");
      break;
  }
}

Field OwnedField::view() const {
  switch (type) {
    case Field::Type::kInt: return Field(key, int_value);
    case Field::Type::kDouble: return Field(key, double_value);
    case Field::Type::kBool: return Field(key, bool_value);
    case Field::Type::kString: break;
  }
  return Field(key, std::string_view(text));
}

LogEncoder::LogEncoder(const RecordLimits& limits, std::string_view message,
                       std::initializer_list<Field> fields, const std::vector<OwnedField>* bound)
    : limits_(limits), message_(message), fields_(fields), bound_(bound) {
  if (message_.size() > limits_.max_message_bytes) {
    message_ = message_.substr(0, limits_.max_message_bytes);
    truncated_ = true;
  }
  size_ = 4 + message_.size() + 2;
  const size_t bound_count = bound_ == nullptr ? 0 : bound_->size();
  const size_t total = bound_count + fields_.size();
  field_count_ = static_cast<uint32_t>(std::min<size_t>(total, limits_.max_fields));
  if (total > field_count_) truncated_ = true;
  size_t i = 0;
  auto add = [&](const Field& f) {
    if (i++ >= field_count_) return;
    size_ += FieldSize(f, limits_.max_value_bytes);
    if (f.key().size() > UINT16_MAX ||
        (f.type() == Field::Type::kString && f.string_value().size() > limits_.max_value_bytes)) {
      truncated_ = true;
    }
  };
  if (bound_ != nullptr) {
    for (const OwnedField& f : *bound_) add(f.view());
  }
  for (const Field& f : fields_) add(f);
}

size_t LogEncoder::FieldSize(const Field& f, uint32_t max_value) {
  size_t n = 1 + 2 + std::min<size_t>(f.key().size(), UINT16_MAX);
  switch (f.type()) {
    case Field::Type::kString:
      return n + 4 + std::min<size_t>(f.string_value().size(), max_value);
    case Field::Type::kInt:
    case Field::Type::kDouble:
      return n + 8;
    case Field::Type::kBool:
      return n + 1;
  }
  return n;
}

char* LogEncoder::PutField(char* p, const Field& f, uint32_t max_value) {
  p = Put<uint8_t>(p, static_cast<uint8_t>(f.type()));
  const uint16_t key_len = static_cast<uint16_t>(std::min<size_t>(f.key().size(), UINT16_MAX));
  p = Put<uint16_t>(p, key_len);
  std::memcpy(p, f.key().data(), key_len);
  p += key_len;
  switch (f.type()) {
    case Field::Type::kString: {
      const uint32_t len =
          static_cast<uint32_t>(std::min<size_t>(f.string_value().size(), max_value));
      p = Put<uint32_t>(p, len);
      std::memcpy(p, f.string_value().data(), len);
      return p + len;
    }
    case Field::Type::kInt: return Put<int64_t>(p, f.int_value());
    case Field::Type::kDouble: return Put<double>(p, f.double_value());
    case Field::Type::kBool: return Put<uint8_t>(p, f.bool_value() ? 1 : 0);
  }
  return p;
}

void LogEncoder::Write(RecordSlot* slot) const {
  slot->size = static_cast<uint32_t>(size_);
  char* p = slot->inline_data;
  if (size_ > kInlineRecordBytes) {
    slot->overflow.reset(new char[size_]);
    p = slot->overflow.get();
  } else if (slot->overflow) {
    slot->overflow.reset();  // left by a record that was evicted, not sent
  }
  p = Put<uint32_t>(p, static_cast<uint32_t>(message_.size()));
  std::memcpy(p, message_.data(), message_.size());
  p += message_.size();
  p = Put<uint16_t>(p, static_cast<uint16_t>(field_count_));
  size_t i = 0;
  if (bound_ != nullptr) {
    for (const OwnedField& f : *bound_) {
      if (i++ >= field_count_) return;
      p = PutField(p, f.view(), limits_.max_value_bytes);
    }
  }
  for (const Field& f : fields_) {
    if (i++ >= field_count_) return;
    p = PutField(p, f, limits_.max_value_bytes);
  }
}

bool DecodeLog(const RecordSlot& slot, tributary::v1::LogRecord* out) {
  const char* p = slot.data();
  const char* const end = p + slot.size;
  uint32_t msg_len = 0;
  if (!Get(p, end, &msg_len) || static_cast<size_t>(end - p) < msg_len) return false;
  out->set_body(p, msg_len);
  p += msg_len;
  uint16_t count = 0;
  if (!Get(p, end, &count)) return false;
  for (uint16_t i = 0; i < count; ++i) {
    uint8_t type = 0;
    uint16_t key_len = 0;
    if (!Get(p, end, &type) || !Get(p, end, &key_len) ||
        static_cast<size_t>(end - p) < key_len) {
      return false;
    }
    const std::string_view key(p, key_len);
    p += key_len;
    switch (static_cast<Field::Type>(type)) {
      case Field::Type::kString: {
        uint32_t len = 0;
        if (!Get(p, end, &len) || static_cast<size_t>(end - p) < len) return false;
        FieldToAttribute(Field(key, std::string_view(p, len)), out->add_attributes());
        p += len;
        break;
      }
      case Field::Type::kInt: {
        int64_t v = 0;
        if (!Get(p, end, &v)) return false;
        FieldToAttribute(Field(key, v), out->add_attributes());
        break;
      }
      case Field::Type::kDouble: {
        double v = 0;
        if (!Get(p, end, &v)) return false;
        FieldToAttribute(Field(key, v), out->add_attributes());
        break;
      }
      case Field::Type::kBool: {
        uint8_t v = 0;
        if (!Get(p, end, &v)) return false;
        FieldToAttribute(Field(key, v != 0), out->add_attributes());
        break;
      }
      default:
        return false;
    }
  }
  return p == end;
}

}  // namespace tributary::client::internal
