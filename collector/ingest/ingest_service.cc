#include "collector/ingest/ingest_service.h"

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace tributary::collector {
namespace {

using tributary::v1::IngestAck;
using WireFormat = google::protobuf::internal::WireFormatLite;

std::string Flatten(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  out.reserve(buffer.Length());
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

IngestAck MakeAck(uint64_t seq, const IngestOutcome& outcome, absl::Duration retry_after) {
  IngestAck ack;
  ack.set_seq(seq);
  switch (outcome.kind) {
    case IngestOutcome::Kind::kStored:
    case IngestOutcome::Kind::kNothingToStore:
      ack.set_status(tributary::v1::ACK_STATUS_OK);
      break;
    case IngestOutcome::Kind::kDuplicate:
      ack.set_status(tributary::v1::ACK_STATUS_DUPLICATE);
      break;
    case IngestOutcome::Kind::kInvalid:
      ack.set_status(tributary::v1::ACK_STATUS_INVALID);
      break;
    case IngestOutcome::Kind::kThrottled:
      ack.set_status(tributary::v1::ACK_STATUS_RESOURCE_EXHAUSTED);
      ack.set_retry_after_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(retry_after)));
      break;
    case IngestOutcome::Kind::kUnavailable:
      ack.set_status(tributary::v1::ACK_STATUS_UNAVAILABLE);
      ack.set_retry_after_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(retry_after)));
      break;
  }
  const bool final_records = outcome.kind == IngestOutcome::Kind::kStored ||
                             outcome.kind == IngestOutcome::Kind::kNothingToStore;
  if (final_records) {
    ack.set_accepted(outcome.report.TotalAccepted());
    ack.set_rejected(outcome.report.TotalRejected());
    for (int s = 0; s < kSignals; ++s) {
      for (const auto& [reason, r] : outcome.report.rejected[s]) {
        tributary::v1::Rejection* rej = ack.add_rejections();
        rej->set_reason(reason);
        rej->set_count(r.count);
        rej->set_example(absl::StrCat(SignalName(static_cast<Signal>(s)), ": ", r.example));
      }
    }
  }
  ack.set_message(outcome.message);
  return ack;
}

IngestAck InvalidAck(uint64_t seq, std::string message) {
  IngestAck ack;
  ack.set_seq(seq);
  ack.set_status(tributary::v1::ACK_STATUS_INVALID);
  ack.set_message(std::move(message));
  return ack;
}

}  // namespace

BatchHeader ScanBatchHeader(const std::string& wire) {
  BatchHeader header;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(wire.data()),
                                            static_cast<int>(wire.size()));
  for (;;) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    const int field = WireFormat::GetTagFieldNumber(tag);
    const auto type = WireFormat::GetTagWireType(tag);
    if (field == 1 && type == WireFormat::WIRETYPE_LENGTH_DELIMITED) {
      if (!WireFormat::ReadBytes(&in, &header.producer_id)) break;
    } else if (field == 2 && type == WireFormat::WIRETYPE_VARINT) {
      if (!in.ReadVarint64(&header.seq)) break;
    } else if (!WireFormat::SkipField(&in, tag)) {
      break;
    }
  }
  return header;
}

class IngestStream final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  IngestStream(IngestServiceImpl* service, bool refuse)
      : service_(service), ingestor_(service->ingestor_), config_(service->config_) {
    ingestor_->open_streams()->Add(1);
    if (refuse) {
      Finish(grpc::Status(grpc::StatusCode::UNAVAILABLE, "the collector is shutting down"));
      return;
    }
    {
      MutexLock lock(&mu_);
      read_pending_ = true;
    }
    StartRead(&read_buf_);
  }

  // The batch is taken out of the read buffer and the next read is started
  // before this one is parsed, so one stream's batches are parsed and
  // sanitized on one thread while the batch before is appended (compressed
  // and written) on another: a single producer is not held to one core.
  // Appends still happen in the order the batches arrived (see Sequence).
  void OnReadDone(bool ok) override {
    std::unique_ptr<Item> item;
    if (ok) {
      item = std::make_unique<Item>();
      item->received = absl::Now();
      item->size = read_buf_.Length();
      item->wire = Flatten(read_buf_);
      read_buf_.Clear();
    }
    Actions actions;
    {
      MutexLock lock(&mu_);
      read_pending_ = false;
      if (ok) {
        slots_.push_back(std::make_unique<Slot>());
        item->slot = slots_.back().get();
        item->ticket = next_read_ticket_++;
        item->batch = TakeBatchLocked();
      } else {
        reads_done_ = true;
      }
      actions = NextLocked();
    }
    Run(actions);
    if (!ok) return;
    Parse(item.get());
    Sequence(std::move(item));
  }

  void OnWriteDone(bool ok) override {
    Actions actions;
    {
      MutexLock lock(&mu_);
      writing_ = false;
      if (!ok) write_failed_ = true;
      actions = NextLocked();
    }
    Run(actions);
  }

  void OnDone() override {
    ingestor_->open_streams()->Add(-1);
    service_->Unregister(this);
    delete this;
  }

  // Stop reading; end the stream once what was received is acked.
  void Drain() {
    Actions actions;
    {
      MutexLock lock(&mu_);
      draining_ = true;
      actions = NextLocked();
    }
    Run(actions);
  }

 private:
  // Batches read and not yet through Order: one being appended, one being
  // parsed and one arriving keep every stage busy (2 and 4 measured the same
  // for one stream on two cores). More would hold more parsed batches in
  // memory (a stalled append stops the stream's reading at three) without
  // more work being done at once.
  static constexpr uint64_t kReadAhead = 3;

  // One batch's place in the ack order.
  struct Slot {
    bool ready = false;
    IngestAck ack;
  };

  // One received batch on its way through Parse (any thread) and Order (in
  // arrival order).
  struct Item {
    Slot* slot = nullptr;
    uint64_t ticket = 0;  // arrival order on this stream
    absl::Time received;
    size_t size = 0;
    std::string wire;
    std::unique_ptr<tributary::v1::IngestBatch> batch;
    // Set by Parse when the batch is answered without being submitted.
    std::optional<IngestAck> refused;
    const char* refused_as = nullptr;  // the batches{outcome} label for it
    std::optional<PreparedBatch> prepared;
  };

  // What to start once the lock is released.
  struct Actions {
    bool read = false;
    bool write = false;
    bool finish = false;
    grpc::Status status;
  };

  Actions NextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Actions a;
    if (finished_) return a;
    if (write_failed_) {
      // The producer is gone: acks cannot be delivered. Wait only for the
      // appends still in flight (their callbacks hold slots).
      while (!slots_.empty() && slots_.front()->ready) slots_.pop_front();
    } else if (!writing_ && !slots_.empty() && slots_.front()->ready) {
      IngestAck ack = std::move(slots_.front()->ack);
      slots_.pop_front();
      if (!resume_sent_ && have_producer_) {
        ack.set_has_resume_seq(true);
        ack.set_resume_seq(resume_seq_);
        ack.set_max_batch_bytes(config_.max_message_bytes);
      }
      resume_sent_ = resume_sent_ || have_producer_;
      const std::string bytes = ack.SerializeAsString();
      grpc::Slice slice(bytes);
      write_buf_ = grpc::ByteBuffer(&slice, 1);
      writing_ = true;
      a.write = true;
    }
    if (!reads_done_ && !draining_ && !write_failed_ && !read_pending_ &&
        slots_.size() < config_.max_in_flight_per_stream &&
        next_read_ticket_ - next_order_ticket_ < kReadAhead) {
      read_pending_ = true;
      a.read = true;
    }
    if (slots_.empty() && !writing_ && (reads_done_ || draining_ || write_failed_)) {
      finished_ = true;
      a.finish = true;
      if (draining_ && !reads_done_) {
        a.status = grpc::Status(grpc::StatusCode::UNAVAILABLE,
                                "the collector is shutting down; reconnect and resend unacked "
                                "batches");
      } else if (write_failed_) {
        a.status = grpc::Status(grpc::StatusCode::CANCELLED, "acks could not be delivered");
      }
    }
    return a;
  }

  // Starts what NextLocked decided. Order matters: once a write is started
  // another thread may finish the stream, so nothing of `this` is touched
  // after the last operation is started.
  void Run(const Actions& a) {
    if (a.read) StartRead(&read_buf_);
    if (a.write) StartWrite(&write_buf_);
    if (a.finish) Finish(a.status);
  }

  void Complete(Slot* slot, IngestAck ack) {
    Actions actions;
    {
      MutexLock lock(&mu_);
      slot->ack = std::move(ack);
      slot->ready = true;
      actions = NextLocked();
    }
    Run(actions);
  }

  // The work that depends on no other batch: size check, parse, and the
  // ingestor's Prepare (validation, redaction). Runs on whichever thread
  // delivered the read, possibly alongside Order for an earlier batch.
  void Parse(Item* item) {
    if (item->size > config_.max_message_bytes) {
      item->refused_as = "oversized";
      item->refused = InvalidAck(ScanBatchHeader(item->wire).seq,
                                 absl::StrCat("batch of ", item->size,
                                              " bytes exceeds server.max_message_bytes (",
                                              config_.max_message_bytes,
                                              "); send smaller batches"));
      return;
    }
    tributary::v1::IngestBatch& batch = *item->batch;
    if (!batch.ParseFromString(item->wire)) {
      item->refused_as = "malformed";
      item->refused = InvalidAck(ScanBatchHeader(item->wire).seq,
                                 "malformed batch: not a valid tributary.v1.IngestBatch");
      return;
    }
    if (batch.producer_id().empty()) {
      item->refused_as = "invalid";
      item->refused = InvalidAck(batch.seq(), "producer_id is required");
      return;
    }
    if (batch.seq() == 0) return;  // a handshake: answered in Order
    item->prepared =
        ingestor_->Prepare(Protocol::kStream, &batch, std::move(item->wire), item->received);
  }

  // Runs Order for parsed batches in arrival order. Whichever thread finds
  // the next batch due takes it, and the ones after it that are parsed by
  // then; a thread whose batch is not due yet leaves it for that one.
  void Sequence(std::unique_ptr<Item> item) {
    {
      MutexLock lock(&mu_);
      const uint64_t ticket = item->ticket;
      parsed_.emplace(ticket, std::move(item));
      if (ordering_) return;
      ordering_ = true;
    }
    for (;;) {
      std::unique_ptr<Item> next;
      {
        MutexLock lock(&mu_);
        auto it = parsed_.find(next_order_ticket_);
        if (it == parsed_.end()) {
          ordering_ = false;
          return;
        }
        next = std::move(it->second);
        parsed_.erase(it);
      }
      Order(next.get());
      // Parsed batches are reused, keeping the capacity their fields grew to.
      std::unique_ptr<tributary::v1::IngestBatch> batch = std::move(next->batch);
      batch->Clear();
      // Its place in the read-ahead is free: the next read may start.
      Actions actions;
      {
        MutexLock lock(&mu_);
        ++next_order_ticket_;
        if (spare_batches_.size() < kReadAhead) spare_batches_.push_back(std::move(batch));
        actions = NextLocked();
      }
      Run(actions);
    }
  }

  // What must follow the producer's order: the stream's producer and resume
  // point, refusals after an earlier refusal, and the append itself.
  void Order(Item* item) {
    if (item->refused) {
      ingestor_->CountRefused(Protocol::kStream, item->refused_as, item->size);
      Complete(item->slot, std::move(*item->refused));
      return;
    }
    const tributary::v1::IngestBatch& batch = *item->batch;
    const uint64_t seq = batch.seq();
    if (have_producer_ && batch.producer_id() != producer_id_) {
      ingestor_->CountRefused(Protocol::kStream, "invalid", item->size);
      Complete(item->slot, InvalidAck(seq, "producer_id changed within one stream; open a "
                                           "stream per producer"));
      return;
    }
    if (!have_producer_) {
      // The first ack on the stream carries the resume point, read before
      // anything on this stream is appended.
      const uint64_t resume = ingestor_->ResumePoint(batch.producer_id());
      MutexLock lock(&mu_);
      producer_id_ = batch.producer_id();
      resume_seq_ = resume;
      have_producer_ = true;
    }
    if (seq == 0) {
      // Handshake: nothing to store; the ack carries the resume point.
      ingestor_->CountRefused(Protocol::kStream, "handshake", item->size);
      IngestAck ack;
      ack.set_seq(0);
      ack.set_status(tributary::v1::ACK_STATUS_OK);
      ack.set_has_resume_seq(true);
      ack.set_resume_seq(ingestor_->ResumePoint(batch.producer_id()));
      ack.set_max_batch_bytes(config_.max_message_bytes);
      Complete(item->slot, std::move(ack));
      return;
    }
    ingestor_->CountBytes(Protocol::kStream, item->size);
    const absl::Duration retry_after = ingestor_->retry_after();
    if (std::optional<IngestAck> refused = RefuseAfterEarlierRefusal(seq, retry_after)) {
      ingestor_->CountRefused(Protocol::kStream, "throttled", 0);
      Complete(item->slot, std::move(*refused));
      return;
    }
    ingestor_->Store(std::move(*item->prepared),
                     [this, slot = item->slot, seq, retry_after](IngestOutcome outcome) {
                       IngestAck ack = MakeAck(seq, outcome, retry_after);
                       if (ack.status() == tributary::v1::ACK_STATUS_RESOURCE_EXHAUSTED ||
                           ack.status() == tributary::v1::ACK_STATUS_UNAVAILABLE) {
                         NoteRefusal(ack);
                       }
                       Complete(slot, std::move(ack));
                     });
  }

  std::unique_ptr<tributary::v1::IngestBatch> TakeBatchLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (spare_batches_.empty()) return std::make_unique<tributary::v1::IngestBatch>();
    std::unique_ptr<tributary::v1::IngestBatch> batch = std::move(spare_batches_.back());
    spare_batches_.pop_back();
    return batch;
  }

  // Once a batch was refused for a retryable reason, the later batches the
  // producer had already sent on this stream are refused too, until it goes
  // back and resends the refused one. Otherwise a later batch could be stored
  // while an earlier one was not, and the resume point (the highest durable
  // seq) would wrongly cover the refused batch after a reconnect.
  void NoteRefusal(const IngestAck& ack) {
    MutexLock lock(&mu_);
    if (refused_seq_ == 0 || ack.seq() < refused_seq_) {
      refused_seq_ = ack.seq();
      refused_status_ = ack.status();
    }
  }

  std::optional<IngestAck> RefuseAfterEarlierRefusal(uint64_t seq, absl::Duration retry_after) {
    MutexLock lock(&mu_);
    if (refused_seq_ == 0) return std::nullopt;
    if (seq <= refused_seq_) {
      refused_seq_ = 0;  // the producer went back to resend
      return std::nullopt;
    }
    IngestAck ack;
    ack.set_seq(seq);
    ack.set_status(refused_status_);
    ack.set_retry_after_ms(static_cast<uint32_t>(absl::ToInt64Milliseconds(retry_after)));
    ack.set_message(absl::StrCat("batch ", refused_seq_,
                                 " was refused earlier on this stream; resend from there"));
    return ack;
  }

  IngestServiceImpl* const service_;
  Ingestor* const ingestor_;
  const ServerConfig& config_;

  // Touched only by the one outstanding read.
  grpc::ByteBuffer read_buf_;

  Mutex mu_;
  grpc::ByteBuffer write_buf_ ABSL_GUARDED_BY(mu_);
  std::deque<std::unique_ptr<Slot>> slots_ ABSL_GUARDED_BY(mu_);
  bool read_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool reads_done_ ABSL_GUARDED_BY(mu_) = false;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool write_failed_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_read_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_order_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  // Parsed batches waiting for their turn in Order, by ticket.
  std::map<uint64_t, std::unique_ptr<Item>> parsed_ ABSL_GUARDED_BY(mu_);
  bool ordering_ ABSL_GUARDED_BY(mu_) = false;  // a thread is running Sequence's loop
  std::vector<std::unique_ptr<tributary::v1::IngestBatch>> spare_batches_ ABSL_GUARDED_BY(mu_);
  // Written by Order (one thread at a time, handed over under mu_) under mu_;
  // read there without it.
  bool have_producer_ = false;
  std::string producer_id_;
  uint64_t resume_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool resume_sent_ ABSL_GUARDED_BY(mu_) = false;
  // The lowest seq refused for a retryable reason and not yet resent (0 = none).
  uint64_t refused_seq_ ABSL_GUARDED_BY(mu_) = 0;
  tributary::v1::AckStatus refused_status_ ABSL_GUARDED_BY(mu_) =
      tributary::v1::ACK_STATUS_RESOURCE_EXHAUSTED;
};

IngestServiceImpl::IngestServiceImpl(Ingestor* ingestor, const ServerConfig& config)
    : ingestor_(ingestor), config_(config) {}

IngestServiceImpl::~IngestServiceImpl() = default;

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* IngestServiceImpl::Stream(
    grpc::CallbackServerContext* /*context*/) {
  MutexLock lock(&mu_);
  auto* stream = new IngestStream(this, shutting_down_);
  streams_.insert(stream);
  return stream;
}

void IngestServiceImpl::BeginShutdown() {
  std::vector<IngestStream*> streams;
  {
    MutexLock lock(&mu_);
    shutting_down_ = true;
    streams.assign(streams_.begin(), streams_.end());
    // Drain under the lock: a stream cannot unregister (and be deleted)
    // while its Drain runs.
    for (IngestStream* s : streams) s->Drain();
  }
}

bool IngestServiceImpl::WaitForStreams(absl::Time deadline) {
  MutexLock lock(&mu_);
  return mu_.AwaitWithDeadline([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return streams_.empty();
  }, deadline);
}

void IngestServiceImpl::Unregister(IngestStream* stream) {
  MutexLock lock(&mu_);
  streams_.erase(stream);
}

}  // namespace tributary::collector
