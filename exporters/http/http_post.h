// One HTTP POST with a deadline, answered as a SendResult: what the HTTP
// exporters (Loki, Prometheus remote write) share. The connection is kept
// between calls. Not thread-safe: one exporter's delivery loop makes one Send
// at a time.
#pragma once

#include <string>
#include <vector>

#include "absl/time/time.h"
#include "exporters/exporter.h"

namespace tributary::exporters {

class HttpPoster {
 public:
  HttpPoster();
  ~HttpPoster();
  HttpPoster(const HttpPoster&) = delete;
  HttpPoster& operator=(const HttpPoster&) = delete;

  // `headers` are full lines ("Content-Type: application/json"). 2xx is
  // success; 429 and 5xx are retryable, with Retry-After (seconds) honoured;
  // other answers are permanent, with the start of the body as the message.
  // A connection error or timeout is retryable.
  SendResult Post(const std::string& url, const std::vector<std::string>& headers,
                  const std::string& body, absl::Time deadline);

 private:
  void* curl_ = nullptr;  // CURL*
};

}  // namespace tributary::exporters
