// The Kafka scenarios' load (`node kafka-client.mjs '{"port","connections","seconds","inFlight"}'`):
// `connections` connections, each keeping `inFlight` requests outstanding as Kafka clients
// pipeline (the Java producer's max.in.flight.requests.per.connection defaults to 5): a
// Produce v9 (acks=1, so the broker answers) of one record batch holding one 64-byte record,
// hand-encoded to the protocol's exact bytes, each with the connection's next correlation id.
// A response is matched to its request by correlation id and a new request sent, for
// `seconds`. Prints one JSON line in wrk's summary shape: {requests (responses matched),
// duration_us, errors, latency_us: {p50, p99, p999, max}}; a response with a correlation id
// no request has counts as a `status` error.
import net from "node:net";

const options = JSON.parse(process.argv[2]);
const { port, host = "127.0.0.1", connections = 64, seconds = 5, inFlight = 5 } = options;
/** A response frame larger than this closes the connection (the origin's are ~50 B). */
const MAX_FRAME = 1024 * 1024;

/** Kafka's varint (zigzag, 7 bits a byte, as protobuf's sint32). */
function varint(value) {
  let v = ((value << 1) ^ (value >> 31)) >>> 0;
  const out = [];
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}
/** An unsigned varint (the compact arrays' and strings' length + 1). */
function uvarint(value) {
  let v = value >>> 0;
  const out = [];
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
  return Buffer.from(out);
}

/** CRC-32C (Castagnoli), which a v2 record batch carries over its bytes from `attributes` on. */
const CRC32C_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0x82f63b78 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();
function crc32c(bytes) {
  let crc = 0xffffffff;
  for (const b of bytes) crc = CRC32C_TABLE[(crc ^ b) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** One record batch (magic 2, DefaultRecordBatch.java's layout): one record, no key, a 64-byte value. */
function recordBatch() {
  const value = Buffer.alloc(64, 0x61);
  const recordBody = Buffer.concat([Buffer.from([0]) /* attributes */, varint(0) /* timestampDelta */, varint(0) /* offsetDelta */, varint(-1) /* key: null */, varint(value.length), value, varint(0) /* headers */]);
  const record = Buffer.concat([varint(recordBody.length), recordBody]);
  // From attributes on: what the CRC covers.
  const tail = Buffer.alloc(2 + 4 + 8 + 8 + 8 + 2 + 4 + 4);
  let at = 0;
  at = tail.writeInt16BE(0, at); // attributes: no compression, CreateTime
  at = tail.writeInt32BE(0, at); // lastOffsetDelta
  at = tail.writeBigInt64BE(1765000000000n, at); // baseTimestamp (fixed: the bytes are the same every run)
  at = tail.writeBigInt64BE(1765000000000n, at); // maxTimestamp
  at = tail.writeBigInt64BE(-1n, at); // producerId: none
  at = tail.writeInt16BE(-1, at); // producerEpoch
  at = tail.writeInt32BE(-1, at); // baseSequence
  tail.writeInt32BE(1, at); // records: 1
  const covered = Buffer.concat([tail, record]);
  const head = Buffer.alloc(8 + 4 + 4 + 1 + 4);
  head.writeBigInt64BE(0n, 0); // baseOffset
  head.writeInt32BE(4 + 1 + 4 + covered.length, 8); // batchLength: the bytes after it
  head.writeInt32BE(-1, 12); // partitionLeaderEpoch
  head.writeInt8(2, 16); // magic
  head.writeUInt32BE(crc32c(covered), 17);
  return Buffer.concat([head, covered]);
}

/** Produce v9 (its first flexible version: request header v2, compact strings and arrays) after the frame's size. */
const PRODUCE_V9 = (() => {
  const clientId = Buffer.from("bench");
  const batch = recordBatch();
  const header = Buffer.alloc(2 + 2 + 4 + 2);
  header.writeInt16BE(0, 0); // api key: Produce
  header.writeInt16BE(9, 2); // api version
  // correlation id at 4: written per request
  header.writeInt16BE(clientId.length, 8); // client_id: a (non-compact) NULLABLE_STRING in every header version
  const body = Buffer.concat([
    header,
    clientId,
    uvarint(0), // header tagged fields
    uvarint(0), // transactional_id: null
    Buffer.from([0x00, 0x01]), // acks 1: the leader answers
    Buffer.from([0x00, 0x00, 0x75, 0x30]), // timeout_ms 30000
    uvarint(2), // topic_data: 1
    uvarint(6),
    Buffer.from("bench"), // name
    uvarint(2), // partition_data: 1
    Buffer.from([0, 0, 0, 0]), // index 0
    uvarint(batch.length + 1),
    batch, // records (COMPACT_RECORDS)
    uvarint(0), // partition tagged fields
    uvarint(0), // topic tagged fields
    uvarint(0), // tagged fields
  ]);
  const frame = Buffer.alloc(4 + body.length);
  frame.writeInt32BE(body.length, 0);
  body.copy(frame, 4);
  return frame;
})();
const CORRELATION_AT = 4 + 4;

const errors = { connect: 0, read: 0, write: 0, status: 0, timeout: 0 };
const latencies = []; // µs, of the measured window only
let requests = 0;
let measuring = false;
let done = false;

function connection() {
  return new Promise((resolveConnection) => {
    const socket = net.connect({ port, host, noDelay: true });
    let buffered = Buffer.alloc(0);
    let nextCorrelationId = 1;
    let connected = false;
    /** correlation id → when it was sent (performance.now()); at most `inFlight` entries. */
    const outstanding = new Map();
    const request = () => {
      const frame = Buffer.from(PRODUCE_V9);
      const id = nextCorrelationId;
      nextCorrelationId = nextCorrelationId === 0x7fffffff ? 1 : nextCorrelationId + 1;
      frame.writeInt32BE(id, CORRELATION_AT);
      outstanding.set(id, performance.now());
      return frame;
    };
    socket.on("connect", () => {
      connected = true;
      socket.write(Buffer.concat(Array.from({ length: inFlight }, request)));
    });
    socket.on("data", (chunk) => {
      buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
      let at = 0;
      let answered = 0;
      while (buffered.length - at >= 4) {
        const size = buffered.readInt32BE(at);
        if (size < 4 || size > MAX_FRAME) {
          if (measuring) errors.read++;
          socket.destroy();
          return;
        }
        if (buffered.length - at < 4 + size) break;
        const id = buffered.readInt32BE(at + 4);
        const sentAt = outstanding.get(id);
        at += 4 + size;
        if (sentAt === undefined) {
          if (measuring) errors.status++;
          continue;
        }
        outstanding.delete(id);
        answered++;
        if (measuring) {
          requests++;
          latencies.push((performance.now() - sentAt) * 1000);
        }
      }
      buffered = buffered.subarray(at);
      if (done) {
        if (outstanding.size === 0) socket.end();
        return;
      }
      if (answered) socket.write(answered === 1 ? request() : Buffer.concat(Array.from({ length: answered }, request)));
    });
    socket.on("error", () => {
      if (!done) errors[connected ? "read" : "connect"]++;
    });
    socket.on("close", () => resolveConnection());
  });
}

const all = Array.from({ length: connections }, connection);
// A short ramp first (the connections' setup), then the measured window.
await new Promise((r) => setTimeout(r, 200));
measuring = true;
const t0 = performance.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
measuring = false;
const duration_us = (performance.now() - t0) * 1000;
done = true;
await Promise.race([Promise.all(all), new Promise((r) => setTimeout(r, 5000))]);
latencies.sort((a, b) => a - b);
const at = (q) => (latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] : 0);
console.log(JSON.stringify({ requests, duration_us, errors, latency_us: { p50: at(0.5), p99: at(0.99), p999: at(0.999), max: latencies.at(-1) ?? 0 } }));
process.exit(0);
