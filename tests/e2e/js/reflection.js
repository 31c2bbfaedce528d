// gRPC server reflection as grpcurl users rely on it: list the collector's
// services, describe each, and call Health/Check and QueryService/GetStats
// using nothing but the descriptors reflection returned.
//
//   node reflection.js HOST:PORT
'use strict';

const grpc = require('@grpc/grpc-js');
const { Client } = require('grpc-reflection-js');

function fail(message) {
  console.error('FAIL: ' + message);
  process.exit(1);
}

const EXPECTED = {
  'tributary.v1.IngestService': { Stream: [true, true] },
  'tributary.v1.QueryService': {
    QueryLogs: [false, false], GetTrace: [false, false],
    ListAlerts: [false, false], GetStats: [false, false],
  },
  'opentelemetry.proto.collector.logs.v1.LogsService': { Export: [false, false] },
  'opentelemetry.proto.collector.trace.v1.TraceService': { Export: [false, false] },
  'opentelemetry.proto.collector.metrics.v1.MetricsService': { Export: [false, false] },
  'grpc.health.v1.Health': { Check: [false, false], Watch: [false, true] },
};

// A unary call made only from reflected descriptors.
function callByReflection(address, root, service, method, request) {
  const m = root.lookupService(service).methods[method];
  m.resolve();
  const req = m.resolvedRequestType;
  const res = m.resolvedResponseType;
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
        `/${service}/${method}`,
        (o) => Buffer.from(req.encode(req.fromObject(o)).finish()),
        (buf) => res.toObject(res.decode(buf), { enums: String, longs: String, defaults: true }),
        request,
        (err, value) => (err ? reject(err) : resolve(value)));
  });
}

async function main(address) {
  const reflection = new Client(address, grpc.credentials.createInsecure());
  const services = await reflection.listServices();
  for (const name of Object.keys(EXPECTED)) {
    if (!services.includes(name)) fail(`reflection does not list ${name}: ${services}`);
  }
  for (const [name, methods] of Object.entries(EXPECTED)) {
    const root = await reflection.fileContainingSymbol(name);
    const svc = root.lookupService(name);
    for (const [method, [clientStreaming, serverStreaming]] of Object.entries(methods)) {
      const m = svc.methods[method];
      if (!m) fail(`${name} has no method ${method} in its reflected descriptor`);
      if (!!m.requestStream !== clientStreaming || !!m.responseStream !== serverStreaming) {
        fail(`${name}/${method}: streaming flags ${m.requestStream}/${m.responseStream}`);
      }
      m.resolve();  // request and response types must be described too
    }
  }
  const ingest = (await reflection.fileContainingSymbol('tributary.v1.IngestService'))
      .lookupType('tributary.v1.IngestBatch');
  if (!ingest.fields.producer_id && !ingest.fields.producerId) fail('IngestBatch lacks producer_id');

  const healthRoot = await reflection.fileContainingSymbol('grpc.health.v1.Health');
  const health = await callByReflection(address, healthRoot, 'grpc.health.v1.Health', 'Check', {});
  if (health.status !== 'SERVING') fail(`Health/Check: ${JSON.stringify(health)}`);

  const queryRoot = await reflection.fileContainingSymbol('tributary.v1.QueryService');
  const stats = await callByReflection(address, queryRoot, 'tributary.v1.QueryService',
                                       'GetStats', {});
  if (stats.buffer_entries === undefined || !(Number(stats.uptime_nanos) > 0)) {
    fail(`GetStats by reflection: ${JSON.stringify(stats)}`);
  }
  console.log(`reflection lists ${services.length} services; described ` +
              `${Object.keys(EXPECTED).length}; Health/Check=${health.status}; ` +
              `GetStats buffer_entries=${stats.buffer_entries}`);
}

main(process.argv[2]).catch((e) => fail(e.stack || String(e)));
