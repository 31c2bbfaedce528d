#include "tools/bench/bench_record.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace tributary::bench {

namespace {

// splitmix64: a different, repeatable value per record.
uint64_t Mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

}  // namespace

std::string ReferenceBody(uint64_t n) {
  // A request log line: a fixed shape with ids, codes and timings that vary
  // per record, so that it compresses as service logs do (LZ4 about 3x), not
  // as a padded string would.
  static const char* const kMethods[] = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
  static const char* const kPaths[] = {"/api/v1/orders", "/api/v1/cart", "/api/v1/payments",
                                       "/api/v2/users", "/api/v1/inventory", "/healthz"};
  static const int kCodes[] = {200, 200, 200, 200, 201, 204, 304, 400, 404, 429, 500, 503};
  static const char* const kRegions[] = {"eu-west-1", "us-east-2", "ap-south-1"};
  uint64_t h = Mix(n);
  std::string body = absl::StrFormat(
      "request %020d handled; %s %s/%d status=%d duration_ms=%d user=u%07d session=%016x "
      "region=%s",
      n, kMethods[h % 6], kPaths[(h >> 3) % 6], (h >> 8) % 100000, kCodes[(h >> 25) % 12],
      (h >> 29) % 2000, (h >> 40) % 10000000, Mix(h), kRegions[(h >> 60) % 3]);
  for (int i = 0; body.size() < 200; ++i) {
    h = Mix(h);
    absl::StrAppendFormat(&body, " %s=%d", i % 2 ? "bytes_out" : "upstream_ms", h % 100000);
  }
  body.resize(200);
  return body;
}

tributary::v1::LogRecord ReferenceRecord(uint64_t n) {
  // Stamped from the process's start, so backends that refuse old records
  // (Loki: older than a week) take them.
  static const uint64_t start = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  tributary::v1::LogRecord r;
  r.set_time_unix_nano(start + n);
  r.set_severity_number(9);
  r.set_body(ReferenceBody(n));
  for (int i = 0; i < 5; ++i) {
    auto* a = r.add_attributes();
    a->set_key(absl::StrFormat("attr.key.%d", i));
    a->set_value(absl::StrFormat("value-%014d", n + i));
  }
  std::string trace(16, '\0'), span(8, '\0');
  for (int i = 0; i < 16; ++i) trace[i] = static_cast<char>((n >> (i % 8)) + i);
  for (int i = 0; i < 8; ++i) span[i] = static_cast<char>((n >> i) + 3 * i);
  r.set_trace_id(trace);
  r.set_span_id(span);
  return r;
}

tributary::v1::IngestBatch ReferenceBatch(const std::string& producer, uint64_t seq, int records) {
  tributary::v1::IngestBatch b;
  b.set_producer_id(producer);
  b.set_seq(seq);
  b.mutable_resource()->set_service_name("checkout");
  b.mutable_resource()->set_host("bench-host");
  for (int i = 0; i < records; ++i) *b.add_logs() = ReferenceRecord(seq * records + i);
  return b;
}

}  // namespace tributary::bench
