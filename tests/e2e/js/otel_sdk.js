// The real OpenTelemetry JS SDK as a user's service would run it, exporting
// logs, spans and metrics over OTLP/gRPC to tributaryd.
//
//   node otel_sdk.js send HOST:PORT expected.json
//     Emits a small trace (server span, child with an error status, an event
//     and a link), logs inside it and metrics of every instrument kind; fails
//     unless every export reported success; writes what it sent.
//   node otel_sdk.js check expected.json dump.jsonl
//     Reads `tributary wal dump` output and fails unless the collector holds
//     exactly those items (each once), with their ids and parent links.
'use strict';

const fs = require('fs');
const api = require('@opentelemetry/api');
const { SeverityNumber } = require('@opentelemetry/api-logs');
const { resourceFromAttributes } = require('@opentelemetry/resources');
const { BasicTracerProvider, BatchSpanProcessor } = require('@opentelemetry/sdk-trace-base');
const { LoggerProvider, BatchLogRecordProcessor } = require('@opentelemetry/sdk-logs');
const { MeterProvider, PeriodicExportingMetricReader } = require('@opentelemetry/sdk-metrics');
const { OTLPTraceExporter } = require('@opentelemetry/exporter-trace-otlp-grpc');
const { OTLPLogExporter } = require('@opentelemetry/exporter-logs-otlp-grpc');
const { OTLPMetricExporter } = require('@opentelemetry/exporter-metrics-otlp-grpc');

function fail(message) {
  console.error('FAIL: ' + message);
  process.exit(1);
}

// Wraps an exporter to record the result of every export call.
function recording(exporter, signal, results) {
  const original = exporter.export.bind(exporter);
  exporter.export = (items, callback) => {
    original(items, (result) => {
      results.push({ signal, items: items.length, code: result.code,
                     error: result.error ? String(result.error) : '' });
      callback(result);
    });
  };
  return exporter;
}

async function send(address, expectedPath) {
  const url = 'http://' + address;
  const resource = resourceFromAttributes({
    'service.name': 'js-e2e',
    'service.instance.id': 'instance-1',
    'deployment.environment': 'test',
  });
  const results = [];

  const tracerProvider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(
        recording(new OTLPTraceExporter({ url }), 'traces', results))],
  });
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new BatchLogRecordProcessor({
      exporter: recording(new OTLPLogExporter({ url }), 'logs', results),
    })],
  });
  const meterProvider = new MeterProvider({
    resource,
    readers: [new PeriodicExportingMetricReader({
      exporter: recording(new OTLPMetricExporter({ url }), 'metrics', results),
      exportIntervalMillis: 3600000,
    })],
  });

  const tracer = tracerProvider.getTracer('e2e-tracer', '1.0.0');
  const logger = loggerProvider.getLogger('e2e-logger', '1.0.0');
  const meter = meterProvider.getMeter('e2e-meter', '1.0.0');

  const other = tracer.startSpan('background.job');
  other.end();
  const root = tracer.startSpan('GET /checkout', { kind: api.SpanKind.SERVER,
                                                   attributes: { 'http.route': '/checkout' } });
  const rootCtx = api.trace.setSpan(api.ROOT_CONTEXT, root);
  const child = tracer.startSpan('charge card', {
    kind: api.SpanKind.CLIENT,
    attributes: { 'payment.amount': 12.5, 'payment.retries': 2, 'payment.ok': false },
    links: [{ context: other.spanContext(), attributes: { 'link.reason': 'triggered-by' } }],
  }, rootCtx);
  child.addEvent('retry', { attempt: 1 });
  child.setStatus({ code: api.SpanStatusCode.ERROR, message: 'card declined' });
  const childCtx = api.trace.setSpan(api.ROOT_CONTEXT, child);
  logger.emit({ severityNumber: SeverityNumber.ERROR, severityText: 'ERROR',
                body: 'payment declined', attributes: { order_id: 42, password: 'hunter2' },
                context: childCtx });
  logger.emit({ severityNumber: SeverityNumber.INFO, severityText: 'INFO',
                body: 'checkout started', context: rootCtx });
  logger.emit({ severityNumber: SeverityNumber.WARN, body: 'no trace here' });
  child.end();
  root.end();

  meter.createCounter('orders_total', { description: 'Orders placed' }).add(3, { region: 'eu' });
  meter.createUpDownCounter('queue_depth').add(-2, { queue: 'a' });
  meter.createHistogram('request_duration_seconds', { unit: 's' }).record(0.25, { route: '/' });
  meter.createObservableGauge('temperature_celsius').addCallback((r) => r.observe(21.5));

  await tracerProvider.forceFlush();
  await loggerProvider.forceFlush();
  await tracerProvider.shutdown();
  await loggerProvider.shutdown();
  await meterProvider.shutdown();  // the final collect and export

  for (const signal of ['traces', 'logs', 'metrics']) {
    const calls = results.filter((r) => r.signal === signal);
    if (calls.length === 0) fail(`no ${signal} export happened`);
    const bad = calls.filter((r) => r.code !== 0);
    if (bad.length) fail(`${signal} export failed: ${JSON.stringify(bad)}`);
  }
  const expected = {
    results,
    spans: [other, root, child].map((s) => ({
      name: s.name,
      traceId: s.spanContext().traceId,
      spanId: s.spanContext().spanId,
      parentSpanId: s.parentSpanContext ? s.parentSpanContext.spanId : '',
    })),
    link: { traceId: other.spanContext().traceId, spanId: other.spanContext().spanId },
    logs: [
      { body: 'payment declined', traceId: child.spanContext().traceId,
        spanId: child.spanContext().spanId },
      { body: 'checkout started', traceId: root.spanContext().traceId,
        spanId: root.spanContext().spanId },
      { body: 'no trace here', traceId: '', spanId: '' },
    ],
    metrics: ['orders_total', 'queue_depth', 'request_duration_seconds', 'temperature_celsius'],
  };
  fs.writeFileSync(expectedPath, JSON.stringify(expected, null, 2));
  console.log(`sent ${results.length} exports, all successful`);
}

const b64hex = (b64) => (b64 ? Buffer.from(b64, 'base64').toString('hex') : '');
const attr = (kvs, key) => {
  const kv = (kvs || []).find((a) => a.key === key);
  return kv ? kv.value : undefined;
};

function check(expectedPath, dumpPath) {
  const expected = JSON.parse(fs.readFileSync(expectedPath, 'utf8'));
  const lines = fs.readFileSync(dumpPath, 'utf8').split('\n').filter((l) => l.trim());
  const spans = [], logs = [], metrics = [];
  for (const line of lines) {
    const entry = JSON.parse(line);
    for (const rs of (entry.traces || {}).resourceSpans || []) {
      for (const ss of rs.scopeSpans || []) {
        for (const s of ss.spans || []) spans.push({ s, resource: rs.resource, scope: ss.scope });
      }
    }
    for (const rl of (entry.logs || {}).resourceLogs || []) {
      for (const sl of rl.scopeLogs || []) {
        for (const r of sl.logRecords || []) logs.push({ r, resource: rl.resource, scope: sl.scope });
      }
    }
    for (const rm of (entry.metrics || {}).resourceMetrics || []) {
      for (const sm of rm.scopeMetrics || []) for (const m of sm.metrics || []) metrics.push(m);
    }
  }

  if (spans.length !== expected.spans.length) {
    fail(`collector holds ${spans.length} spans, the SDK sent ${expected.spans.length}`);
  }
  for (const want of expected.spans) {
    const found = spans.filter((x) => b64hex(x.s.spanId) === want.spanId);
    if (found.length !== 1) fail(`span ${want.name} (${want.spanId}) stored ${found.length} times`);
    const got = found[0];
    if (b64hex(got.s.traceId) !== want.traceId) fail(`span ${want.name}: wrong trace id`);
    if (b64hex(got.s.parentSpanId) !== want.parentSpanId) {
      fail(`span ${want.name}: parent ${b64hex(got.s.parentSpanId)}, want ${want.parentSpanId}`);
    }
    if (got.s.name !== want.name) fail(`span name ${got.s.name}, want ${want.name}`);
    if (attr(got.resource.attributes, 'service.name').stringValue !== 'js-e2e') {
      fail('span lost its service.name');
    }
    if (got.scope.name !== 'e2e-tracer' || got.scope.version !== '1.0.0') fail('span lost its scope');
  }
  const child = spans.find((x) => x.s.name === 'charge card').s;
  if (child.kind !== 'SPAN_KIND_CLIENT') fail(`child kind ${child.kind}`);
  if (!child.status || child.status.code !== 'STATUS_CODE_ERROR' ||
      child.status.message !== 'card declined') {
    fail(`child status ${JSON.stringify(child.status)}`);
  }
  if (!child.events || child.events[0].name !== 'retry') fail('child event lost');
  if (!child.links || b64hex(child.links[0].spanId) !== expected.link.spanId ||
      b64hex(child.links[0].traceId) !== expected.link.traceId) {
    fail(`child link ${JSON.stringify(child.links)}`);
  }
  if (attr(child.attributes, 'payment.amount').doubleValue !== 12.5 ||
      attr(child.attributes, 'payment.retries').intValue !== '2' ||
      attr(child.attributes, 'payment.ok').boolValue !== false) {
    fail(`child attributes lost their types: ${JSON.stringify(child.attributes)}`);
  }

  if (logs.length !== expected.logs.length) {
    fail(`collector holds ${logs.length} logs, the SDK sent ${expected.logs.length}`);
  }
  for (const want of expected.logs) {
    const found = logs.filter((x) => x.r.body && x.r.body.stringValue === want.body);
    if (found.length !== 1) fail(`log "${want.body}" stored ${found.length} times`);
    const r = found[0].r;
    if (b64hex(r.traceId) !== want.traceId || b64hex(r.spanId) !== want.spanId) {
      fail(`log "${want.body}": ids ${b64hex(r.traceId)}/${b64hex(r.spanId)}, ` +
           `want ${want.traceId}/${want.spanId}`);
    }
  }
  const declined = logs.find((x) => x.r.body.stringValue === 'payment declined').r;
  if (declined.severityNumber !== 'SEVERITY_NUMBER_ERROR') fail('log severity lost');
  if (attr(declined.attributes, 'password').stringValue !== '***REDACTED***') {
    fail('the password attribute was not redacted');
  }
  if (attr(declined.attributes, 'order_id').intValue !== '42') fail('order_id lost');

  const names = metrics.map((m) => m.name).sort();
  if (JSON.stringify(names) !== JSON.stringify(expected.metrics.slice().sort())) {
    fail(`metrics ${JSON.stringify(names)}, want ${JSON.stringify(expected.metrics)}`);
  }
  const byName = Object.fromEntries(metrics.map((m) => [m.name, m]));
  if (!byName.orders_total.sum || !byName.orders_total.sum.isMonotonic) fail('counter kind lost');
  if (!byName.queue_depth.sum || byName.queue_depth.sum.isMonotonic) fail('up-down kind lost');
  const h = byName.request_duration_seconds.histogram;
  if (!h || h.dataPoints[0].count !== '1' || !h.dataPoints[0].explicitBounds ||
      h.dataPoints[0].bucketCounts.length !== h.dataPoints[0].explicitBounds.length + 1) {
    fail(`histogram lost: ${JSON.stringify(byName.request_duration_seconds)}`);
  }
  if (!byName.temperature_celsius.gauge ||
      byName.temperature_celsius.gauge.dataPoints[0].asDouble !== 21.5) {
    fail('gauge lost');
  }
  console.log(`checked ${spans.length} spans, ${logs.length} logs, ${metrics.length} metrics`);
}

const [mode, a, b] = process.argv.slice(2);
if (mode === 'send') {
  send(a, b).catch((e) => fail(e.stack || String(e)));
} else if (mode === 'check') {
  check(a, b);
} else {
  fail('usage: node otel_sdk.js send HOST:PORT expected.json | check expected.json dump.jsonl');
}
