// A small multi-threaded service that uses tributary::client the way an
// application would: it logs with fields, opens nested spans, hands its
// context to worker threads, records metrics, and shuts down cleanly.
//
//   bazel run //client/examples:checkout                 # collector on 127.0.0.1:4317
//   TRIBUTARY_ENDPOINT=host:4317 TRIBUTARY_SERVICE_NAME=shop \
//     bazel run //client/examples:checkout
//
// Every option can come from TRIBUTARY_* environment variables (see
// client/options.h); the code below only sets what it wants by default.
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"

namespace tc = tributary::client;

namespace {

// One order: a server span for the request, a child span for the payment,
// a worker thread that keeps the request's context for its log lines.
void HandleOrder(tc::Client& client, const tc::Logger& log, const tc::Counter& orders,
                 const tc::Histogram& amounts, int order_id) {
  tc::ScopedSpan request(client.StartSpan("POST /checkout", {tc::SpanKind::kServer}));
  request->SetAttribute({"order.id", order_id});
  // Fields bound here appear on every record logged inside this scope.
  tc::ScopedContext fields(tc::Context::Current().WithFields({{"order_id", order_id}}));
  log.Info("order received", {{"items", 3}, {"customer", "c-1042"}});

  const double amount = 10.0 + order_id % 7 * 2.5;
  {
    tc::ScopedSpan payment(client.StartSpan("charge card", {tc::SpanKind::kClient}));
    payment->AddEvent("authorization requested", {{"amount", amount}});
    if (order_id % 5 == 4) {
      payment->SetStatus(tc::SpanStatus::kError, "card declined");
      log.Warn("payment declined", {{"amount", amount}, {"retryable", false}});
    } else {
      log.Info("payment accepted", {{"amount", amount}, {"password", "never-sent"}});
    }
  }
  // Work moved to another thread keeps the trace and the bound fields.
  std::thread audit(tc::Context::Current().Wrap([&] { log.Audit("order audited"); }));
  audit.join();

  orders.Add(1, {{"outcome", order_id % 5 == 4 ? "declined" : "paid"}});
  amounts.Record(amount);
  // The W3C header a downstream call would carry.
  if (order_id == 0) {
    std::printf("traceparent for downstream calls: %s\n",
                tc::FormatTraceparent(request.span().context()).c_str());
  }
}

}  // namespace

int main() {
  tc::ClientOptions options;
  options.resource.service_name = "checkout";
  options.resource.attributes["deployment.environment"] = "example";
  options.flush_interval = absl::Seconds(1);
  auto created = tc::Client::Create(options);  // TRIBUTARY_* variables override
  if (!created.ok()) {
    std::fprintf(stderr, "checkout: %s\n", std::string(created.status().message()).c_str());
    return 2;
  }
  tc::Client& client = **created;
  const tc::Logger log = client.GetLogger("checkout", tc::Level::kDebug);
  const tc::Counter orders = client.GetCounter("checkout_orders", "orders handled", "1");
  const tc::Histogram amounts =
      client.GetHistogram("checkout_order_amount", {10, 20, 50}, "order amounts", "EUR");
  const tc::Gauge workers = client.GetGauge("checkout_workers");

  log.Info("starting", {{"workers", 4}});
  workers.Set(4);
  std::vector<std::thread> threads;
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < 25; ++i) HandleOrder(client, log, orders, amounts, w * 25 + i);
    });
  }
  for (auto& t : threads) t.join();
  workers.Set(0);
  log.Info("stopping");

  // Deliver everything (and the final metric values) before exiting.
  const tc::DeliveryReport report = client.Shutdown(absl::Seconds(10));
  const tc::ClientStats stats = client.stats();
  std::printf("delivered %llu records (batches: %llu); %llu undelivered%s%s\n",
              static_cast<unsigned long long>(stats.records_delivered),
              static_cast<unsigned long long>(stats.batches_acked),
              static_cast<unsigned long long>(report.pending_records),
              report.last_error.empty() ? "" : "; last error: ", report.last_error.c_str());
  return report.complete ? 0 : 1;
}
