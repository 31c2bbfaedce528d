#include "client/context.h"

#include <random>

namespace tributary::client {
namespace {

Context& CurrentSlot() {
  thread_local Context current;
  return current;
}

template <size_t N>
bool AllZero(const std::array<uint8_t, N>& a) {
  for (uint8_t b : a) {
    if (b != 0) return false;
  }
  return true;
}

template <size_t N>
std::string Hex(const std::array<uint8_t, N>& a) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(2 * N, '0');
  for (size_t i = 0; i < N; ++i) {
    out[2 * i] = kDigits[a[i] >> 4];
    out[2 * i + 1] = kDigits[a[i] & 15];
  }
  return out;
}

int LowerHexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

bool ParseHex(std::string_view text, uint8_t* out, size_t n) {
  if (text.size() != 2 * n) return false;
  for (size_t i = 0; i < n; ++i) {
    const int hi = LowerHexDigit(text[2 * i]);
    const int lo = LowerHexDigit(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

std::mt19937_64& Random() {
  thread_local std::mt19937_64 rng([] {
    std::random_device device;
    return (static_cast<uint64_t>(device()) << 32) ^ device();
  }());
  return rng;
}

template <size_t N>
std::array<uint8_t, N> RandomId() {
  std::array<uint8_t, N> id{};
  do {
    for (size_t i = 0; i < N; i += 8) {
      const uint64_t r = Random()();
      for (size_t j = 0; j < 8 && i + j < N; ++j) id[i + j] = static_cast<uint8_t>(r >> (8 * j));
    }
  } while (AllZero(id));
  return id;
}

}  // namespace

bool SpanContext::valid() const { return !AllZero(trace_id) && !AllZero(span_id); }
std::string SpanContext::trace_id_hex() const { return Hex(trace_id); }
std::string SpanContext::span_id_hex() const { return Hex(span_id); }

std::string FormatTraceparent(const SpanContext& context) {
  std::array<uint8_t, 1> flags{context.flags};
  return "00-" + Hex(context.trace_id) + "-" + Hex(context.span_id) + "-" + Hex(flags);
}

std::optional<SpanContext> ParseTraceparent(std::string_view header) {
  // version "-" trace-id "-" parent-id "-" flags: 2 + 1 + 32 + 1 + 16 + 1 + 2.
  constexpr size_t kLength = 55;
  if (header.size() < kLength) return std::nullopt;
  uint8_t version = 0;
  if (!ParseHex(header.substr(0, 2), &version, 1) || version == 0xff) return std::nullopt;
  if (version == 0 && header.size() != kLength) return std::nullopt;
  // A later version may append fields, after another dash.
  if (header.size() > kLength && header[kLength] != '-') return std::nullopt;
  if (header[2] != '-' || header[35] != '-' || header[52] != '-') return std::nullopt;
  SpanContext c;
  if (!ParseHex(header.substr(3, 32), c.trace_id.data(), 16) ||
      !ParseHex(header.substr(36, 16), c.span_id.data(), 8) ||
      !ParseHex(header.substr(53, 2), &c.flags, 1) || !c.valid()) {
    return std::nullopt;
  }
  c.remote = true;
  return c;
}

TraceId NewTraceId() { return RandomId<16>(); }
SpanId NewSpanId() { return RandomId<8>(); }

const Context& Context::Current() { return CurrentSlot(); }

Context Context::WithSpan(const SpanContext& span) const {
  Context c = *this;
  c.span_ = span;
  return c;
}

Context Context::WithFields(std::initializer_list<Field> fields) const {
  auto merged = std::make_shared<std::vector<internal::OwnedField>>();
  if (fields_ != nullptr) *merged = *fields_;
  for (const Field& f : fields) {
    internal::OwnedField owned;
    owned.key = std::string(f.key());
    owned.type = f.type();
    switch (f.type()) {
      case Field::Type::kString: owned.text = std::string(f.string_value()); break;
      case Field::Type::kInt: owned.int_value = f.int_value(); break;
      case Field::Type::kDouble: owned.double_value = f.double_value(); break;
      case Field::Type::kBool: owned.bool_value = f.bool_value(); break;
    }
    bool replaced = false;
    for (internal::OwnedField& existing : *merged) {
      if (existing.key == owned.key) {
        existing = owned;
        replaced = true;
        break;
      }
    }
    if (!replaced) merged->push_back(std::move(owned));
  }
  Context c = *this;
  c.fields_ = std::move(merged);
  return c;
}

ScopedContext::ScopedContext(Context context) : previous_(std::move(CurrentSlot())) {
  CurrentSlot() = std::move(context);
}

ScopedContext::~ScopedContext() { CurrentSlot() = std::move(previous_); }

}  // namespace tributary::client
