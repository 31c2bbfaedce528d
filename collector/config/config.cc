#include "collector/config/config.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "re2/re2.h"
#include "yaml-cpp/yaml.h"

namespace tributary::collector {
namespace {

// Collects problems while walking the document.
class Walker {
 public:
  explicit Walker(std::string source) : source_(std::move(source)) {}

  void Problem(const std::string& path, const std::string& why) {
    problems_.push_back(absl::StrCat(source_, ": ", path, ": ", why));
  }

  std::vector<std::string> TakeProblems() { return std::move(problems_); }

  static std::string Join(const std::string& path, const std::string& key) {
    return path.empty() ? key : absl::StrCat(path, ".", key);
  }

  // True if `node` is a usable map (absent and null count as empty). Reports
  // every key not in `known`.
  bool Map(const YAML::Node& node, const std::string& path,
           std::initializer_list<const char*> known) {
    if (!node || node.IsNull()) return false;
    if (!node.IsMap()) {
      Problem(path.empty() ? "(top level)" : path, "must be a mapping of keys to values");
      return false;
    }
    const std::set<std::string> allowed(known.begin(), known.end());
    for (const auto& kv : node) {
      const std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "(non-scalar key)";
      if (allowed.count(key) == 0) {
        Problem(Join(path, key),
                absl::StrCat("unknown key (known here: ", absl::StrJoin(allowed, ", "), ")"));
      }
    }
    return true;
  }

  // The scalar text at `node[key]`, or nullopt if absent or not a scalar
  // (reported).
  std::optional<std::string> Scalar(const YAML::Node& node, const std::string& path,
                                    const char* key) {
    const YAML::Node value = node[key];
    if (!value || value.IsNull()) return std::nullopt;
    if (!value.IsScalar()) {
      Problem(Join(path, key), "must be a single value, not a list or mapping");
      return std::nullopt;
    }
    return value.Scalar();
  }

  // Each named file that is set must be readable.
  void Readable(const std::string& path,
                std::initializer_list<std::pair<const char*, const std::string&>> files) {
    for (const auto& [key, file] : files) {
      if (!file.empty() && !std::ifstream(file)) {
        Problem(Join(path, key), absl::StrCat(file, " cannot be read"));
      }
    }
  }

  // One of the named values at `node[key]`; anything else is a problem that
  // lists them.
  template <typename T>
  void Choice(const YAML::Node& node, const std::string& path, const char* key,
              std::initializer_list<std::pair<const char*, T>> choices, T* out) {
    auto v = Scalar(node, path, key);
    if (!v) return;
    std::vector<std::string> names;
    for (const auto& [name, value] : choices) {
      if (*v == name) {
        *out = value;
        return;
      }
      names.push_back(name);
    }
    Problem(Join(path, key),
            absl::StrCat("must be ", absl::StrJoin(names, " or "), ", got \"", *v, "\""));
  }

  void String(const YAML::Node& node, const std::string& path, const char* key,
              std::string* out) {
    if (auto v = Scalar(node, path, key)) *out = *v;
  }

  void Duration(const YAML::Node& node, const std::string& path, const char* key,
                absl::Duration* out) {
    if (auto v = Scalar(node, path, key)) {
      if (auto d = ParseDurationValue(*v)) {
        *out = *d;
      } else {
        Problem(Join(path, key), absl::StrCat("bad duration \"", *v,
                                              "\" (use e.g. 250ms, 15s, 1h30m, 7d)"));
      }
    }
  }

  void Size(const YAML::Node& node, const std::string& path, const char* key, uint64_t* out) {
    if (auto v = Scalar(node, path, key)) {
      if (auto s = ParseByteSize(*v)) {
        *out = *s;
      } else {
        Problem(Join(path, key),
                absl::StrCat("bad size \"", *v, "\" (use e.g. 4096, 64KiB, 512MiB, 10GiB)"));
      }
    }
  }

  void Uint32(const YAML::Node& node, const std::string& path, const char* key, uint32_t min,
              uint32_t max, uint32_t* out) {
    if (auto v = Scalar(node, path, key)) {
      uint64_t n = 0;
      if (!absl::SimpleAtoi(*v, &n) || n < min || n > max) {
        Problem(Join(path, key),
                absl::StrCat("must be an integer from ", min, " to ", max, ", got \"", *v, "\""));
      } else {
        *out = static_cast<uint32_t>(n);
      }
    }
  }

  // A byte size that must fit a uint32 limit.
  void SizeU32(const YAML::Node& node, const std::string& path, const char* key, uint64_t min,
               uint64_t max, uint32_t* out) {
    uint64_t v = *out;
    const size_t before = problems_.size();
    Size(node, path, key, &v);
    if (problems_.size() != before) return;
    if (v < min || v > max) {
      Problem(Join(path, key), absl::StrCat("must be from ", min, " to ", max, " bytes"));
      return;
    }
    *out = static_cast<uint32_t>(v);
  }

  // A list of strings; nullopt if absent.
  std::optional<std::vector<std::string>> StringList(const YAML::Node& node,
                                                     const std::string& path, const char* key) {
    const YAML::Node value = node[key];
    if (!value || value.IsNull()) return std::nullopt;
    if (!value.IsSequence()) {
      Problem(Join(path, key), "must be a list");
      return std::nullopt;
    }
    std::vector<std::string> out;
    for (size_t i = 0; i < value.size(); ++i) {
      if (!value[i].IsScalar()) {
        Problem(absl::StrCat(Join(path, key), "[", i, "]"), "must be a string");
        continue;
      }
      out.push_back(value[i].Scalar());
    }
    return out;
  }

 private:
  std::string source_;
  std::vector<std::string> problems_;
};

void WalkServerTls(Walker& w, const YAML::Node& node, const std::string& path,
                   ServerTlsConfig* tls) {
  if (!w.Map(node, path, {"cert_file", "key_file", "client_ca_file"})) return;
  w.String(node, path, "cert_file", &tls->cert_file);
  w.String(node, path, "key_file", &tls->key_file);
  w.String(node, path, "client_ca_file", &tls->client_ca_file);
  if (tls->cert_file.empty()) w.Problem(path + ".cert_file", "is required");
  if (tls->key_file.empty()) w.Problem(path + ".key_file", "is required");
  w.Readable(path, {{"cert_file", tls->cert_file},
                    {"key_file", tls->key_file},
                    {"client_ca_file", tls->client_ca_file}});
}

void WalkServer(Walker& w, const YAML::Node& node, ServerConfig* server) {
  const std::string path = "server";
  if (!w.Map(node, path,
             {"grpc_listen", "http_listen", "max_message_bytes", "max_in_flight_per_stream",
              "max_in_flight_bytes", "min_ping_interval", "shutdown_timeout",
              "status_log_interval", "tls", "http_tls"})) {
    return;
  }
  w.String(node, path, "grpc_listen", &server->grpc_listen);
  w.String(node, path, "http_listen", &server->http_listen);
  w.Size(node, path, "max_message_bytes", &server->max_message_bytes);
  w.Uint32(node, path, "max_in_flight_per_stream", 1, 1024, &server->max_in_flight_per_stream);
  w.Size(node, path, "max_in_flight_bytes", &server->max_in_flight_bytes);
  w.Duration(node, path, "min_ping_interval", &server->min_ping_interval);
  w.Duration(node, path, "shutdown_timeout", &server->shutdown_timeout);
  w.Duration(node, path, "status_log_interval", &server->status_log_interval);
  WalkServerTls(w, node["tls"], path + ".tls", &server->tls);
  WalkServerTls(w, node["http_tls"], path + ".http_tls", &server->http_tls);
}

void WalkStorage(Walker& w, const YAML::Node& node, StorageConfig* storage) {
  const std::string path = "storage";
  if (!w.Map(node, path,
             {"data_dir", "durability", "max_disk_bytes", "when_full", "compression", "retention",
              "producer_ttl", "sync_interval", "maintenance_interval", "memory_budget"})) {
    return;
  }
  storage::BufferOptions& b = storage->buffer;
  w.String(node, path, "data_dir", &storage->data_dir);
  w.Choice<storage::Durability>(
      node, path, "durability",
      {{"sync", storage::Durability::kSync}, {"async", storage::Durability::kAsync}},
      &b.durability);
  w.Size(node, path, "max_disk_bytes", &b.max_disk_bytes);
  w.Choice<storage::WhenFull>(node, path, "when_full",
                              {{"backpressure", storage::WhenFull::kBackpressure},
                               {"drop_oldest", storage::WhenFull::kDropOldest}},
                              &b.when_full);
  w.Choice<storage::Compression>(
      node, path, "compression",
      {{"lz4", storage::Compression::kLz4}, {"none", storage::Compression::kNone}},
      &b.compression);
  w.Duration(node, path, "retention", &b.retention);
  w.Duration(node, path, "producer_ttl", &b.producer_ttl);
  w.Duration(node, path, "sync_interval", &b.sync_interval);
  w.Duration(node, path, "maintenance_interval", &b.maintenance_interval);
  w.Size(node, path, "memory_budget", &b.memory_budget_bytes);
}

void WalkIngest(Walker& w, const YAML::Node& node, IngestConfig* ingest) {
  if (!w.Map(node, "ingest", {"limits", "redaction"})) return;

  const YAML::Node limits = node["limits"];
  const std::string lpath = "ingest.limits";
  if (w.Map(limits, lpath,
            {"max_attributes", "max_attribute_key_bytes", "max_attribute_value_bytes",
             "max_body_bytes", "max_span_events", "max_span_links", "max_future_skew"})) {
    IngestLimits& l = ingest->limits;
    w.Uint32(limits, lpath, "max_attributes", 1, 1 << 16, &l.max_attributes);
    w.SizeU32(limits, lpath, "max_attribute_key_bytes", 1, 1 << 20, &l.max_attribute_key_bytes);
    w.SizeU32(limits, lpath, "max_attribute_value_bytes", 1, 64 << 20,
              &l.max_attribute_value_bytes);
    w.SizeU32(limits, lpath, "max_body_bytes", 1, 256 << 20, &l.max_body_bytes);
    w.Uint32(limits, lpath, "max_span_events", 0, 1 << 16, &l.max_span_events);
    w.Uint32(limits, lpath, "max_span_links", 0, 1 << 16, &l.max_span_links);
    w.Duration(limits, lpath, "max_future_skew", &l.max_future_skew);
  }

  const YAML::Node redaction = node["redaction"];
  const std::string rpath = "ingest.redaction";
  if (w.Map(redaction, rpath, {"keys", "patterns", "replacement"})) {
    RedactionConfig& r = ingest->redaction;
    if (auto keys = w.StringList(redaction, rpath, "keys")) r.keys = *keys;
    w.String(redaction, rpath, "replacement", &r.replacement);
    const YAML::Node patterns = redaction["patterns"];
    if (patterns && !patterns.IsNull()) {
      if (!patterns.IsSequence()) {
        w.Problem("ingest.redaction.patterns", "must be a list of {name, regex}");
      } else {
        for (size_t i = 0; i < patterns.size(); ++i) {
          const std::string ppath = absl::StrCat("ingest.redaction.patterns[", i, "]");
          if (!w.Map(patterns[i], ppath, {"name", "regex"})) {
            if (!patterns[i].IsMap()) continue;
          }
          RedactionPattern p;
          w.String(patterns[i], ppath, "name", &p.name);
          w.String(patterns[i], ppath, "regex", &p.regex);
          if (p.name.empty()) w.Problem(ppath + ".name", "is required");
          if (p.regex.empty()) {
            w.Problem(ppath + ".regex", "is required");
          } else {
            RE2 re(p.regex, RE2::Quiet);
            if (!re.ok()) w.Problem(ppath + ".regex", "invalid RE2 pattern: " + re.error());
          }
          r.patterns.push_back(std::move(p));
        }
      }
    }
  }
}

// `retry`, `batch` and `timeout`, which every exporter block takes.
void WalkDelivery(Walker& w, const YAML::Node& node, const std::string& path,
                  exporters::DeliveryOptions* d) {
  w.Duration(node, path, "timeout", &d->send_timeout);
  const std::string rpath = path + ".retry";
  if (w.Map(node["retry"], rpath, {"initial_interval", "max_interval", "max_elapsed_time"})) {
    w.Duration(node["retry"], rpath, "initial_interval", &d->retry.initial_interval);
    w.Duration(node["retry"], rpath, "max_interval", &d->retry.max_interval);
    w.Duration(node["retry"], rpath, "max_elapsed_time", &d->retry.max_elapsed_time);
  }
  const std::string bpath = path + ".batch";
  if (w.Map(node["batch"], bpath, {"max_records", "max_delay"})) {
    w.Uint32(node["batch"], bpath, "max_records", 1, 1000000, &d->batch.max_records);
    w.Duration(node["batch"], bpath, "max_delay", &d->batch.max_delay);
  }
  if (d->send_timeout <= absl::ZeroDuration()) w.Problem(path + ".timeout", "must be positive");
  if (d->retry.initial_interval <= absl::ZeroDuration() ||
      d->retry.max_interval < d->retry.initial_interval) {
    w.Problem(rpath, "need 0 < initial_interval <= max_interval");
  }
}

// `headers: {name: value}`, sent with every request.
void WalkHeaders(Walker& w, const YAML::Node& node, const std::string& path, bool lower_case,
                 std::map<std::string, std::string>* out) {
  const YAML::Node headers = node["headers"];
  if (!headers || headers.IsNull()) return;
  if (!headers.IsMap()) {
    w.Problem(path + ".headers", "must be a mapping of header names to values");
    return;
  }
  for (const auto& kv : headers) {
    if (!kv.first.IsScalar() || !kv.second.IsScalar()) {
      w.Problem(path + ".headers", "names and values must be strings");
      continue;
    }
    (*out)[lower_case ? absl::AsciiStrToLower(kv.first.Scalar()) : kv.first.Scalar()] =
        kv.second.Scalar();
  }
}

void WalkRemoteWrite(Walker& w, const YAML::Node& node, RemoteWriteExportConfig* rw) {
  const std::string path = "exporters.prometheus_remote_write";
  if (!node) return;
  rw->enabled = true;
  if (!w.Map(node, path, {"url", "headers", "timeout", "retry", "batch"})) return;
  w.String(node, path, "url", &rw->options.url);
  if (rw->options.url.rfind("http://", 0) != 0 && rw->options.url.rfind("https://", 0) != 0) {
    w.Problem(path + ".url", absl::StrCat("must be an http:// or https:// URL, got \"",
                                          rw->options.url, "\""));
  }
  WalkHeaders(w, node, path, /*lower_case=*/false, &rw->options.headers);
  WalkDelivery(w, node, path, &rw->delivery);
}

void WalkLoki(Walker& w, const YAML::Node& node, LokiExportConfig* loki) {
  const std::string path = "exporters.loki";
  if (!node) return;
  loki->enabled = true;
  exporters::LokiOptions& o = loki->options;
  if (!w.Map(node, path, {"url", "tenant", "labels", "encoding", "compression", "line_format",
                          "max_streams_per_push", "headers", "timeout", "retry", "batch"})) {
    return;
  }
  w.String(node, path, "url", &o.url);
  if (o.url.rfind("http://", 0) != 0 && o.url.rfind("https://", 0) != 0) {
    w.Problem(path + ".url",
              absl::StrCat("must be an http:// or https:// URL, got \"", o.url, "\""));
  }
  w.String(node, path, "tenant", &o.tenant);
  if (auto labels = w.StringList(node, path, "labels")) {
    o.labels = *labels;
    if (o.labels.empty() || o.labels.size() > exporters::kLokiMaxLabels) {
      w.Problem(path + ".labels", absl::StrCat("must name 1 to ", exporters::kLokiMaxLabels,
                                               " keys (Loki's limit per stream)"));
    }
  }
  using Loki = exporters::LokiOptions;
  w.Choice<Loki::Encoding>(
      node, path, "encoding",
      {{"protobuf", Loki::Encoding::kProtobuf}, {"json", Loki::Encoding::kJson}}, &o.encoding);
  w.Choice<bool>(node, path, "compression", {{"gzip", true}, {"none", false}}, &o.gzip);
  if (o.gzip && o.encoding != Loki::Encoding::kJson) {
    w.Problem(path + ".compression",
              "gzip applies to encoding: json (protobuf bodies are always snappy)");
  }
  w.Choice<Loki::LineFormat>(
      node, path, "line_format",
      {{"logfmt", Loki::LineFormat::kLogfmt}, {"json", Loki::LineFormat::kJson}}, &o.line_format);
  w.Uint32(node, path, "max_streams_per_push", 1, 100000, &o.max_streams_per_push);
  WalkHeaders(w, node, path, /*lower_case=*/false, &o.headers);
  WalkDelivery(w, node, path, &loki->delivery);
}

void WalkPrometheus(Walker& w, const YAML::Node& node, PrometheusExportConfig* prom) {
  const std::string path = "exporters.prometheus";
  if (!node) return;
  prom->enabled = true;
  exporters::ScrapeOptions& o = prom->options;
  if (!w.Map(node, path, {"listen", "tls", "metric_expiration", "max_series", "resource_labels",
                          "timeout", "retry", "batch"})) {
    return;
  }
  w.String(node, path, "listen", &o.listen);
  WalkServerTls(w, node["tls"], path + ".tls", &prom->tls);
  w.Duration(node, path, "metric_expiration", &o.metric_expiration);
  if (o.metric_expiration <= absl::ZeroDuration()) {
    w.Problem(path + ".metric_expiration", "must be positive");
  }
  uint32_t max_series = static_cast<uint32_t>(o.max_series);
  w.Uint32(node, path, "max_series", 1, 100000000, &max_series);
  o.max_series = max_series;
  if (auto labels = w.StringList(node, path, "resource_labels")) o.resource_labels = *labels;
  WalkDelivery(w, node, path, &prom->delivery);
}

void WalkOtlpExporter(Walker& w, const YAML::Node& node, OtlpExportConfig* otlp) {
  const std::string path = "exporters.otlp";
  if (!node) return;
  otlp->enabled = true;  // present, even empty: on with the defaults
  if (!w.Map(node, path, {"endpoint", "compression", "headers", "tls", "timeout", "retry",
                          "batch"})) {
    return;
  }
  w.String(node, path, "endpoint", &otlp->options.endpoint);
  w.Choice<bool>(node, path, "compression", {{"gzip", true}, {"none", false}},
                 &otlp->options.gzip);
  WalkHeaders(w, node, path, /*lower_case=*/true, &otlp->options.headers);  // gRPC metadata
  const std::string tpath = path + ".tls";
  if (w.Map(node["tls"], tpath, {"ca_file", "cert_file", "key_file", "server_name"})) {
    otlp->options.tls.enabled = true;
    w.String(node["tls"], tpath, "ca_file", &otlp->options.tls.ca_file);
    w.String(node["tls"], tpath, "cert_file", &otlp->options.tls.cert_file);
    w.String(node["tls"], tpath, "key_file", &otlp->options.tls.key_file);
    w.String(node["tls"], tpath, "server_name", &otlp->options.tls.server_name);
    w.Readable(tpath, {{"ca_file", otlp->options.tls.ca_file},
                       {"cert_file", otlp->options.tls.cert_file},
                       {"key_file", otlp->options.tls.key_file}});
  }
  if (otlp->options.endpoint.empty()) w.Problem(path + ".endpoint", "is required");
  WalkDelivery(w, node, path, &otlp->delivery);
}

void WalkExporters(Walker& w, const YAML::Node& node, ExportersConfig* exporters) {
  if (!w.Map(node, "exporters", {"otlp", "loki", "prometheus", "prometheus_remote_write"})) {
    return;
  }
  WalkOtlpExporter(w, node["otlp"], &exporters->otlp);
  WalkLoki(w, node["loki"], &exporters->loki);
  WalkPrometheus(w, node["prometheus"], &exporters->prometheus);
  WalkRemoteWrite(w, node["prometheus_remote_write"], &exporters->prometheus_remote_write);
}

// Parts of the DESIGN.md config that this version does not run yet. Refusing
// them is better than accepting a file and silently not doing what it says.
void RefuseUnavailable(Walker& w, const YAML::Node& root) {
  for (const char* section : {"alerting", "correlation", "cluster"}) {
    const YAML::Node node = root[section];
    if (!node || node.IsNull() || (node.IsMap() && node.size() == 0)) continue;
    w.Problem(section, "not available in this version of tributaryd; remove the section");
  }
}

void CheckValues(Walker& w, const Config& c) {
  if (std::string why = CheckListenAddress(c.server.grpc_listen); !why.empty()) {
    w.Problem("server.grpc_listen", why);
  }
  if (std::string why = CheckListenAddress(c.server.http_listen); !why.empty()) {
    w.Problem("server.http_listen", why);
  }
  if (c.exporters.prometheus.enabled) {
    if (std::string why = CheckListenAddress(c.exporters.prometheus.options.listen);
        !why.empty()) {
      w.Problem("exporters.prometheus.listen", why);
    }
  }
  if (c.server.max_message_bytes < (1 << 10) || c.server.max_message_bytes > (256ull << 20)) {
    w.Problem("server.max_message_bytes", "must be from 1KiB to 256MiB");
  }
  if (c.server.max_in_flight_bytes < c.server.max_message_bytes) {
    w.Problem("server.max_in_flight_bytes", "must be at least server.max_message_bytes");
  }
  if (c.storage.data_dir.empty()) w.Problem("storage.data_dir", "must not be empty");
  if (c.storage.buffer.memory_budget_bytes < (32ull << 20)) {
    w.Problem("storage.memory_budget", "must be at least 32MiB");
  }
  if (c.storage.buffer.max_disk_bytes != 0 && c.storage.buffer.max_disk_bytes < (1ull << 20)) {
    w.Problem("storage.max_disk_bytes", "must be 0 (unbounded) or at least 1MiB");
  }
  if (c.storage.buffer.sync_interval <= absl::ZeroDuration()) {
    w.Problem("storage.sync_interval", "must be above 0");
  }
  if (c.storage.buffer.maintenance_interval <= absl::ZeroDuration()) {
    w.Problem("storage.maintenance_interval", "must be above 0");
  }
  if (c.server.min_ping_interval < absl::Seconds(1) ||
      c.server.min_ping_interval > absl::Hours(1)) {
    w.Problem("server.min_ping_interval", "must be from 1s to 1h");
  }
  if (c.server.shutdown_timeout <= absl::ZeroDuration()) {
    w.Problem("server.shutdown_timeout", "must be above 0");
  }
  for (const std::string& key : c.ingest.redaction.keys) {
    if (key.empty()) w.Problem("ingest.redaction.keys", "contains an empty key");
  }
}

}  // namespace

std::optional<absl::Duration> ParseDurationValue(const std::string& text) {
  std::string t(absl::StripAsciiWhitespace(text));
  if (t.empty()) return std::nullopt;
  if (t == "0") return absl::ZeroDuration();
  // absl has no day unit; accept a whole number of days on its own ("7d").
  if (absl::EndsWith(t, "d")) {
    uint64_t days = 0;
    if (!absl::SimpleAtoi(absl::string_view(t).substr(0, t.size() - 1), &days) ||
        days > 365 * 100) {
      return std::nullopt;
    }
    return absl::Hours(24 * static_cast<int64_t>(days));
  }
  absl::Duration d;
  if (!absl::ParseDuration(t, &d) || d < absl::ZeroDuration() || d == absl::InfiniteDuration()) {
    return std::nullopt;
  }
  return d;
}

std::optional<uint64_t> ParseByteSize(const std::string& text) {
  absl::string_view t = absl::StripAsciiWhitespace(text);
  size_t digits = 0;
  while (digits < t.size() && (absl::ascii_isdigit(t[digits]) || t[digits] == '.')) ++digits;
  if (digits == 0) return std::nullopt;
  double number = 0;
  if (!absl::SimpleAtod(t.substr(0, digits), &number) || number < 0) return std::nullopt;
  const std::string unit = absl::AsciiStrToLower(absl::StripAsciiWhitespace(t.substr(digits)));
  double scale = 0;
  if (unit.empty() || unit == "b") {
    scale = 1;
  } else if (unit == "kib") {
    scale = 1024.0;
  } else if (unit == "mib") {
    scale = 1024.0 * 1024;
  } else if (unit == "gib") {
    scale = 1024.0 * 1024 * 1024;
  } else if (unit == "tib") {
    scale = 1024.0 * 1024 * 1024 * 1024;
  } else if (unit == "kb") {
    scale = 1e3;
  } else if (unit == "mb") {
    scale = 1e6;
  } else if (unit == "gb") {
    scale = 1e9;
  } else if (unit == "tb") {
    scale = 1e12;
  } else {
    return std::nullopt;
  }
  const double bytes = number * scale;
  if (bytes > 1e18 || bytes != std::floor(bytes)) return std::nullopt;
  return static_cast<uint64_t>(bytes);
}

std::string CheckListenAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return absl::StrCat("\"", address, "\" is not HOST:PORT");
  }
  const std::string host = address.substr(0, colon);
  if (host.front() == '[' && host.back() != ']') {
    return absl::StrCat("\"", address, "\" has an unclosed IPv6 bracket");
  }
  uint32_t port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port > 65535) {
    return absl::StrCat("\"", address, "\" does not end in a port from 0 to 65535");
  }
  return "";
}

LoadResult ParseConfig(const std::string& yaml, const std::string& source,
                       const Overrides& overrides) {
  LoadResult result;
  Walker w(source);
  YAML::Node root;
  try {
    root = YAML::Load(yaml);
  } catch (const YAML::Exception& e) {
    w.Problem(absl::StrCat("line ", e.mark.line + 1, " column ", e.mark.column + 1),
              absl::StrCat("not valid YAML: ", e.msg));
    result.problems = w.TakeProblems();
    return result;
  }
  if (w.Map(root, "", {"server", "storage", "ingest", "exporters", "alerting", "correlation",
                       "cluster"})) {
    WalkServer(w, root["server"], &result.config.server);
    WalkStorage(w, root["storage"], &result.config.storage);
    WalkIngest(w, root["ingest"], &result.config.ingest);
    WalkExporters(w, root["exporters"], &result.config.exporters);
    RefuseUnavailable(w, root);
  }
  if (!overrides.data_dir.empty()) result.config.storage.data_dir = overrides.data_dir;
  if (!overrides.grpc_listen.empty()) result.config.server.grpc_listen = overrides.grpc_listen;
  if (!overrides.http_listen.empty()) result.config.server.http_listen = overrides.http_listen;
  CheckValues(w, result.config);
  result.problems = w.TakeProblems();
  return result;
}

LoadResult LoadConfig(const std::string& path, const Overrides& overrides) {
  if (path.empty()) return ParseConfig("", "(embedded defaults)", overrides);
  std::ifstream in(path);
  if (!in) {
    LoadResult result;
    result.problems.push_back(absl::StrCat(path, ": cannot be read: ", std::strerror(errno)));
    return result;
  }
  std::stringstream text;
  text << in.rdbuf();
  if (in.bad()) {
    LoadResult result;
    result.problems.push_back(absl::StrCat(path, ": read failed: ", std::strerror(errno)));
    return result;
  }
  return ParseConfig(text.str(), path, overrides);
}

}  // namespace tributary::collector
