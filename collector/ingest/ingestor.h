// The receivers' shared core: sanitize a batch, append it to the buffer, and
// report the outcome once it is durable, counting everything on the way.
//
// Both receivers (our IngestService stream and OTLP Export) go through
// Submit, so validation, redaction, dedupe and telemetry are the same for
// every protocol.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "base/metrics.h"
#include "collector/config/config.h"
#include "collector/ingest/sanitize.h"
#include "storage/buffer.h"
#include "tributary/v1/ingest.pb.h"

namespace tributary::collector {

enum class Protocol { kStream = 0, kOtlp = 1 };
inline constexpr int kProtocols = 2;
const char* ProtocolName(Protocol p);

struct IngestOutcome {
  enum class Kind {
    kStored,       // durable (records may have been rejected: see report)
    kDuplicate,    // the producer's seq was already durable; not stored again
    kNothingToStore,  // every record was rejected, or the batch was empty
    kInvalid,      // the batch as a whole was refused
    kThrottled,    // disk budget reached (backpressure) or too much in flight: retry
    kUnavailable,  // the buffer cannot store right now (I/O error, closing)
  };
  Kind kind = Kind::kStored;
  std::string message;  // for kInvalid, kThrottled, kUnavailable
  SanitizeReport report;
  uint64_t offset = 0;
};

// Runs once, possibly on a buffer thread; must not block.
using IngestCallback = absl::AnyInvocable<void(IngestOutcome) &&>;

// A batch between the two halves of Submit: sanitized and ready to append, or
// with its outcome already decided (a re-send of a durable batch, nothing
// left to store, refused as a whole).
struct PreparedBatch {
  Protocol protocol = Protocol::kStream;
  absl::Time received;
  uint64_t received_records[kSignals] = {};
  bool decided = false;  // true: Store reports `outcome` without appending
  IngestOutcome outcome;
  storage::AppendRequest request;
};

class Ingestor {
 public:
  Ingestor(storage::Buffer* buffer, const Config& config, metrics::Registry* registry,
           std::function<absl::Time()> clock);

  // Sanitizes `batch` in place and appends what is left. `wire` holds the
  // bytes the batch was parsed from, when the caller has them: if
  // sanitizing changed nothing they are stored as they are, saving a
  // serialization. `received` is when the batch arrived (for ack latency).
  void Submit(Protocol protocol, tributary::v1::IngestBatch* batch, std::string wire,
              absl::Time received, IngestCallback done) {
    Store(Prepare(protocol, batch, std::move(wire), received), std::move(done));
  }

  // Submit in two halves, for a stream that sanitizes one batch while the
  // one before it is appended. Prepare is the CPU work and depends on no
  // other batch, so it may run on any thread in any order; Store appends,
  // and must be called in the order the producer sent its batches (its seq
  // order), because the buffer's dedupe keeps the highest seq it stored.
  PreparedBatch Prepare(Protocol protocol, tributary::v1::IngestBatch* batch, std::string wire,
                        absl::Time received);
  void Store(PreparedBatch prepared, IngestCallback done);

  // The highest durable seq for `producer_id` (0 if none).
  uint64_t ResumePoint(const std::string& producer_id) { return buffer_->ResumePoint(producer_id); }

  // Counts a batch refused before it could be parsed or submitted.
  void CountRefused(Protocol protocol, const char* outcome, uint64_t wire_bytes);
  void CountBytes(Protocol protocol, uint64_t wire_bytes);

  // How long a throttled sender is asked to wait.
  absl::Duration retry_after() const { return retry_after_; }

  metrics::Gauge* open_streams() { return open_streams_; }

  // Totals across protocols and signals, for GetStats and the status page.
  struct Totals {
    uint64_t records_received = 0;
    uint64_t records_accepted = 0;
    uint64_t records_rejected = 0;
    uint64_t batches_duplicate = 0;
  };
  Totals totals() const;

 private:
  void CountOutcome(Protocol protocol, const IngestOutcome& outcome, absl::Time received);

  storage::Buffer* const buffer_;
  const Sanitizer sanitizer_;
  const absl::Duration retry_after_ = absl::Milliseconds(500);
  std::function<absl::Time()> clock_;

  metrics::Family<metrics::Counter>* batches_;           // protocol, outcome
  metrics::Family<metrics::Counter>* records_received_;  // protocol, signal
  metrics::Family<metrics::Counter>* records_accepted_;  // protocol, signal
  metrics::Family<metrics::Counter>* records_rejected_;  // protocol, signal, reason
  metrics::Family<metrics::Counter>* duplicate_records_;  // protocol
  metrics::Family<metrics::Counter>* bytes_;             // protocol
  metrics::Family<metrics::Counter>* redactions_;        // rule
  metrics::Family<metrics::Histogram>* ack_latency_;     // protocol
  metrics::Gauge* open_streams_;
  metrics::Gauge* in_flight_bytes_gauge_;

  // The children with fixed labels, looked up once (the families lock and
  // search a map on every lookup).
  struct PerProtocol {
    metrics::Counter* received[kSignals];
    metrics::Counter* accepted[kSignals];
    metrics::Counter* duplicate_records;
    metrics::Counter* bytes;
    metrics::Histogram* ack_latency;
  };
  PerProtocol per_protocol_[kProtocols];

  const uint64_t max_in_flight_bytes_;
  std::atomic<uint64_t> in_flight_bytes_{0};
};

}  // namespace tributary::collector
