// Log records as Loki pushes: streams from the configured labels, sanitised
// names, lines in logfmt and JSON with trace context, entries in time order,
// the stream bound per push, the snappy protobuf and (gzip) JSON bodies, and
// a Loki that is not there.
#include "exporters/loki/loki_exporter.h"

#include <snappy.h>
#include <zlib.h>

#include <string>

#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "loki/push.pb.h"

namespace tributary::exporters {
namespace {

namespace tv1 = ::tributary::v1;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

void Attr(google::protobuf::RepeatedPtrField<tv1::Attribute>* attrs, const std::string& key,
          const std::string& value, tv1::ValueType type = tv1::VALUE_TYPE_STRING) {
  tv1::Attribute* a = attrs->Add();
  a->set_key(key);
  a->set_value(value);
  a->set_type(type);
}

tv1::IngestBatch Batch() {
  tv1::IngestBatch b;
  b.mutable_resource()->set_service_name("checkout");
  Attr(b.mutable_resource()->mutable_attributes(), "deployment.environment", "prod");
  auto add = [&](uint64_t t, int severity, const std::string& body) {
    tv1::LogRecord* r = b.add_logs();
    r->set_time_unix_nano(t);
    r->set_severity_number(severity);
    r->set_body(body);
    return r;
  };
  tv1::LogRecord* late = add(3000000005, 9, "third");
  Attr(late->mutable_attributes(), "order_id", "42", tv1::VALUE_TYPE_INT);
  late->set_trace_id(
      std::string("\x0a\xf7\x65\x19\x16\xcd\x43\xdd\x84\x48\xeb\x21\x1c\x80\x31\x9c", 16));
  late->set_span_id(std::string("\xb7\xad\x6b\x71\x69\x20\x33\x31", 8));
  add(1000000000, 9, "first");
  tv1::LogRecord* err = add(2000000000, 17, "card \"declined\"\nretry");
  err->set_severity_text("ERROR");
  Attr(err->mutable_attributes(), "amount", "12.5", tv1::VALUE_TYPE_DOUBLE);
  Attr(err->mutable_attributes(), "region", "eu-west");
  add(1500000000, 9, "second");
  b.add_metrics()->set_name("not.a.log");
  return b;
}

logproto::PushRequest DecodeProtobuf(const std::string& body) {
  std::string raw;
  EXPECT_TRUE(snappy::Uncompress(body.data(), body.size(), &raw));
  logproto::PushRequest req;
  EXPECT_TRUE(req.ParseFromString(raw));
  return req;
}

std::string Gunzip(const std::string& in) {
  z_stream z{};
  EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
  out.resize(z.total_out);
  inflateEnd(&z);
  return out;
}

google::protobuf::Struct ParseJson(const std::string& text) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, &s).ok()) << text;
  return s;
}

TEST(LokiExporterTest, StreamsFromLabelsWithLogfmtLinesInTimeOrder) {
  LokiOptions options;
  options.labels = {"service.name", "severity_text", "region", "deployment.environment"};
  LokiExporter exporter(options);
  const tv1::IngestBatch batch = Batch();
  auto requests = exporter.Encode({&batch});
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_EQ(requests->size(), 1u);
  EXPECT_EQ((*requests)[0].records, 4u);  // the metric is not Loki's
  const logproto::PushRequest req = DecodeProtobuf(exporter.WireBody((*requests)[0]));
  ASSERT_EQ(req.streams_size(), 2);
  // Label names sanitised and sorted; severity derived from the number when
  // the record has no text.
  EXPECT_EQ(req.streams(0).labels(),
            "{deployment_environment=\"prod\", service_name=\"checkout\", "
            "severity_text=\"INFO\"}");
  EXPECT_EQ(req.streams(1).labels(),
            "{deployment_environment=\"prod\", region=\"eu-west\", service_name=\"checkout\", "
            "severity_text=\"ERROR\"}");
  const auto& info = req.streams(0).entries();
  ASSERT_EQ(info.size(), 3);
  EXPECT_EQ(info[0].line(), "msg=first");
  EXPECT_EQ(info[1].line(), "msg=second");
  EXPECT_EQ(info[0].timestamp().seconds(), 1);
  EXPECT_EQ(info[1].timestamp().nanos(), 500000000);
  EXPECT_EQ(info[2].timestamp().seconds(), 3);
  EXPECT_EQ(info[2].timestamp().nanos(), 5);
  EXPECT_EQ(info[2].line(),
            "msg=third order_id=42 trace_id=0af7651916cd43dd8448eb211c80319c "
            "span_id=b7ad6b7169203331");
  // A record attribute used as a label is not repeated in the line.
  EXPECT_EQ(req.streams(1).entries(0).line(), "msg=\"card \\\"declined\\\"\\nretry\" amount=12.5");
}

TEST(LokiExporterTest, JsonBodyAndJsonLinesKeepTypes) {
  LokiOptions options;
  options.labels = {"service.name"};
  options.encoding = LokiOptions::Encoding::kJson;
  options.line_format = LokiOptions::LineFormat::kJson;
  options.gzip = true;
  LokiExporter exporter(options);
  const tv1::IngestBatch batch = Batch();
  auto requests = exporter.Encode({&batch});
  ASSERT_TRUE(requests.ok()) << requests.status();
  ASSERT_EQ(requests->size(), 1u);
  const std::string text = Gunzip(exporter.WireBody((*requests)[0]));
  const google::protobuf::Struct body = ParseJson(text);
  const auto& streams = body.fields().at("streams").list_value().values();
  ASSERT_EQ(streams.size(), 1);
  const auto& stream = streams[0].struct_value().fields();
  EXPECT_EQ(stream.at("stream").struct_value().fields().at("service_name").string_value(),
            "checkout");
  const auto& values = stream.at("values").list_value().values();
  ASSERT_EQ(values.size(), 4);
  // ["<ns as a string>", "<line>"], in time order.
  EXPECT_EQ(values[0].list_value().values(0).string_value(), "1000000000");
  EXPECT_EQ(values[3].list_value().values(0).string_value(), "3000000005");
  EXPECT_THAT(text, HasSubstr("[\"3000000005\","));
  const google::protobuf::Struct third = ParseJson(values[3].list_value().values(1).string_value());
  EXPECT_EQ(third.fields().at("msg").string_value(), "third");
  EXPECT_EQ(third.fields().at("severity").string_value(), "INFO");
  EXPECT_EQ(third.fields().at("order_id").number_value(), 42);
  EXPECT_EQ(third.fields().at("trace_id").string_value(), "0af7651916cd43dd8448eb211c80319c");
  EXPECT_EQ(third.fields().at("span_id").string_value(), "b7ad6b7169203331");
  const google::protobuf::Struct err = ParseJson(values[2].list_value().values(1).string_value());
  EXPECT_EQ(err.fields().at("msg").string_value(), "card \"declined\"\nretry");
  EXPECT_EQ(err.fields().at("amount").number_value(), 12.5);
  EXPECT_EQ(err.fields().at("region").string_value(), "eu-west");
}

TEST(LokiExporterTest, StreamsPerPushAreBoundedAndEveryStreamHasALabel) {
  LokiOptions options;
  options.labels = {"user"};
  options.max_streams_per_push = 2;
  LokiExporter exporter(options);
  tv1::IngestBatch batch;
  for (int i = 0; i < 5; ++i) {
    tv1::LogRecord* r = batch.add_logs();
    r->set_time_unix_nano(1000 + i);
    r->set_body("x");
    Attr(r->mutable_attributes(), "user", "u" + std::to_string(i % 3));
  }
  batch.add_logs()->set_body("no user");  // no label value: a fallback stream
  auto requests = exporter.Encode({&batch});
  ASSERT_TRUE(requests.ok());
  ASSERT_EQ(requests->size(), 2u);
  uint64_t records = 0;
  std::vector<std::string> labels;
  for (const Request& r : *requests) {
    const logproto::PushRequest req = DecodeProtobuf(exporter.WireBody(r));
    EXPECT_LE(req.streams_size(), 2);
    records += r.records;
    for (const auto& s : req.streams()) {
      labels.push_back(s.labels());
      // Lines of a record whose attribute became a label do not repeat it.
      for (const auto& e : s.entries()) EXPECT_THAT(e.line(), Not(HasSubstr("user=")));
    }
  }
  EXPECT_EQ(records, 6u);
  EXPECT_THAT(labels, ElementsAre("{user=\"u0\"}", "{user=\"u1\"}", "{user=\"u2\"}",
                                  "{exporter=\"tributary\"}"));
}

TEST(LokiExporterTest, LabelNamesAndPushUrl) {
  EXPECT_EQ(LokiLabelName("service.name"), "service_name");
  EXPECT_EQ(LokiLabelName("k8s-pod"), "k8s_pod");
  EXPECT_EQ(LokiLabelName("1st"), "_1st");
  EXPECT_EQ(LokiPushUrl("http://127.0.0.1:3100"), "http://127.0.0.1:3100/loki/api/v1/push");
  EXPECT_EQ(LokiPushUrl("http://127.0.0.1:3100/"), "http://127.0.0.1:3100/loki/api/v1/push");
  EXPECT_EQ(LokiPushUrl("https://logs.example.test/api/prom/push"),
            "https://logs.example.test/api/prom/push");
}

TEST(LokiExporterTest, LabelValuesAreCutToLokisLimitOnACharacterBoundary) {
  LokiOptions options;
  options.labels = {"path"};
  LokiExporter exporter(options);
  tv1::IngestBatch batch;
  tv1::LogRecord* r = batch.add_logs();
  r->set_time_unix_nano(1);
  std::string long_value = "a";
  for (int i = 0; i < 1500; ++i) long_value += "\xc3\xa9";  // é: 2 bytes
  Attr(r->mutable_attributes(), "path", long_value);
  auto requests = exporter.Encode({&batch});
  ASSERT_TRUE(requests.ok());
  const std::string labels = DecodeProtobuf(exporter.WireBody((*requests)[0])).streams(0).labels();
  // {path="a" + 1023 * é + "}: 2047 bytes of value, no split character.
  EXPECT_EQ(labels.size(), std::string("{path=\"\"}").size() + 2047);
}

TEST(LokiExporterTest, ALokiThatIsNotThereIsRetryable) {
  LokiOptions options;
  options.url = "http://127.0.0.1:1";
  LokiExporter exporter(options);
  const tv1::IngestBatch batch = Batch();
  auto requests = exporter.Encode({&batch});
  ASSERT_TRUE(requests.ok());
  const SendResult result = exporter.Send((*requests)[0], absl::Now() + absl::Seconds(5));
  EXPECT_EQ(result.outcome, Outcome::kRetryable);
  EXPECT_THAT(result.message, HasSubstr("/loki/api/v1/push"));
}

}  // namespace
}  // namespace tributary::exporters
