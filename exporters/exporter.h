// What a backend exporter provides to the shared delivery loop
// (exporters/delivery): encode stored batches into requests, send one request
// with a deadline, and say what the answer means.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tributary/v1/ingest.pb.h"

namespace tributary::exporters {

enum class Outcome {
  kSuccess,    // the backend has it (possibly minus records it refused: see dropped)
  kRetryable,  // try again later
  kPermanent,  // the backend will never take it: drop it, count it, move on
};

struct SendResult {
  Outcome outcome = Outcome::kSuccess;
  std::string message;  // the backend's reason, for logs and /health
  // From Retry-After or RetryInfo; zero if the backend gave none.
  absl::Duration retry_after = absl::ZeroDuration();
  // With kSuccess: records the backend refused (e.g. OTLP partial_success).
  uint64_t dropped_records = 0;
  // The HTTP status the backend answered; 0 for none (a connection error, a
  // timeout) and for gRPC backends.
  int http_status = 0;
};

// One request, ready to send (and to send again on a retry).
struct Request {
  std::string kind;     // e.g. "logs", "traces", "metrics"
  std::string payload;  // the encoded body
  uint64_t records = 0;
};

// The signals an exporter takes, as a bit set.
enum Signal : uint32_t {
  kLogs = 1,
  kMetrics = 2,
  kSpans = 4,
  kAllSignals = kLogs | kMetrics | kSpans,
};

class Exporter {
 public:
  virtual ~Exporter() = default;

  // The exporter's name in metrics, logs and its buffer consumer.
  virtual const std::string& name() const = 0;

  // The signals this exporter exports. Stored batches with none of them are
  // not parsed or passed to Encode at all.
  virtual uint32_t signals() const { return kAllSignals; }

  // Encodes stored batches into requests; a batch may contribute to several
  // (one per signal). Records this exporter does not export are skipped.
  // An error here is permanent for these batches.
  virtual absl::StatusOr<std::vector<Request>> Encode(
      const std::vector<const tributary::v1::IngestBatch*>& batches) = 0;

  // Sends one request; returns by `deadline`. The loop calls Encode and then
  // Send for one group at a time, on one thread (not always the same one).
  virtual SendResult Send(const Request& request, absl::Time deadline) = 0;
};

// Whether a serialized IngestBatch holds a record of any of `signals`, found
// by walking its top-level fields without parsing them (a few nanoseconds per
// record). True when the payload does not walk, so that parsing reports it.
bool HasSignals(std::string_view batch_payload, uint32_t signals);

// The one table of what is worth retrying.
// gRPC: UNAVAILABLE, DEADLINE_EXCEEDED, ABORTED, CANCELLED, OUT_OF_RANGE,
// DATA_LOSS, and RESOURCE_EXHAUSTED when the server sent RetryInfo; the rest
// (INVALID_ARGUMENT, UNIMPLEMENTED, PERMISSION_DENIED, ...) is permanent.
Outcome ClassifyGrpc(int grpc_status_code, bool has_retry_info);
// HTTP: 2xx success; 429 and 5xx retryable; other codes permanent. A
// connection error (no status) is retryable: pass 0.
Outcome ClassifyHttp(int status);

}  // namespace tributary::exporters
