// The reference record of the benchmarks: a log record of 425 serialized
// bytes (200-byte body, five attributes of 10-byte keys and 20-byte values,
// trace and span ids, timestamps, severity), batched 1000 to an IngestBatch.
#pragma once

#include <string>

#include "tributary/v1/ingest.pb.h"

namespace tributary::bench {

// Record n's 200-byte body: a request log line whose ids and timings vary.
std::string ReferenceBody(uint64_t n);

tributary::v1::LogRecord ReferenceRecord(uint64_t n);

// An IngestBatch of `records` reference records.
tributary::v1::IngestBatch ReferenceBatch(const std::string& producer, uint64_t seq, int records);

}  // namespace tributary::bench
