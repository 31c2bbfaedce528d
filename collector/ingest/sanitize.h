// Validation and redaction of a batch before it is persisted.
//
// Every record is checked on its own: a bad record is removed from the batch
// and counted under a reason (with one example), the rest are kept (partial
// acceptance). Problems in what the whole batch shares (the resource and the
// scope list) refuse the batch. Accepted records are then redacted: values of
// sensitive attribute keys are replaced, and configured patterns are masked
// inside bodies and string attribute values.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "collector/config/config.h"
#include "base/redaction.h"
#include "tributary/v1/ingest.pb.h"

namespace tributary::collector {

enum class Signal { kLogs = 0, kMetrics = 1, kSpans = 2 };
inline constexpr int kSignals = 3;
const char* SignalName(Signal s);

struct SanitizeReport {
  struct Reason {
    uint32_t count = 0;
    std::string example;
  };
  // Non-empty: the batch as a whole is refused (nothing is stored).
  std::string batch_error;
  uint32_t accepted[kSignals] = {0, 0, 0};
  // reason -> count and example, per signal.
  std::map<std::string, Reason> rejected[kSignals];
  // Redactions made: "key" for sensitive keys, else the pattern's name.
  std::map<std::string, uint64_t> redactions;
  // Records kept but changed otherwise (all-zero ids on logs dropped).
  uint32_t normalized = 0;

  // Whether the batch differs from what was received.
  bool Changed() const { return TotalRejected() > 0 || !redactions.empty() || normalized > 0; }

  uint32_t TotalAccepted() const { return accepted[0] + accepted[1] + accepted[2]; }
  uint32_t TotalRejected() const;
};

class Sanitizer {
 public:
  Sanitizer(const IngestConfig& config, std::function<absl::Time()> clock);

  // Removes invalid records from `batch`, redacts the rest. Thread-safe.
  SanitizeReport Apply(tributary::v1::IngestBatch* batch) const;

 private:
  void RedactAttributes(google::protobuf::RepeatedPtrField<tributary::v1::Attribute>* attrs,
                        SanitizeReport* report) const;
  void MaskText(std::string* text, SanitizeReport* report) const;

  const IngestLimits limits_;
  std::unique_ptr<Redactor> redactor_;
  std::function<absl::Time()> clock_;
};

}  // namespace tributary::collector
