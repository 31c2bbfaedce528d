// Everything a Client can be told. Every field has a working default; most
// can also be set from the environment (see ApplyEnvironment) so that an
// application is configured without a rebuild.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "base/redaction.h"
#include "client/types.h"

namespace tributary::client {

enum class Backpressure {
  kDrop,   // a full queue drops the record (after waiting up to drop_wait)
  kBlock,  // a full queue makes the log call wait (up to block_deadline)
};

// How batches travel to the collector.
enum class Compression {
  kNone,  // as encoded: the cheapest on CPU; right for loopback and a fast LAN
  kGzip,  // gRPC's gzip, on the sender thread: log batches shrink several-fold
};

struct ClientOptions {
  // Collector addresses (host:port). The client talks to one at a time and
  // moves to the next when it cannot connect. Exactly-once holds per
  // collector; a batch in flight when the client fails over may be stored by
  // both.
  std::vector<std::string> endpoints = {"127.0.0.1:4317"};

  struct Tls {
    bool enabled = false;
    std::string ca_file;    // PEM roots; empty = the system's
    std::string cert_file;  // client certificate (mutual TLS), PEM
    std::string key_file;
    std::string server_name;  // overrides the name checked in the certificate
  } tls;

  Compression compression = Compression::kNone;

  struct Resource {
    std::string service_name = "unknown_service";
    std::string service_instance_id;  // empty: host name and process id
    std::string host;                 // empty: this machine's host name
    std::map<std::string, std::string> attributes;
  } resource;

  // Names this client's batches for exactly-once ingest. Empty: derived from
  // the resource plus a random part, unique to this Client. A fixed id is
  // safe across restarts: the first handshake moves numbering past what the
  // collector already holds. Two processes must not share one: when the
  // collector shows another process's batches under this id, this client's
  // are renumbered past them (nothing lost, a few possibly stored twice) and
  // the conflict is counted (ClientStats::producer_id_conflicts).
  std::string producer_id;

  struct Queue {
    // Slots are preallocated: about 1 KiB of memory per record of capacity
    // (two lanes of 512-byte slots), 8 MiB at the default.
    size_t max_records = 8192;
    size_t max_bytes = 8 << 20;
    Backpressure policy = Backpressure::kDrop;
    absl::Duration drop_wait = absl::ZeroDuration();            // kDrop
    absl::Duration block_deadline = absl::InfiniteDuration();  // kBlock
  } queue;

  // Levels that evict queued records of other levels rather than be dropped.
  std::vector<Level> protected_levels = {Level::kError, Level::kFatal, Level::kAudit,
                                         Level::kSecurity};

  // Share of traces (and of records without a trace) kept for unprotected
  // levels and spans, decided by trace id: a kept trace is kept whole.
  double sampling_ratio = 1.0;

  struct Redaction {
    bool enabled = true;
    std::vector<std::string> keys = DefaultSensitiveKeys();
    std::vector<RedactionPattern> patterns;
    std::string replacement = std::string(kDefaultRedactionReplacement);
  } redaction;

  struct Batch {
    size_t max_records = 1000;
    size_t max_bytes = 1 << 20;
    absl::Duration max_delay = absl::Milliseconds(200);
  } batch;

  // Unacked batches kept for re-sending, and how many are on the wire.
  size_t max_in_flight_batches = 8;
  size_t max_unacked_bytes = 64 << 20;

  // Metrics are collected and sent this often.
  absl::Duration flush_interval = absl::Seconds(10);

  struct Retry {
    absl::Duration initial_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(10);
    absl::Duration connect_timeout = absl::Seconds(5);  // until the handshake answer
    absl::Duration ack_timeout = absl::Seconds(30);     // batch sent, no answer: reconnect
    // While connected the client pings the collector this often, and a ping
    // unanswered for keepalive_timeout ends the stream: a collector that died
    // or a network path that went dead is found while idle, not only when a
    // batch waits ack_timeout for its ack. 0 = no pings; otherwise at least
    // 1s, and no shorter than the collector's server.min_ping_interval (5s by
    // default), or it closes the connection. Env: TRIBUTARY_KEEPALIVE_TIME_MS.
    absl::Duration keepalive_time = absl::Seconds(30);
    absl::Duration keepalive_timeout = absl::Seconds(10);
  } retry;

  RecordLimits limits;

  // Also send the client's own counters (queue, drops, batches) as metrics.
  bool export_client_metrics = false;

  // Read TRIBUTARY_* variables in Client::Create (they override the fields).
  bool read_environment = true;
};

// Overrides fields from the environment:
//   TRIBUTARY_ENDPOINT              host:port[,host:port...]
//   TRIBUTARY_SERVICE_NAME, TRIBUTARY_SERVICE_INSTANCE_ID, TRIBUTARY_HOST
//   TRIBUTARY_RESOURCE_ATTRIBUTES   key=value[,key=value...]
//   TRIBUTARY_PRODUCER_ID
//   TRIBUTARY_TLS                   true|false
//   TRIBUTARY_TLS_CA_FILE, TRIBUTARY_TLS_CERT_FILE, TRIBUTARY_TLS_KEY_FILE,
//   TRIBUTARY_TLS_SERVER_NAME       (setting any of these enables TLS)
//   TRIBUTARY_COMPRESSION           none|gzip
//   TRIBUTARY_QUEUE_MAX_RECORDS, TRIBUTARY_QUEUE_MAX_BYTES
//   TRIBUTARY_BACKPRESSURE          drop|block
//   TRIBUTARY_DROP_WAIT_US, TRIBUTARY_BLOCK_DEADLINE_MS
//   TRIBUTARY_PROTECTED_LEVELS      error,fatal,audit,security
//   TRIBUTARY_SAMPLING_RATIO        0..1
//   TRIBUTARY_REDACTION             true|false
//   TRIBUTARY_BATCH_MAX_RECORDS, TRIBUTARY_BATCH_MAX_DELAY_MS
//   TRIBUTARY_FLUSH_INTERVAL_MS
//   TRIBUTARY_EXPORT_CLIENT_METRICS true|false
// Fails, naming every bad variable, if a value does not parse.
absl::Status ApplyEnvironment(ClientOptions* options);

// Checks ranges and consistency; the message lists every problem.
absl::Status Validate(const ClientOptions& options);

}  // namespace tributary::client
