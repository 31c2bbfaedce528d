#include "collector/config/config.h"

#include <cstdlib>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace tributary::collector {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

LoadResult Parse(const std::string& yaml) { return ParseConfig(yaml, "test.yaml", {}); }

TEST(ConfigTest, EmbeddedDefaultsMatchTheContract) {
  LoadResult r = LoadConfig("", {});
  ASSERT_THAT(r.problems, IsEmpty());
  EXPECT_EQ(r.config.server.grpc_listen, "127.0.0.1:4317");
  EXPECT_EQ(r.config.server.http_listen, "127.0.0.1:8888");
  EXPECT_EQ(r.config.storage.data_dir, "./tributary-data");
  EXPECT_EQ(r.config.storage.buffer.durability, storage::Durability::kSync);
  EXPECT_EQ(r.config.storage.buffer.when_full, storage::WhenFull::kBackpressure);
  EXPECT_EQ(r.config.storage.buffer.compression, storage::Compression::kLz4);
  EXPECT_EQ(r.config.storage.buffer.max_disk_bytes, 10ull << 30);
  EXPECT_EQ(r.config.storage.buffer.retention, absl::Hours(72));
  EXPECT_EQ(r.config.ingest.redaction.keys.size(), 12u);
}

TEST(ConfigTest, ReadsEveryDocumentedKey) {
  LoadResult r = Parse(R"(
server:
  grpc_listen: "0.0.0.0:14317"
  http_listen: "127.0.0.1:0"
  max_message_bytes: 8MiB
  max_in_flight_per_stream: 4
  max_in_flight_bytes: 64MiB
  min_ping_interval: 2s
  shutdown_timeout: 3s
  status_log_interval: 0
storage:
  data_dir: /var/lib/tributary
  durability: async
  max_disk_bytes: 512MiB
  when_full: drop_oldest
  compression: none
  retention: 7d
  producer_ttl: 36h
  sync_interval: 50ms
  memory_budget: 64MiB
ingest:
  limits: { max_attributes: 16, max_body_bytes: 1000, max_future_skew: 10m }
  redaction:
    keys: [password, X-Api-Key]
    replacement: "[hidden]"
    patterns:
      - { name: card_number, regex: '\b(?:\d[ -]?){13,16}\b' }
)");
  ASSERT_THAT(r.problems, IsEmpty());
  const Config& c = r.config;
  EXPECT_EQ(c.server.grpc_listen, "0.0.0.0:14317");
  EXPECT_EQ(c.server.max_message_bytes, 8u << 20);
  EXPECT_EQ(c.server.max_in_flight_per_stream, 4u);
  EXPECT_EQ(c.server.max_in_flight_bytes, 64u << 20);
  EXPECT_EQ(c.server.min_ping_interval, absl::Seconds(2));
  EXPECT_EQ(c.server.shutdown_timeout, absl::Seconds(3));
  EXPECT_EQ(c.server.status_log_interval, absl::ZeroDuration());
  EXPECT_EQ(c.storage.data_dir, "/var/lib/tributary");
  EXPECT_EQ(c.storage.buffer.durability, storage::Durability::kAsync);
  EXPECT_EQ(c.storage.buffer.max_disk_bytes, 512u << 20);
  EXPECT_EQ(c.storage.buffer.when_full, storage::WhenFull::kDropOldest);
  EXPECT_EQ(c.storage.buffer.compression, storage::Compression::kNone);
  EXPECT_EQ(c.storage.buffer.retention, absl::Hours(168));
  EXPECT_EQ(c.storage.buffer.producer_ttl, absl::Hours(36));
  EXPECT_EQ(c.storage.buffer.sync_interval, absl::Milliseconds(50));
  EXPECT_EQ(c.storage.buffer.memory_budget_bytes, 64u << 20);
  EXPECT_EQ(c.ingest.limits.max_attributes, 16u);
  EXPECT_EQ(c.ingest.limits.max_body_bytes, 1000u);
  EXPECT_EQ(c.ingest.limits.max_future_skew, absl::Minutes(10));
  EXPECT_THAT(c.ingest.redaction.keys, ElementsAre("password", "X-Api-Key"));
  EXPECT_EQ(c.ingest.redaction.replacement, "[hidden]");
  ASSERT_EQ(c.ingest.redaction.patterns.size(), 1u);
  EXPECT_EQ(c.ingest.redaction.patterns[0].name, "card_number");
}

TEST(ConfigTest, ListsEveryProblemWithItsKeyPath) {
  LoadResult r = Parse(R"(
server:
  grpc_listen: "no-port"
  max_in_flight_per_stream: lots
  min_ping_interval: 100ms
  colour: blue
storage:
  durability: sometimes
  max_disk_bytes: 10 parsecs
  compression: zip
  retention: forever
ingest:
  redaction:
    patterns:
      - { name: broken, regex: '(unclosed' }
      - { regex: 'x' }
exporters:
  loki: { url: "http://127.0.0.1:3100", encoding: xml }
)");
  EXPECT_THAT(
      r.problems,
      ElementsAre(
          HasSubstr("test.yaml: server.colour: unknown key"),
          HasSubstr("server.max_in_flight_per_stream: must be an integer from 1 to 1024"),
          HasSubstr("storage.durability: must be sync or async, got \"sometimes\""),
          HasSubstr("storage.max_disk_bytes: bad size \"10 parsecs\""),
          HasSubstr("storage.compression: must be lz4 or none, got \"zip\""),
          HasSubstr("storage.retention: bad duration \"forever\""),
          HasSubstr("ingest.redaction.patterns[0].regex: invalid RE2 pattern"),
          HasSubstr("ingest.redaction.patterns[1].name: is required"),
          HasSubstr("exporters.loki.encoding: must be protobuf or json, got \"xml\""),
          HasSubstr("server.grpc_listen: \"no-port\" is not HOST:PORT"),
          HasSubstr("server.min_ping_interval: must be from 1s to 1h")));
}

TEST(ConfigTest, TheOtlpExporterSection) {
  EXPECT_FALSE(Parse("").config.exporters.otlp.enabled);
  const LoadResult r = Parse(R"(
exporters:
  otlp:
    endpoint: "collector.example:4317"
    compression: none
    headers: { Authorization: "Bearer abc" }
    timeout: 3s
    retry: { initial_interval: 200ms, max_interval: 5s, max_elapsed_time: 10m }
    batch: { max_records: 500, max_delay: 250ms }
)");
  ASSERT_THAT(r.problems, IsEmpty());
  const OtlpExportConfig& o = r.config.exporters.otlp;
  EXPECT_TRUE(o.enabled);
  EXPECT_EQ(o.options.endpoint, "collector.example:4317");
  EXPECT_FALSE(o.options.gzip);
  EXPECT_EQ(o.options.headers.at("authorization"), "Bearer abc");
  EXPECT_FALSE(o.options.tls.enabled);
  EXPECT_EQ(o.delivery.send_timeout, absl::Seconds(3));
  EXPECT_EQ(o.delivery.retry.initial_interval, absl::Milliseconds(200));
  EXPECT_EQ(o.delivery.retry.max_interval, absl::Seconds(5));
  EXPECT_EQ(o.delivery.retry.max_elapsed_time, absl::Minutes(10));
  EXPECT_EQ(o.delivery.batch.max_records, 500u);
  EXPECT_EQ(o.delivery.batch.max_delay, absl::Milliseconds(250));
  // Present but empty: on, with the defaults.
  EXPECT_TRUE(Parse("exporters: { otlp: {} }").config.exporters.otlp.enabled);

  EXPECT_THAT(Parse(R"(
exporters:
  otlp:
    compression: brotli
    tls: { ca_file: /nonexistent/ca.pem }
    retry: { initial_interval: 5s, max_interval: 1s }
    batch: { max_records: 0 }
    color: red
)").problems,
              ElementsAre(HasSubstr("exporters.otlp.color: unknown key"),
                          HasSubstr("exporters.otlp.compression: must be gzip or none"),
                          HasSubstr("exporters.otlp.tls.ca_file: /nonexistent/ca.pem cannot be read"),
                          HasSubstr("exporters.otlp.batch.max_records: must be an integer from 1"),
                          HasSubstr("exporters.otlp.retry: need 0 < initial_interval")));
}

TEST(ConfigTest, TheServerTlsSection) {
  EXPECT_FALSE(Parse("").config.server.tls.enabled());
  const std::string dir = std::getenv("TEST_TMPDIR");
  for (const char* name : {"/cert.pem", "/key.pem", "/ca.pem"}) std::ofstream(dir + name) << "x";
  const LoadResult r = Parse(absl::StrCat("server:\n  tls: { cert_file: ", dir, "/cert.pem, ",
                                          "key_file: ", dir, "/key.pem, client_ca_file: ", dir,
                                          "/ca.pem }\n"));
  ASSERT_THAT(r.problems, IsEmpty());
  EXPECT_TRUE(r.config.server.tls.enabled());
  EXPECT_EQ(r.config.server.tls.cert_file, dir + "/cert.pem");
  EXPECT_EQ(r.config.server.tls.key_file, dir + "/key.pem");
  EXPECT_EQ(r.config.server.tls.client_ca_file, dir + "/ca.pem");

  EXPECT_THAT(Parse("server: { tls: { cert_file: /nonexistent/c.pem, client_ca: x } }").problems,
              ElementsAre(HasSubstr("server.tls.client_ca: unknown key"),
                          HasSubstr("server.tls.key_file: is required"),
                          HasSubstr("server.tls.cert_file: /nonexistent/c.pem cannot be read")));
  EXPECT_THAT(Parse("server: { tls: {} }").problems,
              ElementsAre(HasSubstr("server.tls.cert_file: is required"),
                          HasSubstr("server.tls.key_file: is required")));
}

// The HTTP port and the Prometheus exporter's endpoint take the same TLS
// section as the gRPC port, each on its own.
TEST(ConfigTest, TheHttpTlsSections) {
  const LoadResult plain = Parse("exporters: { prometheus: {} }");
  ASSERT_THAT(plain.problems, IsEmpty());
  EXPECT_FALSE(plain.config.server.http_tls.enabled());
  EXPECT_FALSE(plain.config.exporters.prometheus.tls.enabled());
  const std::string dir = std::getenv("TEST_TMPDIR");
  for (const char* name : {"/cert.pem", "/key.pem", "/ca.pem"}) std::ofstream(dir + name) << "x";
  const LoadResult r = Parse(absl::StrCat(
      "server:\n  http_tls: { cert_file: ", dir, "/cert.pem, key_file: ", dir,
      "/key.pem, client_ca_file: ", dir, "/ca.pem }\n",
      "exporters:\n  prometheus:\n    tls: { cert_file: ", dir, "/cert.pem, key_file: ", dir,
      "/key.pem }\n"));
  ASSERT_THAT(r.problems, IsEmpty());
  EXPECT_FALSE(r.config.server.tls.enabled());
  EXPECT_TRUE(r.config.server.http_tls.enabled());
  EXPECT_EQ(r.config.server.http_tls.client_ca_file, dir + "/ca.pem");
  EXPECT_TRUE(r.config.exporters.prometheus.tls.enabled());
  EXPECT_EQ(r.config.exporters.prometheus.tls.key_file, dir + "/key.pem");
  EXPECT_TRUE(r.config.exporters.prometheus.tls.client_ca_file.empty());

  EXPECT_THAT(Parse("server: { http_tls: { cert: x } }\n"
                    "exporters: { prometheus: { tls: { key_file: /nonexistent/k.pem } } }")
                  .problems,
              ElementsAre(HasSubstr("server.http_tls.cert: unknown key"),
                          HasSubstr("server.http_tls.cert_file: is required"),
                          HasSubstr("server.http_tls.key_file: is required"),
                          HasSubstr("exporters.prometheus.tls.cert_file: is required"),
                          HasSubstr("exporters.prometheus.tls.key_file: /nonexistent/k.pem "
                                    "cannot be read")));
}

TEST(ConfigTest, TheRemoteWriteExporterSection) {
  const LoadResult r = Parse(R"(
exporters:
  prometheus_remote_write:
    url: "http://127.0.0.1:9090/api/v1/write"
    headers: { Authorization: "Basic abc" }
    batch: { max_records: 2000 }
)");
  ASSERT_THAT(r.problems, IsEmpty());
  const RemoteWriteExportConfig& rw = r.config.exporters.prometheus_remote_write;
  EXPECT_TRUE(rw.enabled);
  EXPECT_EQ(rw.options.url, "http://127.0.0.1:9090/api/v1/write");
  EXPECT_EQ(rw.options.headers.at("Authorization"), "Basic abc");
  EXPECT_EQ(rw.delivery.batch.max_records, 2000u);
  EXPECT_THAT(Parse("exporters: { prometheus_remote_write: { url: \"127.0.0.1:9090\" } }")
                  .problems,
              ElementsAre(HasSubstr("must be an http:// or https:// URL")));
}

TEST(ConfigTest, TheLokiExporterSection) {
  EXPECT_FALSE(Parse("").config.exporters.loki.enabled);
  const LoadResult r = Parse(R"(
exporters:
  loki:
    url: "http://127.0.0.1:3100"
    tenant: team-a
    labels: [service.name, severity_text, k8s.namespace]
    encoding: json
    compression: gzip
    line_format: json
    max_streams_per_push: 50
    batch: { max_records: 3000, max_delay: 1s }
)");
  ASSERT_THAT(r.problems, IsEmpty());
  const LokiExportConfig& loki = r.config.exporters.loki;
  EXPECT_TRUE(loki.enabled);
  EXPECT_EQ(loki.options.tenant, "team-a");
  EXPECT_THAT(loki.options.labels, ElementsAre("service.name", "severity_text", "k8s.namespace"));
  EXPECT_EQ(loki.options.encoding, exporters::LokiOptions::Encoding::kJson);
  EXPECT_TRUE(loki.options.gzip);
  EXPECT_EQ(loki.options.line_format, exporters::LokiOptions::LineFormat::kJson);
  EXPECT_EQ(loki.options.max_streams_per_push, 50u);
  EXPECT_EQ(loki.delivery.batch.max_records, 3000u);
  // The defaults: protobuf, logfmt, service.name and severity_text.
  const LokiExportConfig plain = Parse("exporters: { loki: {} }").config.exporters.loki;
  EXPECT_TRUE(plain.enabled);
  EXPECT_EQ(plain.options.encoding, exporters::LokiOptions::Encoding::kProtobuf);
  EXPECT_THAT(plain.options.labels, ElementsAre("service.name", "severity_text"));
  EXPECT_THAT(Parse(R"(
exporters:
  loki:
    url: "loki:3100"
    compression: gzip
    line_format: yaml
    labels: []
)").problems,
              ElementsAre(HasSubstr("exporters.loki.url: must be an http:// or https:// URL"),
                          HasSubstr("exporters.loki.labels: must name 1 to 15 keys"),
                          HasSubstr("exporters.loki.compression: gzip applies to encoding: json"),
                          HasSubstr("exporters.loki.line_format: must be logfmt or json")));
}

TEST(ConfigTest, ThePrometheusExporterSection) {
  EXPECT_FALSE(Parse("").config.exporters.prometheus.enabled);
  const LoadResult r = Parse(R"(
exporters:
  prometheus:
    listen: "127.0.0.1:9464"
    metric_expiration: 90s
    max_series: 5000
    resource_labels: [deployment.environment]
    batch: { max_delay: 50ms }
)");
  ASSERT_THAT(r.problems, IsEmpty());
  const PrometheusExportConfig& p = r.config.exporters.prometheus;
  EXPECT_TRUE(p.enabled);
  EXPECT_EQ(p.options.listen, "127.0.0.1:9464");
  EXPECT_EQ(p.options.metric_expiration, absl::Seconds(90));
  EXPECT_EQ(p.options.max_series, 5000u);
  EXPECT_THAT(p.options.resource_labels, ElementsAre("deployment.environment"));
  EXPECT_EQ(p.delivery.batch.max_delay, absl::Milliseconds(50));
  EXPECT_EQ(Parse("exporters: { prometheus: {} }").config.exporters.prometheus.options.listen,
            "127.0.0.1:8889");
  EXPECT_THAT(Parse("exporters: { prometheus: { listen: nowhere, metric_expiration: 0s } }")
                  .problems,
              ElementsAre(HasSubstr("exporters.prometheus.metric_expiration: must be positive"),
                          HasSubstr("exporters.prometheus.listen: \"nowhere\" is not HOST:PORT")));
}

TEST(ConfigTest, WrongShapesAreProblemsNotCrashes) {
  EXPECT_THAT(Parse("server: [1, 2]").problems,
              ElementsAre(HasSubstr("server: must be a mapping")));
  EXPECT_THAT(Parse("storage: { data_dir: [a, b] }").problems,
              ElementsAre(HasSubstr("storage.data_dir: must be a single value")));
  EXPECT_THAT(Parse("- just\n- a list\n").problems,
              ElementsAre(HasSubstr("(top level): must be a mapping")));
  EXPECT_THAT(Parse("server: {grpc_listen: \"a:1\"\n").problems,
              ElementsAre(HasSubstr("not valid YAML")));
  EXPECT_THAT(Parse("ingest: { redaction: { keys: password } }").problems,
              ElementsAre(HasSubstr("ingest.redaction.keys: must be a list")));
}

TEST(ConfigTest, FlagsOverrideTheFile) {
  Overrides o;
  o.data_dir = "/tmp/x";
  o.grpc_listen = "127.0.0.1:0";
  LoadResult r = ParseConfig("server: { grpc_listen: \"127.0.0.1:9\" }", "f", o);
  ASSERT_THAT(r.problems, IsEmpty());
  EXPECT_EQ(r.config.storage.data_dir, "/tmp/x");
  EXPECT_EQ(r.config.server.grpc_listen, "127.0.0.1:0");
  o.http_listen = "127.0.0.1:70000";
  EXPECT_THAT(ParseConfig("", "f", o).problems,
              ElementsAre(HasSubstr("server.http_listen: \"127.0.0.1:70000\" does not end")));
}

TEST(ConfigTest, TheExampleFileIsValidAndMatchesTheDefaults) {
  LoadResult r = LoadConfig("collector/config/example.yaml", {});
  ASSERT_THAT(r.problems, IsEmpty());
  const Config defaults;
  EXPECT_EQ(r.config.server.grpc_listen, defaults.server.grpc_listen);
  EXPECT_EQ(r.config.server.max_message_bytes, defaults.server.max_message_bytes);
  EXPECT_EQ(r.config.server.max_in_flight_bytes, defaults.server.max_in_flight_bytes);
  EXPECT_EQ(r.config.storage.buffer.max_disk_bytes, defaults.storage.buffer.max_disk_bytes);
  EXPECT_EQ(r.config.storage.buffer.producer_ttl, defaults.storage.buffer.producer_ttl);
  EXPECT_EQ(r.config.storage.buffer.memory_budget_bytes,
            defaults.storage.buffer.memory_budget_bytes);
  EXPECT_EQ(r.config.ingest.limits.max_attribute_value_bytes,
            defaults.ingest.limits.max_attribute_value_bytes);
  EXPECT_EQ(r.config.ingest.redaction.keys, defaults.ingest.redaction.keys);
  EXPECT_EQ(r.config.ingest.redaction.patterns.size(), 2u);
}

TEST(ConfigTest, UnreadableFileIsAProblem) {
  LoadResult r = LoadConfig("/nonexistent/tributary.yaml", {});
  EXPECT_THAT(r.problems,
              ElementsAre(HasSubstr("/nonexistent/tributary.yaml: cannot be read")));
}

TEST(ConfigTest, LoadsAFile) {
  const std::string path = std::string(getenv("TEST_TMPDIR")) + "/c.yaml";
  std::ofstream(path) << "storage: { data_dir: /data }\n";
  LoadResult r = LoadConfig(path, {});
  ASSERT_THAT(r.problems, IsEmpty());
  EXPECT_EQ(r.config.storage.data_dir, "/data");
}

TEST(ConfigTest, Durations) {
  EXPECT_EQ(ParseDurationValue("250ms"), absl::Milliseconds(250));
  EXPECT_EQ(ParseDurationValue("1h30m"), absl::Minutes(90));
  EXPECT_EQ(ParseDurationValue("7d"), absl::Hours(168));
  EXPECT_EQ(ParseDurationValue("0"), absl::ZeroDuration());
  EXPECT_EQ(ParseDurationValue("15"), std::nullopt);
  EXPECT_EQ(ParseDurationValue("-1s"), std::nullopt);
  EXPECT_EQ(ParseDurationValue("1.5d"), std::nullopt);
  EXPECT_EQ(ParseDurationValue("inf"), std::nullopt);
}

TEST(ConfigTest, Sizes) {
  EXPECT_EQ(ParseByteSize("4096"), 4096u);
  EXPECT_EQ(ParseByteSize("64KiB"), 65536u);
  EXPECT_EQ(ParseByteSize("512 MiB"), 512ull << 20);
  EXPECT_EQ(ParseByteSize("10GiB"), 10ull << 30);
  EXPECT_EQ(ParseByteSize("1.5GB"), 1500000000u);
  EXPECT_EQ(ParseByteSize("1gb"), 1000000000u);
  EXPECT_EQ(ParseByteSize("1.5"), std::nullopt);
  EXPECT_EQ(ParseByteSize("GiB"), std::nullopt);
  EXPECT_EQ(ParseByteSize("5 bananas"), std::nullopt);
  EXPECT_EQ(ParseByteSize("99999999TiB"), std::nullopt);
}

}  // namespace
}  // namespace tributary::collector
