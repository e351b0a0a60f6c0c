/**
 * The PostgreSQL wire-protocol decoder of Envoy's postgres_proxy
 * (contrib/postgres_proxy/filters/network/source/postgres_decoder.cc): it follows both
 * directions of a session message by message — startup, then 1-byte type + Int32 length
 * messages — and reports what it sees (sessions, statements, transactions, errors,
 * notices, SQL) to its callbacks. It only watches: the bytes pass on unchanged.
 *
 * States as Envoy's: Init (the startup packet), InSync, and the two it never leaves:
 * Encrypted (after an SSLRequest/GSSENCRequest passed through: the rest is TLS) and
 * OutOfSync (a message did not match its format: boundaries are lost, so nothing more
 * is read rather than guessing lengths from garbage).
 *
 * Bounded: a message is buffered only until complete and only up to
 * MAX_BUFFERED_BODY bytes; a longer one is counted and skipped unread (Envoy buffers any).
 */
import { latin1Decode } from "../../util/latin1.ts";
import { utf8Decode } from "../../util/utf8.ts";
import { PendingBytes } from "../pending-bytes.ts";
import { type BodyFormat, readUint32, validateBody } from "./postgres-message.ts";

export const StatementType = { Insert: 0, Delete: 1, Select: 2, Update: 3, Other: 4 } as const;
export type StatementType = (typeof StatementType)[keyof typeof StatementType];
export const ErrorType = { Error: 0, Fatal: 1, Panic: 2, Unknown: 3 } as const;
export type ErrorType = (typeof ErrorType)[keyof typeof ErrorType];
export const NoticeType = { Warning: 0, Notice: 1, Debug: 2, Info: 3, Log: 4, Unknown: 5 } as const;
export type NoticeType = (typeof NoticeType)[keyof typeof NoticeType];

/** What the decoder reports (Envoy's DecoderCallbacks). */
export interface PostgresDecoderCallbacks {
  incMessagesFrontend(): void;
  incMessagesBackend(): void;
  incMessagesUnknown(): void;
  incSessionsEncrypted(): void;
  incSessionsUnencrypted(): void;
  incStatements(type: StatementType): void;
  /** Counted only outside a transaction block (Envoy's PostgresFilter::incTransactions). */
  incTransactions(): void;
  incTransactionsCommit(): void;
  incTransactionsRollback(): void;
  incErrors(type: ErrorType): void;
  incNotices(type: NoticeType): void;
  /** The SQL of a Query or Parse message; `attributes` are the startup packet's (user, database, …). */
  processQuery(sql: string, attributes: ReadonlyMap<string, string>): void;
  /** An SSLRequest: true lets it pass to the server (the session is then encrypted end to end). */
  onSSLRequest(): boolean;
}

const enum State {
  Init,
  InSync,
  OutOfSync,
  Encrypted,
}

/** PostgreSQL's MAX_STARTUP_PACKET_LENGTH (src/include/libpq/pqcomm.h), as Envoy checks it. */
export const MAX_STARTUP_PACKET_LENGTH = 10000;
/** Startup codes with 1234 in the high 16 bits ask for encryption (SSLRequest 80877103, GSSENCRequest 80877104, and CancelRequest 80877102, which Envoy counts with them). */
const ENCRYPTION_REQUEST_BASE_CODE = 0x04d20000;
const SSL_REQUEST_CODE = 80877103;
/** The largest message body held to be read whole; longer ones are skipped unread (see the file comment). */
export const MAX_BUFFERED_BODY = 1024 * 1024;

const NO_BODY: BodyFormat = [];
const STARTUP: BodyFormat = ["int32", { repeated: "string" }];

interface MessageType {
  readonly name: string;
  readonly body: BodyFormat;
  readonly action?: (decoder: PostgresDecoder, body: Uint8Array) => void;
}

const FRONTEND: ReadonlyMap<number, MessageType> = messageTable({
  B: { name: "Bind", body: ["string", "string", { array: "int16" }, { array: "varByteN" }, { array: "int16" }] },
  C: { name: "Close", body: ["int8", "string"] },
  d: { name: "CopyData", body: ["byteN"] },
  c: { name: "CopyDone", body: NO_BODY },
  f: { name: "CopyFail", body: ["string"] },
  D: { name: "Describe", body: ["int8", "string"] },
  E: { name: "Execute", body: ["string", "int32"] },
  H: { name: "Flush", body: NO_BODY },
  F: { name: "FunctionCall", body: ["int32", { array: "int16" }, { array: "varByteN" }, "int16"] },
  p: { name: "PasswordMessage/GSSResponse/SASLInitialResponse/SASLResponse", body: ["int32", "byteN"] },
  P: { name: "Parse", body: ["string", "string", { array: "int32" }], action: (d, body) => d.onParse(body) },
  Q: { name: "Query", body: ["string"], action: (d, body) => d.onQuery(body) },
  S: { name: "Sync", body: NO_BODY },
  X: { name: "Terminate", body: NO_BODY, action: (d) => d.onFrontendTerminate() },
});

const BACKEND: ReadonlyMap<number, MessageType> = messageTable({
  R: { name: "Authentication", body: ["byteN"], action: (d, body) => d.onAuthentication(body) },
  K: { name: "BackendKeyData", body: ["int32", "int32"] },
  "2": { name: "BindComplete", body: NO_BODY },
  "3": { name: "CloseComplete", body: NO_BODY },
  C: { name: "CommandComplete", body: ["string"], action: (d, body) => d.onCommandComplete(body) },
  d: { name: "CopyData", body: ["byteN"] },
  c: { name: "CopyDone", body: NO_BODY },
  G: { name: "CopyInResponse", body: ["int8", { array: "int16" }] },
  H: { name: "CopyOutResponse", body: ["int8", { array: "int16" }] },
  W: { name: "CopyBothResponse", body: ["int8", { array: "int16" }] },
  D: { name: "DataRow", body: [{ array: "varByteN" }] },
  I: { name: "EmptyQueryResponse", body: NO_BODY },
  E: { name: "ErrorResponse", body: [{ zeroTerminated: "string" }], action: (d, body) => d.onErrorResponse(body) },
  V: { name: "FunctionCallResponse", body: ["varByteN"] },
  v: { name: "NegotiateProtocolVersion", body: ["byteN"] },
  n: { name: "NoData", body: NO_BODY },
  N: { name: "NoticeResponse", body: ["byteN"], action: (d, body) => d.onNoticeResponse(body) },
  A: { name: "NotificationResponse", body: ["int32", "string", "string"] },
  t: { name: "ParameterDescription", body: [{ array: "int32" }] },
  S: { name: "ParameterStatus", body: ["string", "string"] },
  "1": { name: "ParseComplete", body: NO_BODY },
  s: { name: "PortalSuspend", body: NO_BODY },
  Z: { name: "ReadyForQuery", body: ["int8"] },
  T: { name: "RowDescription", body: [{ array: { sequence: ["string", "int32", "int16", "int32", "int16", "int32", "int16"] } }] },
});

/** Any other type byte: its body is not checked (Envoy's "Other", counted as messages_unknown). */
const UNKNOWN: MessageType = { name: "Other", body: ["byteN"] };

function messageTable(types: Record<string, MessageType>): ReadonlyMap<number, MessageType> {
  return new Map(Object.entries(types).map(([code, type]) => [code.charCodeAt(0), type]));
}

/** CommandComplete's first word → what it counts (Envoy's BE_statements_). */
const STATEMENTS: ReadonlyMap<string, (d: PostgresDecoder) => void> = new Map([
  ["BEGIN", (d: PostgresDecoder) => d.beginTransaction()],
  ["START", (d: PostgresDecoder) => d.beginTransaction()],
  ["ROLLBACK", (d: PostgresDecoder) => d.rollbackTransaction()],
  ["COMMIT", (d: PostgresDecoder) => d.commitTransaction()],
  ["SELECT", (d: PostgresDecoder) => d.autocommitStatement(StatementType.Select)],
  ["INSERT", (d: PostgresDecoder) => d.autocommitStatement(StatementType.Insert)],
  ["UPDATE", (d: PostgresDecoder) => d.autocommitStatement(StatementType.Update)],
  ["DELETE", (d: PostgresDecoder) => d.autocommitStatement(StatementType.Delete)],
]);

/** The severity words of ErrorResponse and NoticeResponse, tried in this order. */
const ERRORS: readonly [string, ErrorType][] = [["ERROR", ErrorType.Error], ["FATAL", ErrorType.Fatal], ["PANIC", ErrorType.Panic]];
const NOTICES: readonly [string, NoticeType][] = [
  ["WARNING", NoticeType.Warning],
  ["NOTICE", NoticeType.Notice],
  ["DEBUG", NoticeType.Debug],
  ["INFO", NoticeType.Info],
  ["LOG", NoticeType.Log],
];

const latin1 = (bytes: Uint8Array): string => latin1Decode(bytes, 0, bytes.byteLength);

export class PostgresDecoder {
  private state = State.Init;
  private inTransaction = false;
  /** The startup packet's parameters (user, database, …); database defaults to user. */
  readonly attributes = new Map<string, string>();
  private readonly pending = [new PendingBytes(), new PendingBytes()];
  /** Bytes still to skip of an over-long message, per direction (0 frontend, 1 backend). */
  private readonly skip = [0, 0];

  constructor(private readonly callbacks: PostgresDecoderCallbacks) {}

  /** True once the decoder has stopped reading (encrypted session, or lost message boundaries). */
  get ignoring(): boolean {
    return this.state === State.OutOfSync || this.state === State.Encrypted;
  }

  get outOfSync(): boolean {
    return this.state === State.OutOfSync;
  }

  /** Bytes read from the client (`frontend`) or the server. */
  onData(chunk: Uint8Array, frontend: boolean): void {
    if (this.ignoring) return;
    const dir = frontend ? 0 : 1;
    const pending = this.pending[dir]!;
    const data = pending.join(chunk);
    let at = 0;
    while (at < data.byteLength && !this.ignoring) {
      if (this.skip[dir]! > 0) {
        const n = Math.min(this.skip[dir]!, data.byteLength - at);
        this.skip[dir]! -= n;
        at += n;
        continue;
      }
      const next = this.state === State.Init ? this.decodeStartup(data, at) : this.decodeMessage(data, at, frontend);
      if (next < 0) break; // needs more bytes
      at = next;
    }
    pending.keep(this.ignoring ? data.subarray(0, 0) : data.subarray(at));
  }

  /** The startup packet (Envoy's onDataInit). Returns the offset after it, or -1 for more data. */
  private decodeStartup(data: Uint8Array, at: number): number {
    if (data.byteLength - at < 4) return -1;
    const length = readUint32(data, at);
    // Envoy goes out of sync above PostgreSQL's limit; below 8 there is no code to read.
    if (length > MAX_STARTUP_PACKET_LENGTH || length < 8) return this.loseSync();
    if (data.byteLength - at < length) return -1;
    const body = data.subarray(at + 4, at + length);
    if (!validateBody(STARTUP, body)) return this.loseSync();
    const code = readUint32(body, 0);
    if (code >= ENCRYPTION_REQUEST_BASE_CODE) {
      // Terminating TLS here (terminate_ssl) is refused at config time: the request passes on.
      const encrypted = code === SSL_REQUEST_CODE ? this.callbacks.onSSLRequest() : true;
      this.callbacks.incMessagesFrontend();
      if (encrypted) {
        this.callbacks.incSessionsEncrypted();
        this.state = State.Encrypted;
      }
    } else {
      this.state = State.InSync;
      this.onStartup(body);
    }
    return at + length;
  }

  /** One typed message (Envoy's onDataInSync). Returns the offset after it, or -1 for more data. */
  private decodeMessage(data: Uint8Array, at: number, frontend: boolean): number {
    if (data.byteLength - at < 5) return -1;
    const type = (frontend ? FRONTEND : BACKEND).get(data[at]!) ?? UNKNOWN;
    const length = readUint32(data, at + 1);
    if (length < 4) {
      this.countMessage(frontend, type);
      return this.loseSync();
    }
    const bodyLength = length - 4;
    if (bodyLength > MAX_BUFFERED_BODY) {
      // Too long to hold: counted, not read.
      this.countMessage(frontend, type);
      this.skip[frontend ? 0 : 1] = bodyLength;
      return at + 5;
    }
    if (data.byteLength - at - 5 < bodyLength) return -1;
    this.countMessage(frontend, type);
    const body = data.subarray(at + 5, at + 5 + bodyLength);
    if (!validateBody(type.body, body)) return this.loseSync();
    type.action?.(this, body);
    return at + 5 + bodyLength;
  }

  private countMessage(frontend: boolean, type: MessageType): void {
    if (frontend) this.callbacks.incMessagesFrontend();
    else this.callbacks.incMessagesBackend();
    if (type === UNKNOWN) this.callbacks.incMessagesUnknown();
  }

  private loseSync(): number {
    this.state = State.OutOfSync;
    this.pending[0]!.keep(new Uint8Array(0));
    this.pending[1]!.keep(new Uint8Array(0));
    return Number.MAX_SAFE_INTEGER;
  }

  /** user, database, application_name, … as NUL-separated pairs after the version (Envoy's onStartup). */
  private onStartup(body: Uint8Array): void {
    const parts = latin1(body.subarray(4)).split("\0").filter((part: string) => part !== "");
    // Envoy's StrSplit into a map: pairs in order; a lone last key maps to "".
    for (let i = 0; i < parts.length; i += 2) if (!this.attributes.has(parts[i]!)) this.attributes.set(parts[i]!, parts[i + 1] ?? "");
    if (!this.attributes.has("database") && this.attributes.has("user")) this.attributes.set("database", this.attributes.get("user")!);
  }

  /** @internal Query: its one string. */
  onQuery(body: Uint8Array): void {
    this.callbacks.processQuery(utf8Decode(body.subarray(0, body.indexOf(0))), this.attributes);
  }

  /** @internal Parse: the statement name, then the query string. */
  onParse(body: Uint8Array): void {
    const start = body.indexOf(0) + 1;
    this.callbacks.processQuery(utf8Decode(body.subarray(start, body.indexOf(0, start))), this.attributes);
  }

  /** @internal Terminate: an open transaction ends (Envoy counts no rollback: the flag is cleared before its check). */
  onFrontendTerminate(): void {
    this.inTransaction = false;
  }

  /** @internal AuthenticationOk (length 8, code 0) starts an unencrypted session. */
  onAuthentication(body: Uint8Array): void {
    if (body.byteLength === 4 && body[0] === 0 && body[1] === 0 && body[2] === 0 && body[3] === 0) this.callbacks.incSessionsUnencrypted();
  }

  /** @internal CommandComplete: its tag's first word says what ran. */
  onCommandComplete(body: Uint8Array): void {
    let end = body.indexOf(0x20);
    if (end < 0) end = body.indexOf(0);
    const handler = STATEMENTS.get(latin1(body.subarray(0, end)));
    if (handler !== undefined) handler(this);
    else this.autocommitStatement(StatementType.Other);
  }

  /** @internal */
  beginTransaction(): void {
    this.callbacks.incStatements(StatementType.Other);
    if (!this.inTransaction) this.callbacks.incTransactions();
    this.inTransaction = true;
  }

  /** @internal */
  rollbackTransaction(): void {
    this.callbacks.incStatements(StatementType.Other);
    if (this.inTransaction) this.callbacks.incTransactionsRollback();
    this.inTransaction = false;
  }

  /** @internal */
  commitTransaction(): void {
    this.callbacks.incStatements(StatementType.Other);
    this.inTransaction = false;
    this.callbacks.incTransactionsCommit();
  }

  /** @internal A statement outside BEGIN…COMMIT is its own transaction. */
  autocommitStatement(type: StatementType): void {
    this.callbacks.incStatements(type);
    if (!this.inTransaction) {
      this.callbacks.incTransactions();
      this.callbacks.incTransactionsCommit();
    }
  }

  /** @internal */
  onErrorResponse(body: Uint8Array): void {
    this.callbacks.incErrors(severity(body, ERRORS, ErrorType.Unknown));
  }

  /** @internal */
  onNoticeResponse(body: Uint8Array): void {
    this.callbacks.incNotices(severity(body, NOTICES, NoticeType.Unknown));
  }
}

/**
 * Envoy's decodeErrorNotice: the message must start with the 'S' field; the first
 * word found as "S<word>" or "V<word>" anywhere in it decides.
 */
function severity<T>(body: Uint8Array, words: readonly [string, T][], unknown: T): T {
  if (body[0] !== 0x53) return unknown;
  const text = latin1(body);
  for (const [word, type] of words) if (text.includes("S" + word) || text.includes("V" + word)) return type;
  return unknown;
}
