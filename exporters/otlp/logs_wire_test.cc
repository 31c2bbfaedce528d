// The OTLP logs request written straight from stored records is byte for byte
// what building the OTLP messages (AppendLogs) and serializing them gives,
// for every value type, scope layout and length class.
#include "exporters/otlp/logs_wire.h"

#include <string>

#include "exporters/otlp/convert.h"
#include "gtest/gtest.h"

namespace tributary::otlp {
namespace {

namespace tv1 = ::tributary::v1;

void Attr(google::protobuf::RepeatedPtrField<tv1::Attribute>* attrs, const std::string& key,
          const std::string& value, tv1::ValueType type) {
  tv1::Attribute* a = attrs->Add();
  a->set_key(key);
  a->set_value(value);
  a->set_type(type);
}

void EveryType(google::protobuf::RepeatedPtrField<tv1::Attribute>* attrs) {
  Attr(attrs, "s", "text", tv1::VALUE_TYPE_STRING);
  Attr(attrs, "empty_s", "", tv1::VALUE_TYPE_STRING);
  Attr(attrs, "i", "42", tv1::VALUE_TYPE_INT);
  Attr(attrs, "neg", "-7", tv1::VALUE_TYPE_INT);
  Attr(attrs, "bad_i", "forty-two", tv1::VALUE_TYPE_INT);
  Attr(attrs, "d", "12.5", tv1::VALUE_TYPE_DOUBLE);
  Attr(attrs, "zero_d", "0", tv1::VALUE_TYPE_DOUBLE);
  Attr(attrs, "t", "true", tv1::VALUE_TYPE_BOOL);
  Attr(attrs, "f", "false", tv1::VALUE_TYPE_BOOL);
  Attr(attrs, "bytes", std::string("\0\1\2", 3), tv1::VALUE_TYPE_BYTES);
  Attr(attrs, "no_bytes", "", tv1::VALUE_TYPE_BYTES);
  Attr(attrs, "array", R"({"arrayValue":{"values":[{"intValue":"1"},{"stringValue":"x"}]}})",
       tv1::VALUE_TYPE_JSON);
  Attr(attrs, "bad_json", "{not json", tv1::VALUE_TYPE_JSON);
  Attr(attrs, "nothing", "", tv1::VALUE_TYPE_EMPTY);
  Attr(attrs, "", "keyless", tv1::VALUE_TYPE_STRING);
}

tv1::IngestBatch Varied() {
  tv1::IngestBatch b;
  tv1::Resource* r = b.mutable_resource();
  r->set_service_name("checkout");
  r->set_host("web-1");
  r->set_dropped_attributes_count(3);
  r->set_schema_url("https://schemas.example.test/1.24.0");
  EveryType(r->mutable_attributes());
  for (int s = 0; s < 2; ++s) {
    tv1::Scope* scope = b.add_scopes();
    scope->set_name("scope-" + std::to_string(s));
    if (s == 0) scope->set_version("1.0");
    if (s == 1) scope->set_schema_url("https://example.test/schema");
    Attr(scope->mutable_attributes(), "scope.attr", "v", tv1::VALUE_TYPE_STRING);
    scope->set_dropped_attributes_count(static_cast<uint32_t>(s));
  }
  const uint32_t scopes[] = {1, 1, 0, 2, 2, 1, 7, 7, 0};
  int n = 0;
  for (uint32_t scope : scopes) {
    tv1::LogRecord* l = b.add_logs();
    l->set_scope(scope);
    l->set_time_unix_nano(n % 3 == 0 ? 0 : 1800000000000000000ull + n);
    l->set_observed_time_unix_nano(n % 2 ? 1800000000000000007ull : 0);
    l->set_severity_number(n % 4 == 0 ? 0 : 9 + n);
    if (n % 2) l->set_severity_text("INFO");
    switch (n % 5) {
      case 0:
        l->set_body("short");
        break;
      case 1:
        l->set_body(std::string(20000, 'x'));  // a record length of 3 bytes
        break;
      case 2:
        l->set_body_type(tv1::VALUE_TYPE_EMPTY);  // no body at all
        break;
      case 3:
        l->set_body(R"({"kvlistValue":{"values":[{"key":"k","value":{"boolValue":true}}]}})");
        l->set_body_type(tv1::VALUE_TYPE_JSON);
        break;
      default:
        break;  // an empty string body
    }
    if (n % 3 == 1) EveryType(l->mutable_attributes());
    l->set_dropped_attributes_count(n % 2);
    l->set_flags(n % 3 == 2 ? 1 : 0);
    if (n % 2 == 0) {
      l->set_trace_id(std::string(16, static_cast<char>(n + 1)));
      l->set_span_id(std::string(8, static_cast<char>(n + 2)));
    }
    if (n == 4) l->set_event_name("checkout.done");
    ++n;
  }
  return b;
}

std::string Built(const std::vector<const tv1::IngestBatch*>& batches) {
  otlp_logs::ExportLogsServiceRequest req;
  for (const tv1::IngestBatch* b : batches) AppendLogs(*b, &req);
  return req.SerializeAsString();
}

TEST(LogsWireTest, MatchesTheBuiltMessagesByteForByte) {
  const tv1::IngestBatch varied = Varied();
  std::string wire;
  AppendLogsWire(varied, &wire);
  ASSERT_EQ(wire, Built({&varied}));
  otlp_logs::ExportLogsServiceRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  EXPECT_EQ(parsed.resource_logs(0).scope_logs_size(), 6);
}

TEST(LogsWireTest, SeveralBatchesMakeOneRequest) {
  const tv1::IngestBatch varied = Varied();
  tv1::IngestBatch small;
  small.add_logs()->set_body("one");
  tv1::IngestBatch none;
  none.add_metrics()->set_name("not a log");
  const std::vector<const tv1::IngestBatch*> batches = {&small, &none, &varied, &small};
  std::string wire;
  for (const tv1::IngestBatch* b : batches) AppendLogsWire(*b, &wire);
  EXPECT_EQ(wire, Built(batches));
}

TEST(LogsWireTest, AScopeOfMegabytesNeedsAFourByteLength) {
  tv1::IngestBatch big;
  for (int i = 0; i < 300; ++i) big.add_logs()->set_body(std::string(10000, 'a' + i % 26));
  std::string wire;
  AppendLogsWire(big, &wire);
  EXPECT_GT(wire.size(), 1u << 21);  // lengths from 2^21 take 4 bytes
  EXPECT_EQ(wire, Built({&big}));
}

}  // namespace
}  // namespace tributary::otlp
