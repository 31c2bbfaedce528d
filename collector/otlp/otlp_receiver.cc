#include "collector/otlp/otlp_receiver.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/mutex.h"
#include "exporters/otlp/convert.h"
#include "google/protobuf/arena.h"
#include "google/rpc/error_details.pb.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/proto_buffer_writer.h"

namespace tributary::collector {
namespace {

namespace logs_v1 = ::opentelemetry::proto::collector::logs::v1;
namespace trace_v1 = ::opentelemetry::proto::collector::trace::v1;
namespace metrics_v1 = ::opentelemetry::proto::collector::metrics::v1;

grpc::Status Unavailable(const std::string& message, absl::Duration retry_after) {
  google::rpc::Status status;
  status.set_code(static_cast<int>(grpc::StatusCode::UNAVAILABLE));
  status.set_message(message);
  google::rpc::RetryInfo retry;
  retry.mutable_retry_delay()->set_seconds(absl::ToInt64Seconds(retry_after));
  retry.mutable_retry_delay()->set_nanos(
      static_cast<int32_t>(absl::ToInt64Nanoseconds(retry_after % absl::Seconds(1))));
  status.add_details()->PackFrom(retry);
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, message, status.SerializeAsString());
}

// One Export call waiting for all its batches to be durable.
template <typename Response>
class ExportCall {
 public:
  using SetRejected = std::function<void(Response*, int64_t, const std::string&)>;

  ExportCall(grpc::ServerUnaryReactor* reactor, grpc::ByteBuffer* response, int batches,
             absl::Duration retry_after, SetRejected set_rejected)
      : reactor_(reactor),
        response_(response),
        remaining_(batches),
        retry_after_(retry_after),
        set_rejected_(std::move(set_rejected)) {}

  // Called once per batch; the last call answers and deletes this.
  void Done(const IngestOutcome& outcome, uint32_t records) {
    bool last = false;
    {
      MutexLock lock(&mu_);
      switch (outcome.kind) {
        case IngestOutcome::Kind::kStored:
        case IngestOutcome::Kind::kNothingToStore:
        case IngestOutcome::Kind::kDuplicate:
          for (int s = 0; s < kSignals; ++s) {
            for (const auto& [reason, r] : outcome.report.rejected[s]) {
              rejected_ += r.count;
              AddReason(absl::StrCat(reason, " (", r.count, "), e.g. ", r.example));
            }
          }
          break;
        case IngestOutcome::Kind::kInvalid:
          // Refused as a whole: every record in it is rejected, for good.
          rejected_ += records;
          AddReason(outcome.message);
          break;
        case IngestOutcome::Kind::kThrottled:
        case IngestOutcome::Kind::kUnavailable:
          retry_ = true;
          retry_message_ = outcome.message;
          break;
      }
      last = --remaining_ == 0;
    }
    if (last) Answer();
  }

 private:
  void AddReason(const std::string& reason) {
    if (reasons_ < 5) {
      if (!message_.empty()) message_ += "; ";
      message_ += reason;
    }
    ++reasons_;
  }

  void Answer() {
    grpc::Status status;
    if (retry_) {
      status = Unavailable(absl::StrCat("the collector cannot store this now (", retry_message_,
                                        "); retry later"),
                           retry_after_);
    } else {
      Response response;
      if (rejected_ > 0) {
        if (reasons_ > 5) absl::StrAppend(&message_, "; and ", reasons_ - 5, " more");
        set_rejected_(&response, rejected_, message_);
      }
      bool own_buffer;
      status = grpc::GenericSerialize<grpc::ProtoBufferWriter, Response>(response, response_,
                                                                          &own_buffer);
    }
    grpc::ServerUnaryReactor* reactor = reactor_;
    delete this;
    reactor->Finish(status);
  }

  grpc::ServerUnaryReactor* const reactor_;
  grpc::ByteBuffer* const response_;
  Mutex mu_;
  int remaining_;
  const absl::Duration retry_after_;
  const SetRejected set_rejected_;
  int64_t rejected_ = 0;
  int reasons_ = 0;
  std::string message_;
  bool retry_ = false;
  std::string retry_message_;
};

template <typename Request, typename Response>
grpc::ServerUnaryReactor* HandleExport(const OtlpReceiver::Shared& shared,
                                       grpc::CallbackServerContext* context,
                                       const grpc::ByteBuffer* wire, grpc::ByteBuffer* response,
                                       const char* request_name,
                                       typename ExportCall<Response>::SetRejected set_rejected) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  const absl::Time received = absl::Now();
  Ingestor* ingestor = shared.ingestor;
  const size_t size = wire->Length();
  if (shared.shutting_down->load()) {
    ingestor->CountRefused(Protocol::kOtlp, "unavailable", size);
    reactor->Finish(Unavailable("the collector is shutting down", ingestor->retry_after()));
    return reactor;
  }
  if (size > shared.config->max_message_bytes) {
    ingestor->CountRefused(Protocol::kOtlp, "oversized", size);
    reactor->Finish(grpc::Status(
        grpc::StatusCode::RESOURCE_EXHAUSTED,
        absl::StrCat(request_name, " of ", size, " bytes exceeds server.max_message_bytes (",
                     shared.config->max_message_bytes, "); export smaller batches")));
    return reactor;
  }

  google::protobuf::Arena arena;
  Request* request = google::protobuf::Arena::CreateMessage<Request>(&arena);
  grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(wire));
  if (!request->ParseFromZeroCopyStream(&reader)) {
    ingestor->CountRefused(Protocol::kOtlp, "malformed", size);
    reactor->Finish(grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        absl::StrCat("malformed ", request_name,
                     ": not valid protobuf, or a string field that is not UTF-8")));
    return reactor;
  }
  ingestor->CountBytes(Protocol::kOtlp, size);

  std::vector<tributary::v1::IngestBatch> batches;
  otlp::ToInternal(*request, &batches);
  if (batches.empty()) {
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  auto* call = new ExportCall<Response>(reactor, response, static_cast<int>(batches.size()),
                                        ingestor->retry_after(), std::move(set_rejected));
  for (tributary::v1::IngestBatch& batch : batches) {
    const uint32_t records =
        static_cast<uint32_t>(batch.logs_size() + batch.metrics_size() + batch.spans_size());
    ingestor->Submit(Protocol::kOtlp, &batch, std::string(), received,
                     [call, records](IngestOutcome outcome) { call->Done(outcome, records); });
  }
  return reactor;
}

// One OTLP service: the generated base with its Export taken raw.
template <typename Grpc, typename Request, typename Response>
class ExportService final
    : public Grpc::template WithRawCallbackMethod_Export<typename Grpc::Service> {
 public:
  ExportService(const OtlpReceiver::Shared& shared, const char* request_name,
                typename ExportCall<Response>::SetRejected set_rejected)
      : shared_(shared), request_name_(request_name), set_rejected_(std::move(set_rejected)) {}

  grpc::ServerUnaryReactor* Export(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override {
    return HandleExport<Request, Response>(shared_, context, request, response, request_name_,
                                           set_rejected_);
  }

 private:
  const OtlpReceiver::Shared shared_;
  const char* const request_name_;
  const typename ExportCall<Response>::SetRejected set_rejected_;
};

using LogsService = ExportService<logs_v1::LogsService, logs_v1::ExportLogsServiceRequest,
                                  logs_v1::ExportLogsServiceResponse>;
using TraceService = ExportService<trace_v1::TraceService, trace_v1::ExportTraceServiceRequest,
                                   trace_v1::ExportTraceServiceResponse>;
using MetricsService =
    ExportService<metrics_v1::MetricsService, metrics_v1::ExportMetricsServiceRequest,
                  metrics_v1::ExportMetricsServiceResponse>;

}  // namespace

OtlpReceiver::OtlpReceiver(Ingestor* ingestor, const ServerConfig& config)
    : shared_{ingestor, &config, &shutting_down_},
      logs_(std::make_unique<LogsService>(
          shared_, "ExportLogsServiceRequest",
          [](logs_v1::ExportLogsServiceResponse* r, int64_t n, const std::string& message) {
            r->mutable_partial_success()->set_rejected_log_records(n);
            r->mutable_partial_success()->set_error_message(message);
          })),
      traces_(std::make_unique<TraceService>(
          shared_, "ExportTraceServiceRequest",
          [](trace_v1::ExportTraceServiceResponse* r, int64_t n, const std::string& message) {
            r->mutable_partial_success()->set_rejected_spans(n);
            r->mutable_partial_success()->set_error_message(message);
          })),
      metrics_(std::make_unique<MetricsService>(
          shared_, "ExportMetricsServiceRequest",
          [](metrics_v1::ExportMetricsServiceResponse* r, int64_t n, const std::string& message) {
            r->mutable_partial_success()->set_rejected_data_points(n);
            r->mutable_partial_success()->set_error_message(message);
          })) {}

OtlpReceiver::~OtlpReceiver() = default;

std::vector<grpc::Service*> OtlpReceiver::services() {
  return {logs_.get(), traces_.get(), metrics_.get()};
}

}  // namespace tributary::collector
