#include "client/testing/fake_collector.h"

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace tributary::client::testing {

namespace tv1 = ::tributary::v1;

namespace {

std::string ReadTestFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace

FakeCollector::FakeCollector(bool tls) {
  grpc::ServerBuilder builder;
  int port = 0;
  std::shared_ptr<grpc::ServerCredentials> creds = grpc::InsecureServerCredentials();
  if (tls) {
    grpc::SslServerCredentialsOptions ssl;
    ssl.pem_key_cert_pairs.push_back({ReadTestFile("client/testing/test_key.pem"),
                                      ReadTestFile("client/testing/test_cert.pem")});
    creds = grpc::SslServerCredentials(ssl);
  }
  builder.AddListeningPort("127.0.0.1:0", creds, &port);
  // The collector's ping policy, with server.min_ping_interval at 1s.
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 1000);
  builder.RegisterService(this);
  server_ = builder.BuildAndStart();
  address_ = absl::StrCat("127.0.0.1:", port);
}

FakeCollector::~FakeCollector() {
  {
    MutexLock lock(&mu_);
    shutting_down_ = true;
    paused_ = false;
  }
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
}

void FakeCollector::RefuseNext(int n, tv1::AckStatus status, uint32_t retry_after_ms) {
  MutexLock lock(&mu_);
  refuse_left_ = n;
  refuse_status_ = status;
  refuse_retry_ms_ = retry_after_ms;
}

void FakeCollector::BreakStreamAfter(int acks) {
  MutexLock lock(&mu_);
  break_after_ = acks;
  break_every_ = acks;
}

void FakeCollector::EndStreamsAfterHandshake(int n) {
  MutexLock lock(&mu_);
  end_after_handshake_ = n;
}

void FakeCollector::RejectBodiesContaining(std::string text, std::string reason) {
  MutexLock lock(&mu_);
  reject_text_ = std::move(text);
  reject_reason_ = std::move(reason);
}

void FakeCollector::Pause() {
  MutexLock lock(&mu_);
  paused_ = true;
}

void FakeCollector::Resume() {
  MutexLock lock(&mu_);
  paused_ = false;
}

void FakeCollector::SetResumePoint(const std::string& producer_id, uint64_t seq) {
  MutexLock lock(&mu_);
  resume_[producer_id] = seq;
}

void FakeCollector::SetMaxBatchBytes(uint64_t bytes) {
  MutexLock lock(&mu_);
  max_batch_bytes_ = bytes;
}

std::vector<tv1::IngestBatch> FakeCollector::Stored() {
  MutexLock lock(&mu_);
  return stored_;
}

int FakeCollector::streams() const {
  MutexLock lock(&mu_);
  return streams_;
}

bool FakeCollector::WaitFor(const std::function<bool(const std::vector<tv1::IngestBatch>&)>& done,
                            absl::Duration timeout) {
  MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(
      [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return done(stored_); }, timeout);
}

tv1::IngestAck FakeCollector::Handle(tv1::IngestBatch& batch, uint64_t* refused_seq,
                                     tv1::AckStatus* refused_status) {
  tv1::IngestAck ack;
  ack.set_seq(batch.seq());
  uint64_t& resume = resume_[batch.producer_id()];
  if (batch.seq() == 0) {
    ack.set_status(tv1::ACK_STATUS_OK);
    ack.set_has_resume_seq(true);
    ack.set_resume_seq(resume);
    ack.set_max_batch_bytes(max_batch_bytes_);
    return ack;
  }
  if (max_batch_bytes_ > 0 && batch.ByteSizeLong() > max_batch_bytes_) {
    ack.set_status(tv1::ACK_STATUS_INVALID);
    ack.set_message(absl::StrCat("batch of ", batch.ByteSizeLong(), " bytes exceeds ",
                                 max_batch_bytes_));
    return ack;
  }
  if (*refused_seq != 0) {
    if (batch.seq() > *refused_seq) {
      ack.set_status(*refused_status);
      ack.set_retry_after_ms(refuse_retry_ms_);
      ack.set_message("an earlier batch was refused");
      return ack;
    }
    *refused_seq = 0;
  }
  if (batch.seq() <= resume) {
    ack.set_status(tv1::ACK_STATUS_DUPLICATE);
    return ack;
  }
  if (refuse_left_ > 0) {
    --refuse_left_;
    ack.set_status(refuse_status_);
    ack.set_retry_after_ms(refuse_retry_ms_);
    ack.set_message("refused by the test");
    if (refuse_status_ != tv1::ACK_STATUS_INVALID) {
      *refused_seq = batch.seq();
      *refused_status = refuse_status_;
    }
    return ack;
  }
  uint32_t rejected = 0;
  if (!reject_text_.empty()) {
    auto* logs = batch.mutable_logs();
    for (int i = logs->size() - 1; i >= 0; --i) {
      if (absl::StrContains(logs->Get(i).body(), reject_text_)) {
        logs->DeleteSubrange(i, 1);
        ++rejected;
      }
    }
  }
  ack.set_status(tv1::ACK_STATUS_OK);
  ack.set_accepted(static_cast<uint32_t>(batch.logs_size() + batch.spans_size() +
                                         batch.metrics_size()));
  if (rejected > 0) {
    ack.set_rejected(rejected);
    tv1::Rejection* r = ack.add_rejections();
    r->set_reason(reject_reason_);
    r->set_count(rejected);
    r->set_example("body matched the test's text");
  }
  resume = batch.seq();
  stored_.push_back(batch);
  return ack;
}

grpc::Status FakeCollector::Stream(
    grpc::ServerContext* context,
    grpc::ServerReaderWriter<tv1::IngestAck, tv1::IngestBatch>* stream) {
  {
    MutexLock lock(&mu_);
    ++streams_;
  }
  uint64_t refused_seq = 0;
  tv1::AckStatus refused_status = tv1::ACK_STATUS_RESOURCE_EXHAUSTED;
  tv1::IngestBatch batch;
  while (stream->Read(&batch)) {
    tv1::IngestAck ack;
    bool end = false;
    {
      MutexLock lock(&mu_);
      mu_.Await([&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !paused_ || shutting_down_ || context->IsCancelled();
      });
      if (shutting_down_ || context->IsCancelled()) break;
      ack = Handle(batch, &refused_seq, &refused_status);
      if (batch.seq() != 0 && break_after_ > 0 && --break_after_ == 0) {
        break_after_ = break_every_;
        end = true;
      }
      if (batch.seq() == 0 && end_after_handshake_ > 0) {
        --end_after_handshake_;
        end = true;
      }
    }
    if (!stream->Write(ack)) break;
    if (end) return grpc::Status(grpc::StatusCode::UNAVAILABLE, "stream ended by the test");
  }
  return grpc::Status::OK;
}

}  // namespace tributary::client::testing
