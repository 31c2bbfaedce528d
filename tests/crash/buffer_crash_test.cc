// Crash safety of the write-ahead buffer with a real process and kill -9.
//
// A child process appends from several threads and consumes; it reports every
// durable append and every cursor commit on a pipe. The test kills it at
// random moments, reopens the buffer and checks that every reported append is
// there with its content, that the consumer's cursor is not behind what was
// reported, and that no (producer, seq) is stored twice — across 24 kills.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "storage/rocksdb/rocksdb_buffer.h"
#include "tests/crash/crash_payload.h"

namespace tributary::storage {
namespace {

constexpr int kKills = 24;
constexpr size_t kPayloadBytes = 2000;

std::string ChildPath() {
  return absl::StrCat(std::getenv("TEST_SRCDIR"), "/", std::getenv("TEST_WORKSPACE"),
                      "/tests/crash/buffer_crash_child");
}

struct Child {
  pid_t pid = -1;
  int out = -1;
};

Child Spawn(const std::string& dir) {
  int fds[2];
  EXPECT_EQ(pipe(fds), 0);
  const std::string path = ChildPath();
  const std::string dir_flag = "--dir=" + dir;
  const std::string payload_flag = absl::StrCat("--payload_bytes=", kPayloadBytes);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], STDOUT_FILENO);
    close(fds[0]);
    close(fds[1]);
    execl(path.c_str(), path.c_str(), dir_flag.c_str(), payload_flag.c_str(), "--threads=4",
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  return {pid, fds[0]};
}

// Reads from `fd` into `text` until the deadline (or EOF).
void ReadUntil(int fd, absl::Time deadline, std::string* text) {
  char buf[65536];
  for (;;) {
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(ms)) <= 0) continue;
    const ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) return;
    text->append(buf, n);
  }
}

struct Acked {
  std::string producer;
  uint64_t seq;
};

TEST(BufferCrashTest, KillNineNeverLosesAnAcknowledgedAppend) {
  const std::string dir = absl::StrCat(std::getenv("TEST_TMPDIR"), "/crash-buffer");
  std::filesystem::remove_all(dir);
  std::mt19937 rng(20261122);
  std::uniform_int_distribution<int> delay_ms(20, 400);

  std::map<uint64_t, Acked> acked;             // offset -> what was stored there
  std::map<std::string, uint64_t> max_seq;     // producer -> highest acked seq
  uint64_t max_cursor = 0;
  int duplicates_confirmed = 0;
  int tail_reports = 0;

  for (int kill_no = 0; kill_no < kKills; ++kill_no) {
    Child child = Spawn(dir);
    ASSERT_GT(child.pid, 0);
    std::string text;
    ReadUntil(child.out, absl::Now() + absl::Milliseconds(delay_ms(rng)), &text);
    ASSERT_EQ(kill(child.pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child.pid, &status, 0), child.pid);
    // Whatever the child wrote before it died is still in the pipe.
    ReadUntil(child.out, absl::Now() + absl::Seconds(5), &text);
    close(child.out);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited on its own: " << text.substr(0, 500);

    int appends_this_run = 0;
    for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
      std::vector<std::string> f = absl::StrSplit(line, ' ');
      ASSERT_NE(f[0], "E") << line;
      if (f[0] == "A") {
        ASSERT_EQ(f.size(), 4u) << line;
        const uint64_t offset = std::stoull(f[1]);
        const uint64_t seq = std::stoull(f[3]);
        ASSERT_EQ(acked.count(offset), 0u) << "offset reused: " << line;
        acked[offset] = {f[2], seq};
        max_seq[f[2]] = std::max(max_seq[f[2]], seq);
        ++appends_this_run;
      } else if (f[0] == "C") {
        const uint64_t next = std::stoull(f[1]);
        ASSERT_GE(next, max_cursor) << "cursor went back";
        max_cursor = next;
      } else if (f[0] == "D") {
        ++duplicates_confirmed;
      }
    }

    // The check's own maintenance stays off: it would trim consumed entries
    // while the loop below reads them (the child trims as it runs).
    BufferOptions check_options;
    check_options.maintenance_interval = absl::Hours(1);
    auto buffer = RocksDbBuffer::Open(dir, check_options);
    ASSERT_TRUE(buffer.ok()) << "after kill " << kill_no << ": " << buffer.status();
    if ((*buffer)->open_report().wal_tail_dropped) ++tail_reports;
    for (const auto& [producer, seq] : max_seq) {
      EXPECT_GE((*buffer)->ResumePoint(producer), seq) << producer << " after kill " << kill_no;
    }
    auto consumer = (*buffer)->OpenConsumer("crash-consumer");
    ASSERT_TRUE(consumer.ok());
    EXPECT_GE(consumer->next, max_cursor) << "cursor went back across kill " << kill_no;

    // Every acknowledged append not yet consumed (and so not yet removed) is
    // there, at its offset, with its content.
    const BufferStats stats = (*buffer)->Stats();
    for (auto it = acked.lower_bound(stats.first_offset); it != acked.end(); ++it) {
      auto read = (*buffer)->Read(it->first, 1, 1 << 20);
      ASSERT_TRUE(read.ok()) << read.status();
      ASSERT_EQ(read->size(), 1u) << "acknowledged offset " << it->first << " missing";
      ASSERT_EQ((*read)[0].offset, it->first)
          << "acknowledged offset " << it->first << " missing; first_offset "
          << stats.first_offset << ", next_offset " << stats.next_offset << ", durable_end "
          << stats.durable_end << ", cursor " << consumer->next << ", now first "
          << (*buffer)->Stats().first_offset;
      ASSERT_EQ((*read)[0].payload,
                crash::Payload(it->second.producer, it->second.seq, kPayloadBytes));
    }
    // Exactly once: no (producer, seq) appears twice among the stored entries.
    std::map<std::pair<std::string, uint64_t>, uint64_t> stored;
    uint64_t from = stats.first_offset;
    for (;;) {
      auto batch = (*buffer)->Read(from, 256, 64 << 20);
      ASSERT_TRUE(batch.ok()) << batch.status();
      if (batch->empty()) break;
      for (const Entry& e : *batch) {
        auto id = crash::ParsePayload(e.payload, kPayloadBytes);
        ASSERT_TRUE(id.has_value()) << "malformed entry at " << e.offset;
        auto [it, inserted] = stored.emplace(*id, e.offset);
        ASSERT_TRUE(inserted) << id->first << " seq " << id->second << " stored at " << it->second
                              << " and " << e.offset;
        from = e.offset + 1;
      }
    }
    ASSERT_TRUE((*buffer)->Close().ok());
    std::cerr << "kill " << kill_no << ": " << appends_this_run << " acked appends, "
              << stored.size() << " retained, cursor " << consumer->next << "\n";
  }
  EXPECT_GT(acked.size(), 100u) << "the child made too little progress to test anything";
  EXPECT_GT(duplicates_confirmed, kKills / 2) << "re-sends after restarts were not deduplicated";
  std::cerr << "total acked " << acked.size() << ", duplicates confirmed " << duplicates_confirmed
            << ", torn tails reported " << tail_reports << "\n";
}

}  // namespace
}  // namespace tributary::storage
