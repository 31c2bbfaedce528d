#include "exporters/otlp/logs_wire.h"

#include <cstring>

#include "absl/strings/numbers.h"
#include "exporters/otlp/convert.h"
#include "exporters/wire_writer.h"

namespace tributary::otlp {
namespace {

namespace tv1 = ::tributary::v1;
using Writer = ::tributary::exporters::WireWriter;

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
