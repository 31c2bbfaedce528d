#include "exporters/otlp/otlp_exporter.h"

#include "absl/strings/str_cat.h"
#include "base/grpc_credentials.h"
#include "base/mutex.h"
#include "exporters/otlp/convert.h"
#include "exporters/otlp/logs_wire.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"

namespace tributary::otlp {
namespace {

using exporters::Outcome;
using exporters::Request;
using exporters::SendResult;

const char* Method(const std::string& kind) {
  if (kind == "logs") return "/opentelemetry.proto.collector.logs.v1.LogsService/Export";
  if (kind == "traces") return "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
  return "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
}

// The delay a RetryInfo in the error's details asks for, if any.
bool RetryDelay(const grpc::Status& status, absl::Duration* delay) {
  google::rpc::Status details;
  if (status.error_details().empty() || !details.ParseFromString(status.error_details())) {
    return false;
  }
  for (const auto& any : details.details()) {
    google::rpc::RetryInfo info;
    if (any.UnpackTo(&info)) {
      *delay = absl::Seconds(info.retry_delay().seconds()) +
               absl::Nanoseconds(info.retry_delay().nanos());
      return true;
    }
  }
  return false;
}

// Records refused in an Export response's partial_success, and its message.
uint64_t Rejected(const std::string& kind, const std::string& bytes, std::string* message) {
  if (kind == "logs") {
    otlp_logs::ExportLogsServiceResponse r;
    if (!r.ParseFromString(bytes)) return 0;
    *message = r.partial_success().error_message();
    return static_cast<uint64_t>(r.partial_success().rejected_log_records());
  }
  if (kind == "traces") {
    otlp_trace::ExportTraceServiceResponse r;
    if (!r.ParseFromString(bytes)) return 0;
    *message = r.partial_success().error_message();
    return static_cast<uint64_t>(r.partial_success().rejected_spans());
  }
  otlp_metrics::ExportMetricsServiceResponse r;
  if (!r.ParseFromString(bytes)) return 0;
  *message = r.partial_success().error_message();
  return static_cast<uint64_t>(r.partial_success().rejected_data_points());
}

}  // namespace

OtlpExporter::OtlpExporter(OtlpExporterOptions options) : options_(std::move(options)) {
  const std::shared_ptr<grpc::ChannelCredentials> creds =
      ChannelCredentials(options_.tls.enabled, options_.tls.ca_file, options_.tls.cert_file,
                         options_.tls.key_file);
  grpc::ChannelArguments args;
  if (options_.tls.enabled && !options_.tls.server_name.empty()) {
    args.SetSslTargetNameOverride(options_.tls.server_name);
  }
  args.SetMaxReceiveMessageSize(16 << 20);
  channel_ = grpc::CreateCustomChannel(options_.endpoint, creds, args);
  stub_ = std::make_unique<grpc::GenericStub>(channel_);
}

absl::StatusOr<std::vector<Request>> OtlpExporter::Encode(
    const std::vector<const tributary::v1::IngestBatch*>& batches) {
  // Logs, the bulk, are written straight into request bytes; traces and
  // metrics are built on an arena (a request is thousands of small messages).
  std::string logs;
  google::protobuf::Arena arena;
  auto* traces =
      google::protobuf::Arena::CreateMessage<otlp_trace::ExportTraceServiceRequest>(&arena);
  auto* metrics =
      google::protobuf::Arena::CreateMessage<otlp_metrics::ExportMetricsServiceRequest>(&arena);
  uint64_t n_logs = 0, n_spans = 0, n_points = 0;
  for (const tributary::v1::IngestBatch* b : batches) {
    if (b->logs_size() > 0) AppendLogsWire(*b, &logs);
    if (b->spans_size() > 0) AppendSpans(*b, traces);
    if (b->metrics_size() > 0) AppendMetrics(*b, metrics);
    n_logs += static_cast<uint64_t>(b->logs_size());
    n_spans += static_cast<uint64_t>(b->spans_size());
    n_points += static_cast<uint64_t>(b->metrics_size());
  }
  std::vector<Request> out;
  if (n_logs > 0) out.push_back({"logs", std::move(logs), n_logs});
  if (n_spans > 0) out.push_back({"traces", traces->SerializeAsString(), n_spans});
  if (n_points > 0) out.push_back({"metrics", metrics->SerializeAsString(), n_points});
  return out;
}

SendResult OtlpExporter::Send(const Request& request, absl::Time deadline) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  if (options_.gzip) context.set_compression_algorithm(GRPC_COMPRESS_GZIP);
  for (const auto& [k, v] : options_.headers) context.AddMetadata(k, v);
  grpc::Slice slice(request.payload);
  grpc::ByteBuffer req(&slice, 1);
  grpc::ByteBuffer resp;

  Mutex mu;
  bool done = false;
  grpc::Status status;
  stub_->UnaryCall(&context, Method(request.kind), grpc::StubOptions(), &req, &resp,
                   [&](grpc::Status s) {
                     MutexLock lock(&mu);
                     status = std::move(s);
                     done = true;
                   });
  {
    MutexLock lock(&mu);
    mu.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return done; });
  }

  SendResult result;
  absl::Duration delay;
  const bool has_retry_info = RetryDelay(status, &delay);
  result.outcome = exporters::ClassifyGrpc(static_cast<int>(status.error_code()), has_retry_info);
  if (has_retry_info) result.retry_after = delay;
  if (!status.ok()) {
    result.message = absl::StrCat("gRPC status ", static_cast<int>(status.error_code()), ": ",
                                  status.error_message());
    return result;
  }
  std::vector<grpc::Slice> slices;
  std::string bytes;
  if (resp.Dump(&slices).ok()) {
    for (const grpc::Slice& s : slices) {
      bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
    }
  }
  result.dropped_records = std::min(request.records, Rejected(request.kind, bytes, &result.message));
  return result;
}

}  // namespace tributary::otlp
