#include "collector/ingest/sanitize.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tributary::collector {
namespace {

using ::testing::HasSubstr;
using tributary::v1::IngestBatch;

const absl::Time kNow = absl::FromUnixSeconds(1795392000);
const uint64_t kNowNanos = static_cast<uint64_t>(absl::ToUnixNanos(kNow));

Sanitizer Make(IngestConfig config = {}) {
  return Sanitizer(config, [] { return kNow; });
}

tributary::v1::LogRecord* AddLog(IngestBatch* b, const std::string& body) {
  auto* r = b->add_logs();
  r->set_time_unix_nano(kNowNanos);
  r->set_severity_number(9);
  r->set_body(body);
  return r;
}

tributary::v1::Span* AddSpan(IngestBatch* b, const std::string& name) {
  auto* s = b->add_spans();
  s->set_trace_id(std::string(16, '\x01'));
  s->set_span_id(std::string(8, '\x02'));
  s->set_name(name);
  s->set_start_time_unix_nano(kNowNanos - 1000);
  s->set_end_time_unix_nano(kNowNanos);
  return s;
}

TEST(SanitizeTest, KeepsValidRecordsAndCountsEachReason) {
  IngestBatch b;
  AddLog(&b, "fine");
  AddLog(&b, "bad trace")->set_trace_id("short");
  AddLog(&b, "bad span")->set_span_id(std::string(3, 'x'));
  AddLog(&b, "\xFF\xFE not utf8");
  AddLog(&b, "severity")->set_severity_number(25);
  AddLog(&b, "seconds, not nanos")->set_time_unix_nano(1795392000);
  AddLog(&b, "future")->set_time_unix_nano(kNowNanos + 2 * 3600ull * 1000000000ull);
  AddLog(&b, "also fine")->set_trace_id(std::string(16, '\x07'));
  auto* key = AddLog(&b, "bad key")->add_attributes();
  key->set_key("k\xC0\xAF");
  AddSpan(&b, "ok span");
  AddSpan(&b, "backwards")->set_end_time_unix_nano(kNowNanos - 5000);
  AddSpan(&b, "no parent bytes")->set_parent_span_id("1234");
  auto* m = b.add_metrics();
  m->set_name("requests");
  m->set_kind(tributary::v1::METRIC_KIND_HISTOGRAM);
  m->set_time_unix_nano(kNowNanos);
  m->add_explicit_bounds(1);
  m->add_bucket_counts(1);  // needs two

  SanitizeReport r = Make().Apply(&b);
  EXPECT_TRUE(r.batch_error.empty());
  EXPECT_EQ(r.accepted[0], 2u);
  EXPECT_EQ(r.accepted[1], 0u);
  EXPECT_EQ(r.accepted[2], 1u);
  EXPECT_EQ(r.TotalRejected(), 10u);
  ASSERT_EQ(b.logs_size(), 2);
  EXPECT_EQ(b.logs(0).body(), "fine");
  EXPECT_EQ(b.logs(1).body(), "also fine");
  ASSERT_EQ(b.spans_size(), 1);
  EXPECT_EQ(b.metrics_size(), 0);

  const auto& logs = r.rejected[0];
  EXPECT_EQ(logs.at("invalid_trace_id").count, 1u);
  EXPECT_THAT(logs.at("invalid_trace_id").example, HasSubstr("5 bytes, want 16"));
  EXPECT_EQ(logs.at("invalid_span_id").count, 1u);
  EXPECT_EQ(logs.at("invalid_utf8").count, 2u);
  EXPECT_THAT(logs.at("invalid_utf8").example, HasSubstr("body is not valid UTF-8"));
  EXPECT_EQ(logs.at("invalid_severity").count, 1u);
  EXPECT_THAT(logs.at("invalid_timestamp").example, HasSubstr("before 2000-01-01"));
  EXPECT_EQ(logs.at("timestamp_in_future").count, 1u);
  EXPECT_EQ(r.rejected[2].at("invalid_timestamp").count, 1u);
  EXPECT_EQ(r.rejected[2].at("invalid_parent_span_id").count, 1u);
  EXPECT_THAT(r.rejected[1].at("invalid_histogram").example, HasSubstr("1 bucket counts for 1"));
}

TEST(SanitizeTest, AllZeroIdsOnALogMeanNoTraceNotARejection) {
  IngestBatch b;
  auto* r = AddLog(&b, "outside any trace");
  r->set_trace_id(std::string(16, '\0'));
  r->set_span_id(std::string(8, '\0'));
  AddSpan(&b, "zero trace")->set_trace_id(std::string(16, '\0'));
  SanitizeReport rep = Make().Apply(&b);
  EXPECT_EQ(rep.accepted[0], 1u);
  EXPECT_TRUE(b.logs(0).trace_id().empty());
  EXPECT_TRUE(b.logs(0).span_id().empty());
  EXPECT_EQ(rep.normalized, 1u);
  EXPECT_TRUE(rep.Changed());  // so the stored copy is the normalized one
  // A span must have a real trace id.
  EXPECT_EQ(rep.rejected[2].at("invalid_trace_id").count, 1u);
}

TEST(SanitizeTest, LimitsOnAttributesAndBodies) {
  IngestConfig config;
  config.limits.max_attributes = 2;
  config.limits.max_attribute_value_bytes = 10;
  config.limits.max_body_bytes = 20;
  IngestBatch b;
  auto* many = AddLog(&b, "many");
  for (int i = 0; i < 3; ++i) many->add_attributes()->set_key("k" + std::to_string(i));
  auto* big = AddLog(&b, "big")->add_attributes();
  big->set_key("k");
  big->set_value(std::string(11, 'v'));
  AddLog(&b, std::string(21, 'b'));
  AddLog(&b, std::string(20, 'b'));
  SanitizeReport r = Make(config).Apply(&b);
  EXPECT_EQ(r.accepted[0], 1u);
  EXPECT_EQ(r.rejected[0].at("too_many_attributes").count, 1u);
  EXPECT_EQ(r.rejected[0].at("attribute_too_large").count, 1u);
  EXPECT_EQ(r.rejected[0].at("body_too_large").count, 1u);
}

TEST(SanitizeTest, BadResourceRefusesTheBatch) {
  IngestBatch b;
  b.mutable_resource()->set_service_name("svc\xFF");
  AddLog(&b, "fine");
  SanitizeReport r = Make().Apply(&b);
  EXPECT_THAT(r.batch_error, HasSubstr("invalid_utf8: resource field"));
  EXPECT_EQ(r.TotalAccepted(), 0u);

  IngestBatch c;
  AddLog(&c, "points at a missing scope")->set_scope(2);
  c.add_scopes()->set_name("only one");
  SanitizeReport rc = Make().Apply(&c);
  EXPECT_EQ(rc.rejected[0].at("invalid_scope").count, 1u);
}

TEST(SanitizeTest, RedactsSensitiveKeysCaseInsensitivelyEverywhere) {
  IngestBatch b;
  auto* ra = b.mutable_resource()->add_attributes();
  ra->set_key("API_KEY");
  ra->set_value("k-123");
  auto* r = AddLog(&b, "login");
  auto* pw = r->add_attributes();
  pw->set_key("Password");
  pw->set_value("hunter2");
  pw->set_type(tributary::v1::VALUE_TYPE_STRING);
  auto* user = r->add_attributes();
  user->set_key("user");
  user->set_value("alice");
  auto* s = AddSpan(&b, "op");
  auto* cookie = s->add_events()->add_attributes();
  cookie->set_key("set-cookie");
  cookie->set_value("sid=1");
  auto* token = s->add_attributes();
  token->set_key("token");
  token->set_value("42");
  token->set_type(tributary::v1::VALUE_TYPE_INT);

  SanitizeReport rep = Make().Apply(&b);
  EXPECT_EQ(b.resource().attributes(0).value(), "***REDACTED***");
  EXPECT_EQ(b.logs(0).attributes(0).value(), "***REDACTED***");
  EXPECT_EQ(b.logs(0).attributes(1).value(), "alice");
  EXPECT_EQ(b.spans(0).events(0).attributes(0).value(), "***REDACTED***");
  EXPECT_EQ(b.spans(0).attributes(0).value(), "***REDACTED***");
  EXPECT_EQ(b.spans(0).attributes(0).type(), tributary::v1::VALUE_TYPE_STRING);
  EXPECT_EQ(rep.redactions.at("key"), 4u);
}

TEST(SanitizeTest, MasksPatternsInBodiesAndStringValues) {
  IngestConfig config;
  config.redaction.patterns = {{"card_number", R"(\b(?:\d[ -]?){12,15}\d\b)"},
                               {"email", R"([\w.+-]+@[\w-]+\.[\w.]+)"}};
  config.redaction.replacement = "[x\\1]";  // backslash kept literally
  IngestBatch b;
  auto* r = AddLog(&b, "paid with 4111 1111 1111 1111 by bob@example.com and carol@example.org");
  auto* a = r->add_attributes();
  a->set_key("contact");
  a->set_value("dave@example.net");
  auto* bytes = r->add_attributes();
  bytes->set_key("raw");
  bytes->set_value("eve@example.com");
  bytes->set_type(tributary::v1::VALUE_TYPE_BYTES);
  SanitizeReport rep = Make(config).Apply(&b);
  EXPECT_EQ(b.logs(0).body(), "paid with [x\\1] by [x\\1] and [x\\1]");
  EXPECT_EQ(b.logs(0).attributes(0).value(), "[x\\1]");
  EXPECT_EQ(b.logs(0).attributes(1).value(), "eve@example.com");  // bytes are not text
  EXPECT_EQ(rep.redactions.at("card_number"), 1u);
  EXPECT_EQ(rep.redactions.at("email"), 3u);
}

}  // namespace
}  // namespace tributary::collector
