#include "tools/bench/bench_record.h"

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"

namespace tributary::bench {

tributary::v1::LogRecord ReferenceRecord(uint64_t n) {
  // Stamped from the process's start, so backends that refuse old records
  // (Loki: older than a week) take them.
  static const uint64_t start = static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()));
  tributary::v1::LogRecord r;
  r.set_time_unix_nano(start + n);
  r.set_severity_number(9);
  std::string body = absl::StrFormat("request %020d handled; ", n);
  body.resize(200, 'x');
  r.set_body(body);
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
