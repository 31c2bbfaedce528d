// tributaryd's configuration: the YAML file (keys fixed by DESIGN.md), the
// embedded defaults, and the command-line overrides.
//
// Loading never stops at the first problem: every unknown key, wrong type, bad
// duration or size is collected with its key path, so an operator fixes a file
// in one round.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/redaction.h"
#include "exporters/delivery/delivery_loop.h"
#include "exporters/loki/loki_exporter.h"
#include "exporters/otlp/otlp_exporter.h"
#include "exporters/prometheus/remote_write.h"
#include "exporters/prometheus/scrape.h"
#include "storage/options.h"

namespace tributary::collector {

// A server port's TLS; off unless cert_file is set. With client_ca_file,
// every client must present a certificate that CA signed (mutual TLS). PEM
// files, read at start.
struct ServerTlsConfig {
  std::string cert_file;
  std::string key_file;
  std::string client_ca_file;
  bool enabled() const { return !cert_file.empty(); }
};

struct ServerConfig {
  std::string grpc_listen = "127.0.0.1:4317";
  std::string http_listen = "127.0.0.1:8888";
  // A batch (IngestBatch or OTLP Export request) larger than this is refused
  // on its own; the stream it came on stays open. Messages above four times
  // this are cut off by gRPC itself, which ends their stream.
  uint64_t max_message_bytes = 16ull << 20;
  // Batches one ingest stream may have waiting for durability at once.
  uint32_t max_in_flight_per_stream = 32;
  // Bytes of received batches waiting for durability, across all streams and
  // OTLP requests. Above it new batches are answered RESOURCE_EXHAUSTED (OTLP:
  // UNAVAILABLE with RetryInfo) instead of held in memory.
  uint64_t max_in_flight_bytes = 256ull << 20;
  // Clients may ping (HTTP/2 keepalive) this often, even on an idle
  // connection; more frequent pings end their connection (gRPC's
  // too_many_pings). gRPC's own default is 5 minutes, which would refuse
  // our client's 30 s keepalive, and any OTLP exporter's set below 5 minutes.
  absl::Duration min_ping_interval = absl::Seconds(5);
  // How long SIGTERM waits for in-flight batches before closing anyway.
  absl::Duration shutdown_timeout = absl::Seconds(10);
  // How often the consumers' lag is logged (0 = never).
  absl::Duration status_log_interval = absl::Seconds(60);
  using Tls = ServerTlsConfig;
  // TLS on the gRPC port (ingest, OTLP, query, health, reflection alike).
  Tls tls;
  // TLS on the HTTP port (/metrics, /health/*, the status page).
  Tls http_tls;
};

struct StorageConfig {
  std::string data_dir = "./tributary-data";
  storage::BufferOptions buffer;
};

// Per-record limits; a record over any of them is rejected with a reason.
struct IngestLimits {
  uint32_t max_attributes = 128;
  uint32_t max_attribute_key_bytes = 256;
  uint32_t max_attribute_value_bytes = 64 << 10;
  uint32_t max_body_bytes = 1 << 20;
  uint32_t max_span_events = 128;
  uint32_t max_span_links = 128;
  // Timestamps later than now + this are rejected (clock far ahead).
  absl::Duration max_future_skew = absl::Hours(1);
};

struct RedactionConfig {
  // Attribute keys whose values are replaced (case-insensitive, exact match).
  std::vector<std::string> keys = DefaultSensitiveKeys();
  // Matches inside bodies and string attribute values are replaced.
  std::vector<RedactionPattern> patterns;
  std::string replacement = std::string(kDefaultRedactionReplacement);
};

// exporters.otlp; off unless the section is present.
struct OtlpExportConfig {
  bool enabled = false;
  otlp::OtlpExporterOptions options;
  exporters::DeliveryOptions delivery;
};

// exporters.prometheus_remote_write; off unless the section is present.
struct RemoteWriteExportConfig {
  bool enabled = false;
  exporters::RemoteWriteOptions options;
  exporters::DeliveryOptions delivery;
};

// exporters.loki; off unless the section is present.
struct LokiExportConfig {
  bool enabled = false;
  exporters::LokiOptions options;
  exporters::DeliveryOptions delivery;
};

// exporters.prometheus (the scrape endpoint); off unless the section is
// present.
struct PrometheusExportConfig {
  bool enabled = false;
  exporters::ScrapeOptions options;
  ServerTlsConfig tls;  // on the scrape endpoint
  exporters::DeliveryOptions delivery;
};

struct ExportersConfig {
  OtlpExportConfig otlp;
  LokiExportConfig loki;
  PrometheusExportConfig prometheus;
  RemoteWriteExportConfig prometheus_remote_write;
};

struct IngestConfig {
  IngestLimits limits;
  RedactionConfig redaction;
};

struct Config {
  ServerConfig server;
  StorageConfig storage;
  IngestConfig ingest;
  ExportersConfig exporters;
};

// Command-line values that override the file (empty = not given).
struct Overrides {
  std::string data_dir;
  std::string grpc_listen;
  std::string http_listen;
};

struct LoadResult {
  Config config;
  // "FILE: key.path: why", one per problem; empty when the config is usable.
  std::vector<std::string> problems;
};

// Loads `path` (empty = embedded defaults only) and applies `overrides`.
LoadResult LoadConfig(const std::string& path, const Overrides& overrides);

// Parses YAML text; `source` names it in problems.
LoadResult ParseConfig(const std::string& yaml, const std::string& source,
                       const Overrides& overrides);

// "72h", "1h30m", "15s", "250ms", "7d", "0". nullopt if malformed or negative.
std::optional<absl::Duration> ParseDurationValue(const std::string& text);

// "10GiB", "512 MiB", "1.5GB", "4096". Binary (KiB, MiB, GiB, TiB) and decimal
// (KB, MB, GB, TB) units. nullopt if malformed or out of range.
std::optional<uint64_t> ParseByteSize(const std::string& text);

// "HOST:PORT" or "[V6]:PORT" with PORT in 0..65535. Empty string when valid.
std::string CheckListenAddress(const std::string& address);

}  // namespace tributary::collector
