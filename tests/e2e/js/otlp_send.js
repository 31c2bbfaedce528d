// Sends OTLP gauge points over gRPC in one Export, for tests that need
// points with chosen times (the SDK stamps its own).
//
//   node otlp_send.js PROTO_DIR HOST:PORT SERVICE METRIC VALUE UNIX_MS [VALUE UNIX_MS ...]
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [protoDir, target, service, metric, ...points] = process.argv.slice(2);
if (points.length === 0 || points.length % 2 !== 0) {
  console.error(
      'usage: node otlp_send.js PROTO_DIR HOST:PORT SERVICE METRIC VALUE UNIX_MS [VALUE UNIX_MS ...]');
  process.exit(2);
}
const dataPoints = [];
for (let i = 0; i < points.length; i += 2) {
  dataPoints.push({
    timeUnixNano: (BigInt(points[i + 1]) * 1000000n).toString(),
    asDouble: Number(points[i]),
  });
}
const definition = protoLoader.loadSync(
    path.join('opentelemetry/proto/collector/metrics/v1/metrics_service.proto'),
    { includeDirs: [protoDir], keepCase: false, longs: String, enums: String, defaults: false });
const { MetricsService } = grpc.loadPackageDefinition(definition)
    .opentelemetry.proto.collector.metrics.v1;
const client = new MetricsService(target, grpc.credentials.createInsecure());
client.Export({
  resourceMetrics: [{
    resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
    scopeMetrics: [{
      metrics: [{
        name: metric,
        gauge: { dataPoints },
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
