#include "tools/cli/loadgen.h"

#include <algorithm>
#include <cstdio>
#include <deque>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "base/grpc_credentials.h"
#include "base/mutex.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "storage/rocksdb/rocksdb_buffer.h"
#include "tools/bench/bench_record.h"
#include "tributary/v1/ingest.pb.h"
#include "tributary/v1/query.grpc.pb.h"

namespace tributary::cli {
namespace {

constexpr char kUsage[] =
    "usage: tributary loadgen [--target=HOST:PORT] [--producers=N] [--in_flight=K]\n"
    "                         [--batch=B] [--record_bytes=S] [--rate=R] [--duration=D]\n"
    "                         [--batches=N] [--producer_prefix=P] [--acked_out=FILE]\n"
    "                         [--drain_timeout=D] [--verify]\n"
    "                         [--tls_ca_file=F [--tls_server_name=N]\n"
    "                          [--tls_cert_file=F --tls_key_file=F]]\n"
    "       tributary loadgen verify --data_dir=DIR --acked=FILE\n"
    "\n"
    "Streams synthetic log records over IngestService from N producers (default 4), each\n"
    "with K batches in flight (8) of B records (1000) of S bytes (425, the reference\n"
    "record), at R records/s in total (0 = as fast as acks allow) for D (10s) or until\n"
    "N batches per producer are acked (within D plus the drain timeout, 30s).\n"
    "Reconnects and resends unacked batches above the\n"
    "collector's resume point. --acked_out lists every acked batch; --verify compares\n"
    "the collector's GetStats before and after. `loadgen verify` checks a stopped\n"
    "collector's buffer: every acked batch stored exactly once. --tls_ca_file speaks TLS\n"
    "to a collector whose certificate that CA signed (--tls_server_name: the name to\n"
    "check instead of the target's host); --tls_cert_file/--tls_key_file add a client\n"
    "certificate (mutual TLS).\n";

struct Options {
  std::string target = "127.0.0.1:4317";
  int producers = 4;
  int in_flight = 8;
  int batch = 1000;
  int record_bytes = 0;  // 0 = the reference record (425 bytes)
  double rate = 0;
  absl::Duration duration = absl::Seconds(10);
  uint64_t batches = 0;  // per producer; 0 = run for `duration`
  std::string producer_prefix;
  std::string acked_out;
  absl::Duration drain_timeout = absl::Seconds(30);
  bool verify = false;
  std::string tls_ca_file, tls_cert_file, tls_key_file, tls_server_name;
};

// Results of one producer (merged at the end).
struct Tally {
  uint64_t sent = 0;
  uint64_t resent = 0;
  uint64_t stored = 0;
  uint64_t duplicate = 0;
  uint64_t covered_by_resume = 0;  // unacked batches the resume point showed durable
  uint64_t invalid = 0;
  uint64_t throttled = 0;
  uint64_t records_accepted = 0;
  uint64_t records_rejected = 0;
  uint64_t reconnects = 0;
  uint64_t unacked_at_end = 0;
  std::vector<double> latencies_ms;
  std::vector<std::pair<uint64_t, uint32_t>> acked;  // seq, records
  std::string last_error;
};

std::string Varint(uint64_t v) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.WriteVarint64(v);
  coded.Trim();
  return out;
}

// The batch body (resource and records) is serialized once; each batch
// puts its producer_id and seq in front (protobuf fields may come in any
// order), so generating load costs almost nothing next to what it measures.
class BatchTemplate {
 public:
  BatchTemplate(int records, int record_bytes) {
    tributary::v1::IngestBatch b = bench::ReferenceBatch("", 0, records);
    b.clear_producer_id();
    b.clear_seq();
    if (record_bytes > 0) {
      const int reference = static_cast<int>(b.logs(0).ByteSizeLong());
      const int body = std::max(0, static_cast<int>(b.logs(0).body().size()) +
                                       record_bytes - reference);
      for (auto& r : *b.mutable_logs()) r.mutable_body()->resize(body, 'x');
    }
    record_size_ = b.logs_size() > 0 ? b.logs(0).ByteSizeLong() : 0;
    body_ = b.SerializeAsString();
    records_ = records;
  }

  std::string Encode(const std::string& producer, uint64_t seq) const {
    std::string out;
    out.reserve(body_.size() + producer.size() + 16);
    out.push_back(static_cast<char>((1 << 3) | 2));
    out += Varint(producer.size());
    out += producer;
    out.push_back(static_cast<char>(2 << 3));
    out += Varint(seq);
    out += body_;
    return out;
  }

  int records() const { return records_; }
  size_t record_size() const { return record_size_; }
  size_t bytes() const { return body_.size(); }

 private:
  std::string body_;
  int records_ = 0;
  size_t record_size_ = 0;
};

class Producer {
 public:
  Producer(std::string id, const Options& options, const BatchTemplate& batch,
           std::shared_ptr<grpc::Channel> channel, absl::Time send_until,
           absl::Time hard_deadline)
      : id_(std::move(id)),
        options_(options),
        batch_(batch),
        channel_(std::move(channel)),
        send_until_(send_until),
        hard_deadline_(hard_deadline),
        rng_(std::random_device{}()) {
    if (options_.rate > 0) {
      const double per_producer = options_.rate / options_.producers / batch_.records();
      interval_ = absl::Seconds(1.0 / per_producer);
    }
    next_send_ = absl::Now();
  }

  Tally Run() {
    absl::Duration backoff = absl::Milliseconds(50);
    while (!Finished() && absl::Now() < hard_deadline_) {
      const bool progressed = Connection();
      if (Finished() || absl::Now() >= hard_deadline_) break;
      ++tally_.reconnects;
      if (progressed) backoff = absl::Milliseconds(50);
      std::uniform_real_distribution<double> jitter(0.5, 1.0);
      absl::SleepFor(std::min(backoff * jitter(rng_), hard_deadline_ - absl::Now()));
      backoff = std::min(backoff * 2, absl::Seconds(1));
    }
    tally_.unacked_at_end = unacked_.size();
    return std::move(tally_);
  }

 private:
  enum Tag : intptr_t { kStart = 1, kWrite, kRead, kFinish };

  bool SendingNew() const {
    if (options_.batches > 0) return next_seq_ <= options_.batches;
    return absl::Now() < send_until_;
  }
  bool Finished() const { return !SendingNew() && unacked_.empty(); }

  // One stream; returns whether any ack arrived on it.
  bool Connection() {
    grpc::ClientContext ctx;
    grpc::CompletionQueue cq;
    grpc::GenericStub stub(channel_);
    ctx.set_wait_for_ready(false);
    auto call = stub.PrepareCall(&ctx, "/tributary.v1.IngestService/Stream", &cq);
    int outstanding = 1;
    call->StartCall(reinterpret_cast<void*>(kStart));

    bool broken = false, handshaken = false, progressed = false, finishing = false;
    bool write_pending = false, read_pending = false;
    std::deque<uint64_t> to_send;  // resends first, in seq order
    absl::Time not_before = absl::InfinitePast();
    // After a retryable refusal the collector refuses this stream's later
    // batches until the refused one is resent: wait for every answer before
    // sending anything, then resend in seq order.
    bool rewinding = false;
    int window = 0;  // batches sent on this stream and not yet answered
    bool hello_sent = false;
    grpc::ByteBuffer read_buf;

    const auto write = [&](const std::string& bytes) {
      grpc::Slice slice(bytes);
      grpc::ByteBuffer buffer(&slice, 1);
      call->Write(buffer, reinterpret_cast<void*>(kWrite));
      write_pending = true;
      ++outstanding;
    };

    bool started = false;
    for (;;) {
      // Start what can be started.
      if (started && !broken) {
        if (!read_pending) {
          call->Read(&read_buf, reinterpret_cast<void*>(kRead));
          read_pending = true;
          ++outstanding;
        }
        if (!write_pending && !finishing) {
          if (!hello_sent) {
            tributary::v1::IngestBatch hello;
            hello.set_producer_id(id_);
            write(hello.SerializeAsString());
            window = 1;  // the handshake's ack
            hello_sent = true;
          } else if (handshaken && window < options_.in_flight && absl::Now() >= not_before &&
                     !(rewinding && window > 0)) {
            rewinding = false;
            if (!to_send.empty()) {
              const uint64_t seq = to_send.front();
              to_send.pop_front();
              unacked_[seq] = absl::Now();
              write(batch_.Encode(id_, seq));
              ++tally_.resent;
              ++window;
            } else if (SendingNew() && absl::Now() >= next_send_) {
              const uint64_t seq = next_seq_++;
              unacked_[seq] = absl::Now();
              write(batch_.Encode(id_, seq));
              ++tally_.sent;
              ++window;
              if (interval_ > absl::ZeroDuration()) {
                next_send_ = std::max(next_send_ + interval_, absl::Now() - interval_ * 8);
              }
            }
          }
          if (handshaken && !write_pending && Finished() && window == 0) {
            call->WritesDone(reinterpret_cast<void*>(kWrite));
            write_pending = true;
            finishing = true;
            ++outstanding;
          }
        }
      }
      if (broken || absl::Now() >= hard_deadline_) {
        if (!broken) {
          broken = true;
          tally_.last_error = "deadline reached with batches unacked";
        }
        ctx.TryCancel();
      }

      // Wake for the next paced send only if one could go out then; with a
      // full window the next ack wakes the loop (never spin on a past time).
      absl::Time wake = absl::Now() + absl::Milliseconds(100);
      const bool could_send = handshaken && !write_pending && !finishing &&
                              window < options_.in_flight && !(rewinding && window > 0);
      if (could_send && interval_ > absl::ZeroDuration()) wake = std::min(wake, next_send_);
      if (could_send && not_before > absl::Now()) wake = std::min(wake, not_before);
      void* tag = nullptr;
      bool ok = false;
      const auto status = cq.AsyncNext(&tag, &ok, absl::ToChronoTime(wake));
      if (status == grpc::CompletionQueue::SHUTDOWN) break;
      if (status == grpc::CompletionQueue::TIMEOUT) continue;
      --outstanding;
      switch (reinterpret_cast<intptr_t>(tag)) {
        case kStart:
          started = ok;
          if (!ok) broken = true;
          break;
        case kWrite:
          write_pending = false;
          if (!ok) broken = true;
          break;
        case kFinish:
          break;
        case kRead: {
          read_pending = false;
          if (!ok) {
            broken = true;
            break;
          }
          std::vector<grpc::Slice> slices;
          std::string bytes;
          if (read_buf.Dump(&slices).ok()) {
            for (auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
          }
          tributary::v1::IngestAck ack;
          if (!ack.ParseFromString(bytes)) {
            tally_.last_error = "unparseable ack";
            broken = true;
            break;
          }
          progressed = true;
          --window;
          if (ack.has_resume_seq() && !handshaken) {
            handshaken = true;
            // Everything at or below the resume point is durable.
            for (auto it = unacked_.begin(); it != unacked_.end();) {
              if (it->first <= ack.resume_seq()) {
                tally_.acked.emplace_back(it->first, batch_.records());
                ++tally_.covered_by_resume;
                it = unacked_.erase(it);
              } else {
                to_send.push_back(it->first);
                ++it;
              }
            }
          }
          if (ack.seq() == 0) break;
          HandleAck(ack, &to_send, &not_before, &rewinding);
          break;
        }
      }
      if (broken && !finishing) {
        // Cancel and collect what is still outstanding.
        ctx.TryCancel();
        finishing = true;
      }
      if (finishing && !write_pending && !read_pending && outstanding == 0) {
        grpc::Status final_status;
        call->Finish(&final_status, reinterpret_cast<void*>(kFinish));
        ++outstanding;
        void* t;
        bool o;
        while (outstanding > 0 && cq.Next(&t, &o)) --outstanding;
        if (!final_status.ok()) tally_.last_error = final_status.error_message();
        break;
      }
    }
    cq.Shutdown();
    void* t;
    bool o;
    while (cq.Next(&t, &o)) {
    }
    return progressed;
  }

  void HandleAck(const tributary::v1::IngestAck& ack, std::deque<uint64_t>* to_send,
                 absl::Time* not_before, bool* rewinding) {
    auto it = unacked_.find(ack.seq());
    if (it == unacked_.end()) return;  // already settled (a late duplicate answer)
    const double ms = absl::ToDoubleMilliseconds(absl::Now() - it->second);
    switch (ack.status()) {
      case tributary::v1::ACK_STATUS_OK:
        ++tally_.stored;
        tally_.records_accepted += ack.accepted();
        tally_.records_rejected += ack.rejected();
        tally_.acked.emplace_back(ack.seq(), ack.accepted());
        tally_.latencies_ms.push_back(ms);
        unacked_.erase(it);
        break;
      case tributary::v1::ACK_STATUS_DUPLICATE:
        ++tally_.duplicate;
        tally_.acked.emplace_back(ack.seq(), batch_.records());
        tally_.latencies_ms.push_back(ms);
        unacked_.erase(it);
        break;
      case tributary::v1::ACK_STATUS_INVALID:
        ++tally_.invalid;
        tally_.last_error = ack.message();
        unacked_.erase(it);
        break;
      default:  // RESOURCE_EXHAUSTED, UNAVAILABLE: send again later
        ++tally_.throttled;
        tally_.last_error = ack.message();
        // In seq order: resends that were already waiting may still be
        // queued, and a later seq must never go out before this one (the
        // collector would store it first, and answer this one as a
        // duplicate of what it holds).
        to_send->insert(std::upper_bound(to_send->begin(), to_send->end(), ack.seq()),
                        ack.seq());
        *rewinding = true;
        *not_before = absl::Now() + absl::Milliseconds(std::max<uint32_t>(ack.retry_after_ms(), 10));
        break;
    }
  }

  const std::string id_;
  const Options& options_;
  const BatchTemplate& batch_;
  std::shared_ptr<grpc::Channel> channel_;
  const absl::Time send_until_;
  const absl::Time hard_deadline_;
  std::mt19937_64 rng_;
  absl::Duration interval_ = absl::ZeroDuration();
  absl::Time next_send_;
  uint64_t next_seq_ = 1;
  std::map<uint64_t, absl::Time> unacked_;  // seq -> when it was (last) sent
  Tally tally_;
};

double Percentile(std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())));
  std::nth_element(v.begin(), v.begin() + static_cast<long>(i), v.end());
  return v[i];
}

bool ParseFlag(const std::string& arg, std::string* name, std::string* value) {
  if (arg.rfind("--", 0) != 0) return false;
  const size_t eq = arg.find('=');
  *name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
  *value = eq == std::string::npos ? "true" : arg.substr(eq + 1);
  return true;
}

bool Stats(const std::shared_ptr<grpc::Channel>& channel, tributary::v1::GetStatsResponse* out) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return tributary::v1::QueryService::NewStub(channel)
      ->GetStats(&ctx, tributary::v1::GetStatsRequest(), out)
      .ok();
}

int Verify(const std::vector<std::string>& args) {
  std::string data_dir, acked_path;
  for (const std::string& arg : args) {
    std::string name, value;
    if (!ParseFlag(arg, &name, &value)) {
      std::fprintf(stderr, "loadgen verify: unexpected argument %s\n", arg.c_str());
      return 2;
    }
    if (name == "data_dir") {
      data_dir = value;
    } else if (name == "acked") {
      acked_path = value;
    } else {
      std::fprintf(stderr, "loadgen verify: unknown flag --%s\n", name.c_str());
      return 2;
    }
  }
  if (data_dir.empty() || acked_path.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  std::ifstream acked_in(acked_path);
  if (!acked_in) {
    std::fprintf(stderr, "loadgen verify: cannot read %s\n", acked_path.c_str());
    return 2;
  }
  std::map<std::pair<std::string, uint64_t>, uint32_t> acked;  // -> records
  std::string line;
  while (std::getline(acked_in, line)) {
    std::vector<std::string> f = absl::StrSplit(line, ' ', absl::SkipEmpty());
    uint64_t seq = 0;
    uint32_t records = 0;
    if (f.size() != 3 || !absl::SimpleAtoi(f[1], &seq) || !absl::SimpleAtoi(f[2], &records)) {
      std::fprintf(stderr, "loadgen verify: bad line in %s: %s\n", acked_path.c_str(),
                   line.c_str());
      return 2;
    }
    acked[{f[0], seq}] = records;
  }
  storage::BufferOptions options;
  options.retention = absl::ZeroDuration();  // look at everything, expire nothing
  auto buffer = storage::RocksDbBuffer::Open(data_dir, options);
  if (!buffer.ok()) {
    std::fprintf(stderr, "loadgen verify: %s\n", buffer.status().ToString().c_str());
    return 2;
  }
  std::map<std::pair<std::string, uint64_t>, std::pair<int, uint32_t>> stored;  // count, records
  uint64_t from = 0, entries = 0;
  for (;;) {
    auto batch = (*buffer)->Read(from, 256, 64 << 20);
    if (!batch.ok()) {
      std::fprintf(stderr, "loadgen verify: %s\n", batch.status().ToString().c_str());
      return 2;
    }
    if (batch->empty()) break;
    for (const storage::Entry& e : *batch) {
      tributary::v1::IngestBatch b;
      if (!b.ParseFromString(e.payload)) {
        std::fprintf(stderr, "loadgen verify: entry %llu does not parse\n",
                     static_cast<unsigned long long>(e.offset));
        return 1;
      }
      auto& s = stored[{b.producer_id(), b.seq()}];
      ++s.first;
      s.second = static_cast<uint32_t>(b.logs_size() + b.metrics_size() + b.spans_size());
      ++entries;
      from = e.offset + 1;
    }
  }
  (*buffer)->Close().IgnoreError();
  uint64_t missing = 0, twice = 0, wrong_records = 0;
  for (const auto& [key, records] : acked) {
    auto it = stored.find(key);
    if (it == stored.end()) {
      if (++missing <= 10) {
        std::printf("MISSING %s seq %llu\n", key.first.c_str(),
                    static_cast<unsigned long long>(key.second));
      }
    } else if (it->second.second != records) {
      ++wrong_records;
    }
  }
  for (const auto& [key, s] : stored) {
    if (s.first > 1 && ++twice <= 10) {
      std::printf("STORED %d TIMES %s seq %llu\n", s.first, key.first.c_str(),
                  static_cast<unsigned long long>(key.second));
    }
  }
  std::printf("acked batches: %zu; stored entries: %llu; missing: %llu; stored more than once: "
              "%llu; record count mismatches: %llu\n",
              acked.size(), static_cast<unsigned long long>(entries),
              static_cast<unsigned long long>(missing), static_cast<unsigned long long>(twice),
              static_cast<unsigned long long>(wrong_records));
  const bool ok = missing == 0 && twice == 0 && wrong_records == 0;
  std::printf("%s\n", ok ? "OK: every acked batch is stored exactly once"
                         : "FAILED: the buffer does not hold every acked batch exactly once");
  return ok ? 0 : 1;
}

}  // namespace

int LoadgenMain(const std::vector<std::string>& args) {
  if (!args.empty() && args[0] == "verify") {
    return Verify(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  Options o;
  for (const std::string& arg : args) {
    std::string name, value;
    if (!ParseFlag(arg, &name, &value)) {
      std::fprintf(stderr, "loadgen: unexpected argument %s\n%s", arg.c_str(), kUsage);
      return 2;
    }
    bool good = true;
    if (name == "target") {
      o.target = value;
    } else if (name == "producers") {
      good = absl::SimpleAtoi(value, &o.producers) && o.producers > 0 && o.producers <= 1024;
    } else if (name == "in_flight") {
      good = absl::SimpleAtoi(value, &o.in_flight) && o.in_flight > 0 && o.in_flight <= 1024;
    } else if (name == "batch") {
      good = absl::SimpleAtoi(value, &o.batch) && o.batch > 0 && o.batch <= 1000000;
    } else if (name == "record_bytes") {
      good = absl::SimpleAtoi(value, &o.record_bytes) && o.record_bytes >= 0;
    } else if (name == "rate") {
      good = absl::SimpleAtod(value, &o.rate) && o.rate >= 0;
    } else if (name == "duration") {
      good = absl::ParseDuration(value, &o.duration) && o.duration > absl::ZeroDuration();
    } else if (name == "batches") {
      good = absl::SimpleAtoi(value, &o.batches);
    } else if (name == "producer_prefix") {
      o.producer_prefix = value;
    } else if (name == "acked_out") {
      o.acked_out = value;
    } else if (name == "drain_timeout") {
      good = absl::ParseDuration(value, &o.drain_timeout);
    } else if (name == "verify") {
      o.verify = value == "true";
    } else if (name == "tls_ca_file" || name == "tls_cert_file" || name == "tls_key_file") {
      std::string& file = name == "tls_ca_file"     ? o.tls_ca_file
                          : name == "tls_cert_file" ? o.tls_cert_file
                                                    : o.tls_key_file;
      file = value;
      good = static_cast<bool>(std::ifstream(value));
    } else if (name == "tls_server_name") {
      o.tls_server_name = value;
    } else if (name == "help") {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      std::fprintf(stderr, "loadgen: unknown flag --%s\n%s", name.c_str(), kUsage);
      return 2;
    }
    if (!good) {
      std::fprintf(stderr, "loadgen: bad value for --%s: %s\n", name.c_str(), value.c_str());
      return 2;
    }
  }
  if (o.producer_prefix.empty()) {
    o.producer_prefix = absl::StrFormat("loadgen-%08x", std::random_device{}());
  }
  const bool tls = !o.tls_ca_file.empty();
  if ((!tls && (!o.tls_cert_file.empty() || !o.tls_server_name.empty())) ||
      o.tls_cert_file.empty() != o.tls_key_file.empty()) {
    std::fprintf(stderr, "loadgen: --tls_cert_file and --tls_key_file go together, and with "
                         "--tls_server_name need --tls_ca_file\n");
    return 2;
  }

  const BatchTemplate batch(o.batch, o.record_bytes);
  grpc::ChannelArguments channel_args;
  channel_args.SetMaxSendMessageSize(256 << 20);
  if (!o.tls_server_name.empty()) channel_args.SetSslTargetNameOverride(o.tls_server_name);
  const std::shared_ptr<grpc::ChannelCredentials> credentials =
      ChannelCredentials(tls, o.tls_ca_file, o.tls_cert_file, o.tls_key_file);
  // One connection per producer, as separate processes would have.
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < o.producers; ++i) {
    grpc::ChannelArguments a = channel_args;
    a.SetInt("loadgen.producer", i);  // distinct args: a channel of its own
    channels.push_back(grpc::CreateCustomChannel(o.target, credentials, a));
  }
  tributary::v1::GetStatsResponse before;
  if (o.verify && !Stats(channels[0], &before)) {
    std::fprintf(stderr, "loadgen: GetStats on %s failed\n", o.target.c_str());
    return 1;
  }

  std::printf("loadgen: %d producers x %d in flight, %d records/batch of %zu bytes (%zu bytes "
              "per batch), %s, %s\n",
              o.producers, o.in_flight, o.batch, batch.record_size(), batch.bytes(),
              o.rate > 0 ? absl::StrFormat("%.0f records/s", o.rate).c_str() : "unthrottled",
              o.batches > 0 ? absl::StrCat(o.batches, " batches per producer").c_str()
                            : absl::StrCat("for ", absl::FormatDuration(o.duration)).c_str());
  std::fflush(stdout);

  const absl::Time start = absl::Now();
  const absl::Time send_until = start + o.duration;
  // Nothing runs past --duration plus --drain_timeout, with a fixed batch
  // count too, so a dead collector cannot keep loadgen forever.
  const absl::Time deadline = send_until + o.drain_timeout;
  std::vector<Tally> tallies(static_cast<size_t>(o.producers));
  std::vector<std::thread> threads;
  for (int i = 0; i < o.producers; ++i) {
    threads.emplace_back([&, i] {
      Producer p(absl::StrCat(o.producer_prefix, "-", i), o, batch, channels[i], send_until,
                 deadline);
      tallies[i] = p.Run();
    });
  }
  for (auto& t : threads) t.join();
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);

  Tally total;
  std::vector<double> latencies;
  for (const Tally& t : tallies) {
    total.sent += t.sent;
    total.resent += t.resent;
    total.stored += t.stored;
    total.duplicate += t.duplicate;
    total.covered_by_resume += t.covered_by_resume;
    total.invalid += t.invalid;
    total.throttled += t.throttled;
    total.records_accepted += t.records_accepted;
    total.records_rejected += t.records_rejected;
    total.reconnects += t.reconnects;
    total.unacked_at_end += t.unacked_at_end;
    latencies.insert(latencies.end(), t.latencies_ms.begin(), t.latencies_ms.end());
    if (!t.last_error.empty()) total.last_error = t.last_error;
  }
  if (!o.acked_out.empty()) {
    std::ofstream out(o.acked_out);
    for (int i = 0; i < o.producers; ++i) {
      for (const auto& [seq, records] : tallies[i].acked) {
        out << o.producer_prefix << "-" << i << " " << seq << " " << records << "\n";
      }
    }
    if (!out) {
      std::fprintf(stderr, "loadgen: cannot write %s\n", o.acked_out.c_str());
      return 1;
    }
  }
  const uint64_t acked = total.stored + total.duplicate + total.covered_by_resume;
  const double records_per_s = static_cast<double>(total.records_accepted) / seconds;
  std::printf("sent       %llu batches (%llu records) in %.1f s, %llu resent\n",
              static_cast<unsigned long long>(total.sent),
              static_cast<unsigned long long>(total.sent * o.batch), seconds,
              static_cast<unsigned long long>(total.resent));
  std::printf("acked      %llu batches: %llu stored, %llu duplicate, %llu durable by resume "
              "point\n",
              static_cast<unsigned long long>(acked), static_cast<unsigned long long>(total.stored),
              static_cast<unsigned long long>(total.duplicate),
              static_cast<unsigned long long>(total.covered_by_resume));
  std::printf("records    %llu accepted, %llu rejected (%.0f records/s accepted)\n",
              static_cast<unsigned long long>(total.records_accepted),
              static_cast<unsigned long long>(total.records_rejected), records_per_s);
  std::printf("refused    %llu invalid, %llu throttled or unavailable (resent)\n",
              static_cast<unsigned long long>(total.invalid),
              static_cast<unsigned long long>(total.throttled));
  std::printf("reconnects %llu; unacked at the end: %llu\n",
              static_cast<unsigned long long>(total.reconnects),
              static_cast<unsigned long long>(total.unacked_at_end));
  const double p50 = Percentile(latencies, 0.50), p90 = Percentile(latencies, 0.90),
               p99 = Percentile(latencies, 0.99), pmax = Percentile(latencies, 1.0);
  std::printf("ack latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", p50, p90, p99, pmax);
  if (!total.last_error.empty()) std::printf("last error: %s\n", total.last_error.c_str());

  bool ok = total.unacked_at_end == 0 && total.invalid == 0 && acked > 0;
  if (o.verify) {
    tributary::v1::GetStatsResponse after;
    if (!Stats(channels[0], &after)) {
      std::printf("verify: GetStats failed\n");
      ok = false;
    } else {
      const uint64_t accepted = after.records_accepted() - before.records_accepted();
      const uint64_t duplicates = after.batches_duplicate() - before.batches_duplicate();
      const bool match = accepted == total.records_accepted && duplicates == total.duplicate;
      std::printf("verify: collector accepted %llu records and answered %llu duplicates; loadgen "
                  "saw %llu and %llu: %s\n",
                  static_cast<unsigned long long>(accepted),
                  static_cast<unsigned long long>(duplicates),
                  static_cast<unsigned long long>(total.records_accepted),
                  static_cast<unsigned long long>(total.duplicate),
                  match ? "OK" : "MISMATCH (another producer was sending?)");
      ok = ok && match;
    }
  }
  std::printf("RESULT records_per_s=%.0f ack_p50_ms=%.2f ack_p99_ms=%.2f acked_batches=%llu "
              "unacked=%llu\n",
              records_per_s, p50, p99, static_cast<unsigned long long>(acked),
              static_cast<unsigned long long>(total.unacked_at_end));
  return ok ? 0 : 1;
}

}  // namespace tributary::cli
