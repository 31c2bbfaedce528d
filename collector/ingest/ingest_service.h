// tributary.v1.IngestService/Stream: one bidirectional stream per producer.
//
// Each stream is a reactor that keeps reading while earlier batches wait for
// their fsync (up to server.max_in_flight_per_stream batches), so a stream is
// never serialised on fsync, and batches from all streams share the buffer's
// group commit. It also parses and sanitizes the next batches while an earlier
// one is being appended (compressed and written), on another of gRPC's
// threads, so one producer is not held to one core; appends still happen in
// the order the batches came in, and so do the acks. Messages are
// taken as raw bytes and parsed here, so a malformed or oversized batch is
// answered on its own (INVALID, with a message) and the stream goes on.
#pragma once

#include <set>
#include <string>

#include "base/mutex.h"
#include "collector/config/config.h"
#include "collector/ingest/ingestor.h"
#include "tributary/v1/ingest.grpc.pb.h"

namespace tributary::collector {

class IngestStream;

class IngestServiceImpl final
    : public tributary::v1::IngestService::WithRawCallbackMethod_Stream<
          tributary::v1::IngestService::Service> {
 public:
  IngestServiceImpl(Ingestor* ingestor, const ServerConfig& config);
  ~IngestServiceImpl() override;

  grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* Stream(
      grpc::CallbackServerContext* context) override;

  // Shutdown: new streams are refused with UNAVAILABLE; open streams stop
  // reading, ack what they already received, and end with UNAVAILABLE so
  // producers reconnect (to this collector after a restart, or another).
  void BeginShutdown();

  // Blocks until every stream has ended or `deadline` passes. True if all ended.
  bool WaitForStreams(absl::Time deadline);

 private:
  friend class IngestStream;
  void Unregister(IngestStream* stream);

  Ingestor* const ingestor_;
  const ServerConfig config_;
  Mutex mu_;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  std::set<IngestStream*> streams_ ABSL_GUARDED_BY(mu_);
};

// What can be read from the front of a batch that does not parse: the
// producer and seq, if they come before the damage. Exposed for tests.
struct BatchHeader {
  std::string producer_id;
  uint64_t seq = 0;
};
BatchHeader ScanBatchHeader(const std::string& wire);

}  // namespace tributary::collector
