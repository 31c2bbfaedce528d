// tributary::client: the library applications link to send logs, spans and
// metrics to a Tributary collector.
//
//   auto client = tributary::client::Client::Create(options);  // StatusOr
//   tributary::client::Logger log = (*client)->GetLogger("payments");
//   log.Info("payment accepted", {{"order_id", id}, {"amount", 12.5}});
//
// A log call only copies the record into a bounded queue: no I/O, no lock,
// no allocation for records up to a few hundred bytes. One background thread
// batches what is queued and streams it over tributary.v1.IngestService,
// keeping every batch until the collector has made it durable and re-sending
// after a reconnect, so each record the client accepted is stored exactly
// once. When the queue is full the configured Backpressure decides; records
// of protected levels push out queued unprotected ones instead. Every record
// that is not delivered is counted in stats().
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/context.h"
#include "client/options.h"
#include "client/types.h"

namespace tributary::v1 {
class Span;
}

namespace tributary::client {

namespace internal {
class Core;
class Instrument;
class TestAccess;
}  // namespace internal

// Writes log records under one name (the instrumentation scope). A cheap
// value; it must not outlive its Client. A call below the logger's minimum
// level returns before touching its arguments.
class Logger {
 public:
  Logger() = default;

  bool Enabled(Level level) const {
    return core_ != nullptr && static_cast<uint8_t>(level) >= static_cast<uint8_t>(min_level_);
  }

  void Log(Level level, std::string_view message, Fields fields = {}) const {
    if (Enabled(level)) Write(level, message, fields);
  }
  void Trace(std::string_view m, Fields f = {}) const { Log(Level::kTrace, m, f); }
  void Debug(std::string_view m, Fields f = {}) const { Log(Level::kDebug, m, f); }
  void Info(std::string_view m, Fields f = {}) const { Log(Level::kInfo, m, f); }
  void Warn(std::string_view m, Fields f = {}) const { Log(Level::kWarn, m, f); }
  void Error(std::string_view m, Fields f = {}) const { Log(Level::kError, m, f); }
  void Fatal(std::string_view m, Fields f = {}) const { Log(Level::kFatal, m, f); }
  void Audit(std::string_view m, Fields f = {}) const { Log(Level::kAudit, m, f); }
  void Security(std::string_view m, Fields f = {}) const { Log(Level::kSecurity, m, f); }

  Level min_level() const { return min_level_; }
  // AUDIT and SECURITY pass any minimum up to kFatal.
  void set_min_level(Level level) { min_level_ = level; }

 private:
  friend class Client;
  Logger(internal::Core* core, uint32_t scope, Level min_level)
      : core_(core), scope_(scope), min_level_(min_level) {}
  void Write(Level level, std::string_view message, std::initializer_list<Field> fields) const;

  internal::Core* core_ = nullptr;
  uint32_t scope_ = 0;
  Level min_level_ = Level::kTrace;
};

enum class SpanKind { kInternal = 1, kServer = 2, kClient = 3, kProducer = 4, kConsumer = 5 };
enum class SpanStatus { kUnset = 0, kOk = 1, kError = 2 };

struct SpanOptions {
  SpanKind kind = SpanKind::kInternal;
  // The parent; without one, the current context's span (if any).
  std::optional<SpanContext> parent;
  bool root = false;  // ignore the current context: start a new trace
  std::optional<absl::Time> start_time;
};

// One span. Ends when End() is called or when destroyed (RAII); it must end
// before its Client is destroyed. A span the sampler did not keep still has a
// valid context (so children and downstream services see the trace) but
// records nothing.
class Span {
 public:
  Span() = default;
  Span(Span&& other) noexcept;
  Span& operator=(Span&& other) noexcept;
  ~Span();

  const SpanContext& context() const { return context_; }
  bool recording() const { return data_ != nullptr; }
  // The current context with this span as the active one.
  Context AsContext() const { return Context::Current().WithSpan(context_); }

  Span& SetAttribute(const Field& field);
  Span& AddEvent(std::string_view name, std::initializer_list<Field> fields = {});
  Span& AddLink(const SpanContext& linked, std::initializer_list<Field> fields = {});
  Span& SetStatus(SpanStatus status, std::string_view message = {});
  // Idempotent; the first call's time counts.
  void End(std::optional<absl::Time> end_time = std::nullopt);

 private:
  friend class Client;
  internal::Core* core_ = nullptr;
  SpanContext context_;
  std::unique_ptr<tributary::v1::Span> data_;
};

// A span that is also the current context for its scope: logs and spans
// started inside it carry it.
class ScopedSpan {
 public:
  explicit ScopedSpan(Span span) : span_(std::move(span)), scope_(span_.AsContext()) {}
  Span& span() { return span_; }
  Span* operator->() { return &span_; }

 private:
  Span span_;
  ScopedContext scope_;
};

using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

// Metric instruments. Values are aggregated in the client and sent every
// flush interval as cumulative points; each distinct label set is a series.
// Cheap values; they must not outlive their Client.
class Counter {
 public:
  Counter() = default;
  // Negative increments are ignored (a counter only goes up).
  void Add(double value, Labels labels = {}) const;

 private:
  friend class Client;
  explicit Counter(internal::Instrument* i) : instrument_(i) {}
  internal::Instrument* instrument_ = nullptr;
};

class UpDownCounter {
 public:
  UpDownCounter() = default;
  void Add(double value, Labels labels = {}) const;

 private:
  friend class Client;
  explicit UpDownCounter(internal::Instrument* i) : instrument_(i) {}
  internal::Instrument* instrument_ = nullptr;
};

class Gauge {
 public:
  Gauge() = default;
  void Set(double value, Labels labels = {}) const;

 private:
  friend class Client;
  explicit Gauge(internal::Instrument* i) : instrument_(i) {}
  internal::Instrument* instrument_ = nullptr;
};

class Histogram {
 public:
  Histogram() = default;
  void Record(double value, Labels labels = {}) const;

 private:
  friend class Client;
  explicit Histogram(internal::Instrument* i) : instrument_(i) {}
  internal::Instrument* instrument_ = nullptr;
};

struct ClientStats {
  // Queue.
  uint64_t queue_depth = 0;
  uint64_t queue_high_watermark = 0;
  uint64_t enqueued = 0;  // records (log records and spans) admitted to the queue
  uint64_t batching = 0;  // taken from the queue, not yet in a sealed batch
  // Records not delivered, by reason.
  uint64_t dropped_full_protected = 0;    // queue full, nothing left to evict
  uint64_t dropped_full_unprotected = 0;  // queue full
  uint64_t dropped_sampled = 0;           // not kept by sampling
  uint64_t evicted = 0;                   // pushed out by protected records
  uint64_t dropped_after_shutdown = 0;    // logged after Shutdown
  uint64_t dropped_invalid = 0;           // in batches the collector refused as a whole
  uint64_t dropped_too_large = 0;         // alone larger than the collector takes
  uint64_t rejected = 0;                  // refused one by one by the collector
  std::map<std::string, uint64_t> rejected_by_reason;
  uint64_t truncated = 0;                 // records whose text was cut to the limits
  // Delivery.
  uint64_t records_delivered = 0;  // stored by the collector (or already held: duplicates)
  uint64_t batches_sent = 0;       // writes, including re-sends
  uint64_t batches_acked = 0;      // durable: stored or duplicate
  uint64_t batches_duplicate = 0;
  // Times the collector showed another process sending under this client's
  // producer id (see ClientOptions::producer_id); its batches are then
  // renumbered rather than taken as delivered.
  uint64_t producer_id_conflicts = 0;
  uint64_t batches_split = 0;  // larger than the collector takes, so sent in parts
  uint64_t retries = 0;     // batches sent again
  uint64_t reconnects = 0;  // streams opened after the first
  uint64_t unacked_batches = 0;
  uint64_t unacked_bytes = 0;
  bool connected = false;
  std::string endpoint;    // the collector in use
  std::string last_error;  // empty if none yet
  absl::Time last_error_time = absl::InfinitePast();
};

// What a Flush or Shutdown achieved by its deadline.
struct DeliveryReport {
  bool complete = false;         // everything queued before the call is durable
  uint64_t pending_records = 0;  // queued or unacked when the call returned
  std::string last_error;

  bool ok() const { return complete; }
};

class Client {
 public:
  // Applies TRIBUTARY_* environment variables first unless
  // options.read_environment is false; fails on bad options. Connects in the
  // background: a collector that is down is not an error here.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  // Shuts down (with a 5 s deadline) if Shutdown was not called.
  ~Client();

  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Logger GetLogger(std::string_view name = {}, Level min_level = Level::kTrace);

  Span StartSpan(std::string_view name, const SpanOptions& options = {});

  // Instruments by name; asking twice for a name returns the same series.
  // A name already used by another kind fails with a disabled instrument
  // (its calls do nothing) and counts in stats().last_error.
  Counter GetCounter(std::string_view name, std::string_view description = {},
                     std::string_view unit = {});
  UpDownCounter GetUpDownCounter(std::string_view name, std::string_view description = {},
                                 std::string_view unit = {});
  Gauge GetGauge(std::string_view name, std::string_view description = {},
                 std::string_view unit = {});
  Histogram GetHistogram(std::string_view name, std::vector<double> bounds,
                         std::string_view description = {}, std::string_view unit = {});

  // Sends everything queued so far (and the current metric values) and waits
  // until it is durable at the collector or `timeout` passes.
  DeliveryReport Flush(absl::Duration timeout);
  DeliveryReport Flush(absl::Time deadline) { return Flush(deadline - absl::Now()); }
  // Flushes, then stops the background thread and closes the stream. Later
  // log calls are dropped and counted. What was not delivered by the
  // deadline is reported and discarded.
  DeliveryReport Shutdown(absl::Duration timeout);
  DeliveryReport Shutdown(absl::Time deadline) { return Shutdown(deadline - absl::Now()); }

  ClientStats stats() const;
  const std::string& producer_id() const;

 private:
  friend class internal::TestAccess;
  explicit Client(std::unique_ptr<internal::Core> core);
  std::unique_ptr<internal::Core> core_;
};

}  // namespace tributary::client
