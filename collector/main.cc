// tributaryd: the Tributary collector.
//
//   tributaryd [--config=FILE] [--data_dir=DIR] [--grpc_listen=HOST:PORT]
//              [--http_listen=HOST:PORT]
//
// Exit codes: 0 after a clean shutdown (SIGTERM or SIGINT); 1 if the buffer
// cannot be opened or closed cleanly, or on a second signal (immediate exit;
// the buffer stays crash-safe); 2 for a bad command line or configuration
// (every problem is listed) or an address that cannot be bound.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "collector/config/config.h"
#include "collector/daemon.h"
#include "google/protobuf/stubs/logging.h"

namespace {

constexpr char kUsage[] =
    "usage: tributaryd [--config=FILE] [--data_dir=DIR] [--grpc_listen=HOST:PORT] "
    "[--http_listen=HOST:PORT]\n"
    "With no --config the collector runs on embedded defaults: gRPC on 127.0.0.1:4317, HTTP\n"
    "on 127.0.0.1:8888, data in ./tributary-data, durability sync.\n";

// Protobuf reports parse problems (a string field that is not UTF-8, say)
// through its log; one bad sender must not flood ours.
void ProtobufLog(google::protobuf::LogLevel level, const char* file, int line,
                 const std::string& message) {
  if (level == google::protobuf::LOGLEVEL_FATAL) {
    tributary::log::Error("protobuf", {{"message", message}, {"at", absl::StrCat(file, ":", line)}});
    return;
  }
  tributary::log::WarnEvery("protobuf", absl::Seconds(10), "protobuf",
                            {{"message", message}});
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  tributary::collector::Overrides overrides;
  std::map<std::string, std::string*> flags = {{"config", &config_path},
                                               {"data_dir", &overrides.data_dir},
                                               {"grpc_listen", &overrides.grpc_listen},
                                               {"http_listen", &overrides.http_listen}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    }
    if (!absl::StartsWith(arg, "--")) {
      std::fprintf(stderr, "tributaryd: unexpected argument \"%s\"\n%s", arg.c_str(), kUsage);
      return 2;
    }
    arg = arg.substr(2);
    std::string value;
    const size_t eq = arg.find('=');
    bool has_value = eq != std::string::npos;
    if (has_value) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto it = flags.find(arg);
    if (it == flags.end()) {
      std::fprintf(stderr, "tributaryd: unknown flag --%s\n%s", arg.c_str(), kUsage);
      return 2;
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "tributaryd: --%s needs a value\n", arg.c_str());
        return 2;
      }
      value = argv[++i];
    }
    if (value.empty()) {
      std::fprintf(stderr, "tributaryd: --%s must not be empty\n", arg.c_str());
      return 2;
    }
    *it->second = value;
  }

  tributary::collector::LoadResult loaded = tributary::collector::LoadConfig(config_path, overrides);
  if (!loaded.problems.empty()) {
    std::fprintf(stderr, "tributaryd: the configuration has %zu problem%s:\n",
                 loaded.problems.size(), loaded.problems.size() == 1 ? "" : "s");
    for (const std::string& p : loaded.problems) std::fprintf(stderr, "  %s\n", p.c_str());
    return 2;
  }

  // Signals are taken by sigwait below, never by a handler on a random
  // thread: block them before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  google::protobuf::SetLogHandler(&ProtobufLog);

  tributary::log::Info("starting", {{"config", config_path.empty() ? "(embedded defaults)"
                                                                   : config_path},
                                    {"pid", static_cast<long>(getpid())}});
  auto daemon = tributary::collector::Daemon::Start(loaded.config);
  if (!daemon.ok()) {
    const bool config_problem = daemon.status().code() == absl::StatusCode::kFailedPrecondition;
    tributary::log::Error(config_problem ? "cannot start: configuration" : "cannot start",
                          {{"error", std::string(daemon.status().message())}});
    if (daemon.status().code() == absl::StatusCode::kDataLoss) {
      std::fprintf(stderr, "tributaryd: check the buffer with `tributary wal verify %s`\n",
                   loaded.config.storage.data_dir.c_str());
    }
    return config_problem ? 2 : 1;
  }

  int signal_number = 0;
  sigwait(&signals, &signal_number);
  tributary::log::Info("signal received", {{"signal", strsignal(signal_number)}});
  // A second signal exits at once; the buffer is crash-safe without Close.
  std::thread second([signals]() mutable {
    int again = 0;
    sigwait(&signals, &again);
    tributary::log::Warn("second signal: exiting without a clean shutdown",
                         {{"signal", strsignal(again)}});
    std::fflush(stderr);
    _exit(1);
  });
  second.detach();
  const absl::Status closed = (*daemon)->Shutdown();
  return closed.ok() ? 0 : 1;
}
