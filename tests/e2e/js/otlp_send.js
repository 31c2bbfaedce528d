// Sends one OTLP gauge point over gRPC, for tests that need a point with a
// chosen time (the SDK stamps its own).
//
//   node otlp_send.js PROTO_DIR HOST:PORT SERVICE METRIC VALUE UNIX_MS
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [protoDir, target, service, metric, value, unixMs] = process.argv.slice(2);
if (!unixMs) {
  console.error('usage: node otlp_send.js PROTO_DIR HOST:PORT SERVICE METRIC VALUE UNIX_MS');
  process.exit(2);
}
const definition = protoLoader.loadSync(
    path.join('opentelemetry/proto/collector/metrics/v1/metrics_service.proto'),
    { includeDirs: [protoDir], keepCase: false, longs: String, enums: String, defaults: false });
const { MetricsService } = grpc.loadPackageDefinition(definition)
    .opentelemetry.proto.collector.metrics.v1;
const client = new MetricsService(target, grpc.credentials.createInsecure());
const nanos = (BigInt(unixMs) * 1000000n).toString();
client.Export({
  resourceMetrics: [{
    resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
    scopeMetrics: [{
      metrics: [{
        name: metric,
        gauge: { dataPoints: [{ timeUnixNano: nanos, asDouble: Number(value) }] },
      }],
    }],
  }],
}, { deadline: Date.now() + 10000 }, (err) => {
  if (err) {
    console.error(`FAIL: export: ${err.message}`);
    process.exit(1);
  }
  process.exit(0);
});
