#include "exporters/exporter.h"

namespace tributary::exporters {

Outcome ClassifyGrpc(int code, bool has_retry_info) {
  // Codes as in grpc/status.h (and google.rpc.Code).
  switch (code) {
    case 0:  // OK
      return Outcome::kSuccess;
    case 1:   // CANCELLED
    case 4:   // DEADLINE_EXCEEDED
    case 10:  // ABORTED
    case 11:  // OUT_OF_RANGE
    case 14:  // UNAVAILABLE
    case 15:  // DATA_LOSS
      return Outcome::kRetryable;
    case 8:  // RESOURCE_EXHAUSTED
      return has_retry_info ? Outcome::kRetryable : Outcome::kPermanent;
    default:
      return Outcome::kPermanent;
  }
}

Outcome ClassifyHttp(int status) {
  if (status >= 200 && status < 300) return Outcome::kSuccess;
  if (status == 0 || status == 429 || status >= 500) return Outcome::kRetryable;
  return Outcome::kPermanent;
}

}  // namespace tributary::exporters
