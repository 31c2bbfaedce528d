// The shared delivery loop: a loop thread and a sender thread per configured
// exporter, reading the write-ahead buffer through the exporter's own durable cursor.
//
//   load cursor -> read entries -> re-batch (batch.max_records, max_delay)
//   -> encode -> send each request with a deadline, retrying what is worth
//   retrying -> commit the cursor once every request has a final outcome
//
// - At least once: the cursor moves only after the backend accepted the data
//   or refused it permanently. After a crash or a stop mid-send the same
//   entries are sent again (duplicates at most what was in flight).
// - Retries back off exponentially with jitter (retry.initial_interval,
//   max_interval), honouring the backend's Retry-After / RetryInfo, for up to
//   retry.max_elapsed_time (0 = forever; the data waits on disk, not in RAM).
// - A circuit breaker stops hammering a dead backend: after
//   circuit.failures consecutive retryable failures it opens for
//   circuit.open_for (doubling while probes fail, up to retry.max_interval
//   times 8), then lets one probe through.
// - Permanent refusals are dropped, counted by reason and logged
//   (rate-limited) with the backend's message; they never block the loop.
// - Exporters never wait for each other: each has its threads and cursor.
// - Two groups at a time: the next is read and parsed on the loop thread
//   while the sender thread encodes and sends the previous one.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/metrics.h"
#include "base/mutex.h"
#include "exporters/exporter.h"
#include "google/protobuf/arena.h"
#include "storage/buffer.h"

namespace tributary::exporters {

struct RetryOptions {
  absl::Duration initial_interval = absl::Seconds(1);
  absl::Duration max_interval = absl::Seconds(30);
  absl::Duration max_elapsed_time = absl::ZeroDuration();  // 0 = retry forever
};

struct BatchOptions {
  uint32_t max_records = 1000;
  absl::Duration max_delay = absl::Seconds(1);
};

struct CircuitOptions {
  uint32_t failures = 5;                       // consecutive failures that open it
  absl::Duration open_for = absl::Seconds(5);  // before the first probe
};

struct DeliveryOptions {
  RetryOptions retry;
  BatchOptions batch;
  CircuitOptions circuit;
  absl::Duration send_timeout = absl::Seconds(10);
  uint64_t max_read_bytes = 16 << 20;  // per read from the buffer
};

// The exporters' metric families, registered once per registry and shared
// by every loop (labelled by exporter).
class DeliveryMetrics {
 public:
  explicit DeliveryMetrics(metrics::Registry* registry);

  metrics::Family<metrics::Counter>* records_sent;
  metrics::Family<metrics::Counter>* requests;      // exporter, outcome
  metrics::Family<metrics::Counter>* retries;
  metrics::Family<metrics::Counter>* dropped;       // exporter, reason
  metrics::Family<metrics::Histogram>* send_seconds;
  metrics::Family<metrics::Gauge>* lag_entries;
  metrics::Family<metrics::Gauge>* lag_seconds;
  metrics::Family<metrics::Gauge>* circuit;         // 0 closed, 1 open, 2 half-open
  metrics::Family<metrics::Counter>* read_errors;
};

enum class Circuit { kClosed = 0, kOpen = 1, kHalfOpen = 2 };
const char* CircuitName(Circuit c);

struct DeliveryStatus {
  std::string exporter;
  Circuit circuit = Circuit::kClosed;
  uint64_t lag_entries = 0;
  double lag_seconds = 0;
  uint64_t records_sent = 0;
  uint64_t records_dropped = 0;
  std::string last_error;  // empty when the last request succeeded
  absl::Time last_success = absl::InfinitePast();
};

class DeliveryLoop {
 public:
  DeliveryLoop(storage::Buffer* buffer, std::unique_ptr<Exporter> exporter,
               DeliveryOptions options, DeliveryMetrics* metrics);
  ~DeliveryLoop();

  DeliveryLoop(const DeliveryLoop&) = delete;
  DeliveryLoop& operator=(const DeliveryLoop&) = delete;

  // Opens the exporter's consumer ("exporter/<name>") and starts the thread.
  absl::Status Start();
  // Lets a send in flight finish (it has send_timeout at most), commits only
  // what was confirmed, and joins the thread. Idempotent.
  void Stop();

  DeliveryStatus status() const;
  std::string consumer() const { return "exporter/" + exporter_->name(); }

 private:
  struct Group {
    // Parsed on an arena: thousands of small messages per group, freed at once.
    std::unique_ptr<google::protobuf::Arena> arena = std::make_unique<google::protobuf::Arena>();
    std::vector<const tributary::v1::IngestBatch*> batches;
    uint64_t records = 0;
    uint64_t next = 0;  // the cursor after this group
    absl::Time oldest_append = absl::InfiniteFuture();
  };

  void Run();
  // The sender thread: encodes and delivers each group handed to it.
  void SendLoop();
  // Encodes and delivers one group; false if stopped before every request
  // had a final outcome.
  bool SendGroup(const Group& group);
  // Hands `group` to the sender thread.
  void Submit(std::unique_ptr<Group> group);
  // True once the sender has finished the group in flight (or none is).
  bool SendFinished() const;
  // Waits for the group in flight and commits it if it was final. False if
  // the loop must end.
  bool Settle();
  // Reads the next group; false if stopping before anything was read.
  bool Gather(Group* group);
  // Sends one request until it has a final outcome; false if stopped first.
  bool Deliver(const Request& request);
  // Sleeps until `deadline` or Stop; false if stopped.
  bool SleepUntil(absl::Time deadline);
  bool stopping() const;
  void SetCircuit(Circuit c);
  void Drop(uint64_t records, const char* reason, const std::string& why);
  void UpdateLag(absl::Time oldest_unsent);
  absl::Duration Jittered(absl::Duration d);

  storage::Buffer* const buffer_;
  const std::unique_ptr<Exporter> exporter_;
  const uint32_t signals_;  // exporter_->signals()
  const DeliveryOptions options_;
  // This exporter's children of the shared families.
  metrics::Counter* const records_sent_;
  metrics::Counter* const ok_;
  metrics::Counter* const retryable_;
  metrics::Counter* const permanent_;
  metrics::Counter* const retries_;
  DeliveryMetrics* const metrics_;
  metrics::Histogram* const send_seconds_;
  metrics::Gauge* const lag_entries_;
  metrics::Gauge* const lag_seconds_;
  metrics::Gauge* const circuit_gauge_;

  // The loop thread's.
  uint64_t next_ = 0;      // the committed cursor
  uint64_t read_pos_ = 0;  // where the next group is read from
  // The group handed to the sender thread (written before it is handed over
  // and read back after the sender is done, both under mu_).
  std::unique_ptr<Group> sending_;
  absl::Time last_lag_update_ = absl::InfinitePast();
  uint64_t records_per_entry_ = 0;  // a running estimate, to size reads (0 = none yet)

  // The sender thread's: Deliver's retry state.
  uint32_t consecutive_failures_ = 0;
  absl::Duration open_for_;
  std::mt19937_64 rng_;

  enum class Send { kIdle, kQueued, kDone };

  mutable Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  Send send_ ABSL_GUARDED_BY(mu_) = Send::kIdle;
  bool send_final_ ABSL_GUARDED_BY(mu_) = false;  // the finished group's outcome
  bool sender_quit_ ABSL_GUARDED_BY(mu_) = false;  // set by the loop thread as it ends
  DeliveryStatus status_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // Run
  std::thread sender_;  // SendLoop, started and joined by Run
};

}  // namespace tributary::exporters
