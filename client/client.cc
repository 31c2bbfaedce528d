#include "client/client.h"

#include <unistd.h>

#include <random>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/internal/core.h"
#include "client/internal/test_access.h"

namespace tributary::client {

using internal::Core;
using internal::InstrumentKind;

namespace {

std::string HostName() {
  char buf[256] = {0};
  if (gethostname(buf, sizeof(buf) - 1) != 0) return "unknown_host";
  return buf;
}

absl::StatusOr<std::unique_ptr<Core>> MakeCore(ClientOptions options, internal::Clock clock) {
  if (options.read_environment) {
    if (absl::Status s = ApplyEnvironment(&options); !s.ok()) return s;
  }
  if (absl::Status s = Validate(options); !s.ok()) return s;
  if (options.resource.host.empty()) options.resource.host = HostName();
  if (options.resource.service_instance_id.empty()) {
    options.resource.service_instance_id = absl::StrCat(options.resource.host, ":", getpid());
  }
  std::string producer_id = options.producer_id;
  if (producer_id.empty()) {
    std::random_device device;
    producer_id = absl::StrFormat("%s/%s/%08x%08x", options.resource.service_name,
                                  options.resource.service_instance_id, device(), device());
  }
  auto core = std::make_unique<Core>(options, std::move(producer_id), std::move(clock));
  core->Start();
  return core;
}

}  // namespace

// ---- Logger ----

void Logger::Write(Level level, std::string_view message,
                   std::initializer_list<Field> fields) const {
  core_->Log(scope_, level, message, fields);
}

// ---- Span ----

Span::Span(Span&& other) noexcept
    : core_(other.core_), context_(other.context_), data_(std::move(other.data_)) {}

Span& Span::operator=(Span&& other) noexcept {
  if (this != &other) {
    End();
    core_ = other.core_;
    context_ = other.context_;
    data_ = std::move(other.data_);
  }
  return *this;
}

Span::~Span() { End(); }

Span& Span::SetAttribute(const Field& field) {
  if (data_ != nullptr) internal::FieldToAttribute(field, data_->add_attributes());
  return *this;
}

Span& Span::AddEvent(std::string_view name, std::initializer_list<Field> fields) {
  if (data_ == nullptr) return *this;
  tributary::v1::SpanEvent* e = data_->add_events();
  e->set_time_unix_nano(static_cast<uint64_t>(absl::GetCurrentTimeNanos()));
  e->set_name(name.data(), name.size());
  for (const Field& f : fields) internal::FieldToAttribute(f, e->add_attributes());
  return *this;
}

Span& Span::AddLink(const SpanContext& linked, std::initializer_list<Field> fields) {
  if (data_ == nullptr || !linked.valid()) return *this;
  tributary::v1::SpanLink* l = data_->add_links();
  l->set_trace_id(linked.trace_id.data(), linked.trace_id.size());
  l->set_span_id(linked.span_id.data(), linked.span_id.size());
  l->set_flags(linked.flags);
  for (const Field& f : fields) internal::FieldToAttribute(f, l->add_attributes());
  return *this;
}

Span& Span::SetStatus(SpanStatus status, std::string_view message) {
  if (data_ == nullptr) return *this;
  data_->set_status_code(static_cast<tributary::v1::StatusCode>(status));
  if (status == SpanStatus::kError) {
    data_->set_status_message(message.data(), message.size());
  } else {
    data_->clear_status_message();
  }
  return *this;
}

void Span::End(std::optional<absl::Time> end_time) {
  if (data_ == nullptr) return;
  const int64_t end = end_time ? absl::ToUnixNanos(*end_time) : absl::GetCurrentTimeNanos();
  data_->set_end_time_unix_nano(
      std::max(static_cast<uint64_t>(end), data_->start_time_unix_nano()));
  core_->EndSpan(std::move(data_));
}

// ---- metrics ----

void Counter::Add(double value, Labels labels) const {
  if (instrument_ != nullptr && value >= 0) instrument_->Update(value, labels);
}
void UpDownCounter::Add(double value, Labels labels) const {
  if (instrument_ != nullptr) instrument_->Update(value, labels);
}
void Gauge::Set(double value, Labels labels) const {
  if (instrument_ != nullptr) instrument_->Update(value, labels);
}
void Histogram::Record(double value, Labels labels) const {
  if (instrument_ != nullptr) instrument_->Update(value, labels);
}

// ---- Client ----

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  auto core = MakeCore(std::move(options), [] { return absl::Now(); });
  if (!core.ok()) return core.status();
  return std::unique_ptr<Client>(new Client(std::move(*core)));
}

Client::Client(std::unique_ptr<Core> core) : core_(std::move(core)) {}

Client::~Client() {
  if (!core_->shut_down()) core_->Shutdown(absl::Seconds(5));
}

Logger Client::GetLogger(std::string_view name, Level min_level) {
  return Logger(core_.get(), core_->Scope(name), min_level);
}

Span Client::StartSpan(std::string_view name, const SpanOptions& options) {
  Span span;
  span.core_ = core_.get();
  SpanContext parent;
  if (options.parent) {
    parent = *options.parent;
  } else if (!options.root) {
    parent = Context::Current().span();
  }
  const bool has_parent = parent.valid();
  span.context_.trace_id = has_parent ? parent.trace_id : NewTraceId();
  span.context_.span_id = NewSpanId();
  const bool sampled = has_parent ? parent.sampled() : core_->KeepTrace(span.context_.trace_id);
  span.context_.flags = sampled ? 1 : 0;
  if (!sampled || core_->shut_down()) return span;
  auto data = std::make_unique<tributary::v1::Span>();
  data->set_trace_id(span.context_.trace_id.data(), 16);
  data->set_span_id(span.context_.span_id.data(), 8);
  if (has_parent) data->set_parent_span_id(parent.span_id.data(), 8);
  data->set_name(name.data(), name.size());
  data->set_kind(static_cast<tributary::v1::SpanKind>(options.kind));
  data->set_flags(span.context_.flags);
  const int64_t start =
      options.start_time ? absl::ToUnixNanos(*options.start_time) : absl::GetCurrentTimeNanos();
  data->set_start_time_unix_nano(static_cast<uint64_t>(start));
  span.data_ = std::move(data);
  return span;
}

Counter Client::GetCounter(std::string_view name, std::string_view description,
                           std::string_view unit) {
  return Counter(core_->GetInstrument(InstrumentKind::kCounter, name, description, unit, {}));
}

UpDownCounter Client::GetUpDownCounter(std::string_view name, std::string_view description,
                                       std::string_view unit) {
  return UpDownCounter(
      core_->GetInstrument(InstrumentKind::kUpDownCounter, name, description, unit, {}));
}

Gauge Client::GetGauge(std::string_view name, std::string_view description,
                       std::string_view unit) {
  return Gauge(core_->GetInstrument(InstrumentKind::kGauge, name, description, unit, {}));
}

Histogram Client::GetHistogram(std::string_view name, std::vector<double> bounds,
                               std::string_view description, std::string_view unit) {
  return Histogram(core_->GetInstrument(InstrumentKind::kHistogram, name, description, unit,
                                        std::move(bounds)));
}

DeliveryReport Client::Flush(absl::Duration timeout) { return core_->Flush(timeout); }

DeliveryReport Client::Shutdown(absl::Duration timeout) { return core_->Shutdown(timeout); }

ClientStats Client::stats() const { return core_->Stats(); }

const std::string& Client::producer_id() const { return core_->producer_id(); }

namespace internal {

absl::StatusOr<std::unique_ptr<Client>> TestAccess::Create(ClientOptions options, Clock clock) {
  auto core = MakeCore(std::move(options), std::move(clock));
  if (!core.ok()) return core.status();
  return std::unique_ptr<Client>(new Client(std::move(*core)));
}

void TestAccess::Wake(Client* client) { client->core_->sender().Wake(); }

}  // namespace internal
}  // namespace tributary::client
