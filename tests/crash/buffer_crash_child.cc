// The process the buffer crash test kills. It appends from several producer
// threads (each keeping appends in flight), consumes with one consumer, and
// writes one line to stdout per outcome, *after* the buffer reported it:
//   R <producer> <resume-seq>     at start, the producer's resume point
//   A <offset> <producer> <seq>   an append completed (durable)
//   D <producer> <seq>            a re-sent seq was answered as a duplicate
//   C <next>                      the consumer's cursor commit completed
//   E <message>                   something the test must fail on
// Each line is one write(2), so what the parent reads was reported before the
// process died.
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "base/mutex.h"
#include "storage/rocksdb/rocksdb_buffer.h"
#include "tests/crash/crash_payload.h"

ABSL_FLAG(std::string, dir, "", "buffer directory");
ABSL_FLAG(int, threads, 4, "producer threads");
ABSL_FLAG(int, in_flight, 8, "appends in flight per producer");
ABSL_FLAG(int, max_appends, 0, "stop after this many appends in all (0 = run until killed)");
ABSL_FLAG(int, payload_bytes, 2000, "payload size");
ABSL_FLAG(bool, consume, true, "run a consumer that reads, checks and commits");

namespace {

using tributary::Mutex;
using tributary::MutexLock;
using tributary::storage::AppendResult;

void Report(const std::string& line) {
  const std::string l = line + "\n";
  if (write(STDOUT_FILENO, l.data(), l.size()) != static_cast<ssize_t>(l.size())) _exit(3);
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto opened = tributary::storage::RocksDbBuffer::Open(absl::GetFlag(FLAGS_dir), {});
  if (!opened.ok()) {
    Report(absl::StrCat("E open: ", opened.status().ToString()));
    return 1;
  }
  auto& buffer = *opened;
  const int max_appends = absl::GetFlag(FLAGS_max_appends);
  const size_t payload_bytes = absl::GetFlag(FLAGS_payload_bytes);
  std::atomic<int> started{0};
  std::atomic<bool> producers_done{false};

  std::vector<std::thread> threads;
  for (int t = 0; t < absl::GetFlag(FLAGS_threads); ++t) {
    threads.emplace_back([&, t] {
      const std::string producer = absl::StrCat("p", t);
      const uint64_t resume = buffer->ResumePoint(producer);
      Report(absl::StrCat("R ", producer, " ", resume));
      if (resume > 0) {
        // The last stored batch, re-sent as a reconnecting client would.
        auto again = buffer->AppendAndWait(
            {producer, resume, 1, tributary::crash::Payload(producer, resume, payload_bytes)});
        if (again.ok() && again->duplicate) {
          Report(absl::StrCat("D ", producer, " ", resume));
        } else {
          Report(absl::StrCat("E resend of ", producer, " ", resume, " was not a duplicate"));
        }
      }
      Mutex mu;
      int in_flight = 0;
      for (uint64_t seq = resume + 1;; ++seq) {
        if (max_appends > 0 && started.fetch_add(1) >= max_appends) break;
        {
          MutexLock l(&mu);
          auto room = [&] { return in_flight < absl::GetFlag(FLAGS_in_flight); };
          mu.Await(room);
          ++in_flight;
        }
        buffer->Append({producer, seq, 1, tributary::crash::Payload(producer, seq, payload_bytes)},
                       [&, seq](absl::StatusOr<AppendResult> r) {
                         if (!r.ok() || r->duplicate) {
                           Report(absl::StrCat("E append ", producer, " ", seq, ": ",
                                               r.ok() ? "duplicate" : r.status().ToString()));
                         } else {
                           Report(absl::StrCat("A ", r->offset, " ", producer, " ", seq));
                         }
                         MutexLock l(&mu);
                         --in_flight;
                       });
      }
      MutexLock l(&mu);
      auto drained = [&] { return in_flight == 0; };
      mu.Await(drained);
    });
  }

  std::thread consumer;
  if (absl::GetFlag(FLAGS_consume)) {
    consumer = std::thread([&] {
      auto state = buffer->OpenConsumer("crash-consumer");
      if (!state.ok()) {
        Report("E open consumer: " + state.status().ToString());
        return;
      }
      uint64_t next = state->next;
      while (!producers_done.load()) {
        if (!buffer->WaitForEntries(next, absl::Now() + absl::Milliseconds(20))) continue;
        auto entries = buffer->Read(next, 16, 4 << 20);
        if (!entries.ok()) {
          Report("E read: " + entries.status().ToString());
          return;
        }
        for (const auto& e : *entries) {
          if (!tributary::crash::ParsePayload(e.payload, payload_bytes)) {
            Report(absl::StrCat("E malformed payload at offset ", e.offset));
          }
          next = e.offset + 1;
        }
        if (absl::Status s = buffer->CommitCursor("crash-consumer", next); !s.ok()) {
          Report("E commit: " + s.ToString());
          return;
        }
        Report(absl::StrCat("C ", next));
      }
    });
  }
  for (auto& t : threads) t.join();
  producers_done = true;
  if (consumer.joinable()) consumer.join();
  if (absl::Status s = buffer->Close(); !s.ok()) {
    Report("E close: " + s.ToString());
    return 1;
  }
  return 0;
}
