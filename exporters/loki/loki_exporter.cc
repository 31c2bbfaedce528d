#include "exporters/loki/loki_exporter.h"

#include <snappy.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "base/text_escape.h"
#include "exporters/wire_writer.h"

namespace tributary::exporters {
namespace {

namespace tv1 = ::tributary::v1;

constexpr size_t kMaxLabelValueBytes = 2048;  // Loki's default max_label_value_length

const char* SeverityName(int number) {
  if (number >= 1 && number <= 4) return "TRACE";
  if (number >= 5 && number <= 8) return "DEBUG";
  if (number >= 9 && number <= 12) return "INFO";
  if (number >= 13 && number <= 16) return "WARN";
  if (number >= 17 && number <= 20) return "ERROR";
  if (number >= 21 && number <= 24) return "FATAL";
  return "";
}

std::string Severity(const tv1::LogRecord& r) {
  return r.severity_text().empty() ? SeverityName(r.severity_number()) : r.severity_text();
}

// Cut to `limit` bytes without splitting a UTF-8 sequence.
std::string_view CutUtf8(std::string_view s, size_t limit) {
  if (s.size() <= limit) return s;
  size_t n = limit;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return s.substr(0, n);
}

// A logfmt key: spaces, '=', '"' and control characters become '_'.
void AppendLogfmtKey(std::string* out, std::string_view k) {
  for (char c : k) {
    const bool bad = c == ' ' || c == '=' || c == '"' || static_cast<unsigned char>(c) < 0x20;
    out->push_back(bad ? '_' : c);
  }
}

// An attribute value as JSON: numbers and booleans stay typed.
void AppendJsonValue(std::string* out, const tv1::Attribute& a) {
  switch (a.type()) {
    case tv1::VALUE_TYPE_INT: {
      int64_t i;
      if (absl::SimpleAtoi(a.value(), &i)) {
        absl::StrAppend(out, i);
        return;
      }
      break;
    }
    case tv1::VALUE_TYPE_DOUBLE: {
      double d;
      if (absl::SimpleAtod(a.value(), &d) && std::isfinite(d)) {
        out->append(a.value());
        return;
      }
      break;
    }
    case tv1::VALUE_TYPE_BOOL:
      if (a.value() == "true" || a.value() == "false") {
        out->append(a.value());
        return;
      }
      break;
    default:
      break;
  }
  AppendJsonString(out, a.value());
}

// Lowercase hex of a trace or span id, without allocating.
std::string_view Hex(const std::string& id) {
  static thread_local char buf[64];
  static constexpr char kDigits[] = "0123456789abcdef";
  const size_t n = std::min<size_t>(id.size(), sizeof buf / 2);
  for (size_t i = 0; i < n; ++i) {
    buf[2 * i] = kDigits[static_cast<unsigned char>(id[i]) >> 4];
    buf[2 * i + 1] = kDigits[static_cast<unsigned char>(id[i]) & 15];
  }
  return std::string_view(buf, 2 * n);
}

struct Entry {
  int64_t time_ns;
  std::string line;
};

struct Stream {
  std::vector<std::pair<std::string, std::string>> labels;  // sorted by name
  std::string text;   // {a="b", c="d"}
  std::vector<Entry> entries;
};

// One push request's streams.
struct Push {
  std::vector<Stream> streams;
  uint64_t records = 0;
};

std::string Gzip(const std::string& in) {
  z_stream z{};
  std::string out;
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return out;
  }
  out.resize(deflateBound(&z, in.size()));
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(rc == Z_STREAM_END ? z.total_out : 0);
  deflateEnd(&z);
  return out;
}

class Encoder {
 public:
  explicit Encoder(const LokiOptions& options) : options_(options) {
    for (const std::string& key : options.labels) {
      const std::string name = LokiLabelName(key);
      // Two keys that sanitise to one name: the first wins.
      auto same = [&](const auto& k) { return k.second == name; };
      if (std::none_of(keys_.begin(), keys_.end(), same)) {
        keys_.emplace_back(key, name);
      }
    }
    std::sort(keys_.begin(), keys_.end(),
              [](const auto& a, const auto& b) { return a.second < b.second; });
    for (const auto& [key, name] : keys_) severity_is_label_ |= key == "severity_text";
  }

  void Add(const tv1::IngestBatch& batch) {
    const tv1::Resource& resource = batch.resource();
    for (const tv1::LogRecord& r : batch.logs()) AddRecord(resource, r);
  }

  // The pushes, each with at most max_streams_per_push streams.
  std::vector<Push> Finish() {
    std::vector<Push> out;
    for (Stream& s : streams_) {
      if (out.empty() || out.back().streams.size() >= options_.max_streams_per_push) {
        out.emplace_back();
      }
      auto by_time = [](const Entry& a, const Entry& b) { return a.time_ns < b.time_ns; };
      if (!std::is_sorted(s.entries.begin(), s.entries.end(), by_time)) {
        std::stable_sort(s.entries.begin(), s.entries.end(), by_time);
      }
      out.back().records += s.entries.size();
      out.back().streams.push_back(std::move(s));
    }
    return out;
  }

 private:
  std::string_view LookUp(const tv1::Resource& res, const tv1::LogRecord& r,
                          const std::string& key, bool* from_record) {
    *from_record = false;
    if (key == "service.name") return res.service_name();
    if (key == "service.instance.id") return res.service_instance_id();
    if (key == "host.name") return res.host();
    if (key == "severity_text") {
      severity_ = Severity(r);
      return severity_;
    }
    for (const tv1::Attribute& a : r.attributes()) {
      if (a.key() == key) {
        *from_record = true;
        return a.value();
      }
    }
    for (const tv1::Attribute& a : res.attributes()) {
      if (a.key() == key) return a.value();
    }
    return {};
  }

  void AddRecord(const tv1::Resource& res, const tv1::LogRecord& r) {
    // keys_ is sorted by label name, so the label text comes out sorted.
    text_.assign("{");
    bool any = false;
    used_.clear();
    for (const auto& [key, name] : keys_) {
      bool from_record = false;
      const std::string_view value = LookUp(res, r, key, &from_record);
      if (value.empty()) continue;
      absl::StrAppend(&text_, any ? ", " : "", name, "=");
      AppendQuoted(&text_, CutUtf8(value, kMaxLabelValueBytes));
      any = true;
      if (from_record) used_.push_back(key);
    }
    if (!any) text_.append("exporter=\"tributary\"");
    text_.push_back('}');

    auto it = index_.find(text_);
    if (it == index_.end()) {
      std::vector<std::pair<std::string, std::string>> labels;
      for (const auto& [key, name] : keys_) {
        bool from_record;
        const std::string_view value = LookUp(res, r, key, &from_record);
        if (!value.empty()) {
          labels.emplace_back(name, std::string(CutUtf8(value, kMaxLabelValueBytes)));
        }
      }
      if (labels.empty()) labels.emplace_back("exporter", "tributary");
      it = index_.emplace(text_, streams_.size()).first;
      streams_.push_back(Stream{std::move(labels), text_, {}});
    }
    int64_t t = static_cast<int64_t>(r.time_unix_nano());
    if (t == 0) t = static_cast<int64_t>(r.observed_time_unix_nano());
    if (t == 0) t = absl::ToUnixNanos(absl::Now());
    streams_[it->second].entries.push_back({t, Line(r)});
  }

  bool UsedAsLabel(const std::string& key) const {
    return std::find(used_.begin(), used_.end(), key) != used_.end();
  }

  std::string Line(const tv1::LogRecord& r) {
    std::string line;
    line.reserve(r.body().size() + 64 * (r.attributes_size() + 3));
    const std::string severity = severity_is_label_ ? std::string() : Severity(r);
    const bool json = options_.line_format == LokiOptions::LineFormat::kJson;
    auto field = [&](std::string_view key, std::string_view value) {
      if (json) {
        line.append(line.size() > 1 ? "," : "");
        AppendJsonString(&line, key);
        line.push_back(':');
        AppendJsonString(&line, value);
      } else {
        if (!line.empty()) line.push_back(' ');
        AppendLogfmtKey(&line, key);
        line.push_back('=');
        AppendLogfmtValue(&line, value);
      }
    };
    if (json) line.push_back('{');
    field("msg", r.body());
    if (!severity.empty()) field("severity", severity);
    for (const tv1::Attribute& a : r.attributes()) {
      if (UsedAsLabel(a.key())) continue;
      if (json) {
        line.push_back(',');
        AppendJsonString(&line, a.key());
        line.push_back(':');
        AppendJsonValue(&line, a);
      } else {
        field(a.key(), a.value());
      }
    }
    if (!r.event_name().empty()) field("event", r.event_name());
    if (!r.trace_id().empty()) field("trace_id", Hex(r.trace_id()));
    if (!r.span_id().empty()) field("span_id", Hex(r.span_id()));
    if (json) line.push_back('}');
    return line;
  }

  const LokiOptions& options_;
  std::vector<std::pair<std::string, std::string>> keys_;  // configured key, label name
  bool severity_is_label_ = false;
  std::vector<std::string> used_;  // record attributes the current record used as labels
  std::string severity_;
  std::string text_;  // the current record's label text
  std::vector<Stream> streams_;
  std::unordered_map<std::string, size_t> index_;  // label text -> streams_[i]
};

// logproto.PushRequest (proto/loki/push.proto), written straight to bytes.
std::string ProtobufBody(const Push& push) {
  std::string body;
  WireWriter w(&body);
  for (const Stream& s : push.streams) {
    const WireWriter::Mark stream = w.Begin(1, 4);
    w.Bytes(1, s.text);
    for (const Entry& e : s.entries) {
      const WireWriter::Mark entry = w.Begin(2, 2);
      const WireWriter::Mark timestamp = w.Begin(1, 1);  // google.protobuf.Timestamp
      w.Int(1, static_cast<uint64_t>(e.time_ns / 1000000000));
      w.Int(2, static_cast<uint64_t>(e.time_ns % 1000000000));
      w.End(timestamp);
      w.Bytes(2, e.line);
      w.End(entry);
    }
    w.End(stream);
  }
  return body;
}

std::string JsonBody(const Push& push) {
  std::string body = "{\"streams\":[";
  for (size_t i = 0; i < push.streams.size(); ++i) {
    const Stream& s = push.streams[i];
    body.append(i ? ",{\"stream\":{" : "{\"stream\":{");
    for (size_t j = 0; j < s.labels.size(); ++j) {
      if (j) body.push_back(',');
      AppendJsonString(&body, s.labels[j].first);
      body.push_back(':');
      AppendJsonString(&body, s.labels[j].second);
    }
    body.append("},\"values\":[");
    for (size_t j = 0; j < s.entries.size(); ++j) {
      // The timestamp is a string of nanoseconds: Loki refuses a number.
      absl::StrAppend(&body, j ? "," : "", "[\"", s.entries[j].time_ns, "\",");
      AppendJsonString(&body, s.entries[j].line);
      body.push_back(']');
    }
    body.append("]}");
  }
  body.append("]}");
  return body;
}

}  // namespace

std::string LokiLabelName(const std::string& key) {
  std::string out;
  out.reserve(key.size() + 1);
  for (char c : key) {
    out.push_back(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' ? c : '_');
  }
  if (out.empty() || absl::ascii_isdigit(static_cast<unsigned char>(out[0]))) out.insert(0, "_");
  return out;
}

std::string LokiPushUrl(const std::string& url) {
  const size_t scheme = url.find("://");
  const size_t path = url.find('/', scheme == std::string::npos ? 0 : scheme + 3);
  if (path != std::string::npos && path + 1 < url.size()) return url;
  return absl::StrCat(absl::StripSuffix(url, "/"), "/loki/api/v1/push");
}

LokiExporter::LokiExporter(LokiOptions options)
    : options_(std::move(options)), push_url_(LokiPushUrl(options_.url)) {
  if (options_.encoding == LokiOptions::Encoding::kJson) {
    headers_.push_back("Content-Type: application/json");
    if (options_.gzip) headers_.push_back("Content-Encoding: gzip");
  } else {
    headers_.push_back("Content-Type: application/x-protobuf");
  }
  if (!options_.tenant.empty()) headers_.push_back("X-Scope-OrgID: " + options_.tenant);
  for (const auto& [k, v] : options_.headers) headers_.push_back(absl::StrCat(k, ": ", v));
}

absl::StatusOr<std::vector<Request>> LokiExporter::Encode(
    const std::vector<const tv1::IngestBatch*>& batches) {
  Encoder encoder(options_);
  for (const tv1::IngestBatch* batch : batches) encoder.Add(*batch);
  std::vector<Request> out;
  for (const Push& push : encoder.Finish()) {
    Request r;
    r.kind = "logs";
    r.records = push.records;
    r.payload = options_.encoding == LokiOptions::Encoding::kJson ? JsonBody(push)
                                                                   : ProtobufBody(push);
    out.push_back(std::move(r));
  }
  return out;
}

std::string LokiExporter::WireBody(const Request& request) const {
  std::string body;
  if (options_.encoding == LokiOptions::Encoding::kProtobuf) {
    snappy::Compress(request.payload.data(), request.payload.size(), &body);
  } else if (options_.gzip) {
    body = Gzip(request.payload);
  } else {
    body = request.payload;
  }
  return body;
}

SendResult LokiExporter::Send(const Request& request, absl::Time deadline) {
  const std::string body = WireBody(request);
  if (body.empty() && !request.payload.empty()) {
    return {Outcome::kRetryable, "compressing a Loki push failed"};
  }
  return http_.Post(push_url_, headers_, body, deadline);
}

}  // namespace tributary::exporters
