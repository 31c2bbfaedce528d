// Context: the current context per thread, its hand-off to other threads,
// bound fields, and W3C traceparent parsing and formatting.
#include "client/context.h"

#include <set>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace tributary::client {
namespace {

SpanContext Sample() {
  auto c = ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  EXPECT_TRUE(c.has_value());
  return *c;
}

TEST(TraceparentTest, ParsesAndFormatsTheSameHeader) {
  const std::string header = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const auto c = ParseTraceparent(header);
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->trace_id_hex(), "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(c->span_id_hex(), "00f067aa0ba902b7");
  EXPECT_TRUE(c->sampled());
  EXPECT_TRUE(c->remote);
  EXPECT_EQ(FormatTraceparent(*c), header);
  SpanContext unsampled = *c;
  unsampled.flags = 0;
  EXPECT_EQ(FormatTraceparent(unsampled).substr(53), "00");
  // Fresh ids round-trip too.
  SpanContext fresh;
  fresh.trace_id = NewTraceId();
  fresh.span_id = NewSpanId();
  fresh.flags = 1;
  const auto back = ParseTraceparent(FormatTraceparent(fresh));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->trace_id, fresh.trace_id);
  EXPECT_EQ(back->span_id, fresh.span_id);
}

TEST(TraceparentTest, RefusesWhatTheSpecRefuses) {
  for (const char* bad : {
           "",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",        // no flags
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",     // zero trace id
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",     // zero span id
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // version ff
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",     // upper case
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xx",  // v00 with more
           "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",     // separator
           "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",    // later version, no dash
       }) {
    EXPECT_FALSE(ParseTraceparent(bad).has_value()) << bad;
  }
  // A later version may carry more fields after a dash.
  const auto future =
      ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra");
  ASSERT_TRUE(future.has_value());
  EXPECT_EQ(future->span_id_hex(), "00f067aa0ba902b7");
}

TEST(ContextTest, ScopesNestAndRestore) {
  EXPECT_FALSE(Context::Current().span().valid());
  const SpanContext outer = Sample();
  {
    ScopedContext a(Context::Current().WithSpan(outer).WithFields({{"user", "ann"}}));
    EXPECT_EQ(Context::Current().span().span_id, outer.span_id);
    {
      SpanContext inner = outer;
      inner.span_id = NewSpanId();
      ScopedContext b(Context::Current().WithSpan(inner).WithFields({{"user", "bob"}, {"n", 2}}));
      EXPECT_EQ(Context::Current().span().span_id, inner.span_id);
      ASSERT_NE(Context::Current().fields(), nullptr);
      ASSERT_EQ(Context::Current().fields()->size(), 2u);  // "user" replaced, "n" added
      EXPECT_EQ((*Context::Current().fields())[0].text, "bob");
      EXPECT_EQ((*Context::Current().fields())[1].int_value, 2);
    }
    EXPECT_EQ(Context::Current().span().span_id, outer.span_id);
    EXPECT_EQ((*Context::Current().fields())[0].text, "ann");
  }
  EXPECT_FALSE(Context::Current().span().valid());
  EXPECT_EQ(Context::Current().fields(), nullptr);
}

TEST(ContextTest, TravelsToOtherThreadsByCaptureOrWrap) {
  const SpanContext span = Sample();
  ScopedContext scope(Context::Current().WithSpan(span).WithFields({{"job", "nightly"}}));
  // A new thread starts with an empty context...
  std::string seen_plain = "unset";
  std::thread plain([&] { seen_plain = Context::Current().span().trace_id_hex(); });
  plain.join();
  EXPECT_EQ(seen_plain, SpanContext().trace_id_hex());
  // ...unless the context is captured and restored there, or the work wrapped.
  const Context captured = Context::Current();
  std::string seen_captured;
  std::thread restored([&] {
    ScopedContext there(captured);
    seen_captured = Context::Current().span().trace_id_hex();
  });
  restored.join();
  EXPECT_EQ(seen_captured, span.trace_id_hex());
  std::string seen_field;
  std::thread wrapped(Context::Current().Wrap([&] {
    seen_field = (*Context::Current().fields())[0].text;
  }));
  wrapped.join();
  EXPECT_EQ(seen_field, "nightly");
}

TEST(ContextTest, NewIdsAreNonZeroAndDistinct) {
  std::set<TraceId> traces;
  for (int i = 0; i < 1000; ++i) {
    const TraceId t = NewTraceId();
    EXPECT_NE(t, TraceId{});
    traces.insert(t);
  }
  EXPECT_EQ(traces.size(), 1000u);
}

}  // namespace
}  // namespace tributary::client
