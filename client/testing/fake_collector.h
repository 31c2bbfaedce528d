// An in-process IngestService for the client's tests. It keeps the
// collector's contract (handshake with the resume point, dedupe by
// producer and seq, acks in order, later batches refused after a retryable
// refusal until the refused one is resent) and can be told to misbehave:
// refuse batches, end streams, reject records, or stop answering.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "base/mutex.h"
#include "grpcpp/grpcpp.h"
#include "tributary/v1/ingest.grpc.pb.h"

namespace tributary::client::testing {

class FakeCollector final : public tributary::v1::IngestService::Service {
 public:
  // With `tls`, it serves client/testing/test_cert.pem (names collector.test
  // and 127.0.0.1; a self-signed test certificate and its key).
  explicit FakeCollector(bool tls = false);
  ~FakeCollector() override;

  // "127.0.0.1:port".
  const std::string& address() const { return address_; }

  // The next `n` batches (not handshakes) are refused with `status`.
  void RefuseNext(int n, tributary::v1::AckStatus status, uint32_t retry_after_ms = 1);
  // The current and later streams end with UNAVAILABLE after `acks` more acks.
  void BreakStreamAfter(int acks);
  // The next `n` streams end with UNAVAILABLE right after answering their
  // handshake.
  void EndStreamsAfterHandshake(int n);
  // Records whose body contains `text` are rejected one by one with `reason`.
  void RejectBodiesContaining(std::string text, std::string reason);
  // While paused, batches are read but not answered.
  void Pause();
  void Resume();
  // Says `bytes` in handshake answers as the largest batch it takes, and
  // refuses larger batches as INVALID, as the collector does.
  void SetMaxBatchBytes(uint64_t bytes);
  // As if an earlier process with this id had stored up to `seq`.
  void SetResumePoint(const std::string& producer_id, uint64_t seq);

  // Stored batches, in the order they were stored.
  std::vector<tributary::v1::IngestBatch> Stored();
  int streams() const;
  // Waits (up to `timeout`) until `done(stored batches)` holds.
  bool WaitFor(const std::function<bool(const std::vector<tributary::v1::IngestBatch>&)>& done,
               absl::Duration timeout = absl::Seconds(30));

  grpc::Status Stream(
      grpc::ServerContext* context,
      grpc::ServerReaderWriter<tributary::v1::IngestAck, tributary::v1::IngestBatch>* stream)
      override;

 private:
  tributary::v1::IngestAck Handle(tributary::v1::IngestBatch& batch, uint64_t* refused_seq,
                                  tributary::v1::AckStatus* refused_status)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  std::unique_ptr<grpc::Server> server_;
  std::string address_;

  mutable Mutex mu_;
  std::vector<tributary::v1::IngestBatch> stored_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> resume_ ABSL_GUARDED_BY(mu_);
  uint64_t max_batch_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // 0 = none
  int refuse_left_ ABSL_GUARDED_BY(mu_) = 0;
  tributary::v1::AckStatus refuse_status_ ABSL_GUARDED_BY(mu_);
  uint32_t refuse_retry_ms_ ABSL_GUARDED_BY(mu_) = 1;
  int break_after_ ABSL_GUARDED_BY(mu_) = -1;  // acks until the next break; -1 = never
  int break_every_ ABSL_GUARDED_BY(mu_) = -1;
  int end_after_handshake_ ABSL_GUARDED_BY(mu_) = 0;
  std::string reject_text_ ABSL_GUARDED_BY(mu_);
  std::string reject_reason_ ABSL_GUARDED_BY(mu_);
  bool paused_ ABSL_GUARDED_BY(mu_) = false;
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  int streams_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace tributary::client::testing
