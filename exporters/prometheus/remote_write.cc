#include "exporters/prometheus/remote_write.h"

#include <curl/curl.h>
#include <snappy.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "base/double_text.h"

namespace tributary::exporters {
namespace {

namespace tv1 = ::tributary::v1;

using LabelSet = std::vector<std::pair<std::string, std::string>>;

struct Series {
  LabelSet labels;  // sorted, with __name__
  std::vector<std::pair<int64_t, double>> samples;
};

class Builder {
 public:
  void Add(const tv1::IngestBatch& batch, uint64_t* points, uint64_t* skipped) {
    LabelSet base;
    const tv1::Resource& r = batch.resource();
    if (!r.service_name().empty()) base.emplace_back("job", r.service_name());
    if (!r.service_instance_id().empty()) {
      base.emplace_back("instance", r.service_instance_id());
    } else if (!r.host().empty()) {
      base.emplace_back("instance", r.host());
    }
    for (const tv1::MetricPoint& m : batch.metrics()) {
      ++*points;
      if (!AddPoint(base, m)) ++*skipped;
    }
  }

  prometheus::WriteRequest Finish() {
    prometheus::WriteRequest req;
    for (auto& [key, s] : series_) {
      std::stable_sort(s.samples.begin(), s.samples.end(),
                       [](const auto& a, const auto& b) { return a.first < b.first; });
      prometheus::TimeSeries* ts = req.add_timeseries();
      for (const auto& [k, v] : s.labels) {
        prometheus::Label* l = ts->add_labels();
        l->set_name(k);
        l->set_value(v);
      }
      for (const auto& [t, v] : s.samples) {
        prometheus::Sample* sample = ts->add_samples();
        sample->set_timestamp(t);
        sample->set_value(v);
      }
    }
    return req;
  }

 private:
  bool AddPoint(const LabelSet& base, const tv1::MetricPoint& m) {
    const std::string name = PrometheusName(m.name(), /*allow_colon=*/true);
    if (name.empty()) return false;
    LabelSet labels = base;
    for (const auto& a : m.labels()) {
      const std::string key = PrometheusName(a.key(), /*allow_colon=*/false);
      if (key.empty() || key.rfind("__", 0) == 0) continue;
      auto same = std::find_if(labels.begin(), labels.end(),
                               [&](const auto& l) { return l.first == key; });
      if (same == labels.end()) labels.emplace_back(key, a.value());
    }
    const int64_t t = static_cast<int64_t>(m.time_unix_nano() / 1000000);
    const double value = m.value_case() == tv1::MetricPoint::kAsInt
                             ? static_cast<double>(m.as_int())
                             : m.as_double();
    const bool cumulative = m.temporality() != tv1::TEMPORALITY_DELTA;
    switch (m.kind()) {
      case tv1::METRIC_KIND_GAUGE:
      case tv1::METRIC_KIND_UP_DOWN_COUNTER:
        if (!cumulative && m.kind() == tv1::METRIC_KIND_UP_DOWN_COUNTER) return false;
        Sample(name, labels, t, value);
        return true;
      case tv1::METRIC_KIND_COUNTER: {
        if (!cumulative) return false;
        const bool has_suffix =
            name.size() >= 6 && name.compare(name.size() - 6, 6, "_total") == 0;
        Sample(has_suffix ? name : name + "_total", labels, t, value);
        return true;
      }
      case tv1::METRIC_KIND_HISTOGRAM: {
        if (!cumulative) return false;
        uint64_t running = 0;
        for (int i = 0; i < m.bucket_counts_size(); ++i) {
          running += m.bucket_counts(i);
          LabelSet with_le = labels;
          with_le.emplace_back("le", i < m.explicit_bounds_size()
                                         ? DoubleText(m.explicit_bounds(i))
                                         : std::string("+Inf"));
          Sample(name + "_bucket", with_le, t, static_cast<double>(running));
        }
        if (m.bucket_counts_size() == 0) {
          LabelSet with_le = labels;
          with_le.emplace_back("le", "+Inf");
          Sample(name + "_bucket", with_le, t, static_cast<double>(m.count()));
        }
        Sample(name + "_sum", labels, t, m.has_sum() ? m.sum() : 0);
        Sample(name + "_count", labels, t, static_cast<double>(m.count()));
        return true;
      }
      case tv1::METRIC_KIND_SUMMARY: {
        for (const auto& q : m.quantiles()) {
          LabelSet with_q = labels;
          with_q.emplace_back("quantile", DoubleText(q.quantile()));
          Sample(name, with_q, t, q.value());
        }
        Sample(name + "_sum", labels, t, m.has_sum() ? m.sum() : 0);
        Sample(name + "_count", labels, t, static_cast<double>(m.count()));
        return true;
      }
      default:
        return false;
    }
  }

  void Sample(const std::string& name, LabelSet labels, int64_t t, double v) {
    labels.emplace_back("__name__", name);
    std::sort(labels.begin(), labels.end());
    std::string key;
    for (const auto& [k, val] : labels) absl::StrAppend(&key, k, "\x01", val, "\x02");
    Series& s = series_[key];
    if (s.labels.empty()) s.labels = std::move(labels);
    s.samples.emplace_back(t, v);
  }

  std::map<std::string, Series> series_;
};

size_t Collect(char* data, size_t size, size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

// Retry-After as seconds (the HTTP-date form is not used by receivers here).
size_t Header(char* data, size_t size, size_t n, void* out) {
  const std::string line(data, size * n);
  const std::string lower = absl::AsciiStrToLower(line);
  if (lower.rfind("retry-after:", 0) == 0) {
    int64_t seconds = 0;
    if (absl::SimpleAtoi(absl::StripAsciiWhitespace(line.substr(12)), &seconds) && seconds > 0) {
      *static_cast<absl::Duration*>(out) = absl::Seconds(seconds);
    }
  }
  return size * n;
}

}  // namespace

std::string PrometheusName(const std::string& name, bool allow_colon) {
  std::string out;
  out.reserve(name.size() + 1);
  for (char c : name) {
    const bool ok = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ||
                    (allow_colon && c == ':');
    out.push_back(ok ? c : '_');
  }
  if (!out.empty() && absl::ascii_isdigit(static_cast<unsigned char>(out[0]))) out.insert(0, "_");
  return out;
}

prometheus::WriteRequest ToWriteRequest(const std::vector<const tv1::IngestBatch*>& batches,
                                        uint64_t* points, uint64_t* skipped) {
  Builder b;
  for (const tv1::IngestBatch* batch : batches) b.Add(*batch, points, skipped);
  return b.Finish();
}

RemoteWriteExporter::RemoteWriteExporter(RemoteWriteOptions options)
    : options_(std::move(options)) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

RemoteWriteExporter::~RemoteWriteExporter() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

absl::StatusOr<std::vector<Request>> RemoteWriteExporter::Encode(
    const std::vector<const tv1::IngestBatch*>& batches) {
  uint64_t points = 0, skipped = 0;
  const prometheus::WriteRequest req = ToWriteRequest(batches, &points, &skipped);
  std::vector<Request> out;
  if (skipped > 0) {
    // Nothing to send for these; reported as permanently refused by us.
    out.push_back({"unsupported", "", skipped});
  }
  if (req.timeseries_size() > 0) {
    Request r;
    r.kind = "metrics";
    snappy::Compress(req.SerializeAsString().data(), req.ByteSizeLong(), &r.payload);
    r.records = points - skipped;
    out.push_back(std::move(r));
  }
  return out;
}

SendResult RemoteWriteExporter::Send(const Request& request, absl::Time deadline) {
  SendResult result;
  if (request.kind == "unsupported") {
    result.outcome = Outcome::kPermanent;
    result.message =
        "points with no remote-write form (delta temporality or exponential histogram)";
    return result;
  }
  CURL* curl = static_cast<CURL*>(curl_);
  if (curl == nullptr) {
    result.outcome = Outcome::kRetryable;
    result.message = "libcurl could not be initialised";
    return result;
  }
  curl_easy_reset(curl);
  struct curl_slist* headers = nullptr;
  headers = curl_slist_append(headers, "Content-Type: application/x-protobuf");
  headers = curl_slist_append(headers, "Content-Encoding: snappy");
  headers = curl_slist_append(headers, "X-Prometheus-Remote-Write-Version: 0.1.0");
  headers = curl_slist_append(headers, "User-Agent: tributaryd");
  for (const auto& [k, v] : options_.headers) {
    headers = curl_slist_append(headers, absl::StrCat(k, ": ", v).c_str());
  }
  std::string body;
  absl::Duration retry_after = absl::ZeroDuration();
  const int64_t timeout_ms =
      std::max<int64_t>(1, absl::ToInt64Milliseconds(deadline - absl::Now()));
  curl_easy_setopt(curl, CURLOPT_URL, options_.url.c_str());
  curl_easy_setopt(curl, CURLOPT_POST, 1L);
  curl_easy_setopt(curl, CURLOPT_POSTFIELDS, request.payload.data());
  curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE, static_cast<long>(request.payload.size()));
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms));
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, Collect);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &body);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, Header);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &retry_after);
  const CURLcode rc = curl_easy_perform(curl);
  long status = 0;
  if (rc == CURLE_OK) curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
  curl_slist_free_all(headers);
  if (rc != CURLE_OK) {
    result.outcome = Outcome::kRetryable;
    result.message = absl::StrCat("POST ", options_.url, ": ", curl_easy_strerror(rc));
    return result;
  }
  result.outcome = ClassifyHttp(static_cast<int>(status));
  result.retry_after = retry_after;
  if (result.outcome != Outcome::kSuccess) {
    if (body.size() > 512) body.resize(512);
    result.message = absl::StrCat("HTTP ", status, ": ", absl::StripAsciiWhitespace(body));
  }
  return result;
}

}  // namespace tributary::exporters
