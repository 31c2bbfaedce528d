// Trace context and bound fields, carried by a Context value.
//
// Each thread has a current Context. A ScopedContext makes another one
// current until it is destroyed; Context::Current() copied and handed to
// another thread or task (or Context::Wrap) keeps the context across the
// hand-off. Log records take the current context's trace and span id and
// its bound fields; spans take their parent from it.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/internal/record.h"
#include "client/types.h"

namespace tributary::client {

using TraceId = std::array<uint8_t, 16>;
using SpanId = std::array<uint8_t, 8>;

// W3C trace context of one span.
struct SpanContext {
  TraceId trace_id{};
  SpanId span_id{};
  uint8_t flags = 0;  // bit 0: sampled
  bool remote = false;

  // Non-zero trace id and span id.
  bool valid() const;
  bool sampled() const { return (flags & 1) != 0; }
  std::string trace_id_hex() const;
  std::string span_id_hex() const;
};

// "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>".
std::string FormatTraceparent(const SpanContext& context);
// Parses a `traceparent` header per W3C Trace Context: version 00 exactly,
// later versions by their first four fields; all-zero ids, version ff and
// upper-case hex are refused. The result is marked remote.
std::optional<SpanContext> ParseTraceparent(std::string_view header);

// Random ids, never all zero.
TraceId NewTraceId();
SpanId NewSpanId();

class Context {
 public:
  Context() = default;

  // This thread's current context (empty unless a ScopedContext set one).
  static const Context& Current();

  const SpanContext& span() const { return span_; }
  // A copy with `span` as the active span.
  Context WithSpan(const SpanContext& span) const;
  // A copy with `fields` bound in addition (copied; a key already bound is
  // replaced).
  Context WithFields(std::initializer_list<Field> fields) const;

  // The bound fields, or null when there are none.
  const std::vector<internal::OwnedField>* fields() const { return fields_.get(); }

  // `f` wrapped so that it runs with this context current, on whatever
  // thread calls it.
  template <typename F>
  auto Wrap(F f) const;

 private:
  SpanContext span_;
  std::shared_ptr<const std::vector<internal::OwnedField>> fields_;
};

// Makes `context` current on this thread until destroyed; restores the
// previous one. Not movable: it belongs to the scope that created it.
class ScopedContext {
 public:
  explicit ScopedContext(Context context);
  ~ScopedContext();

  ScopedContext(const ScopedContext&) = delete;
  ScopedContext& operator=(const ScopedContext&) = delete;

 private:
  Context previous_;
};

template <typename F>
auto Context::Wrap(F f) const {
  return [context = *this, f = std::move(f)](auto&&... args) mutable {
    ScopedContext scope(context);
    return f(std::forward<decltype(args)>(args)...);
  };
}

}  // namespace tributary::client
