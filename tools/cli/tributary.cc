// tributary: the command-line tool.
//
//   tributary wal verify DIR   check a write-ahead buffer offline (exit 0 clean,
//                              1 damaged, 2 cannot examine)
//   tributary wal repair DIR   rebuild a damaged buffer from every intact entry
//                              (the collector must be stopped)
//   tributary wal dump DIR     print every entry as a JSON line (OTLP JSON per
//                              signal), for inspection and tests
//   tributary loadgen ...      stream synthetic records to a collector
//                              (`tributary loadgen --help`)
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "exporters/otlp/convert.h"
#include "google/protobuf/util/json_util.h"
#include "storage/rocksdb/buffer_repair.h"
#include "storage/rocksdb/rocksdb_buffer.h"
#include "tools/cli/loadgen.h"

namespace {

constexpr char kUsage[] =
    "usage:\n"
    "  tributary wal verify DIR   check a write-ahead buffer (exit 0 clean, 1 damaged)\n"
    "  tributary wal repair DIR   rebuild a damaged buffer, keeping every intact entry\n"
    "  tributary wal dump DIR     print every entry as one JSON line (OTLP JSON per signal)\n"
    "  tributary loadgen [flags]  stream synthetic records to a collector (--help)\n"
    "  tributary loadgen verify --data_dir=DIR --acked=FILE\n"
    "                             check that every acked batch is stored exactly once\n";

int WalVerify(const std::string& dir) {
  auto report = tributary::storage::VerifyBuffer(dir);
  if (!report.ok()) {
    std::cerr << "wal verify: " << report.status().message() << "\n";
    return 2;
  }
  std::cout << "buffer " << dir << "\n"
            << "  entries:   " << report->entries << " (offsets " << report->first_offset << "-"
            << report->last_offset << ")\n"
            << "  records:   " << report->records << "\n"
            << "  payload:   " << report->payload_bytes << " bytes stored ("
            << report->appended_payload_bytes << " as appended)\n"
            << "  producers: " << report->producers << "\n"
            << "  consumers: " << report->consumers << "\n";
  for (const auto& line : report->cursor_lines) std::cout << "    " << line << "\n";
  if (report->healthy) {
    std::cout << "OK: no damage found\n";
    return 0;
  }
  std::cout << "DAMAGED:\n";
  for (const auto& p : report->problems) std::cout << "  - " << p << "\n";
  std::cout << "Run `tributary wal repair " << dir << "` with the collector stopped.\n";
  return 1;
}

int WalRepair(const std::string& dir) {
  auto report = tributary::storage::RepairBuffer(dir);
  if (!report.ok()) {
    std::cerr << "wal repair: " << report.status().message() << "\n";
    return 2;
  }
  for (const auto& n : report->notes) std::cout << "note: " << n << "\n";
  std::cout << "kept " << report->kept_entries << " entries (" << report->kept_records
            << " records)\n"
            << "lost " << report->lost_entries << " entries (" << report->lost_records
            << " records)" << (report->index_readable ? "" : " at least") << "\n";
  for (const auto& r : report->lost_ranges) std::cout << "  lost " << r << "\n";
  std::cout << "the original files are kept in " << report->damaged_copy << "\n";
  return 0;
}

std::string JsonQuote(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string Json(const google::protobuf::Message& m) {
  std::string out;
  google::protobuf::util::JsonPrintOptions options;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

// One line per entry: {"offset":N,"producer_id":"...","seq":N,"records":N,
// "logs":{ExportLogsServiceRequest},"traces":{...},"metrics":{...}}.
int WalDump(const std::string& dir) {
  tributary::storage::BufferOptions options;
  options.retention = absl::ZeroDuration();  // show everything, expire nothing
  auto buffer = tributary::storage::RocksDbBuffer::Open(dir, options);
  if (!buffer.ok()) {
    std::cerr << "wal dump: " << buffer.status() << "\n";
    return 2;
  }
  uint64_t from = 0;
  for (;;) {
    auto entries = (*buffer)->Read(from, 64, 64 << 20);
    if (!entries.ok()) {
      std::cerr << "wal dump: " << entries.status() << "\n";
      return 1;
    }
    if (entries->empty()) break;
    for (const auto& e : *entries) {
      from = e.offset + 1;
      tributary::v1::IngestBatch batch;
      if (!batch.ParseFromString(e.payload)) {
        std::cout << "{\"offset\":" << e.offset << ",\"error\":\"does not parse\"}\n";
        continue;
      }
      std::cout << "{\"offset\":" << e.offset << ",\"producer_id\":"
                << JsonQuote(batch.producer_id()) << ",\"seq\":" << batch.seq()
                << ",\"records\":" << e.record_count;
      tributary::otlp::otlp_logs::ExportLogsServiceRequest logs;
      tributary::otlp::AppendLogs(batch, &logs);
      if (logs.resource_logs_size() > 0) std::cout << ",\"logs\":" << Json(logs);
      tributary::otlp::otlp_trace::ExportTraceServiceRequest traces;
      tributary::otlp::AppendSpans(batch, &traces);
      if (traces.resource_spans_size() > 0) std::cout << ",\"traces\":" << Json(traces);
      tributary::otlp::otlp_metrics::ExportMetricsServiceRequest metrics;
      tributary::otlp::AppendMetrics(batch, &metrics);
      if (metrics.resource_metrics_size() > 0) std::cout << ",\"metrics\":" << Json(metrics);
      std::cout << "}\n";
    }
  }
  return (*buffer)->Close().ok() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[0] == "wal" && args[1] == "verify") return WalVerify(args[2]);
  if (args.size() == 3 && args[0] == "wal" && args[1] == "repair") return WalRepair(args[2]);
  if (args.size() == 3 && args[0] == "wal" && args[1] == "dump") return WalDump(args[2]);
  if (!args.empty() && args[0] == "loadgen") {
    return tributary::cli::LoadgenMain(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  std::cerr << kUsage;
  return 2;
}
