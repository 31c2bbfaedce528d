#include "collector/query/query_service.h"

#include "absl/time/clock.h"
#include "collector/status.h"

namespace tributary::collector {
namespace {

grpc::ServerUnaryReactor* NotYet(grpc::CallbackServerContext* context, const char* what) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status(grpc::StatusCode::UNIMPLEMENTED,
                               std::string(what) + " is not available in this version"));
  return reactor;
}

}  // namespace

grpc::ServerUnaryReactor* QueryServiceImpl::GetStats(
    grpc::CallbackServerContext* context, const tributary::v1::GetStatsRequest* /*request*/,
    tributary::v1::GetStatsResponse* response) {
  const absl::Time now = absl::Now();
  const Ingestor::Totals totals = ingestor_->totals();
  response->set_records_received(totals.records_received);
  response->set_records_accepted(totals.records_accepted);
  response->set_records_rejected(totals.records_rejected);
  response->set_batches_duplicate(totals.batches_duplicate);
  const storage::BufferStats stats = buffer_->Stats();
  response->set_buffer_first_offset(stats.first_offset);
  response->set_buffer_next_offset(stats.next_offset);
  response->set_buffer_entries(stats.entries);
  response->set_buffer_records(stats.records);
  response->set_buffer_bytes(stats.bytes);
  response->set_buffer_max_bytes(stats.max_bytes);
  response->set_uptime_nanos(static_cast<uint64_t>(absl::ToInt64Nanoseconds(now - start_time_)));
  for (const ConsumerLag& lag : ConsumerLags(buffer_, stats, now)) {
    tributary::v1::ConsumerStats* c = response->add_consumers();
    c->set_name(lag.name);
    c->set_cursor(lag.cursor);
    c->set_lag_entries(lag.lag_entries);
    c->set_lag_seconds(lag.lag_seconds);
    c->set_lost_entries(lag.lost_entries);
    c->set_lost_records(lag.lost_records);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* QueryServiceImpl::QueryLogs(grpc::CallbackServerContext* context,
                                                      const tributary::v1::QueryLogsRequest*,
                                                      tributary::v1::QueryLogsResponse*) {
  return NotYet(context, "QueryLogs (the log index)");
}

grpc::ServerUnaryReactor* QueryServiceImpl::GetTrace(grpc::CallbackServerContext* context,
                                                     const tributary::v1::GetTraceRequest*,
                                                     tributary::v1::GetTraceResponse*) {
  return NotYet(context, "GetTrace (the trace correlator)");
}

grpc::ServerUnaryReactor* QueryServiceImpl::ListAlerts(grpc::CallbackServerContext* context,
                                                       const tributary::v1::ListAlertsRequest*,
                                                       tributary::v1::ListAlertsResponse*) {
  return NotYet(context, "ListAlerts (the alert evaluator)");
}

}  // namespace tributary::collector
