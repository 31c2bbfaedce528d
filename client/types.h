// The vocabulary of the client's API: levels and typed fields.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <type_traits>

namespace tributary::client {

// The levels a Logger writes. AUDIT and SECURITY are records an application
// must keep: a logger's minimum level never filters them, and by default they
// are protected (like ERROR and FATAL) when the queue is full.
enum class Level : uint8_t {
  kTrace = 0,
  kDebug = 1,
  kInfo = 2,
  kWarn = 3,
  kError = 4,
  kFatal = 5,
  kAudit = 6,
  kSecurity = 7,
};
inline constexpr int kLevels = 8;

// OTLP severity number (1-24) and text of a level. AUDIT is sent as INFO4
// (12) and SECURITY as ERROR4 (20), with their own severity text.
int SeverityNumber(Level level);
std::string_view LevelName(Level level);  // "TRACE", ..., "SECURITY"
// Case-insensitive; false if `name` is not a level.
bool ParseLevel(std::string_view name, Level* level);

// One typed field of a log record: `{"order_id", id}`, `{"amount", 12.5}`,
// `{"ok", true}`, `{"user", name}`. Holds views: the key and a string value
// must outlive the call that takes the field (a temporary does).
class Field {
 public:
  enum class Type : uint8_t { kString, kInt, kDouble, kBool };

  Field(std::string_view key, std::string_view value)
      : key_(key), type_(Type::kString), str_(value) {}
  Field(std::string_view key, const char* value)
      : key_(key), type_(Type::kString), str_(value == nullptr ? "" : value) {}
  Field(std::string_view key, const std::string& value)
      : key_(key), type_(Type::kString), str_(value) {}
  Field(std::string_view key, bool value) : key_(key), type_(Type::kBool), bool_(value) {}
  template <typename T,
            std::enable_if_t<std::is_integral_v<T> && !std::is_same_v<T, bool>, int> = 0>
  Field(std::string_view key, T value)
      : key_(key), type_(Type::kInt), int_(static_cast<int64_t>(value)) {}
  template <typename T, std::enable_if_t<std::is_floating_point_v<T>, int> = 0>
  Field(std::string_view key, T value)
      : key_(key), type_(Type::kDouble), double_(static_cast<double>(value)) {}

  std::string_view key() const { return key_; }
  Type type() const { return type_; }
  std::string_view string_value() const { return str_; }
  int64_t int_value() const { return int_; }
  double double_value() const { return double_; }
  bool bool_value() const { return bool_; }

 private:
  std::string_view key_;
  Type type_;
  union {
    int64_t int_;
    double double_;
    bool bool_;
  };
  std::string_view str_;
};

// A log call's fields: `{{"order_id", id}, {"amount", 12.5}}`.
using Fields = std::initializer_list<Field>;

// Limits applied to a log record as it is queued; longer text is cut and
// the cut counted.
struct RecordLimits {
  uint32_t max_message_bytes = 32 << 10;
  uint32_t max_value_bytes = 8 << 10;
  uint32_t max_fields = 64;
};

}  // namespace tributary::client
