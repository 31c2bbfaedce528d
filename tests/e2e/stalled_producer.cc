// A producer that never reads its acks: it opens an IngestService stream and
// sends handshakes until flow control stops it, then holds the stream open
// until it is killed. With it the collector's shutdown cannot finish acking,
// so a test can check what a second signal does.
//
//   stalled_producer HOST:PORT
// prints "stalled after N" once a write has not completed for 2 s (here after
// some 750,000 handshakes, ~8 s: gRPC buffers that many unread acks).
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
  auto channel = grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials());
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
  tributary::v1::IngestBatch hello;
  hello.set_producer_id("stalled");
  const std::string bytes = hello.SerializeAsString();
  for (long n = 0; n < 10'000'000; ++n) {
    grpc::Slice slice(bytes);
    grpc::ByteBuffer buffer(&slice, 1);
    call->Write(buffer, reinterpret_cast<void*>(2));
    const auto status = cq.AsyncNext(&tag, &ok, std::chrono::system_clock::now() +
                                                    std::chrono::seconds(2));
    if (status == grpc::CompletionQueue::TIMEOUT) {
      std::printf("stalled after %ld\n", n);
      std::fflush(stdout);
      // Hold the stream (and its unread acks) until killed.
      std::this_thread::sleep_for(std::chrono::hours(1));
      return 0;
    }
    if (!ok) {
      std::fprintf(stderr, "stalled_producer: write %ld failed\n", n);
      return 1;
    }
  }
  std::fprintf(stderr, "stalled_producer: flow control never stopped the writes\n");
  return 1;
}
