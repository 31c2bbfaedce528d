// `tributary loadgen`: streams synthetic records to a collector over
// IngestService the way a well-behaved producer does (stable producer ids,
// increasing seqs, K batches in flight, reconnect and resend unacked batches
// above the resume point), and reports what happened.
//
// `tributary loadgen verify`: checks, from a stopped collector's buffer
// directory, that every batch loadgen saw acked is stored exactly once.
#pragma once

#include <string>
#include <vector>

namespace tributary::cli {

// Both return the process exit code; `args` are the arguments after
// "loadgen".
int LoadgenMain(const std::vector<std::string>& args);

}  // namespace tributary::cli
