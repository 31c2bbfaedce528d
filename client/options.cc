#include "client/options.h"

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace tributary::client {
namespace {

// Reads TRIBUTARY_* variables, collecting every problem.
class Env {
 public:
  const char* Get(const char* name) const {
    const char* v = std::getenv(name);
    return (v == nullptr || *v == '\0') ? nullptr : v;
  }

  void String(const char* name, std::string* out) const {
    if (const char* v = Get(name)) *out = v;
  }

  // True if the variable was set and parsed.
  template <typename T>
  bool Unsigned(const char* name, T* out) {
    const char* v = Get(name);
    if (v == nullptr) return false;
    uint64_t n = 0;
    if (!absl::SimpleAtoi(v, &n)) {
      Problem(name, v, "a non-negative integer");
      return false;
    }
    *out = static_cast<T>(n);
    return true;
  }

  void Bool(const char* name, bool* out) {
    const char* v = Get(name);
    if (v == nullptr) return;
    if (!absl::SimpleAtob(v, out)) Problem(name, v, "true or false");
  }

  void Double(const char* name, double* out) {
    const char* v = Get(name);
    if (v == nullptr) return;
    if (!absl::SimpleAtod(v, out)) Problem(name, v, "a number");
  }

  // A count of `unit`s.
  void Duration(const char* name, absl::Duration unit, absl::Duration* out) {
    int64_t n = 0;
    if (Unsigned(name, &n)) *out = n * unit;
  }

  std::vector<std::string> List(const char* name) const {
    std::vector<std::string> items;
    if (const char* v = Get(name)) {
      for (absl::string_view item : absl::StrSplit(v, ',', absl::SkipWhitespace())) {
        items.emplace_back(absl::StripAsciiWhitespace(item));
      }
    }
    return items;
  }

  void Problem(const char* name, const char* value, const char* expected) {
    problems_.push_back(absl::StrCat(name, "=", value, ": expected ", expected));
  }
  void Problem(std::string text) { problems_.push_back(std::move(text)); }

  absl::Status status() const {
    if (problems_.empty()) return absl::OkStatus();
    return absl::InvalidArgumentError(
        absl::StrCat("bad environment: ", absl::StrJoin(problems_, "; ")));
  }

 private:
  std::vector<std::string> problems_;
};

}  // namespace

absl::Status ApplyEnvironment(ClientOptions* o) {
  Env env;
  if (auto endpoints = env.List("TRIBUTARY_ENDPOINT"); !endpoints.empty()) {
    o->endpoints = endpoints;
  }
  env.String("TRIBUTARY_SERVICE_NAME", &o->resource.service_name);
  env.String("TRIBUTARY_SERVICE_INSTANCE_ID", &o->resource.service_instance_id);
  env.String("TRIBUTARY_HOST", &o->resource.host);
  for (const std::string& item : env.List("TRIBUTARY_RESOURCE_ATTRIBUTES")) {
    std::pair<std::string, std::string> kv = absl::StrSplit(item, absl::MaxSplits('=', 1));
    if (kv.first.empty() || item.find('=') == std::string::npos) {
      env.Problem(absl::StrCat("TRIBUTARY_RESOURCE_ATTRIBUTES: '", item,
                               "' is not key=value"));
      continue;
    }
    o->resource.attributes[kv.first] = kv.second;
  }
  env.String("TRIBUTARY_PRODUCER_ID", &o->producer_id);

  env.Bool("TRIBUTARY_TLS", &o->tls.enabled);
  for (auto [name, field] : {std::pair{"TRIBUTARY_TLS_CA_FILE", &o->tls.ca_file},
                             std::pair{"TRIBUTARY_TLS_CERT_FILE", &o->tls.cert_file},
                             std::pair{"TRIBUTARY_TLS_KEY_FILE", &o->tls.key_file},
                             std::pair{"TRIBUTARY_TLS_SERVER_NAME", &o->tls.server_name}}) {
    if (env.Get(name) != nullptr) {
      *field = env.Get(name);
      o->tls.enabled = true;
    }
  }

  env.Unsigned("TRIBUTARY_QUEUE_MAX_RECORDS", &o->queue.max_records);
  env.Unsigned("TRIBUTARY_QUEUE_MAX_BYTES", &o->queue.max_bytes);
  if (const char* v = env.Get("TRIBUTARY_COMPRESSION")) {
    const std::string c = absl::AsciiStrToLower(v);
    if (c == "none") {
      o->compression = Compression::kNone;
    } else if (c == "gzip") {
      o->compression = Compression::kGzip;
    } else {
      env.Problem("TRIBUTARY_COMPRESSION", v, "none or gzip");
    }
  }
  if (const char* v = env.Get("TRIBUTARY_BACKPRESSURE")) {
    const std::string p = absl::AsciiStrToLower(v);
    if (p == "drop") {
      o->queue.policy = Backpressure::kDrop;
    } else if (p == "block") {
      o->queue.policy = Backpressure::kBlock;
    } else {
      env.Problem("TRIBUTARY_BACKPRESSURE", v, "drop or block");
    }
  }
  env.Duration("TRIBUTARY_DROP_WAIT_US", absl::Microseconds(1), &o->queue.drop_wait);
  env.Duration("TRIBUTARY_BLOCK_DEADLINE_MS", absl::Milliseconds(1), &o->queue.block_deadline);
  if (env.Get("TRIBUTARY_PROTECTED_LEVELS") != nullptr) {
    o->protected_levels.clear();
    for (const std::string& name : env.List("TRIBUTARY_PROTECTED_LEVELS")) {
      Level level;
      if (ParseLevel(name, &level)) {
        o->protected_levels.push_back(level);
      } else {
        env.Problem(absl::StrCat("TRIBUTARY_PROTECTED_LEVELS: '", name, "' is not a level"));
      }
    }
  }
  env.Double("TRIBUTARY_SAMPLING_RATIO", &o->sampling_ratio);
  env.Bool("TRIBUTARY_REDACTION", &o->redaction.enabled);
  env.Unsigned("TRIBUTARY_BATCH_MAX_RECORDS", &o->batch.max_records);
  env.Duration("TRIBUTARY_BATCH_MAX_DELAY_MS", absl::Milliseconds(1), &o->batch.max_delay);
  env.Duration("TRIBUTARY_FLUSH_INTERVAL_MS", absl::Milliseconds(1), &o->flush_interval);
  env.Duration("TRIBUTARY_KEEPALIVE_TIME_MS", absl::Milliseconds(1), &o->retry.keepalive_time);
  env.Bool("TRIBUTARY_EXPORT_CLIENT_METRICS", &o->export_client_metrics);
  return env.status();
}

absl::Status Validate(const ClientOptions& o) {
  std::vector<std::string> problems;
  auto check = [&](bool ok, const char* what) {
    if (!ok) problems.emplace_back(what);
  };
  check(!o.endpoints.empty(), "endpoints is empty");
  for (const std::string& e : o.endpoints) {
    if (e.empty()) problems.emplace_back("endpoints contains an empty address");
  }
  check(!o.resource.service_name.empty(), "resource.service_name is empty");
  check(o.queue.max_records >= 2 && o.queue.max_records <= 1000000,
        "queue.max_records must be from 2 to 1000000");
  check(o.queue.max_bytes >= 1024, "queue.max_bytes must be at least 1024");
  check(o.queue.drop_wait >= absl::ZeroDuration(), "queue.drop_wait is negative");
  check(o.queue.block_deadline >= absl::ZeroDuration(), "queue.block_deadline is negative");
  check(o.sampling_ratio >= 0 && o.sampling_ratio <= 1, "sampling_ratio must be in [0, 1]");
  check(o.batch.max_records >= 1, "batch.max_records must be at least 1");
  check(o.batch.max_bytes >= 1024, "batch.max_bytes must be at least 1024");
  check(o.batch.max_delay > absl::ZeroDuration(), "batch.max_delay must be positive");
  check(o.max_in_flight_batches >= 1, "max_in_flight_batches must be at least 1");
  check(o.max_unacked_bytes >= o.batch.max_bytes,
        "max_unacked_bytes must be at least batch.max_bytes");
  check(o.flush_interval > absl::ZeroDuration(), "flush_interval must be positive");
  check(o.retry.initial_backoff > absl::ZeroDuration() &&
            o.retry.max_backoff >= o.retry.initial_backoff,
        "retry: need 0 < initial_backoff <= max_backoff");
  check(o.retry.connect_timeout > absl::ZeroDuration(), "retry.connect_timeout must be positive");
  check(o.retry.ack_timeout > absl::ZeroDuration(), "retry.ack_timeout must be positive");
  check(o.retry.keepalive_time == absl::ZeroDuration() ||
            o.retry.keepalive_time >= absl::Seconds(1),
        "retry.keepalive_time must be 0 (no pings) or at least 1s");
  check(o.retry.keepalive_timeout > absl::ZeroDuration(),
        "retry.keepalive_timeout must be positive");
  check(o.limits.max_fields <= UINT16_MAX, "limits.max_fields must be at most 65535");
  if (o.tls.enabled) {
    for (const auto& [name, path] : {std::pair{"tls.ca_file", &o.tls.ca_file},
                                     std::pair{"tls.cert_file", &o.tls.cert_file},
                                     std::pair{"tls.key_file", &o.tls.key_file}}) {
      if (path->empty()) continue;
      if (FILE* f = std::fopen(path->c_str(), "rb")) {
        std::fclose(f);
      } else {
        problems.push_back(absl::StrCat(name, " ", *path, " cannot be read"));
      }
    }
    check(o.tls.cert_file.empty() == o.tls.key_file.empty(),
          "tls.cert_file and tls.key_file go together");
  }
  if (o.redaction.enabled) {
    auto redactor =
        Redactor::Create(o.redaction.keys, o.redaction.patterns, o.redaction.replacement);
    if (!redactor.ok()) problems.emplace_back(redactor.status().message());
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("bad client options: ", absl::StrJoin(problems, "; ")));
}

}  // namespace tributary::client
