#include "exporters/otlp/logs_wire.h"

#include <cstring>

#include "absl/strings/numbers.h"
#include "exporters/otlp/convert.h"

namespace tributary::otlp {
namespace {

namespace tv1 = ::tributary::v1;

enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

char* PutVarint(char* p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<char>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<char>(v);
  return p;
}

// Appends protobuf wire format to a string, fields with proto3 defaults left
// out as the generated code does. A nested message is written in place
// behind a length slot of a guessed size, which End() corrects (moving the
// content when the guess was wrong), so nothing is sized twice.
class Writer {
 public:
  explicit Writer(std::string* out) : out_(*out) {}

  struct Mark {
    size_t at;
    size_t guess;
  };

  void Varint(uint64_t v) {
    char buf[10];
    out_.append(buf, static_cast<size_t>(PutVarint(buf, v) - buf));
  }
  void Tag(uint32_t field, WireType type) { Varint((field << 3) | type); }

  // uint32, uint64, int64 and enum fields (negative values as 10 bytes).
  void Int(uint32_t field, uint64_t v, bool always = false) {
    if (v == 0 && !always) return;
    Tag(field, kVarint);
    Varint(v);
  }
  void Fixed64(uint32_t field, uint64_t v, bool always = false) {
    if (v == 0 && !always) return;
    Tag(field, kFixed64);
    char buf[8];
    for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(v >> (8 * i));
    out_.append(buf, 8);
  }
  void Fixed32(uint32_t field, uint32_t v) {
    if (v == 0) return;
    Tag(field, kFixed32);
    char buf[4];
    for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>(v >> (8 * i));
    out_.append(buf, 4);
  }
  // A string or bytes field; `always` for a oneof member (written even empty).
  void Bytes(uint32_t field, const std::string& s, bool always = false) {
    if (s.empty() && !always) return;
    Tag(field, kLengthDelimited);
    Varint(s.size());
    out_.append(s);
  }
  void Raw(const std::string& bytes) { out_.append(bytes); }

  // A nested message: Begin, its fields, End.
  Mark Begin(uint32_t field, size_t guess) {
    Tag(field, kLengthDelimited);
    const Mark m{out_.size(), guess};
    out_.append(guess, '\0');
    return m;
  }
  void End(Mark m) {
    const size_t length = out_.size() - m.at - m.guess;
    const size_t need = VarintSize(length);
    if (need > m.guess) out_.insert(m.at, need - m.guess, '\0');
    if (need < m.guess) out_.erase(m.at, m.guess - need);
    PutVarint(&out_[m.at], length);
  }

 private:
  std::string& out_;
};

// The fields of a common.v1.AnyValue, as ToAnyValue (convert.cc) sets them.
void AnyValue(Writer& w, const std::string& text, tv1::ValueType type) {
  switch (type) {
    case tv1::VALUE_TYPE_BOOL:
      if (text == "true" || text == "false") return w.Int(2, text == "true", /*always=*/true);
      break;
    case tv1::VALUE_TYPE_INT: {
      int64_t i;
      if (absl::SimpleAtoi(text, &i)) return w.Int(3, static_cast<uint64_t>(i), true);
      break;
    }
    case tv1::VALUE_TYPE_DOUBLE: {
      double d;
      if (absl::SimpleAtod(text, &d)) {
        uint64_t bits;
        std::memcpy(&bits, &d, sizeof bits);
        return w.Fixed64(4, bits, /*always=*/true);
      }
      break;
    }
    case tv1::VALUE_TYPE_BYTES:
      return w.Bytes(7, text, /*always=*/true);
    case tv1::VALUE_TYPE_JSON: {
      // Arrays and key/value lists: rare; built as a message.
      tv1::Attribute a;
      a.set_value(text);
      a.set_type(type);
      ::opentelemetry::proto::common::v1::KeyValue kv;
      ToKeyValue(a, &kv);
      return w.Raw(kv.value().SerializeAsString());
    }
    case tv1::VALUE_TYPE_EMPTY:
      return;
    default:
      break;
  }
  w.Bytes(1, text, /*always=*/true);
}

// common.v1.KeyValue; its value is always present.
void KeyValue(Writer& w, uint32_t field, const std::string& key, const std::string& value,
              tv1::ValueType type) {
  const Writer::Mark kv = w.Begin(field, 1);
  w.Bytes(1, key);
  const Writer::Mark v = w.Begin(2, 1);
  AnyValue(w, value, type);
  w.End(v);
  w.End(kv);
}

void KeyValues(Writer& w, uint32_t field,
               const google::protobuf::RepeatedPtrField<tv1::Attribute>& attributes) {
  for (const tv1::Attribute& a : attributes) KeyValue(w, field, a.key(), a.value(), a.type());
}

// resource.v1.Resource, as FromResource (convert.cc) builds it.
void Resource(Writer& w, const tv1::Resource& r) {
  const Writer::Mark m = w.Begin(1, 2);
  for (const auto& [key, value] :
       {std::pair<const char*, const std::string*>{"service.name", &r.service_name()},
        {"service.instance.id", &r.service_instance_id()},
        {"host.name", &r.host()}}) {
    if (!value->empty()) KeyValue(w, 1, key, *value, tv1::VALUE_TYPE_STRING);
  }
  KeyValues(w, 1, r.attributes());
  w.Int(2, r.dropped_attributes_count());
  w.End(m);
}

void LogRecord(Writer& w, const tv1::LogRecord& l) {
  const Writer::Mark m = w.Begin(2, 2);
  w.Fixed64(1, l.time_unix_nano());
  w.Int(2, static_cast<uint64_t>(static_cast<int64_t>(l.severity_number())));
  w.Bytes(3, l.severity_text());
  if (l.body_type() != tv1::VALUE_TYPE_EMPTY || !l.body().empty()) {
    const Writer::Mark body = w.Begin(5, 2);
    AnyValue(w, l.body(), l.body_type());
    w.End(body);
  }
  KeyValues(w, 6, l.attributes());
  w.Int(7, l.dropped_attributes_count());
  w.Fixed32(8, l.flags());
  w.Bytes(9, l.trace_id());
  w.Bytes(10, l.span_id());
  w.Fixed64(11, l.observed_time_unix_nano());
  w.Bytes(12, l.event_name());
  w.End(m);
}

}  // namespace

void AppendLogsWire(const tv1::IngestBatch& batch, std::string* request) {
  if (batch.logs_size() == 0) return;
  Writer w(request);
  const Writer::Mark resource_logs = w.Begin(1, 4);
  Resource(w, batch.resource());
  // Consecutive records of one scope make one ScopeLogs.
  int i = 0;
  while (i < batch.logs_size()) {
    const uint32_t scope = batch.logs(i).scope();
    const Writer::Mark scope_logs = w.Begin(2, 4);
    if (scope != 0 && scope <= static_cast<uint32_t>(batch.scopes_size())) {
      const tv1::Scope& s = batch.scopes(static_cast<int>(scope - 1));
      const Writer::Mark m = w.Begin(1, 1);
      w.Bytes(1, s.name());
      w.Bytes(2, s.version());
      KeyValues(w, 3, s.attributes());
      w.Int(4, s.dropped_attributes_count());
      w.End(m);
    }
    for (; i < batch.logs_size() && batch.logs(i).scope() == scope; ++i) {
      LogRecord(w, batch.logs(i));
    }
    if (scope != 0 && scope <= static_cast<uint32_t>(batch.scopes_size())) {
      w.Bytes(3, batch.scopes(static_cast<int>(scope - 1)).schema_url());
    }
    w.End(scope_logs);
  }
  w.Bytes(3, batch.resource().schema_url());
  w.End(resource_logs);
}

}  // namespace tributary::otlp
