// tributary: the command-line tool.
//
//   tributary wal verify DIR   check a write-ahead buffer offline (exit 0 clean,
//                              1 damaged, 2 cannot examine)
//   tributary wal repair DIR   rebuild a damaged buffer from every intact entry
//                              (the collector must be stopped)
//   tributary loadgen ...      stream synthetic records to a collector
//                              (`tributary loadgen --help`)
#include <iostream>
#include <string>
#include <vector>

#include "storage/rocksdb/buffer_repair.h"
#include "tools/cli/loadgen.h"

namespace {

constexpr char kUsage[] =
    "usage:\n"
    "  tributary wal verify DIR   check a write-ahead buffer (exit 0 clean, 1 damaged)\n"
    "  tributary wal repair DIR   rebuild a damaged buffer, keeping every intact entry\n"
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
            << "  payload:   " << report->payload_bytes << " bytes\n"
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

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() == 3 && args[0] == "wal" && args[1] == "verify") return WalVerify(args[2]);
  if (args.size() == 3 && args[0] == "wal" && args[1] == "repair") return WalRepair(args[2]);
  if (!args.empty() && args[0] == "loadgen") {
    return tributary::cli::LoadgenMain(std::vector<std::string>(args.begin() + 1, args.end()));
  }
  std::cerr << kUsage;
  return 2;
}
