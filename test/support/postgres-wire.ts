/**
 * PostgreSQL protocol 3.0 messages as bytes (https://www.postgresql.org/docs/current/protocol-message-formats.html),
 * for the postgres_proxy tests: a client's and a server's side of a session, exactly as
 * libpq and the server write them.
 */
const text = new TextEncoder();

function int32(value: number): Uint8Array {
  const out = new Uint8Array(4);
  new DataView(out.buffer).setInt32(0, value);
  return out;
}

function int16(value: number): Uint8Array {
  const out = new Uint8Array(2);
  new DataView(out.buffer).setInt16(0, value);
  return out;
}

function cstring(value: string): Uint8Array {
  return concat(text.encode(value), new Uint8Array([0]));
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.byteLength;
  }
  return out;
}

/** A typed message: type byte, Int32 length (itself included), body. */
export function message(type: string, ...body: Uint8Array[]): Uint8Array {
  const payload = concat(...body);
  return concat(text.encode(type), int32(payload.byteLength + 4), payload);
}

/** StartupMessage, protocol 3.0, with its parameters. */
export function startup(parameters: Record<string, string>): Uint8Array {
  const body = concat(int32(196608), ...Object.entries(parameters).flatMap(([k, v]) => [cstring(k), cstring(v)]), new Uint8Array([0]));
  return concat(int32(body.byteLength + 4), body);
}

export const sslRequest = (): Uint8Array => concat(int32(8), int32(80877103));
export const query = (sql: string): Uint8Array => message("Q", cstring(sql));
/** Parse (extended protocol): statement name, query, no parameter types. */
export const parse = (name: string, sql: string): Uint8Array => message("P", cstring(name), cstring(sql), int16(0));
export const terminate = (): Uint8Array => message("X");
export const authenticationOk = (): Uint8Array => message("R", int32(0));
export const parameterStatus = (name: string, value: string): Uint8Array => message("S", cstring(name), cstring(value));
export const backendKeyData = (pid: number, key: number): Uint8Array => message("K", int32(pid), int32(key));
export const readyForQuery = (status = "I"): Uint8Array => message("Z", text.encode(status));
export const commandComplete = (tag: string): Uint8Array => message("C", cstring(tag));
/** RowDescription of text columns. */
export const rowDescription = (...columns: string[]): Uint8Array =>
  message("T", int16(columns.length), ...columns.flatMap((c) => [cstring(c), int32(0), int16(0), int32(25), int16(-1), int32(-1), int16(0)]));
export const dataRow = (...values: (string | null)[]): Uint8Array =>
  message("D", int16(values.length), ...values.flatMap((v) => (v === null ? [int32(-1)] : [int32(text.encode(v).byteLength), text.encode(v)])));
/** ErrorResponse / NoticeResponse with S and V severity fields (PostgreSQL ≥ 9.6). */
export const errorResponse = (severity: string, messageText: string, type = "E"): Uint8Array =>
  message(type, text.encode("S"), cstring(severity), text.encode("V"), cstring(severity), text.encode("C"), cstring("42P01"), text.encode("M"), cstring(messageText), new Uint8Array([0]));
export const noticeResponse = (severity: string, messageText: string): Uint8Array => errorResponse(severity, messageText, "N");

/** A server's answer to a simple query that returns rows: RowDescription, DataRows, CommandComplete, ReadyForQuery. */
export function selectResult(columns: string[], rows: string[][]): Uint8Array {
  return concat(rowDescription(...columns), ...rows.map((row) => dataRow(...row)), commandComplete(`SELECT ${rows.length}`), readyForQuery());
}

/** The server's greeting after a startup in trust mode. */
export function serverGreeting(): Uint8Array {
  return concat(authenticationOk(), parameterStatus("server_version", "16.0"), parameterStatus("client_encoding", "UTF8"), backendKeyData(1234, 5678), readyForQuery());
}

/**
 * Reads a byte stream as PostgreSQL messages: the untyped startup packet first (when
 * `startup`), then type + length messages. Returns whole messages as they complete.
 */
export class MessageReader {
  private buffered: Uint8Array = new Uint8Array(0);
  constructor(private expectStartup: boolean) {}

  push(chunk: Uint8Array): { type: string; body: Uint8Array }[] {
    this.buffered = concat(this.buffered, chunk);
    const out: { type: string; body: Uint8Array }[] = [];
    for (;;) {
      const view = new DataView(this.buffered.buffer, this.buffered.byteOffset, this.buffered.byteLength);
      if (this.expectStartup) {
        if (this.buffered.byteLength < 4) return out;
        const length = view.getInt32(0);
        if (this.buffered.byteLength < length) return out;
        const body = this.buffered.slice(4, length);
        this.buffered = this.buffered.slice(length);
        // An SSLRequest is answered, then the real startup follows.
        const code = new DataView(body.buffer).getInt32(0);
        if (code !== 80877103) this.expectStartup = false;
        out.push({ type: code === 80877103 ? "SSLRequest" : "Startup", body });
        continue;
      }
      if (this.buffered.byteLength < 5) return out;
      const length = view.getInt32(1);
      if (this.buffered.byteLength < 1 + length) return out;
      out.push({ type: String.fromCharCode(this.buffered[0]!), body: this.buffered.slice(5, 1 + length) });
      this.buffered = this.buffered.slice(1 + length);
    }
  }
}
