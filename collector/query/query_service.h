// tributary.v1.QueryService. GetStats reports ingest totals, the buffer and
// every consumer's lag. QueryLogs, GetTrace and ListAlerts answer
// UNIMPLEMENTED until the log index, the trace correlator and the alert
// evaluator exist: the contract is served (and described by reflection) so
// clients can be written against it.
#pragma once

#include "absl/time/time.h"
#include "collector/ingest/ingestor.h"
#include "storage/buffer.h"
#include "tributary/v1/query.grpc.pb.h"

namespace tributary::collector {

class QueryServiceImpl final : public tributary::v1::QueryService::CallbackService {
 public:
  QueryServiceImpl(storage::Buffer* buffer, Ingestor* ingestor, absl::Time start_time)
      : buffer_(buffer), ingestor_(ingestor), start_time_(start_time) {}

  grpc::ServerUnaryReactor* GetStats(grpc::CallbackServerContext* context,
                                     const tributary::v1::GetStatsRequest* request,
                                     tributary::v1::GetStatsResponse* response) override;
  grpc::ServerUnaryReactor* QueryLogs(grpc::CallbackServerContext* context,
                                      const tributary::v1::QueryLogsRequest* request,
                                      tributary::v1::QueryLogsResponse* response) override;
  grpc::ServerUnaryReactor* GetTrace(grpc::CallbackServerContext* context,
                                     const tributary::v1::GetTraceRequest* request,
                                     tributary::v1::GetTraceResponse* response) override;
  grpc::ServerUnaryReactor* ListAlerts(grpc::CallbackServerContext* context,
                                       const tributary::v1::ListAlertsRequest* request,
                                       tributary::v1::ListAlertsResponse* response) override;

 private:
  storage::Buffer* const buffer_;
  Ingestor* const ingestor_;
  const absl::Time start_time_;
};

}  // namespace tributary::collector
