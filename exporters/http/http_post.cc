#include "exporters/http/http_post.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace tributary::exporters {
namespace {

size_t Collect(char* data, size_t size, size_t n, void* out) {
  std::string* body = static_cast<std::string*>(out);
  // Only the start of an answer is kept (it becomes an error message).
  if (body->size() < 4096) body->append(data, std::min<size_t>(size * n, 4096 - body->size()));
  return size * n;
}

// Retry-After in seconds (the HTTP-date form is not used by these receivers).
size_t Header(char* data, size_t size, size_t n, void* out) {
  const std::string line(data, size * n);
  if (absl::AsciiStrToLower(line.substr(0, 12)) == "retry-after:") {
    int64_t seconds = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(12)), &seconds) && seconds > 0) {
      *static_cast<absl::Duration*>(out) = absl::Seconds(seconds);
    }
  }
  return size * n;
}

}  // namespace

HttpPoster::HttpPoster() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

HttpPoster::~HttpPoster() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

SendResult HttpPoster::Post(const std::string& url, const std::vector<std::string>& headers,
                            const std::string& body, absl::Time deadline) {
  SendResult result;
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) {
    result.outcome = Outcome::kRetryable;
    result.message = "libcurl could not be initialised";
    return result;
  }
  curl_easy_reset(curl);
  struct curl_slist* list = curl_slist_append(nullptr, "User-Agent: tributaryd");
  // No "Expect: 100-continue" round trip before large bodies.
  list = curl_slist_append(list, "Expect:");
  for (const std::string& h : headers) list = curl_slist_append(list, h.c_str());
  std::string answer;
  absl::Duration retry_after = absl::ZeroDuration();
  const int64_t timeout_ms =
      std::max<int64_t>(1, absl::ToInt64Milliseconds(deadline - absl::Now()));
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, list);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &answer);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &retry_after);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(list);
  if (rc != CURLE_OK) {
    result.outcome = Outcome::kRetryable;
    result.message = absl::StrCat("POST ", url, ": ", curl_easy_strerror(rc));
    return result;
  }
  result.http_status = static_cast<int>(status);
  result.outcome = ClassifyHttp(result.http_status);
  result.retry_after = retry_after;
  if (result.outcome != Outcome::kSuccess) {
    if (answer.size() > 512) answer.resize(512);
    result.message = absl::StrCat("HTTP ", status, ": ", absl::StripAsciiWhitespace(answer));
  }
  return result;
}

}  // namespace tributary::exporters
