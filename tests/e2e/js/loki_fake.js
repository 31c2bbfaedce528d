// A strict stand-in for Loki 2.8's push API, written from the published
// protocol: it accepts what Loki accepts, answers what Loki answers, and
// keeps what it accepted so a test can look.
//
//   node loki_fake.js PORT_FILE
//
// Listens on 127.0.0.1 (a kernel-picked port, written to PORT_FILE).
//   POST /loki/api/v1/push, /api/prom/push   the push API (GET: 405)
//   GET  /test/streams     [{tenant, labels: {..}, entries: [[ns, line], ...]}]
//   GET  /test/stats       {pushes, entries, answers: {"204": n, "400": n, ...},
//                           encodings: {"protobuf": n, "json": n, "json+gzip": n}}
//   POST /test/fail?status=S&count=N[&retry_after=SECONDS]
//                          answers the next N pushes with S (without storing them)
'use strict';

const fs = require('fs');
const http = require('http');
const zlib = require('zlib');
const protobuf = require('protobufjs');
const snappy = require('snappyjs');

const [portFile] = process.argv.slice(2);
if (!portFile) {
  console.error('usage: node loki_fake.js PORT_FILE');
  process.exit(2);
}

// logproto.PushRequest, from Loki's push.proto (field numbers and types).
const root = protobuf.parse(`
  syntax = "proto3";
  package logproto;
  message Timestamp { int64 seconds = 1; int32 nanos = 2; }
  message PushRequest { repeated StreamAdapter streams = 1; }
  message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
  message EntryAdapter { Timestamp timestamp = 1; string line = 2; }
`).root;
const PushRequest = root.lookupType('logproto.PushRequest');

// Loki's default limits.
const MAX_AGE_NS = 168n * 3600n * 1000000000n;   // reject_old_samples_max_age
const GRACE_NS = 10n * 60n * 1000000000n;        // creation_grace_period
const MAX_LABEL_NAMES = 15;
const MAX_LABEL_NAME_LENGTH = 1024;
const MAX_LABEL_VALUE_LENGTH = 2048;
const MAX_LINE_BYTES = 256 * 1024;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

class BadRequest extends Error {}

const streams = new Map();  // tenant + labels -> {tenant, labels, entries}
const stats = { pushes: 0, entries: 0, answers: {}, encodings: {} };
let failNext = { status: 0, count: 0, retryAfter: '' };

// A label set in Prometheus syntax: {name="value", ...}. Values are Go
// string literals.
function parseLabels(text) {
  let i = 0;
  const s = text.trim();
  const out = {};
  const err = (what) => new BadRequest(`parse error at line 1, col ${i + 1}: ${what}`);
  if (s[i++] !== '{') throw err('unexpected character, expected "{"');
  const skip = () => { while (s[i] === ' ') i++; };
  skip();
  if (s[i] === '}') { i++; } else {
    for (;;) {
      skip();
      const m = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(s.slice(i));
      if (!m) throw err('unexpected character inside braces');
      const name = m[0];
      i += name.length;
      skip();
      if (s[i++] !== '=') throw err('unexpected character, expected "="');
      skip();
      if (s[i++] !== '"') throw err('unexpected character, expected string');
      const bytes = [];
      for (;;) {
        if (i >= s.length) throw err('unterminated quoted string');
        const c = s[i++];
        if (c === '"') break;
        if (c === '\n') throw err('newline in string');
        if (c !== '\\') { bytes.push(...Buffer.from(c, 'utf8')); continue; }
        const e = s[i++];
        const simple = { n: 10, t: 9, r: 13, '"': 34, '\\': 92, a: 7, b: 8, f: 12, v: 11, "'": 39 };
        if (e in simple) { bytes.push(simple[e]); continue; }
        if (e === 'x' && /^[0-9a-fA-F]{2}$/.test(s.slice(i, i + 2))) {
          bytes.push(parseInt(s.slice(i, i + 2), 16));
          i += 2;
          continue;
        }
        throw err(`unknown escape sequence \\${e}`);
      }
      if (name in out) throw new BadRequest(`duplicate label name: ${name}`);
      out[name] = Buffer.from(bytes).toString('utf8');
      skip();
      if (s[i] === ',') { i++; continue; }
      if (s[i] === '}') { i++; break; }
      throw err('unexpected character, expected "," or "}"');
    }
  }
  if (i !== s.length) throw err('unexpected characters after "}"');
  return out;
}

function validateStream(labels, entries, nowNs, errors, accepted) {
  const names = Object.keys(labels);
  if (names.length === 0) throw new BadRequest('error at least one label pair is required per stream');
  if (names.length > MAX_LABEL_NAMES) {
    throw new BadRequest(`entry for stream has ${names.length} label names; limit ${MAX_LABEL_NAMES}`);
  }
  for (const n of names) {
    if (!LABEL_NAME.test(n)) throw new BadRequest(`invalid label name: ${n}`);
    if (n.length > MAX_LABEL_NAME_LENGTH) throw new BadRequest(`label name too long: ${n}`);
    if (Buffer.byteLength(labels[n]) > MAX_LABEL_VALUE_LENGTH) {
      throw new BadRequest(`label value too long: ${n}`);
    }
  }
  // Loki keeps a stream's valid entries and reports the last invalid one.
  for (const [ts, line] of entries) {
    if (ts < nowNs - MAX_AGE_NS) { errors.push(`entry for stream has timestamp too old: ${ts}`); continue; }
    if (ts > nowNs + GRACE_NS) { errors.push(`entry for stream has timestamp too new: ${ts}`); continue; }
    if (Buffer.byteLength(line) > MAX_LINE_BYTES) { errors.push('line too long'); continue; }
    accepted.push([ts, line]);
  }
}

function decodeJson(body) {
  let doc;
  try { doc = JSON.parse(body.toString('utf8')); } catch (e) { throw new BadRequest(`ReadObjectCB: ${e.message}`); }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw new BadRequest('expected an object');
  const list = doc.streams === undefined ? [] : doc.streams;
  if (!Array.isArray(list)) throw new BadRequest('streams: expected an array');
  return list.map((st) => {
    if (st === null || typeof st !== 'object') throw new BadRequest('stream: expected an object');
    const labels = st.stream || {};
    if (typeof labels !== 'object' || Array.isArray(labels)) throw new BadRequest('stream labels: expected an object');
    for (const v of Object.values(labels)) {
      if (typeof v !== 'string') throw new BadRequest('label values must be strings');
    }
    const values = st.values || [];
    if (!Array.isArray(values)) throw new BadRequest('values: expected an array');
    const entries = values.map((v) => {
      if (!Array.isArray(v) || v.length !== 2) {
        throw new BadRequest('Value is array with more than 2 elements or less than 2 elements');
      }
      if (typeof v[0] !== 'string' || !/^[0-9]+$/.test(v[0])) {
        throw new BadRequest('ReadString: expects " or n, but found a number as timestamp');
      }
      if (typeof v[1] !== 'string') throw new BadRequest('the log line must be a string');
      return [BigInt(v[0]), v[1]];
    });
    return { labels: { ...labels }, entries };
  });
}

function decodeProtobuf(body) {
  let raw;
  try {
    raw = Buffer.from(snappy.uncompress(body));
  } catch (e) {
    throw new BadRequest('snappy: corrupt input');
  }
  let req;
  try { req = PushRequest.decode(raw); } catch (e) { throw new BadRequest(`proto: ${e.message}`); }
  return req.streams.map((st) => ({
    labels: parseLabels(st.labels),
    entries: st.entries.map((e) => {
      const t = e.timestamp || { seconds: 0, nanos: 0 };
      return [BigInt(t.seconds.toString()) * 1000000000n + BigInt(t.nanos || 0), e.line];
    }),
  }));
}

function push(req, body) {
  const type = req.headers['content-type'];
  if (!type) throw new BadRequest('mime: no media type');
  const m = /^\s*([!#$%&'*+.^_`|~0-9A-Za-z-]+)\/([!#$%&'*+.^_`|~0-9A-Za-z-]+)\s*(;.*)?$/.exec(type);
  if (!m) throw new BadRequest('mime: expected slash after first token');
  const json = `${m[1]}/${m[2]}`.toLowerCase() === 'application/json';
  const encoding = (req.headers['content-encoding'] || '').toLowerCase();
  let data = body;
  if (encoding === 'gzip') {
    try { data = zlib.gunzipSync(body); } catch (e) { throw new BadRequest(`gzip: ${e.message}`); }
  } else if (encoding === 'deflate') {
    try { data = zlib.inflateSync(body); } catch (e) { throw new BadRequest(`flate: ${e.message}`); }
  } else if (encoding !== '' && encoding !== 'snappy') {
    throw new BadRequest(`Content-Encoding "${req.headers['content-encoding']}" not supported`);
  }
  const decoded = json ? decodeJson(data) : decodeProtobuf(data);
  const kind = json ? (encoding === 'gzip' ? 'json+gzip' : 'json') : 'protobuf';
  stats.encodings[kind] = (stats.encodings[kind] || 0) + 1;
  const tenant = req.headers['x-scope-orgid'] || 'fake';
  const nowNs = BigInt(Date.now()) * 1000000n;
  const errors = [];
  const accepted = [];
  for (const st of decoded) {
    const entries = [];
    validateStream(st.labels, st.entries, nowNs, errors, entries);
    accepted.push({ labels: st.labels, entries });
  }
  for (const st of accepted) {
    const sorted = Object.keys(st.labels).sort().map((k) => [k, st.labels[k]]);
    const key = tenant + JSON.stringify(sorted);
    if (!streams.has(key)) streams.set(key, { tenant, labels: Object.fromEntries(sorted), entries: [] });
    const s = streams.get(key);
    for (const [ts, line] of st.entries) s.entries.push([ts.toString(), line]);
    stats.entries += st.entries.length;
  }
  if (errors.length) throw new BadRequest(errors[errors.length - 1]);
}

function answer(res, status, text, headers = {}) {
  stats.answers[status] = (stats.answers[status] || 0) + 1;
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers });
  res.end(text ? `${text}\n` : '');
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://127.0.0.1');
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    if (url.pathname === '/loki/api/v1/push' || url.pathname === '/api/prom/push') {
      if (req.method !== 'POST') {
        res.writeHead(405);
        res.end();
        return;
      }
      stats.pushes++;
      if (failNext.count > 0) {
        failNext.count--;
        const headers = failNext.retryAfter ? { 'Retry-After': failNext.retryAfter } : {};
        const text = failNext.status === 400 ? 'entry out of order' : 'Ingestion rate limit exceeded';
        answer(res, failNext.status, text, headers);
        return;
      }
      try {
        push(req, body);
      } catch (e) {
        if (!(e instanceof BadRequest)) throw e;
        answer(res, 400, e.message);
        return;
      }
      stats.answers[204] = (stats.answers[204] || 0) + 1;
      res.writeHead(204);
      res.end();
      return;
    }
    if (url.pathname === '/test/streams' && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify([...streams.values()]));
      return;
    }
    if (url.pathname === '/test/stats' && req.method === 'GET') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(stats));
      return;
    }
    if (url.pathname === '/test/fail' && req.method === 'POST') {
      failNext = { status: Number(url.searchParams.get('status')),
                   count: Number(url.searchParams.get('count')),
                   retryAfter: url.searchParams.get('retry_after') || '' };
      res.writeHead(200);
      res.end();
      return;
    }
    res.writeHead(404);
    res.end('404 page not found\n');
  });
});

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(`${portFile}.tmp`, String(server.address().port));
  fs.renameSync(`${portFile}.tmp`, portFile);
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
