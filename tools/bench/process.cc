#include "tools/bench/process.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace tributary::bench {

Process Spawn(const std::vector<std::string>& argv, const std::string& log) {
  Process p;
  p.log = log;
  // Emptied here, before the child exists: a reader polling the log must not
  // find a line an earlier run left there (the child truncates it only once
  // it runs).
  const int truncate = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (truncate >= 0) close(truncate);
  p.pid = fork();
  if (p.pid == 0) {
    const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1);
    dup2(fd, 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  return p;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The port from the "msg=listening grpc=HOST:PORT" line.
int AwaitListening(const Process& p) {
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (absl::Now() < deadline) {
    const std::string text = Slurp(p.log);
    const size_t at = text.find("msg=listening grpc=");
    if (at != std::string::npos) {
      const size_t colon = text.find(':', at + 19);
      int port = 0;
      if (absl::SimpleAtoi(text.substr(colon + 1, text.find_first_of(" \n", colon) - colon - 1),
                           &port)) {
        return port;
      }
    }
    int status;
    if (waitpid(p.pid, &status, WNOHANG) == p.pid) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::fprintf(stderr, "server did not start:\n%s\n", Slurp(p.log).c_str());
  std::exit(1);
}

void Stop(Process& p) {
  kill(p.pid, SIGTERM);
  for (int i = 0; i < 300; ++i) {
    int status;
    if (waitpid(p.pid, &status, WNOHANG) == p.pid) return;
    absl::SleepFor(absl::Milliseconds(50));
  }
  kill(p.pid, SIGKILL);
  waitpid(p.pid, nullptr, 0);
}

Load RunLoadgen(int port, int producers, double rate, int seconds, const std::string& log) {
  std::vector<std::string> argv = {"tools/cli/tributary",
                                   "loadgen",
                                   absl::StrCat("--target=127.0.0.1:", port),
                                   absl::StrCat("--producers=", producers),
                                   "--in_flight=8",
                                   "--batch=1000",
                                   absl::StrCat("--duration=", seconds, "s"),
                                   "--drain_timeout=60s"};
  if (rate > 0) argv.push_back(absl::StrCat("--rate=", static_cast<int64_t>(rate)));
  Process p = Spawn(argv, log);
  int status = 0;
  waitpid(p.pid, &status, 0);
  const std::string out = Slurp(log);
  Load load;
  const size_t at = out.find("RESULT ");
  if (at == std::string::npos || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    std::fprintf(stderr, "loadgen failed:\n%s\n", out.c_str());
    std::exit(1);
  }
  for (absl::string_view kv : absl::StrSplit(out.substr(at + 7, out.find('\n', at) - at - 7), ' ')) {
    std::pair<std::string, std::string> p2 = absl::StrSplit(kv, '=');
    if (p2.first == "records_per_s") absl::SimpleAtod(p2.second, &load.records_per_s);
    if (p2.first == "ack_p50_ms") absl::SimpleAtod(p2.second, &load.p50_ms);
    if (p2.first == "ack_p99_ms") absl::SimpleAtod(p2.second, &load.p99_ms);
  }
  return load;
}

}  // namespace tributary::bench
