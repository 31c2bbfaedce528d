// The client's one background thread: takes records from the queue, batches
// them, and streams the batches over tributary.v1.IngestService.
//
// Delivery is exactly once per collector:
// - Batches are numbered 1, 2, 3, ... (seq) under one producer_id and kept
//   until the collector acks them as durable (or as duplicates).
// - Every stream starts with a handshake (seq 0) whose answer is the highest
//   seq the collector holds for this producer: kept batches at or below it
//   are done, the rest are sent again, in order. On the first handshake of a
//   Client, numbering moves past what the collector holds, so a fixed
//   producer_id is safe across restarts.
// - A batch refused for a retryable reason (RESOURCE_EXHAUSTED, UNAVAILABLE)
//   makes the collector refuse the stream's later batches until it is
//   resent, so the sender waits for the batches still in flight, backs off,
//   and resends from the refused one. Stored batches are therefore always a
//   prefix of what was sent, which is what makes the resume point safe.
// - A batch refused as a whole (INVALID) is dropped and counted; records
//   refused one by one are counted by reason.
// - The handshake's answer says the largest batch the collector takes. Batches
//   are sealed below it, and a kept batch over it is split into parts that
//   take new seqs after every other (a seq is never reused, so no part can be
//   mistaken for a batch the collector already holds). A record larger than
//   the limit on its own is dropped and counted.
// Connection failures back off exponentially with jitter and move to the next
// endpoint; a stream that answers no handshake or no ack in time is cancelled
// and reopened.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "base/mutex.h"
#include "base/redaction.h"
#include "client/client.h"
#include "client/internal/record.h"
#include "client/internal/record_queue.h"
#include "client/options.h"
#include "grpcpp/channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "tributary/v1/ingest.pb.h"

namespace tributary::client::internal {

using Queue = RecordQueue<RecordSlot>;
using Clock = std::function<absl::Time()>;

// What the sender needs from the rest of the client.
class SenderSource {
 public:
  virtual ~SenderSource() = default;
  virtual Queue& queue() = 0;
  virtual std::string ScopeName(uint32_t scope) = 0;
  // Appends the current value of every metric series.
  virtual void CollectMetrics(int64_t now_ns, tributary::v1::IngestBatch* batch) = 0;
};

class IngestCall;

class Sender {
 public:
  Sender(const ClientOptions& options, std::string producer_id, SenderSource* source,
         Clock clock);
  ~Sender();

  Sender(const Sender&) = delete;
  Sender& operator=(const Sender&) = delete;

  void Start();
  // Any thread. See Client::Flush / Client::Shutdown.
  DeliveryReport Flush(absl::Duration timeout);
  DeliveryReport Stop(absl::Duration timeout);
  // Wakes the thread (a record arrived, the fake clock moved, ...).
  void Wake();

  void FillStats(ClientStats* stats) const;

 private:
  enum class State { kDisconnected, kHandshaking, kReady, kClosing };

  struct Pending {
    uint64_t seq = 0;
    std::string body;  // the IngestBatch without producer_id and seq
    uint32_t records = 0;
    bool in_flight = false;
    uint32_t sends = 0;
  };

  void Run();
  void HandleEvents(absl::Time now);
  void HandleHandshake(const tributary::v1::IngestAck& ack, absl::Time now);
  void HandleAck(const tributary::v1::IngestAck& ack, absl::Time now);
  void StreamEnded(const std::string& error, absl::Time now);
  void MaybeConnect(absl::Time now);
  void FillBatches(absl::Time now);
  void AddRecord(RecordSlot& slot);
  void Seal();
  // Queues a sealed batch, in parts if it is larger than the collector takes.
  void Keep(Pending p);
  // Splits every kept batch larger than the collector takes (none in flight).
  void FitKeptBatches();
  // Bytes a batch takes on the wire (its body plus producer_id and seq).
  size_t WireSize(const Pending& p) const;
  void SendReady(absl::Time now);
  void CheckTimeouts(absl::Time now);
  void ProgressFlushes(absl::Time now);
  void CollectMetrics(absl::Time now);
  void Wait(absl::Time now);
  void CloseStream(absl::Time deadline);
  void Cancel(const std::string& why);
  void SetError(const std::string& error);
  absl::Duration Jittered(absl::Duration d);
  uint64_t PendingRecords() const;
  DeliveryReport Report(bool complete) const;

  const ClientOptions options_;
  const std::string producer_id_;
  SenderSource* const source_;
  const Clock clock_;
  std::unique_ptr<Redactor> redactor_;
  tributary::v1::Resource resource_;

  // Thread-confined.
  std::vector<std::shared_ptr<grpc::Channel>> channels_;
  std::vector<std::unique_ptr<grpc::GenericStub>> stubs_;
  size_t endpoint_ = 0;
  IngestCall* call_ = nullptr;
  State state_ = State::kDisconnected;
  bool ever_connected_ = false;
  bool ever_handshaked_ = false;
  bool stream_handshaked_ = false;
  absl::Time next_connect_ = absl::InfinitePast();
  absl::Time handshake_deadline_ = absl::InfiniteFuture();
  absl::Duration backoff_;
  absl::Time paused_until_ = absl::InfinitePast();
  bool rewinding_ = false;
  std::deque<std::pair<uint64_t, absl::Time>> sent_;  // seq and send time, on this stream
  std::deque<Pending> unacked_;                        // by seq
  uint64_t next_seq_ = 1;
  // The highest seq this client has accounted for: sent by it, or held by the
  // collector at a handshake and already numbered past. A resume point above
  // it is another process's.
  uint64_t highest_known_seq_ = 0;
  // A batch was answered "duplicate" on its first sending: another producer
  // uses this producer id. Kept batches are renumbered at the next handshake.
  bool id_conflict_ = false;
  uint64_t collector_max_batch_bytes_ = 0;  // from the last handshake; 0 = not said
  tributary::v1::IngestBatch building_;
  uint32_t building_records_ = 0;
  size_t building_bytes_ = 0;
  absl::Time building_since_;
  std::vector<uint32_t> scope_map_;  // client scope -> 1-based batch scope (0 = unused)
  absl::Time next_metrics_;
  bool took_records_ = false;  // since the last wait
  absl::Duration poll_ = absl::Milliseconds(1);
  std::mt19937_64 rng_;
  // Flushes: records still to take for the one being prepared, and the
  // targets (last seq) of the prepared ones.
  uint64_t flush_preparing_ = 0;  // generation being prepared (0 = none)
  uint64_t flush_prepared_ = 0;   // the last generation prepared
  uint64_t flush_take_left_ = 0;
  std::deque<std::pair<uint64_t, uint64_t>> flush_targets_;

  mutable Mutex mu_;
  bool wake_ ABSL_GUARDED_BY(mu_) = false;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool stopped_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time stop_deadline_ ABSL_GUARDED_BY(mu_);
  uint64_t flush_requested_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t flush_done_ ABSL_GUARDED_BY(mu_) = 0;
  std::string last_error_ ABSL_GUARDED_BY(mu_);
  absl::Time last_error_time_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::string endpoint_name_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, uint64_t> rejected_by_reason_ ABSL_GUARDED_BY(mu_);

  // Counters, read by stats() from any thread.
  std::atomic<uint64_t> records_delivered_{0};
  std::atomic<uint64_t> dropped_invalid_{0};
  std::atomic<uint64_t> dropped_too_large_{0};
  std::atomic<uint64_t> batches_split_{0};
  std::atomic<uint64_t> rejected_{0};
  std::atomic<uint64_t> batches_sent_{0};
  std::atomic<uint64_t> batches_acked_{0};
  std::atomic<uint64_t> batches_duplicate_{0};
  std::atomic<uint64_t> producer_id_conflicts_{0};
  std::atomic<uint64_t> retries_{0};
  std::atomic<uint64_t> reconnects_{0};
  std::atomic<uint64_t> unacked_batches_{0};
  std::atomic<uint64_t> unacked_bytes_{0};
  std::atomic<uint64_t> unacked_records_{0};
  std::atomic<uint64_t> batching_records_{0};
  std::atomic<bool> connected_{false};

  std::thread thread_;
};

}  // namespace tributary::client::internal
