#include "client/internal/core.h"

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tributary::client::internal {
namespace {

QueueOptions ToQueueOptions(const ClientOptions::Queue& q) {
  QueueOptions o;
  o.max_records = q.max_records;
  o.max_bytes = q.max_bytes;
  o.policy = q.policy == Backpressure::kBlock ? FullPolicy::kBlock : FullPolicy::kDrop;
  o.drop_wait = q.drop_wait;
  o.block_deadline = q.block_deadline;
  // The sender looks for records on its own (Sender::Wait), so a log call
  // does not pay for waking it; only a queue filling up (the sender behind)
  // makes a call wake it.
  o.wake_threshold = std::max<size_t>(1, q.max_records * 3 / 4);
  return o;
}

uint64_t ThreadRandom() {
  thread_local std::mt19937_64 rng(std::random_device{}());
  return rng();
}

}  // namespace

Core::Core(const ClientOptions& options, std::string producer_id, Clock clock)
    : options_(options),
      producer_id_(std::move(producer_id)),
      clock_(std::move(clock)),
      start_ns_(absl::ToUnixNanos(clock_())),
      queue_(ToQueueOptions(options.queue)),
      sender_(options_, producer_id_, this, clock_) {
  for (Level l : options_.protected_levels) protected_mask_ |= 1u << static_cast<int>(l);
  // A trace is kept when its random part (64 bits) is below ratio * 2^64.
  const double scaled = options_.sampling_ratio * 18446744073709551616.0;
  keep_all_ = scaled >= 18446744073709551615.0;
  keep_below_ = keep_all_ ? UINT64_MAX : static_cast<uint64_t>(scaled);
}

Core::~Core() = default;

bool Core::KeepTrace(const TraceId& trace_id) const {
  if (keep_all_) return true;
  // The trace id's last 8 bytes are its random part (W3C Trace Context).
  uint64_t r = 0;
  for (int i = 8; i < 16; ++i) r = r << 8 | trace_id[i];
  return r < keep_below_;
}

bool Core::KeepUntraced() const { return keep_all_ || ThreadRandom() < keep_below_; }

void Core::Log(uint32_t scope, Level level, std::string_view message,
               std::initializer_list<Field> fields) {
  if (shut_down_.load(std::memory_order_relaxed)) {
    dropped_after_shutdown_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const Context& context = Context::Current();
  const SpanContext& span = context.span();
  const bool has_trace = span.valid();
  const bool is_protected = (protected_mask_ >> static_cast<int>(level)) & 1u;
  if (!is_protected && !keep_all_ && !(has_trace ? KeepTrace(span.trace_id) : KeepUntraced())) {
    dropped_sampled_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const LogEncoder encoder(options_.limits, message, fields, context.fields());
  if (encoder.truncated()) truncated_.fetch_add(1, std::memory_order_relaxed);
  const int64_t now = absl::GetCurrentTimeNanos();
  queue_.Push(is_protected, encoder.size(), [&](RecordSlot& slot) {
    slot.kind = RecordKind::kLog;
    slot.level = level;
    slot.scope = scope;
    slot.time_ns = now;
    slot.has_trace = has_trace;
    if (has_trace) {
      std::memcpy(slot.trace_id, span.trace_id.data(), 16);
      std::memcpy(slot.span_id, span.span_id.data(), 8);
      slot.trace_flags = span.flags;
    }
    if (slot.span) slot.span.reset();  // left by a span that was evicted, not sent
    encoder.Write(&slot);
  });
}

void Core::EndSpan(std::unique_ptr<tributary::v1::Span> span) {
  if (shut_down_.load(std::memory_order_relaxed)) {
    dropped_after_shutdown_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  const size_t bytes = span->ByteSizeLong();
  const uint32_t scope = span->scope();
  queue_.Push(/*is_protected=*/false, bytes, [&](RecordSlot& slot) {
    slot.kind = RecordKind::kSpan;
    slot.scope = scope;
    slot.size = 0;
    slot.overflow.reset();
    slot.span = std::move(span);
  });
}

uint32_t Core::Scope(std::string_view name) {
  if (name.empty()) return 0;
  MutexLock lock(&mu_);
  for (size_t i = 0; i < scopes_.size(); ++i) {
    if (scopes_[i] == name) return static_cast<uint32_t>(i + 1);
  }
  scopes_.emplace_back(name);
  return static_cast<uint32_t>(scopes_.size());
}

std::string Core::ScopeName(uint32_t scope) {
  MutexLock lock(&mu_);
  return scope >= 1 && scope <= scopes_.size() ? scopes_[scope - 1] : std::string();
}

Instrument* Core::GetInstrument(InstrumentKind kind, std::string_view name,
                                std::string_view description, std::string_view unit,
                                std::vector<double> bounds) {
  MutexLock lock(&mu_);
  auto it = instruments_.find(name);
  if (it != instruments_.end()) {
    if (it->second->kind() == kind) return it->second.get();
    instrument_error_ = absl::StrCat("metric ", std::string(name),
                                     " is already registered as another kind; calls on the "
                                     "second one do nothing");
    return nullptr;
  }
  std::sort(bounds.begin(), bounds.end());
  bounds.erase(std::unique(bounds.begin(), bounds.end()), bounds.end());
  auto instrument = std::make_unique<Instrument>(kind, std::string(name), std::string(description),
                                                 std::string(unit), std::move(bounds), start_ns_);
  Instrument* raw = instrument.get();
  instruments_.emplace(std::string(name), std::move(instrument));
  return raw;
}

void Core::CollectMetrics(int64_t now_ns, tributary::v1::IngestBatch* batch) {
  {
    MutexLock lock(&mu_);
    for (const auto& [name, instrument] : instruments_) {
      instrument->Collect(now_ns, batch->mutable_metrics());
    }
  }
  if (options_.export_client_metrics) AddClientMetrics(now_ns, batch);
}

void Core::AddClientMetrics(int64_t now_ns, tributary::v1::IngestBatch* batch) {
  const ClientStats s = Stats();
  auto add = [&](const char* name, tributary::v1::MetricKind kind, uint64_t value,
                 std::initializer_list<std::pair<const char*, const char*>> labels = {}) {
    tributary::v1::MetricPoint* p = batch->add_metrics();
    p->set_name(name);
    p->set_kind(kind);
    if (kind == tributary::v1::METRIC_KIND_COUNTER) {
      p->set_temporality(tributary::v1::TEMPORALITY_CUMULATIVE);
      p->set_start_time_unix_nano(static_cast<uint64_t>(start_ns_));
    }
    p->set_time_unix_nano(static_cast<uint64_t>(now_ns));
    p->set_as_double(static_cast<double>(value));
    for (const auto& [k, v] : labels) {
      tributary::v1::Attribute* a = p->add_labels();
      a->set_key(k);
      a->set_value(v);
    }
  };
  using tributary::v1::METRIC_KIND_COUNTER;
  using tributary::v1::METRIC_KIND_GAUGE;
  add("tributary_client_queue_depth", METRIC_KIND_GAUGE, s.queue_depth);
  add("tributary_client_queue_high_watermark", METRIC_KIND_GAUGE, s.queue_high_watermark);
  add("tributary_client_records_enqueued_total", METRIC_KIND_COUNTER, s.enqueued);
  add("tributary_client_records_delivered_total", METRIC_KIND_COUNTER, s.records_delivered);
  for (const auto& [reason, n] :
       {std::pair{"full_protected", s.dropped_full_protected},
        std::pair{"full_unprotected", s.dropped_full_unprotected},
        std::pair{"sampled", s.dropped_sampled}, std::pair{"evicted", s.evicted},
        std::pair{"after_shutdown", s.dropped_after_shutdown},
        std::pair{"invalid_batch", s.dropped_invalid},
        std::pair{"too_large", s.dropped_too_large}, std::pair{"rejected", s.rejected}}) {
    add("tributary_client_records_dropped_total", METRIC_KIND_COUNTER, n, {{"reason", reason}});
  }
  add("tributary_client_batches_sent_total", METRIC_KIND_COUNTER, s.batches_sent);
  add("tributary_client_batches_acked_total", METRIC_KIND_COUNTER, s.batches_acked);
  add("tributary_client_batches_split_total", METRIC_KIND_COUNTER, s.batches_split);
  add("tributary_client_retries_total", METRIC_KIND_COUNTER, s.retries);
  add("tributary_client_reconnects_total", METRIC_KIND_COUNTER, s.reconnects);
  add("tributary_client_producer_id_conflicts_total", METRIC_KIND_COUNTER,
      s.producer_id_conflicts);
  add("tributary_client_unacked_bytes", METRIC_KIND_GAUGE, s.unacked_bytes);
}

DeliveryReport Core::Shutdown(absl::Duration timeout) {
  shut_down_.store(true, std::memory_order_relaxed);
  return sender_.Stop(timeout);
}

ClientStats Core::Stats() const {
  ClientStats s;
  const QueueStats q = queue_.stats();
  s.queue_depth = q.queued;
  s.queue_high_watermark = q.high_watermark;
  s.enqueued = q.enqueued;
  s.dropped_full_protected = q.dropped_protected;
  s.dropped_full_unprotected = q.dropped_unprotected;
  s.evicted = q.evicted;
  s.dropped_sampled = dropped_sampled_.load(std::memory_order_relaxed);
  s.dropped_after_shutdown = dropped_after_shutdown_.load(std::memory_order_relaxed);
  s.truncated = truncated_.load(std::memory_order_relaxed);
  sender_.FillStats(&s);
  MutexLock lock(&mu_);
  if (s.last_error.empty() && !instrument_error_.empty()) s.last_error = instrument_error_;
  return s;
}

}  // namespace tributary::client::internal
