// An OTLP/gRPC receiver on grpc-js, the backend the OTLP exporter sends to.
// It answers the first FAIL_FIRST calls with UNAVAILABLE, then appends every
// Export request it accepts to OUT as one JSON line ({"logs": ...},
// {"traces": ...} or {"metrics": ...}, in protobuf's JSON mapping), which is
// the shape `otel_sdk.js check` reads.
//
//   node otlp_receiver.js PROTO_DIR OUT FAIL_FIRST [PORT]
// Prints "listening PORT" once bound to 127.0.0.1 (PORT, or one the kernel
// picks).
'use strict';

const fs = require('fs');
const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const [protoDir, out, failFirstText, portText] = process.argv.slice(2);
if (!protoDir || !out) {
  console.error('usage: node otlp_receiver.js PROTO_DIR OUT FAIL_FIRST');
  process.exit(2);
}
let failLeft = Number(failFirstText || 0);
let calls = 0;

const definition = protoLoader.loadSync(
    ['logs', 'trace', 'metrics'].map(
        (s) => path.join('opentelemetry/proto/collector', s, 'v1', `${s}_service.proto`)),
    {
      includeDirs: [protoDir],
      keepCase: false,
      longs: String,
      enums: String,
      bytes: String,
      defaults: false,
      oneofs: false,
    });
const loaded = grpc.loadPackageDefinition(definition);
const collector = loaded.opentelemetry.proto.collector;

function handler(signal) {
  return (call, callback) => {
    ++calls;
    if (failLeft > 0) {
      --failLeft;
      callback({ code: grpc.status.UNAVAILABLE, details: 'receiver warming up' });
      return;
    }
    fs.appendFileSync(out, JSON.stringify({ [signal]: call.request }) + '\n');
    callback(null, {});
  };
}

const server = new grpc.Server();
server.addService(collector.logs.v1.LogsService.service, { Export: handler('logs') });
server.addService(collector.trace.v1.TraceService.service, { Export: handler('traces') });
server.addService(collector.metrics.v1.MetricsService.service, { Export: handler('metrics') });
server.bindAsync(`127.0.0.1:${portText || 0}`, grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) {
    console.error(`FAIL: bind: ${err.message}`);
    process.exit(1);
  }
  console.log(`listening ${port}`);
});
process.on('SIGTERM', () => {
  console.log(`calls ${calls}`);
  server.forceShutdown();
  process.exit(0);
});
