// The naive baseline of ingest_bench: what a straightforward collector does.
// One bidi stream handler per producer reads a batch (gRPC parses it), writes
// it to RocksDB as one key per record in a WriteBatch with sync=true, acks,
// and only then reads the next: no group commit across streams beyond
// RocksDB's own, no pipelining.
//
//   naive_ingest_server --listen=127.0.0.1:PORT --dir=DIR
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/grpcpp.h"
#include "rocksdb/db.h"
#include "rocksdb/write_batch.h"
#include "tributary/v1/ingest.grpc.pb.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0", "gRPC address");
ABSL_FLAG(std::string, dir, "/tmp/tributary-naive-ingest", "RocksDB directory");

namespace {

class NaiveIngest final : public tributary::v1::IngestService::Service {
 public:
  explicit NaiveIngest(rocksdb::DB* db) : db_(db) {}

  grpc::Status Stream(grpc::ServerContext*,
                      grpc::ServerReaderWriter<tributary::v1::IngestAck,
                                               tributary::v1::IngestBatch>* stream) override {
    tributary::v1::IngestBatch batch;
    rocksdb::WriteOptions sync;
    sync.sync = true;
    while (stream->Read(&batch)) {
      tributary::v1::IngestAck ack;
      ack.set_seq(batch.seq());
      ack.set_status(tributary::v1::ACK_STATUS_OK);
      if (batch.seq() == 0) {
        ack.set_has_resume_seq(true);
      } else {
        rocksdb::WriteBatch wb;
        std::string value;
        for (const auto& record : batch.logs()) {
          const uint64_t key = next_key_.fetch_add(1);
          char k[8];
          for (int i = 0; i < 8; ++i) k[i] = static_cast<char>(key >> (56 - 8 * i));
          record.SerializeToString(&value);
          wb.Put(rocksdb::Slice(k, 8), value);
        }
        const rocksdb::Status s = db_->Write(sync, &wb);
        if (!s.ok()) {
          ack.set_status(tributary::v1::ACK_STATUS_UNAVAILABLE);
          ack.set_message(s.ToString());
        } else {
          ack.set_accepted(static_cast<uint32_t>(batch.logs_size()));
        }
      }
      if (!stream->Write(ack)) break;
    }
    return grpc::Status::OK;
  }

 private:
  rocksdb::DB* const db_;
  std::atomic<uint64_t> next_key_{0};
};

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  const rocksdb::Status s = rocksdb::DB::Open(options, absl::GetFlag(FLAGS_dir), &raw);
  if (!s.ok()) {
    std::fprintf(stderr, "naive_ingest_server: %s\n", s.ToString().c_str());
    return 1;
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  NaiveIngest service(db.get());
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen), grpc::InsecureServerCredentials(), &port);
  builder.SetMaxReceiveMessageSize(64 << 20);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server) return 1;
  std::fprintf(stderr, "msg=listening grpc=127.0.0.1:%d\n", port);
  std::fflush(stderr);
  server->Wait();
  return 0;
}
