// The Loki exporter: stored log records to Loki's push API
// (`<url>/loki/api/v1/push`), as snappy-compressed protobuf (the default) or
// JSON (optionally gzip-compressed), with the tenant in X-Scope-OrgID.
//
// Streams: each record's stream is the set of configured label keys that
// have a value for it. A key is looked up as service.name,
// service.instance.id, host.name (the resource), severity_text (the record's,
// or derived from its severity number), else a record attribute, else a
// resource attribute. Names are sanitised to Loki's label rule
// ([a-zA-Z_][a-zA-Z0-9_]*: "service.name" -> "service_name"); values are cut
// to Loki's 2048-byte limit; a record with none of the keys goes to the
// stream {exporter="tributary"} (Loki needs at least one label). A push holds
// at most `max_streams_per_push` streams; more make more pushes.
//
// Lines: the body plus the record's other fields (severity unless it is a
// label, attributes that are not labels, event name, trace_id and span_id as
// lowercase hex) as logfmt (`msg="..." key=value ...`) or as one JSON object.
// Resource attributes reach Loki only as labels. Entries within a stream are
// in timestamp order.
//
// 204 (any 2xx) is success; 400 is permanent (dropped, with Loki's message);
// 429 and 5xx are retried.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "exporters/exporter.h"
#include "exporters/http/http_post.h"

namespace tributary::exporters {

struct LokiOptions {
  enum class Encoding { kProtobuf, kJson };
  enum class LineFormat { kLogfmt, kJson };

  // Loki's base URL; /loki/api/v1/push is added unless the URL has a path.
  std::string url = "http://127.0.0.1:3100";
  std::string tenant;  // X-Scope-OrgID; none when empty
  std::vector<std::string> labels = {"service.name", "severity_text"};
  Encoding encoding = Encoding::kProtobuf;
  bool gzip = false;  // JSON bodies only (protobuf bodies are always snappy)
  LineFormat line_format = LineFormat::kLogfmt;
  uint32_t max_streams_per_push = 1000;
  std::map<std::string, std::string> headers;
};

// Loki accepts at most this many labels per stream by default.
inline constexpr size_t kLokiMaxLabels = 15;

// "service.name" -> "service_name"; a leading digit gets "_".
std::string LokiLabelName(const std::string& key);

// The push URL for a configured base URL.
std::string LokiPushUrl(const std::string& url);

class LokiExporter : public Exporter {
 public:
  explicit LokiExporter(LokiOptions options);

  const std::string& name() const override { return name_; }
  uint32_t signals() const override { return kLogs; }
  absl::StatusOr<std::vector<Request>> Encode(
      const std::vector<const tributary::v1::IngestBatch*>& batches) override;
  // Compresses (snappy for protobuf, gzip if configured for JSON) and posts.
  // Compression happens here rather than in Encode so that it runs on the
  // sending thread, beside the encoding of the next group.
  SendResult Send(const Request& request, absl::Time deadline) override;

  // The body as it goes on the wire.
  std::string WireBody(const Request& request) const;

 private:
  const std::string name_ = "loki";
  const LokiOptions options_;
  const std::string push_url_;
  std::vector<std::string> headers_;
  HttpPoster http_;
};

}  // namespace tributary::exporters
