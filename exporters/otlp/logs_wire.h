// Stored log records written straight into the bytes of an OTLP
// ExportLogsServiceRequest, without building the OTLP messages first: the
// OTLP exporter's hot path. The bytes are exactly what AppendLogs (convert.h)
// followed by SerializeAsString produces (a test holds the two equal).
#pragma once

#include <string>

#include "tributary/v1/ingest.pb.h"

namespace tributary::otlp {

// Appends the batch's log records to `request` (the bytes of an
// ExportLogsServiceRequest) as one ResourceLogs; nothing if it holds none.
void AppendLogsWire(const tributary::v1::IngestBatch& batch, std::string* request);

}  // namespace tributary::otlp
