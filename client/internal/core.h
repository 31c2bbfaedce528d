// What a Client is made of: the queue, the loggers' names, the instruments,
// the sampler and the sender. Log calls run Core::Log on the caller's thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/mutex.h"
#include "client/client.h"
#include "client/internal/instruments.h"
#include "client/internal/sender.h"

namespace tributary::client::internal {

class Core : public SenderSource {
 public:
  Core(const ClientOptions& options, std::string producer_id, Clock clock);
  ~Core() override;

  void Start() { sender_.Start(); }

  // The caller's thread: sample, encode into a queue slot, done.
  void Log(uint32_t scope, Level level, std::string_view message,
           std::initializer_list<Field> fields);
  void EndSpan(std::unique_ptr<tributary::v1::Span> span);

  // Whether a trace (or a record without one) is kept by sampling.
  bool KeepTrace(const TraceId& trace_id) const;
  bool KeepUntraced() const;
  bool shut_down() const { return shut_down_.load(std::memory_order_relaxed); }

  uint32_t Scope(std::string_view name);
  Instrument* GetInstrument(InstrumentKind kind, std::string_view name,
                            std::string_view description, std::string_view unit,
                            std::vector<double> bounds);

  DeliveryReport Flush(absl::Duration timeout) { return sender_.Flush(timeout); }
  DeliveryReport Shutdown(absl::Duration timeout);
  ClientStats Stats() const;
  const std::string& producer_id() const { return producer_id_; }
  Sender& sender() { return sender_; }

  // SenderSource.
  Queue& queue() override { return queue_; }
  std::string ScopeName(uint32_t scope) override;
  void CollectMetrics(int64_t now_ns, tributary::v1::IngestBatch* batch) override;

 private:
  void AddClientMetrics(int64_t now_ns, tributary::v1::IngestBatch* batch);

  const ClientOptions options_;
  const std::string producer_id_;
  const Clock clock_;
  const int64_t start_ns_;
  uint32_t protected_mask_ = 0;
  bool keep_all_ = true;
  uint64_t keep_below_ = 0;  // a trace is kept if its random part is below this

  Queue queue_;
  std::atomic<bool> shut_down_{false};
  std::atomic<uint64_t> dropped_sampled_{0};
  std::atomic<uint64_t> dropped_after_shutdown_{0};
  std::atomic<uint64_t> truncated_{0};

  mutable Mutex mu_;
  std::vector<std::string> scopes_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, std::unique_ptr<Instrument>, std::less<>> instruments_
      ABSL_GUARDED_BY(mu_);
  std::string instrument_error_ ABSL_GUARDED_BY(mu_);

  // Last: it runs a thread that uses everything above.
  Sender sender_;
};

}  // namespace tributary::client::internal
