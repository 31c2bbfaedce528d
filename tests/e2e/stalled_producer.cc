// A producer that never reads its acks. It opens an IngestService stream with
// a small receive window that does not grow, sends batches whose acks are
// large (every record rejected, with reasons), and then holds the stream open
// until it is killed. The collector's ack writes block on flow control, so
// its graceful shutdown cannot finish acking: a test can check that shutdown
// stays bounded, and what a second signal does.
//
//   stalled_producer HOST:PORT
// prints "sent N" once its batches are written.
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "tributary/v1/ingest.pb.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: stalled_producer HOST:PORT\n");
    return 2;
  }
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 1024);
  auto channel = grpc::CreateCustomChannel(argv[1], grpc::InsecureChannelCredentials(), args);
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  grpc::CompletionQueue cq;
  auto call = stub.PrepareCall(&ctx, "/tributary.v1.IngestService/Stream", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  if (!cq.Next(&tag, &ok) || !ok) {
    std::fprintf(stderr, "stalled_producer: cannot start the stream\n");
    return 1;
  }
  constexpr int kBatches = 200;
  for (int seq = 1; seq <= kBatches; ++seq) {
    tributary::v1::IngestBatch batch;
    batch.set_producer_id("stalled");
    batch.set_seq(seq);
    // Records that fail for different reasons: each ack lists them all.
    for (int i = 0; i < 8; ++i) {
      auto* r = batch.add_logs();
      r->set_severity_number(100 + i);
      r->set_trace_id(std::string(1 + i, 'x'));
    }
    auto* bad_span = batch.add_spans();
    bad_span->set_trace_id("short");
    const std::string bytes = batch.SerializeAsString();
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    call->Write(buffer, reinterpret_cast<void*>(2));
    const auto status = cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() +
                                                    std::chrono::seconds(10));
    if (status != grpc::CompletionQueue::GOT_EVENT || !ok) {
      // The collector stopped reading (its acks are stuck): that is stalled too.
      std::printf("sent %d\n", seq - 1);
      std::fflush(stdout);
      std::this_thread::sleep_for(std::chrono::hours(1));
      return 0;
    }
  }
  std::printf("sent %d\n", kBatches);
  std::fflush(stdout);
  // Hold the stream (and its unread acks) until killed.
  std::this_thread::sleep_for(std::chrono::hours(1));
  return 0;
}
