#include "exporters/exporter.h"

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace tributary::exporters {

bool HasSignals(std::string_view payload, uint32_t signals) {
  if ((signals & kAllSignals) == kAllSignals) return true;
  using google::protobuf::internal::WireFormatLite;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(payload.data()),
                                            static_cast<int>(payload.size()));
  for (;;) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) return !in.ConsumedEntireMessage();  // the end, or garbage
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if ((field == tributary::v1::IngestBatch::kLogsFieldNumber && (signals & kLogs)) ||
        (field == tributary::v1::IngestBatch::kMetricsFieldNumber && (signals & kMetrics)) ||
        (field == tributary::v1::IngestBatch::kSpansFieldNumber && (signals & kSpans))) {
      return true;
    }
    if (!WireFormatLite::SkipField(&in, tag)) return true;
  }
}

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
