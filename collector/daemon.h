// The running collector: opens the buffer, serves gRPC (ingest, OTLP, query,
// health, reflection) and HTTP (/metrics, /health/*, the status page), and
// shuts down in order. main() wraps it with flags and signals; tests start it
// in-process on port 0.
#pragma once

#include <atomic>
#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "collector/config/config.h"
#include "storage/buffer.h"

namespace grpc {
class Server;
}

namespace tributary::collector {

class HealthServiceImpl;
class HttpServer;
class IngestServiceImpl;
class Ingestor;
class OtlpReceiver;
class QueryServiceImpl;

class Daemon {
 public:
  // Starts everything, or nothing: on failure whatever was started is
  // stopped again. FAILED_PRECONDITION: an address cannot be bound (a
  // configuration problem); other codes: the buffer could not be opened.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const Config& config);
  // Same, on a buffer that is already open (tests wrap the real one to
  // observe or hold appends). The daemon owns and closes it.
  static absl::StatusOr<std::unique_ptr<Daemon>> Start(const Config& config,
                                                       std::unique_ptr<storage::Buffer> buffer);
  ~Daemon();

  int grpc_port() const { return grpc_port_; }
  int http_port() const;
  storage::Buffer* buffer() const { return buffer_.get(); }
  metrics::Registry* registry() { return &registry_; }

  // Graceful stop: refuse new streams and requests, ack what was received
  // (bounded by server.shutdown_timeout), close the buffer, stop HTTP.
  // Returns the buffer's close status. Idempotent.
  absl::Status Shutdown();

  // What /health/ready says, and the status page (exposed for tests).
  struct Readiness {
    bool ready = false;
    std::string json;
  };
  Readiness CheckReadiness();
  // The configured exporters' delivery state.
  std::vector<exporters::DeliveryStatus> ExporterStatus() const;
  std::string StatusPage();

 private:
  explicit Daemon(const Config& config);
  absl::Status Init(std::unique_ptr<storage::Buffer> buffer);
  void RegisterBufferMetrics();
  absl::Status StartExporters();
  void Tick();
  void LogConsumers(const storage::BufferStats& stats);
  struct Rates {
    std::string window = "-";
    std::string received = "-";
    std::string accepted = "-";
  };
  Rates RecentRates();

  // Whether appends are being refused for lack of disk budget.
  bool BudgetExhausted(const storage::BufferStats& stats);

  const Config config_;
  const absl::Time start_time_;
  metrics::Registry registry_;
  std::unique_ptr<storage::Buffer> buffer_;
  std::unique_ptr<Ingestor> ingestor_;
  std::unique_ptr<IngestServiceImpl> ingest_service_;
  std::unique_ptr<OtlpReceiver> otlp_;
  std::unique_ptr<HealthServiceImpl> health_;
  std::unique_ptr<QueryServiceImpl> query_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<HttpServer> http_;
  // exporters.prometheus: the series its delivery loop keeps, and the
  // endpoint that serves them.
  std::shared_ptr<exporters::SeriesStore> scrape_store_;
  std::unique_ptr<HttpServer> scrape_http_;
  std::unique_ptr<exporters::DeliveryMetrics> export_metrics_;
  std::vector<std::unique_ptr<exporters::DeliveryLoop>> exporters_;
  int grpc_port_ = 0;
  // Set once everything the HTTP handlers read exists.
  std::atomic<bool> started_{false};

  Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status close_status_ ABSL_GUARDED_BY(mu_);
  std::thread ticker_;

  struct RateSample {
    absl::Time time;
    uint64_t received = 0;
    uint64_t accepted = 0;
  };
  Mutex rates_mu_;
  std::deque<RateSample> rate_samples_ ABSL_GUARDED_BY(rates_mu_);

  Mutex full_mu_;
  bool budget_exhausted_ ABSL_GUARDED_BY(full_mu_) = false;
  uint64_t last_rejected_full_ ABSL_GUARDED_BY(full_mu_) = 0;
  uint64_t last_appends_ ABSL_GUARDED_BY(full_mu_) = 0;
};

}  // namespace tributary::collector
