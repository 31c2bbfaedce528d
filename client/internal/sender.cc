#include "client/internal/sender.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "base/grpc_credentials.h"
#include "base/utf8.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "google/protobuf/io/coded_stream.h"

namespace tributary::client::internal {

namespace tv1 = ::tributary::v1;

// One IngestService stream. gRPC's threads run the reactions; the sender
// thread writes batches and collects the acks and the end of the stream.
class IngestCall : public grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  IngestCall(grpc::GenericStub* stub, std::function<void()> wake) : wake_(std::move(wake)) {
    stub->PrepareBidiStreamingCall(&context_, "/tributary.v1.IngestService/Stream",
                                   grpc::StubOptions(), this);
    // The sender thread starts writes from outside the reactions: the hold
    // keeps the call (and OnDone) back until it has stopped doing so.
    AddHold();
    StartRead(&read_buf_);
    StartCall();
  }

  // The sender thread, after its last Write: lets the call finish.
  void Release() {
    if (released_) return;
    released_ = true;
    RemoveHold();
  }

  // Queues a write; writes go out one at a time, in order.
  void Write(grpc::ByteBuffer buffer) {
    grpc::ByteBuffer* start = nullptr;
    {
      MutexLock lock(&mu_);
      if (done_ || closing_) return;
      writes_.push_back(std::move(buffer));
      if (!writing_) start = &writes_.front();
      writing_ = true;
    }
    if (start != nullptr) StartWrite(start);
  }

  // Half-closes once the queued writes are out.
  void CloseWrites() {
    bool now = false;
    {
      MutexLock lock(&mu_);
      if (closing_ || done_) return;
      closing_ = true;
      now = !writing_;
    }
    if (now) StartWritesDone();
  }

  void Cancel() { context_.TryCancel(); }

  // Moves the acks received so far into `acks`. `*closed` once nothing more
  // will be read (the stream is over; call Release). True once the call is
  // done (then `error` says why); after that it may be deleted.
  bool Take(std::vector<tv1::IngestAck>* acks, bool* closed, std::string* error) {
    MutexLock lock(&mu_);
    for (auto& a : acks_) acks->push_back(std::move(a));
    acks_.clear();
    *closed = read_closed_;
    if (done_) *error = error_;
    return done_;
  }

  void OnReadDone(bool ok) override {
    if (!ok) {
      // The stream is over (ended by the server, broken or cancelled).
      {
        MutexLock lock(&mu_);
        read_closed_ = true;
      }
      wake_();
      return;
    }
    tv1::IngestAck ack;
    std::string bytes;
    std::vector<grpc::Slice> slices;
    if (read_buf_.Dump(&slices).ok()) {
      for (const grpc::Slice& s : slices) {
        bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
      }
    }
    const bool parsed = ack.ParseFromString(bytes);
    {
      MutexLock lock(&mu_);
      if (parsed) {
        acks_.push_back(std::move(ack));
      } else if (error_.empty()) {
        error_ = "the collector sent an ack that does not parse";
      }
    }
    if (parsed) {
      StartRead(&read_buf_);
    } else {
      context_.TryCancel();
    }
    wake_();
  }

  void OnWriteDone(bool ok) override {
    grpc::ByteBuffer* next = nullptr;
    bool writes_done = false;
    {
      MutexLock lock(&mu_);
      writes_.pop_front();
      if (!ok) {
        // The stream is broken; OnDone follows. Nothing more is written.
        writes_.clear();
        writing_ = false;
        closing_ = true;
        return;
      }
      if (!writes_.empty()) next = &writes_.front();
      writing_ = next != nullptr;
      writes_done = next == nullptr && closing_;
    }
    if (next != nullptr) StartWrite(next);
    if (writes_done) StartWritesDone();
  }

  void OnDone(const grpc::Status& status) override {
    // The sender may delete the call (and, at shutdown, itself) as soon as
    // it sees done_: wake it while still holding the lock it reads done_ under.
    MutexLock lock(&mu_);
    if (!status.ok()) {
      error_ = absl::StrCat(CodeName(status.error_code()), ": ", status.error_message());
    } else if (error_.empty()) {
      error_ = "the collector ended the stream";
    }
    done_ = true;
    wake_();
  }

 private:
  static const char* CodeName(grpc::StatusCode code) {
    switch (code) {
      case grpc::StatusCode::UNAVAILABLE: return "UNAVAILABLE";
      case grpc::StatusCode::CANCELLED: return "CANCELLED";
      case grpc::StatusCode::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
      case grpc::StatusCode::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
      case grpc::StatusCode::UNIMPLEMENTED: return "UNIMPLEMENTED";
      case grpc::StatusCode::UNAUTHENTICATED: return "UNAUTHENTICATED";
      case grpc::StatusCode::PERMISSION_DENIED: return "PERMISSION_DENIED";
      case grpc::StatusCode::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
      default: return "gRPC error";
    }
  }

  const std::function<void()> wake_;
  grpc::ClientContext context_;
  grpc::ByteBuffer read_buf_;  // the one outstanding read's

  Mutex mu_;
  std::deque<grpc::ByteBuffer> writes_ ABSL_GUARDED_BY(mu_);  // front: being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool read_closed_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool released_ = false;  // the sender thread's
  std::string error_ ABSL_GUARDED_BY(mu_);
  std::vector<tv1::IngestAck> acks_ ABSL_GUARDED_BY(mu_);
};

namespace {

grpc::ByteBuffer WireBatch(const std::string& producer_id, uint64_t seq,
                           const std::string& body) {
  // Fields 1 and 2 first, then the body's fields: concatenated encodings are
  // one valid message.
  tv1::IngestBatch header;
  header.set_producer_id(producer_id);
  header.set_seq(seq);
  grpc::Slice slices[2] = {grpc::Slice(header.SerializeAsString()), grpc::Slice(body)};
  return grpc::ByteBuffer(slices, body.empty() ? 1 : 2);
}

size_t VarintSize(size_t n) {
  return google::protobuf::io::CodedOutputStream::VarintSize64(static_cast<uint64_t>(n));
}

struct Part {
  std::string body;
  uint32_t records = 0;
};

// Shares a serialized batch body's records out, in order, into parts of at
// most `limit` bytes, each with the batch's resource and scopes. A record too
// large for a part on its own is left out, counted in *too_large and its size
// kept in *largest. False if the body does not parse.
bool SplitBody(const std::string& body, size_t limit, std::vector<Part>* parts,
               uint32_t* too_large, size_t* largest) {
  tv1::IngestBatch whole;
  if (!whole.ParseFromString(body)) return false;
  tv1::IngestBatch part;
  *part.mutable_resource() = whole.resource();
  *part.mutable_scopes() = whole.scopes();
  const size_t base = part.ByteSizeLong();
  size_t size = base;
  uint32_t records = 0;
  auto finish = [&] {
    if (records == 0) return;
    parts->push_back({part.SerializeAsString(), records});
    part.clear_logs();
    part.clear_metrics();
    part.clear_spans();
    size = base;
    records = 0;
  };
  auto add = [&](auto* item, auto* field) {
    const size_t item_size = item->ByteSizeLong();
    const size_t cost = 1 + VarintSize(item_size) + item_size;  // tag, length, message
    if (base + cost > limit) {
      ++*too_large;
      *largest = std::max(*largest, item_size);
      return;
    }
    if (size + cost > limit) finish();
    field->Add()->Swap(item);
    size += cost;
    ++records;
  };
  for (tv1::LogRecord& r : *whole.mutable_logs()) add(&r, part.mutable_logs());
  for (tv1::MetricPoint& m : *whole.mutable_metrics()) add(&m, part.mutable_metrics());
  for (tv1::Span& sp : *whole.mutable_spans()) add(&sp, part.mutable_spans());
  finish();
  return true;
}

void Repair(std::string* text) {
  if (!utf8::IsValid(*text)) *text = utf8::Repair(*text);
}

int64_t ToNanos(absl::Time t) { return absl::ToUnixNanos(t); }

}  // namespace

Sender::Sender(const ClientOptions& options, std::string producer_id, SenderSource* source,
               Clock clock)
    : options_(options),
      producer_id_(std::move(producer_id)),
      source_(source),
      clock_(std::move(clock)),
      backoff_(options.retry.initial_backoff),
      rng_(std::random_device()()) {
  if (options_.redaction.enabled) {
    auto r = Redactor::Create(options_.redaction.keys, options_.redaction.patterns,
                              options_.redaction.replacement);
    if (r.ok()) redactor_ = std::move(*r);  // Validate() refused bad patterns
  }
  resource_.set_service_name(options_.resource.service_name);
  resource_.set_service_instance_id(options_.resource.service_instance_id);
  resource_.set_host(options_.resource.host);
  for (const auto& [k, v] : options_.resource.attributes) {
    tv1::Attribute* a = resource_.add_attributes();
    a->set_key(k);
    a->set_value(v);
  }
  const std::shared_ptr<grpc::ChannelCredentials> creds =
      ChannelCredentials(options_.tls.enabled, options_.tls.ca_file, options_.tls.cert_file,
                         options_.tls.key_file);
  for (const std::string& endpoint : options_.endpoints) {
    grpc::ChannelArguments args;
    if (options_.retry.keepalive_time > absl::ZeroDuration()) {
      // Pings also while nothing is sent (the collector allows one every
      // server.min_ping_interval), without gRPC's cap on pings between data.
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
                  static_cast<int>(absl::ToInt64Milliseconds(options_.retry.keepalive_time)));
      args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
                  static_cast<int>(absl::ToInt64Milliseconds(options_.retry.keepalive_timeout)));
      args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
      args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
    }
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options_.retry.initial_backoff)));
    args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options_.retry.initial_backoff)));
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS,
                static_cast<int>(absl::ToInt64Milliseconds(options_.retry.max_backoff)));
    if (!options_.tls.server_name.empty()) {
      args.SetSslTargetNameOverride(options_.tls.server_name);
    }
    if (options_.compression == Compression::kGzip) {
      args.SetCompressionAlgorithm(GRPC_COMPRESS_GZIP);
    }
    channels_.push_back(grpc::CreateCustomChannel(endpoint, creds, args));
    stubs_.push_back(std::make_unique<grpc::GenericStub>(channels_.back()));
  }
  {
    MutexLock lock(&mu_);
    endpoint_name_ = options_.endpoints.front();
  }
}

Sender::~Sender() {
  bool running;
  {
    MutexLock lock(&mu_);
    running = thread_.joinable() && !stopped_;
  }
  if (running) Stop(absl::ZeroDuration());
}

void Sender::Start() {
  next_metrics_ = clock_() + options_.flush_interval;
  thread_ = std::thread([this] { Run(); });
}

void Sender::Wake() {
  {
    MutexLock lock(&mu_);
    wake_ = true;
  }
  source_->queue().WakeConsumer();
}

// ---- the thread ----

void Sender::Run() {
  for (;;) {
    const absl::Time now = clock_();
    HandleEvents(now);
    bool stop;
    absl::Time stop_deadline;
    {
      MutexLock lock(&mu_);
      stop = stop_;
      stop_deadline = stop_deadline_;
    }
    if (stop) {
      CloseStream(stop_deadline);
      break;
    }
    MaybeConnect(now);
    FillBatches(now);
    if (now >= next_metrics_) CollectMetrics(now);
    SendReady(now);
    CheckTimeouts(now);
    ProgressFlushes(now);
    Wait(now);
  }
  MutexLock lock(&mu_);
  stopped_ = true;
}

void Sender::HandleEvents(absl::Time now) {
  if (call_ == nullptr) return;
  std::vector<tv1::IngestAck> acks;
  bool closed = false;
  std::string error;
  const bool done = call_->Take(&acks, &closed, &error);
  for (const tv1::IngestAck& ack : acks) {
    // After a cancel, answers are ignored: what they acked is resent and
    // answered as a duplicate.
    if (state_ == State::kHandshaking) {
      HandleHandshake(ack, now);
    } else if (state_ == State::kReady) {
      HandleAck(ack, now);
    }
  }
  if (closed) {
    // Nothing more will be written on this call; its end follows.
    call_->Release();
    if (state_ != State::kClosing) {
      state_ = State::kClosing;
      sent_.clear();
      for (Pending& p : unacked_) p.in_flight = false;
    }
  }
  if (done) {
    delete call_;
    call_ = nullptr;
    StreamEnded(error, now);
  }
}

void Sender::HandleHandshake(const tv1::IngestAck& ack, absl::Time now) {
  if (ack.seq() != 0 || !ack.has_resume_seq()) {
    Cancel(absl::StrCat("the collector answered the handshake with ack ", ack.seq(),
                        ack.message().empty() ? "" : ": ", ack.message()));
    return;
  }
  const uint64_t resume = ack.resume_seq();
  // The collector holds a seq of this producer id that this client never
  // sent, or answered a first sending "duplicate": another process uses the
  // same id. Its batches would pass for ours, so ours are renumbered past them
  // rather than taken as delivered. (Batches whose acks the broken stream
  // lost may then be stored twice: the id is not unique, so exactly once
  // cannot hold; nothing is lost.)
  const bool foreign = ever_handshaked_ && resume > highest_known_seq_;
  if (foreign && !id_conflict_) producer_id_conflicts_.fetch_add(1, std::memory_order_relaxed);
  if (foreign || id_conflict_) {
    SetError(absl::StrCat("producer id ", producer_id_,
                          " is used by another process too (the collector holds seq ", resume,
                          ", this client knew of up to ", highest_known_seq_,
                          "); batches renumbered past it. Give each process its own id."));
  }
  // Before the first handshake nothing was sent: everything is numbered past
  // what the collector holds for this id (a fixed id used by an earlier
  // process).
  const bool renumber = !ever_handshaked_ || foreign || id_conflict_;
  id_conflict_ = false;
  if (renumber && !unacked_.empty() && unacked_.front().seq <= resume) {
    const uint64_t shift = resume + 1 - unacked_.front().seq;
    for (Pending& p : unacked_) p.seq += shift;
    for (auto& target : flush_targets_) target.second += shift;
    next_seq_ += shift;
  }
  if (next_seq_ <= resume) next_seq_ = resume + 1;
  highest_known_seq_ = std::max(highest_known_seq_, resume);
  // Kept batches the collector already holds are done.
  while (!unacked_.empty() && unacked_.front().seq <= resume) {
    const Pending& p = unacked_.front();
    records_delivered_.fetch_add(p.records, std::memory_order_relaxed);
    batches_acked_.fetch_add(1, std::memory_order_relaxed);
    batches_duplicate_.fetch_add(1, std::memory_order_relaxed);
    unacked_bytes_.fetch_sub(p.body.size(), std::memory_order_relaxed);
    unacked_records_.fetch_sub(p.records, std::memory_order_relaxed);
    unacked_.pop_front();
  }
  unacked_batches_.store(unacked_.size(), std::memory_order_relaxed);
  collector_max_batch_bytes_ = ack.max_batch_bytes();
  FitKeptBatches();
  ever_handshaked_ = true;
  stream_handshaked_ = true;
  state_ = State::kReady;
  connected_.store(true, std::memory_order_relaxed);
  handshake_deadline_ = absl::InfiniteFuture();
  backoff_ = options_.retry.initial_backoff;
  rewinding_ = false;
  (void)now;
}

void Sender::HandleAck(const tv1::IngestAck& ack, absl::Time now) {
  if (sent_.empty() || sent_.front().first != ack.seq()) {
    Cancel(absl::StrCat("the collector acked batch ", ack.seq(), " out of order"));
    return;
  }
  sent_.pop_front();
  auto it = std::find_if(unacked_.begin(), unacked_.end(),
                         [&](const Pending& p) { return p.seq == ack.seq(); });
  if (it == unacked_.end()) return;
  bool done = false;
  switch (ack.status()) {
    case tv1::ACK_STATUS_OK:
      records_delivered_.fetch_add(ack.accepted(), std::memory_order_relaxed);
      if (ack.rejected() > 0) {
        rejected_.fetch_add(ack.rejected(), std::memory_order_relaxed);
        MutexLock lock(&mu_);
        for (const tv1::Rejection& r : ack.rejections()) {
          rejected_by_reason_[r.reason()] += r.count();
        }
        if (ack.rejections_size() > 0) {
          last_error_ = absl::StrCat("records rejected by the collector: ",
                                     ack.rejections(0).reason(), " (", ack.rejections(0).example(),
                                     ")");
          last_error_time_ = absl::Now();
        }
      }
      done = true;
      break;
    case tv1::ACK_STATUS_DUPLICATE:
      if (it->sends == 1) {
        // Never sent before, yet held: another process uses this producer
        // id. Kept, and renumbered at the next handshake.
        id_conflict_ = true;
        producer_id_conflicts_.fetch_add(1, std::memory_order_relaxed);
        Cancel(absl::StrCat("the collector already holds batch ", ack.seq(), " of producer id ",
                            producer_id_, ", first sent now: another process uses this id"));
        return;
      }
      records_delivered_.fetch_add(it->records, std::memory_order_relaxed);
      batches_duplicate_.fetch_add(1, std::memory_order_relaxed);
      done = true;
      break;
    case tv1::ACK_STATUS_INVALID:
      dropped_invalid_.fetch_add(it->records, std::memory_order_relaxed);
      SetError(absl::StrCat("the collector refused batch ", ack.seq(), ": ", ack.message()));
      done = true;
      break;
    default: {
      // Retryable: the collector refuses this stream's later batches until
      // this one is resent. Wait for those answers, back off, go back.
      it->in_flight = false;
      if (!rewinding_) {
        rewinding_ = true;
        const absl::Duration hinted = absl::Milliseconds(ack.retry_after_ms());
        paused_until_ = now + std::max(hinted, Jittered(backoff_));
        backoff_ = std::min(backoff_ * 2, options_.retry.max_backoff);
        SetError(absl::StrCat("batch ", ack.seq(), " not stored yet: ",
                              tv1::AckStatus_Name(ack.status()), " ", ack.message()));
      }
      break;
    }
  }
  if (done) {
    if (ack.status() != tv1::ACK_STATUS_INVALID) {
      batches_acked_.fetch_add(1, std::memory_order_relaxed);
    }
    unacked_bytes_.fetch_sub(it->body.size(), std::memory_order_relaxed);
    unacked_records_.fetch_sub(it->records, std::memory_order_relaxed);
    unacked_.erase(it);
    unacked_batches_.store(unacked_.size(), std::memory_order_relaxed);
    if (!rewinding_) backoff_ = options_.retry.initial_backoff;
  }
}

void Sender::StreamEnded(const std::string& error, absl::Time now) {
  const bool never_ready = !stream_handshaked_;
  state_ = State::kDisconnected;
  connected_.store(false, std::memory_order_relaxed);
  sent_.clear();
  for (Pending& p : unacked_) p.in_flight = false;
  rewinding_ = false;
  SetError(absl::StrCat("stream to ", options_.endpoints[endpoint_], " ended: ", error));
  if (never_ready && options_.endpoints.size() > 1) {
    endpoint_ = (endpoint_ + 1) % options_.endpoints.size();
    MutexLock lock(&mu_);
    endpoint_name_ = options_.endpoints[endpoint_];
  }
  next_connect_ = now + Jittered(backoff_);
  backoff_ = std::min(backoff_ * 2, options_.retry.max_backoff);
}

void Sender::MaybeConnect(absl::Time now) {
  if (state_ != State::kDisconnected || now < next_connect_) return;
  if (ever_connected_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  ever_connected_ = true;
  call_ = new IngestCall(stubs_[endpoint_].get(), [this] { Wake(); });
  call_->Write(WireBatch(producer_id_, 0, std::string()));
  state_ = State::kHandshaking;
  stream_handshaked_ = false;
  handshake_deadline_ = now + options_.retry.connect_timeout;
}

void Sender::FillBatches(absl::Time now) {
  Queue& queue = source_->queue();
  // Bounded per round, so acks are handled while a burst is being read.
  size_t budget = options_.batch.max_records * 4;
  // building_bytes_ estimates the encoded size; sealing at three quarters of
  // the collector's limit leaves room for the estimate to be short (Keep
  // splits what still comes out too large).
  const size_t seal_bytes =
      collector_max_batch_bytes_ == 0
          ? options_.batch.max_bytes
          : std::min<size_t>(options_.batch.max_bytes, collector_max_batch_bytes_ / 4 * 3);
  while (budget-- > 0 &&
         unacked_bytes_.load(std::memory_order_relaxed) + building_bytes_ <
             options_.max_unacked_bytes) {
    bool took = queue.Pop([&](RecordSlot& slot) { AddRecord(slot); });
    if (!took) break;
    took_records_ = true;
    if (building_records_ == 1) building_since_ = now;
    if (flush_preparing_ != 0 && flush_take_left_ > 0) --flush_take_left_;
    if (building_records_ >= options_.batch.max_records ||
        building_bytes_ >= seal_bytes) {
      Seal();
    }
    if (flush_preparing_ != 0 && flush_take_left_ == 0) break;
  }
  if (building_records_ > 0 && now >= building_since_ + options_.batch.max_delay) Seal();
  if (flush_preparing_ != 0 && (flush_take_left_ == 0 || queue.size() == 0)) {
    CollectMetrics(now);
    Seal();
    flush_targets_.emplace_back(flush_preparing_, next_seq_ - 1);
    flush_prepared_ = flush_preparing_;
    flush_preparing_ = 0;
  }
}

void Sender::AddRecord(RecordSlot& slot) {
  auto redact = [this](google::protobuf::RepeatedPtrField<tv1::Attribute>* attrs) {
    for (tv1::Attribute& a : *attrs) {
      Repair(a.mutable_key());
      if (redactor_ != nullptr && redactor_->IsSensitiveKey(a.key())) {
        a.set_value(redactor_->replacement());
        a.set_type(tv1::VALUE_TYPE_STRING);
        continue;
      }
      Repair(a.mutable_value());
      if (redactor_ != nullptr && a.type() == tv1::VALUE_TYPE_STRING) {
        redactor_->MaskText(a.mutable_value(), [](const std::string&, int) {});
      }
    }
  };
  auto scope_index = [this](uint32_t scope) -> uint32_t {
    if (scope == 0) return 0;
    if (scope >= scope_map_.size()) scope_map_.resize(scope + 1, 0);
    if (scope_map_[scope] == 0) {
      building_.add_scopes()->set_name(source_->ScopeName(scope));
      scope_map_[scope] = static_cast<uint32_t>(building_.scopes_size());
    }
    return scope_map_[scope];
  };

  if (slot.kind == RecordKind::kSpan) {
    tv1::Span* span = slot.span.release();
    Repair(span->mutable_name());
    Repair(span->mutable_status_message());
    redact(span->mutable_attributes());
    for (tv1::SpanEvent& e : *span->mutable_events()) {
      Repair(e.mutable_name());
      redact(e.mutable_attributes());
    }
    for (tv1::SpanLink& l : *span->mutable_links()) redact(l.mutable_attributes());
    span->set_scope(scope_index(slot.scope));
    building_bytes_ += span->ByteSizeLong();
    building_.mutable_spans()->AddAllocated(span);
  } else {
    tv1::LogRecord* r = building_.add_logs();
    if (!DecodeLog(slot, r)) {
      // Cannot happen with records written by LogEncoder; keep what decoded.
      r->set_body(absl::StrCat(r->body(), " [record truncated in the client]"));
    }
    r->set_time_unix_nano(static_cast<uint64_t>(slot.time_ns));
    r->set_observed_time_unix_nano(static_cast<uint64_t>(slot.time_ns));
    r->set_severity_number(SeverityNumber(slot.level));
    r->set_severity_text(std::string(LevelName(slot.level)));
    if (slot.has_trace) {
      r->set_trace_id(reinterpret_cast<const char*>(slot.trace_id), 16);
      r->set_span_id(reinterpret_cast<const char*>(slot.span_id), 8);
      r->set_flags(slot.trace_flags);
    }
    r->set_scope(scope_index(slot.scope));
    Repair(r->mutable_body());
    if (redactor_ != nullptr) redactor_->MaskText(r->mutable_body(), [](const std::string&, int) {});
    redact(r->mutable_attributes());
    building_bytes_ += slot.size + 48;
    slot.overflow.reset();  // a large record's block goes back now, not at reuse
  }
  ++building_records_;
  batching_records_.store(building_records_, std::memory_order_relaxed);
}

void Sender::Seal() {
  if (building_records_ == 0 && building_.metrics_size() == 0) return;
  *building_.mutable_resource() = resource_;
  Pending p;
  p.records = building_records_ + static_cast<uint32_t>(building_.metrics_size());
  p.body = building_.SerializeAsString();
  Keep(std::move(p));
  building_.Clear();
  building_records_ = 0;
  building_bytes_ = 0;
  batching_records_.store(0, std::memory_order_relaxed);
  std::fill(scope_map_.begin(), scope_map_.end(), 0);
}

size_t Sender::WireSize(const Pending& p) const {
  // producer_id (tag, length, bytes), seq (tag, varint of at most 10 bytes).
  return p.body.size() + 1 + VarintSize(producer_id_.size()) + producer_id_.size() + 11;
}

void Sender::Keep(Pending p) {
  const uint64_t limit = collector_max_batch_bytes_;
  if (limit == 0 || WireSize(p) <= limit) {
    p.seq = next_seq_++;
    unacked_bytes_.fetch_add(p.body.size(), std::memory_order_relaxed);
    unacked_records_.fetch_add(p.records, std::memory_order_relaxed);
    unacked_.push_back(std::move(p));
    unacked_batches_.store(unacked_.size(), std::memory_order_relaxed);
    return;
  }
  const size_t overhead = WireSize(Pending{});
  std::vector<Part> parts;
  uint32_t too_large = 0;
  size_t largest = 0;
  if (!SplitBody(p.body, limit > overhead ? limit - overhead : 0, &parts, &too_large,
                 &largest)) {
    // Cannot happen: the body is one this sender serialized.
    dropped_invalid_.fetch_add(p.records, std::memory_order_relaxed);
    SetError("a batch larger than the collector takes could not be split; dropped");
    return;
  }
  batches_split_.fetch_add(1, std::memory_order_relaxed);
  if (too_large > 0) {
    dropped_too_large_.fetch_add(too_large, std::memory_order_relaxed);
    SetError(absl::StrCat(too_large, " record(s) of up to ", largest,
                          " bytes dropped: larger on their own than the collector takes (",
                          limit, " bytes per batch, its server.max_message_bytes)"));
  }
  for (Part& part : parts) {
    Pending q;
    q.body = std::move(part.body);
    q.records = part.records;
    Keep(std::move(q));
  }
}

void Sender::FitKeptBatches() {
  const uint64_t limit = collector_max_batch_bytes_;
  if (limit == 0 || std::none_of(unacked_.begin(), unacked_.end(),
                                 [&](const Pending& p) { return WireSize(p) > limit; })) {
    return;
  }
  // Nothing is in flight on a stream that has just been answered. The parts
  // of an oversized batch go after every other batch, with new seqs.
  std::deque<Pending> fitting;
  std::vector<Pending> oversized;
  for (Pending& p : unacked_) {
    (WireSize(p) > limit ? oversized.emplace_back() : fitting.emplace_back()) = std::move(p);
  }
  unacked_ = std::move(fitting);
  const uint64_t first_moved = oversized.front().seq;
  for (Pending& p : oversized) {
    unacked_bytes_.fetch_sub(p.body.size(), std::memory_order_relaxed);
    unacked_records_.fetch_sub(p.records, std::memory_order_relaxed);
    Keep(std::move(p));
  }
  unacked_batches_.store(unacked_.size(), std::memory_order_relaxed);
  // A flush that was waiting for a moved batch now waits for its parts.
  for (auto& target : flush_targets_) {
    if (target.second >= first_moved) target.second = next_seq_ - 1;
  }
}

void Sender::SendReady(absl::Time now) {
  if (state_ != State::kReady || now < paused_until_) return;
  if (rewinding_) {
    if (!sent_.empty()) return;  // the refused batch's followers are still answering
    rewinding_ = false;
  }
  for (Pending& p : unacked_) {
    if (sent_.size() >= options_.max_in_flight_batches) break;
    if (p.in_flight) continue;
    call_->Write(WireBatch(producer_id_, p.seq, p.body));
    p.in_flight = true;
    highest_known_seq_ = std::max(highest_known_seq_, p.seq);
    if (p.sends++ > 0) retries_.fetch_add(1, std::memory_order_relaxed);
    batches_sent_.fetch_add(1, std::memory_order_relaxed);
    sent_.emplace_back(p.seq, now);
  }
}

void Sender::CheckTimeouts(absl::Time now) {
  if (state_ == State::kHandshaking && now >= handshake_deadline_) {
    Cancel(absl::StrCat("no answer to the handshake within ",
                        absl::FormatDuration(options_.retry.connect_timeout)));
  } else if (state_ == State::kReady && !sent_.empty() &&
             now >= sent_.front().second + options_.retry.ack_timeout) {
    Cancel(absl::StrCat("no ack for batch ", sent_.front().first, " within ",
                        absl::FormatDuration(options_.retry.ack_timeout)));
  }
}

void Sender::ProgressFlushes(absl::Time now) {
  uint64_t requested;
  {
    MutexLock lock(&mu_);
    requested = flush_requested_;
  }
  if (flush_preparing_ == 0 && requested > flush_prepared_) {
    flush_preparing_ = requested;
    flush_take_left_ = source_->queue().size();
    FillBatches(now);
  }
  uint64_t done = 0;
  while (!flush_targets_.empty() &&
         (unacked_.empty() || unacked_.front().seq > flush_targets_.front().second)) {
    done = flush_targets_.front().first;
    flush_targets_.pop_front();
  }
  if (done != 0) {
    MutexLock lock(&mu_);
    flush_done_ = std::max(flush_done_, done);
  }
  SendReady(now);
}

void Sender::CollectMetrics(absl::Time now) {
  next_metrics_ = now + options_.flush_interval;
  source_->CollectMetrics(ToNanos(now), &building_);
  if (building_.metrics_size() > 0) Seal();
}

void Sender::Wait(absl::Time now) {
  absl::Time deadline = next_metrics_;
  if (building_records_ > 0) deadline = std::min(deadline, building_since_ + options_.batch.max_delay);
  if (state_ == State::kDisconnected) deadline = std::min(deadline, next_connect_);
  if (state_ == State::kHandshaking) deadline = std::min(deadline, handshake_deadline_);
  if (state_ == State::kReady && !sent_.empty()) {
    deadline = std::min(deadline, sent_.front().second + options_.retry.ack_timeout);
  }
  if (now < paused_until_) deadline = std::min(deadline, paused_until_);
  // Log calls do not wake the sender (see Core): it looks for records every
  // millisecond while they arrive, and backs off to a quarter of max_delay
  // (at most 50 ms) while none do.
  const absl::Duration slowest =
      std::clamp(options_.batch.max_delay / 4, absl::Milliseconds(1), absl::Milliseconds(50));
  poll_ = took_records_ ? absl::Milliseconds(1) : std::min(poll_ * 2, slowest);
  took_records_ = false;
  deadline = std::min(deadline, now + poll_);
  // The clock may be a test's: wait in real time for the same span.
  const absl::Time real_deadline = absl::Now() + std::max(deadline - now, absl::ZeroDuration());
  const bool want_records = unacked_bytes_.load(std::memory_order_relaxed) + building_bytes_ <
                            options_.max_unacked_bytes;
  {
    MutexLock lock(&mu_);
    if (wake_ || stop_ || flush_requested_ > flush_prepared_) {
      wake_ = false;
      return;
    }
  }
  if (want_records) {
    source_->queue().WaitForRecords(real_deadline);
  } else {
    MutexLock lock(&mu_);
    mu_.AwaitWithDeadline([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_; },
                          real_deadline);
  }
  MutexLock lock(&mu_);
  wake_ = false;
}

void Sender::CloseStream(absl::Time deadline) {
  if (call_ == nullptr) return;
  call_->CloseWrites();
  bool cancelled = false;
  for (;;) {
    std::vector<tv1::IngestAck> acks;
    bool closed = false;
    std::string error;
    const bool done = call_->Take(&acks, &closed, &error);
    for (const tv1::IngestAck& ack : acks) {
      if (state_ == State::kReady) HandleAck(ack, clock_());
    }
    if (closed) call_->Release();
    if (done) break;
    bool woken;
    {
      MutexLock lock(&mu_);
      woken = mu_.AwaitWithDeadline([this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_; },
                                    cancelled ? absl::InfiniteFuture() : deadline);
      wake_ = false;
    }
    if (!woken && !cancelled) {
      // Cancelling ends the call promptly; OnDone still has to be waited for.
      cancelled = true;
      call_->Cancel();
    }
  }
  delete call_;
  call_ = nullptr;
  state_ = State::kDisconnected;
  connected_.store(false, std::memory_order_relaxed);
}

void Sender::Cancel(const std::string& why) {
  SetError(why);
  if (call_ != nullptr) call_->Cancel();
  // The stream's end arrives as an event; until then nothing more is sent.
  state_ = State::kClosing;
  sent_.clear();
  for (Pending& p : unacked_) p.in_flight = false;
}

void Sender::SetError(const std::string& error) {
  MutexLock lock(&mu_);
  last_error_ = error;
  last_error_time_ = absl::Now();
}

absl::Duration Sender::Jittered(absl::Duration d) {
  // Between half and the whole of d.
  std::uniform_real_distribution<double> share(0.5, 1.0);
  return d * share(rng_);
}

// ---- any thread ----

uint64_t Sender::PendingRecords() const {
  return source_->queue().size() + batching_records_.load(std::memory_order_relaxed) +
         unacked_records_.load(std::memory_order_relaxed);
}

DeliveryReport Sender::Report(bool complete) const {
  DeliveryReport r;
  r.complete = complete;
  r.pending_records = complete ? 0 : PendingRecords();
  MutexLock lock(&mu_);
  r.last_error = last_error_;
  return r;
}

DeliveryReport Sender::Flush(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  uint64_t gen;
  {
    MutexLock lock(&mu_);
    if (stopped_) return Report(PendingRecords() == 0);
    gen = ++flush_requested_;
    wake_ = true;
  }
  source_->queue().WakeConsumer();
  bool complete;
  {
    MutexLock lock(&mu_);
    complete = mu_.AwaitWithDeadline(
        [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return flush_done_ >= gen || stopped_; },
        deadline);
    complete = complete && flush_done_ >= gen;
  }
  return Report(complete);
}

DeliveryReport Sender::Stop(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  DeliveryReport report = Flush(timeout);
  {
    MutexLock lock(&mu_);
    if (stopped_ || !thread_.joinable()) return report;
    stop_ = true;
    stop_deadline_ = deadline;
    wake_ = true;
  }
  source_->queue().WakeConsumer();
  thread_.join();
  report.pending_records = PendingRecords();
  report.complete = report.complete && report.pending_records == 0;
  return report;
}

void Sender::FillStats(ClientStats* s) const {
  s->records_delivered = records_delivered_.load(std::memory_order_relaxed);
  s->dropped_invalid = dropped_invalid_.load(std::memory_order_relaxed);
  s->dropped_too_large = dropped_too_large_.load(std::memory_order_relaxed);
  s->batches_split = batches_split_.load(std::memory_order_relaxed);
  s->rejected = rejected_.load(std::memory_order_relaxed);
  s->batches_sent = batches_sent_.load(std::memory_order_relaxed);
  s->batches_acked = batches_acked_.load(std::memory_order_relaxed);
  s->batches_duplicate = batches_duplicate_.load(std::memory_order_relaxed);
  s->producer_id_conflicts = producer_id_conflicts_.load(std::memory_order_relaxed);
  s->retries = retries_.load(std::memory_order_relaxed);
  s->reconnects = reconnects_.load(std::memory_order_relaxed);
  s->unacked_batches = unacked_batches_.load(std::memory_order_relaxed);
  s->unacked_bytes = unacked_bytes_.load(std::memory_order_relaxed);
  s->batching = batching_records_.load(std::memory_order_relaxed);
  s->connected = connected_.load(std::memory_order_relaxed);
  MutexLock lock(&mu_);
  s->rejected_by_reason = rejected_by_reason_;
  s->endpoint = endpoint_name_;
  s->last_error = last_error_;
  s->last_error_time = last_error_time_;
}

}  // namespace tributary::client::internal
