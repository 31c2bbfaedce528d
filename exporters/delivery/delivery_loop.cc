#include "exporters/delivery/delivery_loop.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/log.h"

namespace tributary::exporters {

DeliveryMetrics::DeliveryMetrics(metrics::Registry* r)
    : records_sent(r->AddCounter("tributary_exporter_records_sent_total",
                                 "Records the backend accepted.", {"exporter"})),
      requests(r->AddCounter("tributary_exporter_requests_total",
                             "Requests sent, by outcome (success, retryable, permanent).",
                             {"exporter", "outcome"})),
      retries(r->AddCounter("tributary_exporter_retries_total",
                            "Requests sent again after a retryable failure.", {"exporter"})),
      dropped(r->AddCounter("tributary_exporter_records_dropped_total",
                            "Records that will never reach the backend, by reason (rejected by "
                            "the backend, permanent error, retry_exhausted, undecodable).",
                            {"exporter", "reason"})),
      send_seconds(r->AddHistogram("tributary_exporter_send_duration_seconds",
                                   "Time of one send, whatever its outcome.",
                                   {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
                                   {"exporter"})),
      lag_entries(r->AddGauge("tributary_exporter_lag_entries",
                              "Durable buffer entries the exporter has not delivered yet.",
                              {"exporter"})),
      lag_seconds(r->AddGauge("tributary_exporter_lag_seconds",
                              "Age of the oldest entry the exporter has not delivered (0 when "
                              "caught up).",
                              {"exporter"})),
      circuit(r->AddGauge("tributary_exporter_circuit_state",
                          "The circuit breaker: 0 closed, 1 open, 2 half-open.", {"exporter"})),
      read_errors(r->AddCounter("tributary_exporter_buffer_read_errors_total",
                                "Failed reads of the write-ahead buffer (retried every second; "
                                "a damaged entry holds the exporter until `tributary wal "
                                "repair`).",
                                {"exporter"})) {}

const char* CircuitName(Circuit c) {
  switch (c) {
    case Circuit::kClosed: return "closed";
    case Circuit::kOpen: return "open";
    case Circuit::kHalfOpen: return "half_open";
  }
  return "unknown";
}

DeliveryLoop::DeliveryLoop(storage::Buffer* buffer, std::unique_ptr<Exporter> exporter,
                           DeliveryOptions options, DeliveryMetrics* metrics)
    : buffer_(buffer),
      exporter_(std::move(exporter)),
      signals_(exporter_->signals()),
      options_(options),
      records_sent_(metrics->records_sent->With({exporter_->name()})),
      ok_(metrics->requests->With({exporter_->name(), "success"})),
      retryable_(metrics->requests->With({exporter_->name(), "retryable"})),
      permanent_(metrics->requests->With({exporter_->name(), "permanent"})),
      retries_(metrics->retries->With({exporter_->name()})),
      metrics_(metrics),
      send_seconds_(metrics->send_seconds->With({exporter_->name()})),
      lag_entries_(metrics->lag_entries->With({exporter_->name()})),
      lag_seconds_(metrics->lag_seconds->With({exporter_->name()})),
      circuit_gauge_(metrics->circuit->With({exporter_->name()})),
      open_for_(options.circuit.open_for),
      rng_(std::random_device()()) {
  MutexLock lock(&mu_);
  status_.exporter = exporter_->name();
}

DeliveryLoop::~DeliveryLoop() { Stop(); }

absl::Status DeliveryLoop::Start() {
  absl::StatusOr<storage::ConsumerState> state = buffer_->OpenConsumer(consumer());
  if (!state.ok()) return state.status();
  next_ = state->next;
  read_pos_ = next_;
  thread_ = std::thread([this] { Run(); });
  return absl::OkStatus();
}

void DeliveryLoop::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool DeliveryLoop::stopping() const {
  MutexLock lock(&mu_);
  return stop_;
}

DeliveryStatus DeliveryLoop::status() const {
  MutexLock lock(&mu_);
  return status_;
}

bool DeliveryLoop::SleepUntil(absl::Time deadline) {
  MutexLock lock(&mu_);
  mu_.AwaitWithDeadline([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; },
                        deadline);
  return !stop_;
}

// Two groups at a time: while the sender thread encodes and delivers one, the
// next is read and parsed here, so the two halves of the work run on both
// cores. Cursors are still committed in order, each once its group has a
// final outcome.
void DeliveryLoop::Run() {
  sender_ = std::thread([this] { SendLoop(); });
  while (!stopping()) {
    auto group = std::make_unique<Group>();
    if (!Gather(group.get())) break;
    const uint64_t read_before = read_pos_;
    if (!Settle()) break;
    if (read_pos_ != read_before) continue;  // the commit failed: this group is read again
    Submit(std::move(group));
  }
  Settle();
  {
    MutexLock lock(&mu_);
    sender_quit_ = true;
  }
  sender_.join();
}

void DeliveryLoop::SendLoop() {
  for (;;) {
    {
      MutexLock lock(&mu_);
      mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return send_ == Send::kQueued || sender_quit_;
      });
      if (send_ != Send::kQueued) return;
    }
    const bool final = SendGroup(*sending_);
    MutexLock lock(&mu_);
    send_ = Send::kDone;
    send_final_ = final;
  }
}

bool DeliveryLoop::SendGroup(const Group& group) {
  if (group.batches.empty()) return true;
  absl::StatusOr<std::vector<Request>> encoded = exporter_->Encode(group.batches);
  if (!encoded.ok()) {
    Drop(group.records, "undecodable", std::string(encoded.status().message()));
    return true;
  }
  for (const Request& r : *encoded) {
    if (!Deliver(r)) return false;
  }
  return true;
}

void DeliveryLoop::Submit(std::unique_ptr<Group> group) {
  MutexLock lock(&mu_);
  sending_ = std::move(group);
  send_ = Send::kQueued;
}

bool DeliveryLoop::SendFinished() const {
  MutexLock lock(&mu_);
  return send_ != Send::kQueued;
}

bool DeliveryLoop::Settle() {
  std::unique_ptr<Group> done;
  bool final;
  {
    MutexLock lock(&mu_);
    if (send_ == Send::kIdle) return true;
    mu_.Await([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return send_ == Send::kDone; });
    send_ = Send::kIdle;
    final = send_final_;
    done = std::move(sending_);
  }
  if (!final) return false;  // stopped mid-group: sent again after the next start
  if (absl::Status s = buffer_->CommitCursor(consumer(), done->next); !s.ok()) {
    log::WarnEvery(consumer(), absl::Seconds(30), "exporter cursor not committed",
                   {{"exporter", exporter_->name()}, {"error", std::string(s.message())}});
    // Read again from the committed cursor: delivered twice, never lost.
    read_pos_ = next_;
    return SleepUntil(absl::Now() + absl::Seconds(1));
  }
  next_ = done->next;
  UpdateLag(absl::InfiniteFuture());
  return true;
}

bool DeliveryLoop::Gather(Group* group) {
  uint64_t from = read_pos_;
  absl::Time first_read = absl::InfiniteFuture();
  for (;;) {
    if (stopping()) return false;
    const absl::Time now = absl::Now();
    const bool have = first_read != absl::InfiniteFuture();
    if (have && now >= first_read + options_.batch.max_delay) break;
    const absl::Time wait_until =
        have ? first_read + options_.batch.max_delay : now + absl::Milliseconds(200);
    // Idle, with the previous group's answer in: commit it now rather than
    // when the next group is ready.
    const bool in_flight = !SendFinished();
    if (!have && !in_flight) {
      const uint64_t read_before = read_pos_;
      if (!Settle()) return false;
      if (read_pos_ != read_before) {  // the commit failed: read again from the cursor
        from = read_pos_;
        continue;
      }
    }
    const absl::Time wait_until_now =
        (!have && in_flight) ? std::min(wait_until, now + absl::Milliseconds(5)) : wait_until;
    if (!buffer_->WaitForEntries(from, wait_until_now)) {
      if (!have) UpdateLag(absl::InfiniteFuture());
      continue;
    }
    // As many entries as should fill the group, judged by the entries so far
    // (an entry is one stored batch: one record or thousands).
    const uint64_t wanted = options_.batch.max_records > group->records
                                ? options_.batch.max_records - group->records
                                : 1;
    const size_t max_entries =
        records_per_entry_ == 0  // nothing read yet: one, to learn
            ? 1
            : static_cast<size_t>(std::clamp<uint64_t>(
                  (wanted + records_per_entry_ - 1) / records_per_entry_, 1, 4096));
    absl::StatusOr<std::vector<storage::Entry>> entries =
        buffer_->Read(from, max_entries, options_.max_read_bytes);
    if (!entries.ok()) {
      // Not skipped: damaged data is the operator's to repair. Shown where
      // they look (/health/ready, the status page) and counted for alerts.
      metrics_->read_errors->With({exporter_->name()})->Add(1);
      log::WarnEvery(consumer(), absl::Seconds(30), "exporter cannot read the buffer",
                     {{"exporter", exporter_->name()},
                      {"error", std::string(entries.status().message())}});
      {
        MutexLock lock(&mu_);
        status_.last_error =
            absl::StrCat("cannot read the buffer: ", entries.status().message());
      }
      if (!SleepUntil(now + absl::Seconds(1))) return false;
      continue;
    }
    if (entries->empty()) continue;
    if (first_read == absl::InfiniteFuture()) first_read = now;
    for (storage::Entry& e : *entries) {
      from = e.offset + 1;
      // Nothing this exporter takes (a Loki exporter and a batch of metric
      // points, say): not parsed; the cursor moves past it with the group.
      if (!HasSignals(e.payload, signals_)) continue;
      group->oldest_append = std::min(group->oldest_append, e.append_time);
      auto* batch =
          google::protobuf::Arena::CreateMessage<tributary::v1::IngestBatch>(group->arena.get());
      if (!batch->ParseFromString(e.payload)) {
        Drop(e.record_count, "undecodable",
             absl::StrCat("buffer entry ", e.offset, " does not parse"));
        continue;
      }
      group->records += e.record_count;
      group->batches.push_back(batch);
      records_per_entry_ =
          records_per_entry_ == 0
              ? std::max<uint64_t>(1, e.record_count)
              : std::max<uint64_t>(1, (records_per_entry_ * 7 + e.record_count) / 8);
    }
    group->next = from;
    read_pos_ = from;
    UpdateLag(group->oldest_append);
    if (group->records >= options_.batch.max_records) break;
  }
  group->next = from;
  read_pos_ = from;
  return true;
}

bool DeliveryLoop::Deliver(const Request& request) {
  const absl::Time first_try = absl::Now();
  absl::Duration backoff = options_.retry.initial_interval;
  bool retried = false;
  for (;;) {
    if (stopping()) return false;
    Circuit circuit;
    {
      MutexLock lock(&mu_);
      circuit = status_.circuit;
    }
    if (retried) retries_->Add();
    const absl::Time start = absl::Now();
    const SendResult result = exporter_->Send(request, start + options_.send_timeout);
    send_seconds_->Observe(absl::ToDoubleSeconds(absl::Now() - start));
    switch (result.outcome) {
      case Outcome::kSuccess: {
        ok_->Add();
        records_sent_->Add(request.records - std::min(request.records, result.dropped_records));
        if (result.dropped_records > 0) {
          Drop(result.dropped_records, "rejected", result.message);
        }
        consecutive_failures_ = 0;
        open_for_ = options_.circuit.open_for;
        SetCircuit(Circuit::kClosed);
        MutexLock lock(&mu_);
        status_.records_sent += request.records - std::min(request.records, result.dropped_records);
        status_.last_success = absl::Now();
        if (result.dropped_records == 0) status_.last_error.clear();
        return true;
      }
      case Outcome::kPermanent:
        permanent_->Add();
        // The backend answered: it is alive.
        consecutive_failures_ = 0;
        SetCircuit(Circuit::kClosed);
        Drop(request.records, "permanent", result.message);
        return true;
      case Outcome::kRetryable:
        break;
    }
    retryable_->Add();
    retried = true;
    ++consecutive_failures_;
    {
      MutexLock lock(&mu_);
      status_.last_error = absl::StrCat(request.kind, ": ", result.message);
    }
    log::WarnEvery(consumer() + "/retry", absl::Seconds(30), "export failed; retrying",
                   {{"exporter", exporter_->name()}, {"kind", request.kind},
                    {"error", result.message}});
    const absl::Time now = absl::Now();
    if (options_.retry.max_elapsed_time > absl::ZeroDuration() &&
        now - first_try >= options_.retry.max_elapsed_time) {
      Drop(request.records, "retry_exhausted",
           absl::StrCat("gave up after ", absl::FormatDuration(now - first_try), ": ",
                        result.message));
      return true;
    }
    absl::Duration wait = std::max(result.retry_after, Jittered(backoff));
    backoff = std::min(backoff * 2, options_.retry.max_interval);
    if (circuit == Circuit::kHalfOpen ||
        (circuit == Circuit::kClosed && consecutive_failures_ >= options_.circuit.failures)) {
      // Open: nothing is sent until the probe time.
      if (circuit == Circuit::kHalfOpen) {
        open_for_ = std::min(open_for_ * 2, options_.retry.max_interval * 8);
      }
      SetCircuit(Circuit::kOpen);
      wait = std::max(wait, open_for_);
    }
    if (!SleepUntil(now + wait)) return false;
    {
      MutexLock lock(&mu_);
      if (status_.circuit == Circuit::kOpen) {
        status_.circuit = Circuit::kHalfOpen;
        circuit_gauge_->Set(static_cast<double>(Circuit::kHalfOpen));
      }
    }
  }
}

void DeliveryLoop::SetCircuit(Circuit c) {
  MutexLock lock(&mu_);
  status_.circuit = c;
  circuit_gauge_->Set(static_cast<double>(c));
}

void DeliveryLoop::Drop(uint64_t records, const char* reason, const std::string& why) {
  metrics_->dropped->With({exporter_->name(), reason})->Add(records);
  log::WarnEvery(consumer() + "/" + reason, absl::Seconds(30), "export dropped records",
                 {{"exporter", exporter_->name()}, {"reason", reason},
                  {"records", static_cast<long long>(records)}, {"error", why}});
  MutexLock lock(&mu_);
  status_.records_dropped += records;
  status_.last_error = absl::StrCat(reason, ": ", why);
}

void DeliveryLoop::UpdateLag(absl::Time oldest_unsent) {
  // Buffer::Stats takes the buffer's lock, which appends share: at most
  // every 50 ms (the idle wait refreshes it often enough).
  const absl::Time now = absl::Now();
  if (now - last_lag_update_ < absl::Milliseconds(50)) return;
  last_lag_update_ = now;
  const storage::BufferStats stats = buffer_->Stats();
  const uint64_t lag = stats.durable_end > next_ ? stats.durable_end - next_ : 0;
  const double seconds = (lag == 0 || oldest_unsent == absl::InfiniteFuture())
                             ? 0
                             : std::max(0.0, absl::ToDoubleSeconds(now - oldest_unsent));
  lag_entries_->Set(static_cast<double>(lag));
  lag_seconds_->Set(seconds);
  MutexLock lock(&mu_);
  status_.lag_entries = lag;
  status_.lag_seconds = seconds;
}

absl::Duration DeliveryLoop::Jittered(absl::Duration d) {
  std::uniform_real_distribution<double> share(0.5, 1.0);
  return d * share(rng_);
}

}  // namespace tributary::exporters
