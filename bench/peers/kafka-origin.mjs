// The Kafka scenarios' origin (`node kafka-origin.mjs PORT`): reads the protocol's frames
// (https://kafka.apache.org/protocol.html: an INT32 size, then that many bytes; a request
// header's api key INT16, api version INT16, correlation id INT32) and answers each request
// with one hand-encoded Produce v9 response (the flexible response header v1: correlation id,
// no tagged fields; topic "bench", partition 0, no error) carrying the request's correlation
// id. It answers every request so, whatever its API: the scenario measures the proxy, and
// kafka_broker reads only a response's size and correlation id (core/network/kafka/
// kafka-headers.ts). No real Kafka: the origin must cost little per request.
import net from "node:net";

const port = Number(process.argv[2] ?? 0);
/** A frame larger than this closes the connection (Kafka's socket.request.max.bytes is 100 MiB; ours are ~100 B). */
const MAX_FRAME = 1024 * 1024;

/** ProduceResponse v9 after its correlation id (ProduceResponse.json; compact arrays and strings are length + 1). */
const PRODUCE_V9_BODY = Buffer.from([
  0x00, // response header v1: no tagged fields
  0x02, // responses: 1 topic
  0x06, ...Buffer.from("bench"), // name
  0x02, // partition_responses: 1
  0, 0, 0, 0, // index 0
  0, 0, // error_code NONE
  0, 0, 0, 0, 0, 0, 0, 0, // base_offset 0
  0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // log_append_time_ms -1
  0, 0, 0, 0, 0, 0, 0, 0, // log_start_offset 0
  0x01, // record_errors: none
  0x00, // error_message: null
  0x00, // partition tagged fields
  0x00, // topic tagged fields
  0, 0, 0, 0, // throttle_time_ms 0
  0x00, // tagged fields
]);

function response(correlationId) {
  const out = Buffer.alloc(8 + PRODUCE_V9_BODY.length);
  out.writeInt32BE(4 + PRODUCE_V9_BODY.length, 0);
  out.writeInt32BE(correlationId, 4);
  PRODUCE_V9_BODY.copy(out, 8);
  return out;
}

const server = net.createServer({ noDelay: true }, (socket) => {
  let buffered = Buffer.alloc(0);
  socket.on("error", () => {});
  socket.on("data", (chunk) => {
    buffered = buffered.length ? Buffer.concat([buffered, chunk]) : chunk;
    let at = 0;
    const replies = [];
    while (buffered.length - at >= 4) {
      const size = buffered.readInt32BE(at);
      if (size < 8 || size > MAX_FRAME) {
        socket.destroy();
        return;
      }
      if (buffered.length - at < 4 + size) break;
      replies.push(response(buffered.readInt32BE(at + 8)));
      at += 4 + size;
    }
    buffered = buffered.subarray(at);
    if (replies.length) socket.write(replies.length === 1 ? replies[0] : Buffer.concat(replies));
  });
});
server.listen(port, "127.0.0.1", 4096, () => console.log(`listening ${server.address().port}`));
