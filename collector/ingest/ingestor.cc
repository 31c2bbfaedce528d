#include "collector/ingest/ingestor.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace tributary::collector {
namespace {

const char* OutcomeName(IngestOutcome::Kind kind) {
  switch (kind) {
    case IngestOutcome::Kind::kStored: return "stored";
    case IngestOutcome::Kind::kDuplicate: return "duplicate";
    case IngestOutcome::Kind::kNothingToStore: return "nothing_to_store";
    case IngestOutcome::Kind::kInvalid: return "invalid";
    case IngestOutcome::Kind::kThrottled: return "throttled";
    case IngestOutcome::Kind::kUnavailable: return "unavailable";
  }
  return "unknown";
}

uint32_t RecordCount(const tributary::v1::IngestBatch& b) {
  return static_cast<uint32_t>(b.logs_size() + b.metrics_size() + b.spans_size());
}

}  // namespace

const char* ProtocolName(Protocol p) { return p == Protocol::kStream ? "tributary" : "otlp"; }

Ingestor::Ingestor(storage::Buffer* buffer, const Config& config, metrics::Registry* registry,
                   std::function<absl::Time()> clock)
    : buffer_(buffer),
      sanitizer_(config.ingest, clock),
      clock_(std::move(clock)),
      max_in_flight_bytes_(config.server.max_in_flight_bytes) {
  batches_ = registry->AddCounter("tributary_ingest_batches_total",
                                  "Batches received, by protocol and outcome.",
                                  {"protocol", "outcome"});
  records_received_ = registry->AddCounter(
      "tributary_ingest_records_received_total",
      "Records (log records, metric points, spans) received, before validation.",
      {"protocol", "signal"});
  records_accepted_ = registry->AddCounter("tributary_ingest_records_accepted_total",
                                           "Records made durable in the buffer.",
                                           {"protocol", "signal"});
  records_rejected_ = registry->AddCounter("tributary_ingest_records_rejected_total",
                                           "Records refused by validation, by reason.",
                                           {"protocol", "signal", "reason"});
  duplicate_records_ = registry->AddCounter(
      "tributary_ingest_duplicate_records_total",
      "Records in re-sent batches that were already durable (not stored again).", {"protocol"});
  bytes_ = registry->AddCounter("tributary_ingest_received_bytes_total",
                                "Serialized batch bytes received.", {"protocol"});
  redactions_ = registry->AddCounter("tributary_ingest_redactions_total",
                                     "Values redacted before storage: rule is \"key\" for "
                                     "sensitive attribute keys, else the pattern's name.",
                                     {"rule"});
  ack_latency_ = registry->AddHistogram(
      "tributary_ingest_ack_latency_seconds",
      "Time from receiving a batch to its outcome (durable, duplicate or refused).",
      metrics::ExponentialBounds(0.0005, 2, 14), {"protocol"});
  open_streams_ = registry
                      ->AddGauge("tributary_ingest_open_streams",
                                 "IngestService streams currently open.")
                      ->With({});
  in_flight_bytes_gauge_ =
      registry
          ->AddGauge("tributary_ingest_in_flight_bytes",
                     "Bytes of received batches waiting for durability (all protocols).")
          ->With({});
  for (int p = 0; p < kProtocols; ++p) {
    const char* proto = ProtocolName(static_cast<Protocol>(p));
    PerProtocol& pp = per_protocol_[p];
    for (int s = 0; s < kSignals; ++s) {
      const char* signal = SignalName(static_cast<Signal>(s));
      pp.received[s] = records_received_->With({proto, signal});
      pp.accepted[s] = records_accepted_->With({proto, signal});
    }
    pp.duplicate_records = duplicate_records_->With({proto});
    pp.bytes = bytes_->With({proto});
    pp.ack_latency = ack_latency_->With({proto});
  }
}

Ingestor::Totals Ingestor::totals() const {
  Totals t;
  const auto sum = [](const metrics::Family<metrics::Counter>* family) {
    uint64_t n = 0;
    family->ForEach([&](const std::vector<std::string>&, const metrics::Counter& c) {
      n += c.Value();
    });
    return n;
  };
  t.records_received = sum(records_received_);
  t.records_accepted = sum(records_accepted_);
  t.records_rejected = sum(records_rejected_);
  batches_->ForEach([&](const std::vector<std::string>& labels, const metrics::Counter& c) {
    if (labels.size() == 2 && labels[1] == "duplicate") t.batches_duplicate += c.Value();
  });
  return t;
}

void Ingestor::CountBytes(Protocol protocol, uint64_t wire_bytes) {
  per_protocol_[static_cast<int>(protocol)].bytes->Add(wire_bytes);
}

void Ingestor::CountRefused(Protocol protocol, const char* outcome, uint64_t wire_bytes) {
  CountBytes(protocol, wire_bytes);
  batches_->With({ProtocolName(protocol), outcome})->Add();
}

PreparedBatch Ingestor::Prepare(Protocol protocol, tributary::v1::IngestBatch* batch,
                               std::string wire, absl::Time received) {
  PreparedBatch prepared;
  prepared.protocol = protocol;
  prepared.received = received;
  prepared.received_records[static_cast<int>(Signal::kLogs)] =
      static_cast<uint64_t>(batch->logs_size());
  prepared.received_records[static_cast<int>(Signal::kMetrics)] =
      static_cast<uint64_t>(batch->metrics_size());
  prepared.received_records[static_cast<int>(Signal::kSpans)] =
      static_cast<uint64_t>(batch->spans_size());
  IngestOutcome& outcome = prepared.outcome;

  // A re-send of a batch that is already durable: answer without doing the
  // work again. (One whose original is still being written is caught by the
  // buffer's own dedupe.) The resume point does not go back while the
  // producer is remembered, so it does not matter how long before the append
  // this is checked.
  if (!batch->producer_id().empty() && batch->seq() > 0 &&
      batch->seq() <= buffer_->ResumePoint(batch->producer_id())) {
    prepared.decided = true;
    outcome.kind = IngestOutcome::Kind::kDuplicate;
    prepared.request.record_count = RecordCount(*batch);
    return prepared;
  }

  outcome.report = sanitizer_.Apply(batch);
  if (!outcome.report.batch_error.empty()) {
    prepared.decided = true;
    outcome.kind = IngestOutcome::Kind::kInvalid;
    outcome.message = outcome.report.batch_error;
    return prepared;
  }
  const uint32_t accepted = outcome.report.TotalAccepted();
  if (accepted == 0) {
    prepared.decided = true;
    outcome.kind = IngestOutcome::Kind::kNothingToStore;
    return prepared;
  }
  storage::AppendRequest& request = prepared.request;
  request.payload = (!outcome.report.Changed() && !wire.empty()) ? std::move(wire)
                                                                  : batch->SerializeAsString();
  request.producer_id = batch->producer_id();
  request.seq = batch->seq();
  request.record_count = accepted;
  return prepared;
}

void Ingestor::Store(PreparedBatch prepared, IngestCallback done) {
  const Protocol protocol = prepared.protocol;
  const absl::Time received = prepared.received;
  PerProtocol& pp = per_protocol_[static_cast<int>(protocol)];
  for (int s = 0; s < kSignals; ++s) pp.received[s]->Add(prepared.received_records[s]);
  IngestOutcome outcome = std::move(prepared.outcome);
  if (prepared.decided) {
    if (outcome.kind == IngestOutcome::Kind::kDuplicate) {
      pp.duplicate_records->Add(prepared.request.record_count);
    }
    CountOutcome(protocol, outcome, received);
    std::move(done)(std::move(outcome));
    return;
  }

  storage::AppendRequest request = std::move(prepared.request);
  const uint32_t accepted = request.record_count;
  // Memory stays bounded however many senders there are: past the limit a
  // batch is refused with a retry delay rather than held.
  const uint64_t bytes = request.payload.size();
  if (in_flight_bytes_.fetch_add(bytes) + bytes > max_in_flight_bytes_) {
    in_flight_bytes_.fetch_sub(bytes);
    outcome.kind = IngestOutcome::Kind::kThrottled;
    outcome.message = absl::StrCat("the collector already holds ", max_in_flight_bytes_ >> 20,
                                   " MiB of batches waiting for durability "
                                   "(server.max_in_flight_bytes)");
    CountOutcome(protocol, outcome, received);
    std::move(done)(std::move(outcome));
    return;
  }
  in_flight_bytes_gauge_->Add(static_cast<double>(bytes));

  buffer_->Append(
      std::move(request),
      [this, protocol, received, accepted, bytes, outcome = std::move(outcome),
       done = std::move(done)](absl::StatusOr<storage::AppendResult> result) mutable {
        in_flight_bytes_.fetch_sub(bytes);
        in_flight_bytes_gauge_->Add(-static_cast<double>(bytes));
        if (result.ok()) {
          outcome.offset = result->offset;
          if (result->duplicate) {
            outcome.kind = IngestOutcome::Kind::kDuplicate;
            per_protocol_[static_cast<int>(protocol)].duplicate_records->Add(accepted);
          } else {
            outcome.kind = IngestOutcome::Kind::kStored;
          }
        } else {
          switch (result.status().code()) {
            case absl::StatusCode::kResourceExhausted:
              outcome.kind = IngestOutcome::Kind::kThrottled;
              break;
            case absl::StatusCode::kInvalidArgument:
              outcome.kind = IngestOutcome::Kind::kInvalid;
              break;
            default:
              outcome.kind = IngestOutcome::Kind::kUnavailable;
              break;
          }
          outcome.message = std::string(result.status().message());
        }
        CountOutcome(protocol, outcome, received);
        std::move(done)(std::move(outcome));
      });
}

void Ingestor::CountOutcome(Protocol protocol, const IngestOutcome& outcome,
                            absl::Time received) {
  const char* proto = ProtocolName(protocol);
  batches_->With({proto, OutcomeName(outcome.kind)})->Add();
  const PerProtocol& pp = per_protocol_[static_cast<int>(protocol)];
  pp.ack_latency->Observe(absl::ToDoubleSeconds(clock_() - received));
  // Only final outcomes count records: a throttled or failed batch is sent
  // again and counted then.
  if (outcome.kind != IngestOutcome::Kind::kStored &&
      outcome.kind != IngestOutcome::Kind::kNothingToStore) {
    return;
  }
  for (int s = 0; s < kSignals; ++s) {
    const char* signal = SignalName(static_cast<Signal>(s));
    for (const auto& [reason, r] : outcome.report.rejected[s]) {
      records_rejected_->With({proto, signal, reason})->Add(r.count);
    }
    if (outcome.kind == IngestOutcome::Kind::kStored && outcome.report.accepted[s] > 0) {
      pp.accepted[s]->Add(outcome.report.accepted[s]);
    }
  }
  if (outcome.kind == IngestOutcome::Kind::kStored) {
    for (const auto& [rule, n] : outcome.report.redactions) redactions_->With({rule})->Add(n);
  }
}

}  // namespace tributary::collector
