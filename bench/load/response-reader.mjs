// A small incremental HTTP/1.1 response reader for the bench's own clients: status line,
// Content-Length or chunked bodies (counted, never copied), `Connection: close`.
// Enough for the origin and the proxies under test; not a general parser.

const CRLFCRLF = Buffer.from("\r\n\r\n");

export class ResponseReader {
  /** @param {(response: {status: number, bodyBytes: number, close: boolean}) => void} onResponse */
  constructor(onResponse) {
    this.onResponse = onResponse;
    this.pending = null; // unparsed bytes (a head or a chunk-size line in progress)
    this.state = "head";
    this.remaining = 0; // body bytes (or chunk bytes) still to come
    this.status = 0;
    this.close = false;
    this.bodyBytes = 0;
    this.chunked = false;
  }

  /** Feed a chunk; throws on a response it cannot read. */
  feed(chunk) {
    let buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let off = 0;
    while (off < buf.length) {
      if (this.state === "head") {
        const end = buf.indexOf(CRLFCRLF, off);
        if (end < 0) {
          if (buf.length - off > 64 * 1024) throw new Error("response head too large");
          this.pending = buf.subarray(off);
          return;
        }
        this.parseHead(buf.toString("latin1", off, end));
        off = end + 4;
        if (this.status < 200) continue; // 1xx: another head follows
        if (this.status === 204 || this.status === 304) this.finish();
        else if (this.chunked) this.state = "chunk-size";
        else if (this.remaining === 0) this.finish();
        else if (this.remaining > 0) this.state = "body";
        else this.state = "until-close";
      } else if (this.state === "body" || this.state === "chunk-data") {
        const take = Math.min(this.remaining, buf.length - off);
        this.remaining -= take;
        this.bodyBytes += take;
        off += take;
        if (this.remaining === 0) {
          if (this.state === "body") this.finish();
          else this.state = "chunk-crlf";
        }
      } else if (this.state === "until-close") {
        this.bodyBytes += buf.length - off;
        off = buf.length;
      } else {
        // chunk-size, chunk-crlf, trailers: line-based
        const eol = buf.indexOf("\r\n", off, "latin1");
        if (eol < 0) {
          if (buf.length - off > 16 * 1024) throw new Error("chunk line too long");
          this.pending = buf.subarray(off);
          return;
        }
        const line = buf.toString("latin1", off, eol);
        off = eol + 2;
        if (this.state === "chunk-crlf") {
          if (line !== "") throw new Error("bad chunk terminator");
          this.state = "chunk-size";
        } else if (this.state === "chunk-size") {
          const size = parseInt(line, 16);
          if (!Number.isFinite(size) || size < 0) throw new Error(`bad chunk size ${JSON.stringify(line)}`);
          if (size === 0) this.state = "trailers";
          else {
            this.remaining = size;
            this.state = "chunk-data";
          }
        } else if (line === "") this.finish(); // end of trailers
      }
    }
  }

  /** The connection ended: a read-until-close body completes; anything else mid-response is an error. */
  end() {
    if (this.state === "until-close") {
      this.close = true;
      this.finish();
      return true;
    }
    return this.state === "head" && !this.pending;
  }

  parseHead(head) {
    const lines = head.split("\r\n");
    const match = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0]);
    if (!match) throw new Error(`bad status line ${JSON.stringify(lines[0])}`);
    this.status = Number(match[1]);
    this.remaining = -1;
    this.chunked = false;
    this.close = lines[0].startsWith("HTTP/1.0");
    this.bodyBytes = 0;
    for (let i = 1; i < lines.length; i++) {
      const colon = lines[i].indexOf(":");
      if (colon < 0) continue;
      const name = lines[i].slice(0, colon).trim().toLowerCase();
      const value = lines[i].slice(colon + 1).trim().toLowerCase();
      if (name === "content-length") this.remaining = Number(value);
      else if (name === "transfer-encoding") this.chunked = value.includes("chunked");
      else if (name === "connection") this.close = value.includes("close") ? true : value.includes("keep-alive") ? false : this.close;
    }
    if (this.chunked) this.remaining = 0;
  }

  finish() {
    const response = { status: this.status, bodyBytes: this.bodyBytes, close: this.close };
    this.state = "head";
    this.remaining = 0;
    this.bodyBytes = 0;
    this.onResponse(response);
  }
}
