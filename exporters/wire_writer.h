// Protobuf wire format appended straight to a string, for request bodies
// written without building messages first (the OTLP logs request, the Loki
// push). Fields with proto3 default values are left out, as the generated
// code does; `always` writes a oneof member even when it is empty or zero.
//
// A nested message is written in place behind a length slot of a guessed
// size (in bytes of varint), which End() corrects, moving the content when
// the guess was wrong, so nothing is sized twice.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tributary::exporters {

class WireWriter {
 public:
  enum WireType : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

  struct Mark {
    size_t at;
    size_t guess;
  };

  explicit WireWriter(std::string* out) : out_(*out) {}

  void Varint(uint64_t v) {
    char buf[10];
    out_.append(buf, static_cast<size_t>(PutVarint(buf, v) - buf));
  }
  void Tag(uint32_t field, WireType type) { Varint((field << 3) | type); }

  // uint32, uint64, int64, int32 and enum fields (negative values take 10 bytes).
  void Int(uint32_t field, uint64_t v, bool always = false) {
    if (v == 0 && !always) return;
    Tag(field, kVarint);
    Varint(v);
  }
  void Fixed64(uint32_t field, uint64_t v, bool always = false) {
    if (v == 0 && !always) return;
    Tag(field, kFixed64);
    char buf[8];
    for (int i = 0; i < 8; ++i) buf[i] = static_cast<char>(v >> (8 * i));
    out_.append(buf, 8);
  }
  void Fixed32(uint32_t field, uint32_t v) {
    if (v == 0) return;
    Tag(field, kFixed32);
    char buf[4];
    for (int i = 0; i < 4; ++i) buf[i] = static_cast<char>(v >> (8 * i));
    out_.append(buf, 4);
  }
  // A string or bytes field.
  void Bytes(uint32_t field, std::string_view s, bool always = false) {
    if (s.empty() && !always) return;
    Tag(field, kLengthDelimited);
    Varint(s.size());
    out_.append(s.data(), s.size());
  }
  void Raw(std::string_view bytes) { out_.append(bytes.data(), bytes.size()); }

  // A nested message: Begin, its fields, End.
  Mark Begin(uint32_t field, size_t guess) {
    Tag(field, kLengthDelimited);
    const Mark m{out_.size(), guess};
    out_.append(guess, '\0');
    return m;
  }
  void End(Mark m) {
    const size_t length = out_.size() - m.at - m.guess;
    const size_t need = VarintSize(length);
    if (need > m.guess) out_.insert(m.at, need - m.guess, '\0');
    if (need < m.guess) out_.erase(m.at, m.guess - need);
    PutVarint(&out_[m.at], length);
  }

  static size_t VarintSize(uint64_t v) {
    size_t n = 1;
    while (v >= 0x80) {
      v >>= 7;
      ++n;
    }
    return n;
  }

 private:
  static char* PutVarint(char* p, uint64_t v) {
    while (v >= 0x80) {
      *p++ = static_cast<char>(v | 0x80);
      v >>= 7;
    }
    *p++ = static_cast<char>(v);
    return p;
  }

  std::string& out_;
};

}  // namespace tributary::exporters
