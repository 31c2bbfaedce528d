#include "collector/daemon.h"

#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "base/grpc_credentials.h"
#include "base/log.h"
#include "base/text_escape.h"
#include "base/tls_files.h"
#include "collector/health/health_service.h"
#include "collector/http/http_server.h"
#include "collector/http/listen_address.h"
#include "collector/ingest/ingest_service.h"
#include "collector/ingest/ingestor.h"
#include "collector/otlp/otlp_receiver.h"
#include "collector/query/query_service.h"
#include "collector/status.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "storage/rocksdb/rocksdb_buffer.h"

namespace tributary::collector {
namespace {

// The PEM files of `tls` when it is on (nullopt when it is off).
absl::StatusOr<std::optional<ServerTlsPem>> ReadTls(const char* key_path,
                                                    const ServerTlsConfig& tls) {
  if (!tls.enabled()) return std::nullopt;
  absl::StatusOr<ServerTlsPem> pem =
      ReadServerTlsFiles(key_path, tls.cert_file, tls.key_file, tls.client_ca_file);
  if (!pem.ok()) return pem.status();
  return std::optional<ServerTlsPem>(*std::move(pem));
}

const char* TlsMode(const ServerTlsConfig& tls) {
  if (!tls.enabled()) return "off";
  return tls.client_ca_file.empty() ? "on" : "mutual";
}

uint64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  uint64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * static_cast<uint64_t>(sysconf(_SC_PAGESIZE));
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

const char* CompressionName(storage::Compression c) {
  return c == storage::Compression::kLz4 ? "lz4" : "none";
}

}  // namespace

Daemon::Daemon(const Config& config) : config_(config), start_time_(absl::Now()) {}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const Config& config) {
  return Start(config, nullptr);
}

absl::StatusOr<std::unique_ptr<Daemon>> Daemon::Start(const Config& config,
                                                      std::unique_ptr<storage::Buffer> buffer) {
  auto daemon = std::unique_ptr<Daemon>(new Daemon(config));
  absl::Status status = daemon->Init(std::move(buffer));
  if (!status.ok()) {
    daemon->Shutdown().IgnoreError();
    return status;
  }
  return daemon;
}

absl::Status Daemon::Init(std::unique_ptr<storage::Buffer> given) {
  // TLS files are read first: a bad one is a configuration problem, reported
  // with the others before anything starts.
  const absl::StatusOr<std::optional<ServerTlsPem>> http_pem =
      ReadTls("server.http_tls", config_.server.http_tls);
  const absl::StatusOr<std::optional<ServerTlsPem>> scrape_pem =
      ReadTls("exporters.prometheus.tls", config_.exporters.prometheus.tls);
  // HTTP next: a port in use is found before the buffer is touched.
  HttpHandler handler = [this](const std::string& path) {
    HttpResponse r;
    if (!started_.load(std::memory_order_acquire) && path != "/health/live") {
      // The buffer is still being opened: nothing else can be answered yet.
      r.status = 503;
      r.body = "starting\n";
      return r;
    }
    if (path == "/metrics") {
      r.content_type = "text/plain; version=0.0.4; charset=utf-8";
      r.body = registry_.Render();
    } else if (path == "/health/live") {
      r.body = "alive\n";
    } else if (path == "/health/ready") {
      Readiness readiness = CheckReadiness();
      r.status = readiness.ready ? 200 : 503;
      r.content_type = "application/json";
      r.body = std::move(readiness.json);
    } else if (path == "/") {
      r.content_type = "text/html; charset=utf-8";
      r.body = StatusPage();
    } else {
      r.status = 404;
      r.body = "not found; try /, /metrics, /health/live or /health/ready\n";
    }
    return r;
  };
  absl::StatusOr<std::unique_ptr<HttpServer>> http = std::unique_ptr<HttpServer>();
  if (http_pem.ok()) {
    http = HttpServer::Start(config_.server.http_listen, std::move(handler),
                             http_pem->has_value() ? &**http_pem : nullptr);
  }
  // The Prometheus exporter's endpoint serves the series its delivery loop
  // (started with the other exporters) keeps.
  absl::StatusOr<std::unique_ptr<HttpServer>> scrape_http = std::unique_ptr<HttpServer>();
  if (config_.exporters.prometheus.enabled && scrape_pem.ok()) {
    scrape_store_ = std::make_shared<exporters::SeriesStore>(config_.exporters.prometheus.options);
    scrape_http = HttpServer::Start(
        config_.exporters.prometheus.options.listen,
        [store = scrape_store_](const std::string& path) {
          HttpResponse r;
          if (path == "/metrics") {
            r.content_type = "text/plain; version=0.0.4; charset=utf-8";
            r.body = store->Render(absl::Now());
          } else {
            r.status = 404;
            r.body = "not found; the ingested metrics are at /metrics\n";
          }
          return r;
        },
        scrape_pem->has_value() ? &**scrape_pem : nullptr);
  }
  // The gRPC address is tried now too (gRPC binds only when it starts, after
  // the buffer is open), so all port problems are reported at once.
  const std::string grpc_problem = ProbeListen(config_.server.grpc_listen);
  // TLS files are read now too: a bad one is a configuration problem.
  const ServerConfig::Tls& tls = config_.server.tls;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      tls.enabled() ? ServerTlsCredentials("server.tls", tls.cert_file, tls.key_file,
                                           tls.client_ca_file)
                    : grpc::InsecureServerCredentials();
  if (!http.ok() || !grpc_problem.empty() || !scrape_http.ok() || !credentials.ok() ||
      !http_pem.ok() || !scrape_pem.ok()) {
    std::vector<std::string> problems;
    if (!http_pem.ok()) problems.push_back(std::string(http_pem.status().message()));
    if (!scrape_pem.ok()) problems.push_back(std::string(scrape_pem.status().message()));
    if (!http.ok()) {
      problems.push_back(absl::StrCat("server.http_listen: ", http.status().message()));
    }
    if (!grpc_problem.empty()) problems.push_back("server.grpc_listen: " + grpc_problem);
    if (!credentials.ok()) problems.push_back(std::string(credentials.status().message()));
    if (!scrape_http.ok()) {
      problems.push_back(
          absl::StrCat("exporters.prometheus.listen: ", scrape_http.status().message()));
    }
    return absl::FailedPreconditionError(absl::StrJoin(problems, "; "));
  }
  http_ = std::move(*http);
  scrape_http_ = std::move(*scrape_http);

  if (given != nullptr) {
    buffer_ = std::move(given);
  } else {
    auto buffer = storage::RocksDbBuffer::Open(config_.storage.data_dir, config_.storage.buffer);
    if (!buffer.ok()) return buffer.status();
    if ((*buffer)->open_report().wal_tail_dropped) {
      log::Warn("buffer had a torn WAL tail (writes never acknowledged); it was dropped",
                {{"dir", config_.storage.data_dir},
                 {"detail", (*buffer)->open_report().detail}});
    }
    buffer_ = std::move(*buffer);
  }
  const storage::BufferStats opened = buffer_->Stats();
  const storage::BufferOptions& b = config_.storage.buffer;
  log::Info("buffer opened",
            {{"dir", config_.storage.data_dir},
             {"entries", opened.entries},
             {"records", opened.records},
             {"bytes", opened.bytes},
             {"producers", opened.producers},
             {"consumers", opened.consumers.size()},
             {"durability", b.durability == storage::Durability::kSync ? "sync" : "async"},
             {"compression", CompressionName(b.compression)}});

  ingestor_ = std::make_unique<Ingestor>(buffer_.get(), config_, &registry_,
                                         [] { return absl::Now(); });
  ingest_service_ = std::make_unique<IngestServiceImpl>(ingestor_.get(), config_.server);
  otlp_ = std::make_unique<OtlpReceiver>(ingestor_.get(), config_.server);
  query_ = std::make_unique<QueryServiceImpl>(buffer_.get(), ingestor_.get(), start_time_);
  health_ = std::make_unique<HealthServiceImpl>(std::set<std::string>{
      "tributary.v1.IngestService", "tributary.v1.QueryService",
      "opentelemetry.proto.collector.logs.v1.LogsService",
      "opentelemetry.proto.collector.trace.v1.TraceService",
      "opentelemetry.proto.collector.metrics.v1.MetricsService"});
  RegisterBufferMetrics();

  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config_.server.grpc_listen, *credentials, &grpc_port_);
  // gRPC sets SO_REUSEPORT by default, which would let a second collector
  // share the port (and the traffic) instead of failing to start.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Keepalive. Clients may ping every min_ping_interval, with or without
  // calls in progress, so they find a dead collector while idle. The
  // collector pings a connection idle for a minute and closes it if the
  // ping is not answered in 20 s, which ends the streams of a client that
  // vanished without closing them.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      static_cast<int>(absl::ToInt64Milliseconds(config_.server.min_ping_interval)));
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20 * 1000);
  // Batches above max_message_bytes get an answer of their own (the stream
  // goes on); only far larger messages are cut off by gRPC.
  builder.SetMaxReceiveMessageSize(static_cast<int>(
      std::min<uint64_t>(config_.server.max_message_bytes * 4, INT_MAX)));
  builder.RegisterService(ingest_service_.get());
  for (grpc::Service* s : otlp_->services()) builder.RegisterService(s);
  builder.RegisterService(query_.get());
  builder.RegisterService(health_.get());
  server_ = builder.BuildAndStart();
  if (server_ == nullptr || grpc_port_ == 0) {
    server_.reset();
    return absl::FailedPreconditionError(absl::StrCat(
        "server.grpc_listen: cannot listen on ", config_.server.grpc_listen,
        tls.enabled() ? " (address in use or not available, or server.tls.key_file is not the "
                        "private key of server.tls.cert_file)"
                      : " (address in use or not available)"));
  }
  health_->SetServing(buffer_->Stats().writable);
  if (absl::Status s = StartExporters(); !s.ok()) return s;
  ticker_ = std::thread([this] { Tick(); });
  started_.store(true, std::memory_order_release);
  log::Info("listening", {{"grpc", absl::StrCat(config_.server.grpc_listen.substr(
                                                    0, config_.server.grpc_listen.rfind(':')),
                                                ":", grpc_port_)},
                          {"http", absl::StrCat(config_.server.http_listen.substr(
                                                    0, config_.server.http_listen.rfind(':')),
                                                ":", http_->port())},
                          {"grpc_tls", TlsMode(tls)},
                          {"http_tls", TlsMode(config_.server.http_tls)}});
  if (scrape_http_ != nullptr) {
    const std::string& listen = config_.exporters.prometheus.options.listen;
    log::Info("prometheus exporter listening",
              {{"address", absl::StrCat(listen.substr(0, listen.rfind(':')), ":",
                                        scrape_http_->port())},
               {"tls", TlsMode(config_.exporters.prometheus.tls)}});
  }
  return absl::OkStatus();
}

int Daemon::http_port() const { return http_ ? http_->port() : 0; }

void Daemon::Tick() {
  absl::Time next_log = absl::Now() + config_.server.status_log_interval;
  MutexLock lock(&mu_);
  while (!stopping_) {
    mu_.AwaitWithTimeout([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; },
                         absl::Seconds(1));
    if (stopping_) break;
    mu_.Unlock();
    const storage::BufferStats stats = buffer_->Stats();
    health_->SetServing(stats.writable && !BudgetExhausted(stats));
    {
      // Ingest rates over the last ten ticks, for the status page.
      const Ingestor::Totals totals = ingestor_->totals();
      MutexLock rates_lock(&rates_mu_);
      rate_samples_.push_back({absl::Now(), totals.records_received, totals.records_accepted});
      while (rate_samples_.size() > 11) rate_samples_.pop_front();
    }
    if (config_.server.status_log_interval > absl::ZeroDuration() && absl::Now() >= next_log) {
      LogConsumers(stats);
      next_log = absl::Now() + config_.server.status_log_interval;
    }
    mu_.Lock();
  }
}

void Daemon::LogConsumers(const storage::BufferStats& stats) {
  log::Info("buffer", {{"entries", stats.entries},
                       {"bytes", stats.bytes},
                       {"writable", stats.writable},
                       {"consumers", stats.consumers.size()}});
  for (const ConsumerLag& lag : ConsumerLags(buffer_.get(), stats, absl::Now())) {
    log::Info("consumer", {{"name", lag.name},
                           {"lag_entries", lag.lag_entries},
                           {"lag_seconds", lag.lag_seconds},
                           {"lost_entries", lag.lost_entries}});
  }
}

void Daemon::RegisterBufferMetrics() {
  registry_.AddCollector([this](metrics::Exposition& x) {
    const storage::BufferStats s = buffer_->Stats();
    const auto gauge = [&](const char* name, const char* help, double v) {
      x.Family(name, "gauge", help);
      x.Sample(name, {}, v);
    };
    const auto counter = [&](const char* name, const char* help, double v) {
      x.Family(name, "counter", help);
      x.Sample(name, {}, v);
    };
    gauge("tributary_buffer_entries", "Batches retained in the write-ahead buffer.",
          static_cast<double>(s.entries));
    gauge("tributary_buffer_records", "Records retained in the write-ahead buffer.",
          static_cast<double>(s.records));
    gauge("tributary_buffer_bytes", "Payload bytes retained in the write-ahead buffer, as stored.",
          static_cast<double>(s.bytes));
    gauge("tributary_buffer_disk_bytes", "Size of the buffer's files on disk.",
          static_cast<double>(s.disk_bytes));
    gauge("tributary_buffer_max_bytes", "The buffer's disk budget (0 = unbounded).",
          static_cast<double>(s.max_bytes));
    if (s.filesystem_free_bytes.has_value()) {
      gauge("tributary_buffer_filesystem_free_bytes",
            "Free space on the file system holding the buffer.",
            static_cast<double>(*s.filesystem_free_bytes));
      gauge("tributary_buffer_filesystem_nearly_full",
            "1 while the file system holding the buffer has less than max(1 GiB, twice "
            "storage.memory_budget) free; WAL writes and fsyncs then exclude each other.",
            s.filesystem_nearly_full ? 1 : 0);
    }
    gauge("tributary_buffer_budget_used_ratio",
          "Retained payload bytes over the disk budget (0 when unbounded).",
          s.max_bytes > 0 ? static_cast<double>(s.bytes) / static_cast<double>(s.max_bytes) : 0);
    gauge("tributary_buffer_writable", "1 while the buffer accepts appends.",
          s.writable ? 1 : 0);
    gauge("tributary_buffer_producers", "Producers whose highest durable seq is remembered.",
          static_cast<double>(s.producers));
    counter("tributary_buffer_appends_total", "Batches appended durably.",
            static_cast<double>(s.appends));
    counter("tributary_buffer_appended_payload_bytes_total",
            "Payload bytes appended, as received (before compression).",
            static_cast<double>(s.appended_payload_bytes));
    counter("tributary_buffer_appended_stored_bytes_total",
            "The same payloads as written to the buffer (after compression).",
            static_cast<double>(s.appended_stored_bytes));
    counter("tributary_buffer_rejected_full_total",
            "Appends refused because the disk budget was reached (backpressure).",
            static_cast<double>(s.rejected_full));
    counter("tributary_buffer_append_errors_total", "Appends failed by an I/O error.",
            static_cast<double>(s.append_errors));
    counter("tributary_buffer_evicted_entries_total",
            "Entries removed by drop_oldest before every consumer read them.",
            static_cast<double>(s.evicted_entries));
    counter("tributary_buffer_expired_entries_total", "Entries removed by retention.",
            static_cast<double>(s.expired_entries));
    counter("tributary_buffer_fsyncs_total", "Group fsyncs of the write-ahead log.",
            static_cast<double>(s.syncs));
    counter("tributary_buffer_fsync_errors_total", "Failed fsyncs.",
            static_cast<double>(s.sync_errors));
    x.Family("tributary_buffer_fsync_duration_seconds", "histogram",
             "Duration of the write-ahead log's group fsyncs.");
    x.HistogramSamples("tributary_buffer_fsync_duration_seconds", {},
                       s.sync_latency_bounds_seconds, s.sync_latency_counts,
                       s.sync_latency_sum_seconds);

    const std::vector<ConsumerLag> lags = ConsumerLags(buffer_.get(), s, absl::Now());
    const auto per_consumer = [&](const char* name, const char* type, const char* help,
                                  double (*value)(const ConsumerLag&)) {
      x.Family(name, type, help);
      for (const auto& l : lags) x.Sample(name, {{"consumer", l.name}}, value(l));
    };
    per_consumer("tributary_consumer_lag_entries", "gauge",
                 "Buffer entries between a consumer's cursor and the durable end.",
                 [](const ConsumerLag& l) { return static_cast<double>(l.lag_entries); });
    per_consumer("tributary_consumer_lag_seconds", "gauge",
                 "Age of the oldest entry a consumer has not consumed yet.",
                 [](const ConsumerLag& l) { return l.lag_seconds; });
    per_consumer("tributary_consumer_lost_entries_total", "counter",
                 "Entries removed (drop_oldest, retention) before a consumer read them.",
                 [](const ConsumerLag& l) { return static_cast<double>(l.lost_entries); });

    gauge("tributary_process_resident_memory_bytes", "Resident memory of the collector.",
          static_cast<double>(ResidentBytes()));
    gauge("tributary_process_start_time_seconds", "When the collector started (Unix time).",
          absl::ToDoubleSeconds(start_time_ - absl::UnixEpoch()));
  });
}

bool Daemon::BudgetExhausted(const storage::BufferStats& stats) {
  MutexLock lock(&full_mu_);
  // Full from the first append refused for space until one succeeds again
  // without new refusals (consumers or retention made room).
  if (stats.rejected_full > last_rejected_full_) {
    budget_exhausted_ = true;
  } else if (stats.appends > last_appends_) {
    budget_exhausted_ = false;
  }
  last_rejected_full_ = stats.rejected_full;
  last_appends_ = stats.appends;
  return budget_exhausted_;
}

Daemon::Rates Daemon::RecentRates() {
  MutexLock lock(&rates_mu_);
  Rates r;
  if (rate_samples_.size() < 2) return r;
  const RateSample& a = rate_samples_.front();
  const RateSample& b = rate_samples_.back();
  const double seconds = absl::ToDoubleSeconds(b.time - a.time);
  if (seconds <= 0) return r;
  r.window = absl::FormatDuration(absl::Seconds(std::round(seconds)));
  r.received = absl::StrFormat("%.0f", static_cast<double>(b.received - a.received) / seconds);
  r.accepted = absl::StrFormat("%.0f", static_cast<double>(b.accepted - a.accepted) / seconds);
  return r;
}

absl::Status Daemon::StartExporters() {
  export_metrics_ = std::make_unique<exporters::DeliveryMetrics>(&registry_);
  const OtlpExportConfig& otlp = config_.exporters.otlp;
  if (otlp.enabled) {
    exporters_.push_back(std::make_unique<exporters::DeliveryLoop>(
        buffer_.get(), std::make_unique<otlp::OtlpExporter>(otlp.options), otlp.delivery,
        export_metrics_.get()));
  }
  if (scrape_store_ != nullptr) {
    exporters_.push_back(std::make_unique<exporters::DeliveryLoop>(
        buffer_.get(), std::make_unique<exporters::ScrapeExporter>(scrape_store_),
        config_.exporters.prometheus.delivery, export_metrics_.get()));
  }
  const LokiExportConfig& loki = config_.exporters.loki;
  if (loki.enabled) {
    exporters_.push_back(std::make_unique<exporters::DeliveryLoop>(
        buffer_.get(), std::make_unique<exporters::LokiExporter>(loki.options), loki.delivery,
        export_metrics_.get()));
  }
  const RemoteWriteExportConfig& rw = config_.exporters.prometheus_remote_write;
  if (rw.enabled) {
    exporters_.push_back(std::make_unique<exporters::DeliveryLoop>(
        buffer_.get(), std::make_unique<exporters::RemoteWriteExporter>(rw.options), rw.delivery,
        export_metrics_.get()));
  }
  for (auto& e : exporters_) {
    if (absl::Status s = e->Start(); !s.ok()) {
      return absl::Status(s.code(), absl::StrCat("exporter ", e->consumer(), ": ", s.message()));
    }
    log::Info("exporter started", {{"consumer", e->consumer()}});
  }
  return absl::OkStatus();
}

std::vector<exporters::DeliveryStatus> Daemon::ExporterStatus() const {
  std::vector<exporters::DeliveryStatus> out;
  for (const auto& e : exporters_) out.push_back(e->status());
  return out;
}

Daemon::Readiness Daemon::CheckReadiness() {
  Readiness r;
  bool stopping;
  {
    MutexLock lock(&mu_);
    stopping = stopping_;
  }
  const storage::BufferStats s = buffer_ ? buffer_->Stats() : storage::BufferStats{};
  const bool exhausted = buffer_ != nullptr && BudgetExhausted(s);
  const bool buffer_ok = buffer_ != nullptr && s.writable && !exhausted;
  r.ready = buffer_ok && !stopping;
  std::string buffer_status = !s.writable ? "not_writable" : exhausted ? "full" : "ok";
  r.json = absl::StrCat(
      "{\"status\":", r.ready ? "\"ready\"" : "\"not_ready\"", ",\"components\":{",
      "\"buffer\":{\"status\":\"", buffer_status, "\",\"writable\":", s.writable ? "true" : "false",
      ",\"entries\":", s.entries, ",\"bytes\":", s.bytes, ",\"max_bytes\":", s.max_bytes,
      ",\"last_error\":", JsonString(s.last_error), "},",
      "\"ingest\":{\"status\":\"", stopping ? "shutting_down" : "ok", "\"}");
  const std::vector<ConsumerLag> lags = ConsumerLags(buffer_.get(), s, absl::Now());
  if (!lags.empty()) {
    absl::StrAppend(&r.json, ",\"consumers\":{");
    for (size_t i = 0; i < lags.size(); ++i) {
      absl::StrAppend(&r.json, i ? "," : "", JsonString(lags[i].name),
                      ":{\"status\":\"ok\",\"lag_entries\":", lags[i].lag_entries,
                      ",\"lag_seconds\":", absl::StrFormat("%.3f", lags[i].lag_seconds), "}");
    }
    absl::StrAppend(&r.json, "}");
  }
  // Exporters: a backend in trouble does not make the collector unready
  // (ingest goes on; the data waits on disk), but it shows here.
  const std::vector<exporters::DeliveryStatus> ex = ExporterStatus();
  if (!ex.empty()) {
    absl::StrAppend(&r.json, ",\"exporters\":{");
    for (size_t i = 0; i < ex.size(); ++i) {
      const bool ok = ex[i].circuit == exporters::Circuit::kClosed && ex[i].last_error.empty();
      absl::StrAppend(&r.json, i ? "," : "", JsonString(ex[i].exporter), ":{\"status\":\"",
                      ok ? "ok" : "degraded", "\",\"circuit\":\"",
                      exporters::CircuitName(ex[i].circuit), "\",\"lag_entries\":",
                      ex[i].lag_entries, ",\"lag_seconds\":",
                      absl::StrFormat("%.3f", ex[i].lag_seconds),
                      ",\"records_sent\":", ex[i].records_sent,
                      ",\"records_dropped\":", ex[i].records_dropped,
                      ",\"last_error\":", JsonString(ex[i].last_error), "}");
    }
    absl::StrAppend(&r.json, "}");
  }
  absl::StrAppend(&r.json, "}}\n");
  return r;
}

std::string Daemon::StatusPage() {
  const absl::Time now = absl::Now();
  const absl::Duration uptime = now - start_time_;
  const Ingestor::Totals t = ingestor_->totals();
  const storage::BufferStats s = buffer_->Stats();
  const double seconds = std::max(1.0, absl::ToDoubleSeconds(uptime));
  const Rates rates = RecentRates();
  std::string page = absl::StrCat(
      "<!doctype html><html><head><meta charset=\"utf-8\"><title>tributaryd</title>"
      "<style>body{font-family:sans-serif;margin:2em}td,th{padding:2px 12px;text-align:left}"
      "</style></head><body><h1>tributaryd</h1>",
      "<p>Up ", HtmlEscape(absl::FormatDuration(absl::Trunc(uptime, absl::Seconds(1)))),
      " &middot; gRPC on port ", grpc_port_, " &middot; <a href=\"/metrics\">/metrics</a> "
      "&middot; <a href=\"/health/ready\">/health/ready</a></p>",
      "<h2>Ingest</h2><table>",
      "<tr><th>records received</th><td>", t.records_received, "</td></tr>",
      "<tr><th>records accepted</th><td>", t.records_accepted, "</td></tr>",
      "<tr><th>records rejected</th><td>", t.records_rejected, "</td></tr>",
      "<tr><th>duplicate batches</th><td>", t.batches_duplicate, "</td></tr>",
      "<tr><th>records/s received, accepted (last ", HtmlEscape(rates.window), ")</th><td>",
      rates.received, ", ", rates.accepted, "</td></tr>",
      "<tr><th>accepted records/s (since start)</th><td>",
      absl::StrFormat("%.0f", static_cast<double>(t.records_accepted) / seconds), "</td></tr>",
      "</table><h2>Buffer</h2><table>",
      "<tr><th>directory</th><td>", HtmlEscape(config_.storage.data_dir), "</td></tr>",
      "<tr><th>writable</th><td>", s.writable ? "yes" : "<b>no</b>", "</td></tr>",
      "<tr><th>entries</th><td>", s.entries, "</td></tr>",
      "<tr><th>records</th><td>", s.records, "</td></tr>",
      "<tr><th>bytes stored / budget</th><td>", s.bytes, " / ",
      s.max_bytes > 0 ? absl::StrCat(s.max_bytes) : "unbounded", "</td></tr>",
      "<tr><th>stored per byte appended (since start)</th><td>",
      s.appended_payload_bytes > 0
          ? absl::StrFormat("%.2f", static_cast<double>(s.appended_stored_bytes) /
                                        static_cast<double>(s.appended_payload_bytes))
          : "-",
      " (compression: ", CompressionName(config_.storage.buffer.compression), ")</td></tr>",
      "<tr><th>last error</th><td>", HtmlEscape(s.last_error), "</td></tr>",
      "</table><h2>Consumers</h2><table><tr><th>name</th><th>cursor</th><th>lag entries</th>"
      "<th>lag seconds</th><th>lost entries</th></tr>");
  for (const ConsumerLag& l : ConsumerLags(buffer_.get(), s, now)) {
    absl::StrAppend(&page, "<tr><td>", HtmlEscape(l.name), "</td><td>", l.cursor, "</td><td>",
                    l.lag_entries, "</td><td>", absl::StrFormat("%.1f", l.lag_seconds),
                    "</td><td>", l.lost_entries, "</td></tr>");
  }
  absl::StrAppend(&page, "</table>");
  const std::vector<exporters::DeliveryStatus> ex = ExporterStatus();
  if (!ex.empty()) {
    absl::StrAppend(&page, "<h2>Exporters</h2><table><tr><th>exporter</th><th>circuit</th>"
                           "<th>lag entries</th><th>lag seconds</th><th>records sent</th>"
                           "<th>records dropped</th><th>last error</th></tr>");
    for (const exporters::DeliveryStatus& e : ex) {
      absl::StrAppend(&page, "<tr><td>", HtmlEscape(e.exporter), "</td><td>",
                      exporters::CircuitName(e.circuit), "</td><td>", e.lag_entries, "</td><td>",
                      absl::StrFormat("%.1f", e.lag_seconds), "</td><td>", e.records_sent,
                      "</td><td>", e.records_dropped, "</td><td>", HtmlEscape(e.last_error),
                      "</td></tr>");
    }
    absl::StrAppend(&page, "</table>");
  }
  absl::StrAppend(&page, "</body></html>\n");
  return page;
}

absl::Status Daemon::Shutdown() {
  {
    MutexLock lock(&mu_);
    if (shut_down_) return close_status_;
    shut_down_ = true;
    stopping_ = true;
  }
  if (ticker_.joinable()) ticker_.join();
  const absl::Time deadline = absl::Now() + config_.server.shutdown_timeout;
  if (server_ != nullptr) {
    log::Info("shutting down: no new streams; acking batches already received",
              {{"timeout", config_.server.shutdown_timeout}});
    health_->Shutdown();
    otlp_->BeginShutdown();
    ingest_service_->BeginShutdown();
    if (!ingest_service_->WaitForStreams(deadline)) {
      log::Warn("streams still open at the shutdown deadline; cancelling them");
    }
    // Whatever is still running (OTLP exports waiting for an fsync, say) gets
    // until the deadline, then is cancelled.
    server_->Shutdown(absl::ToChronoTime(deadline));
    server_->Wait();
  }
  // HTTP handlers read the buffer: stop them before it closes.
  if (http_ != nullptr) http_->Stop();
  if (scrape_http_ != nullptr) scrape_http_->Stop();
  // Exporters finish the send in flight; what it does not confirm is sent
  // again after the next start.
  for (auto& e : exporters_) e->Stop();
  absl::Status status;
  if (buffer_ != nullptr) {
    status = buffer_->Close();
    const storage::BufferStats s = buffer_->Stats();
    if (status.ok()) {
      log::Info("buffer closed",
                {{"entries", s.entries}, {"appends", s.appends}, {"fsyncs", s.syncs}});
    } else {
      log::Error("buffer close failed", {{"error", status.ToString()}});
    }
  }
  // After a failed start, main reports why; "stopped" would only confuse.
  if (started_.load(std::memory_order_acquire)) log::Info("stopped");
  MutexLock lock(&mu_);
  close_status_ = status;
  return status;
}

Daemon::~Daemon() { Shutdown().IgnoreError(); }

}  // namespace tributary::collector
