/**
 * The llhttp WebAssembly parser (vendored in llhttp-wasm.ts), shared by every HTTP/1
 * connection: one module instance, one input buffer in its memory. `execute` is
 * synchronous, so the instance's callbacks go to whichever parser is executing — as
 * undici drives the same build. A callback may execute another parser (an upstream
 * response completing resumes the downstream codec): that nested call gets its own
 * input buffer and restores the outer parser's state when it returns.
 *
 * Callbacks receive spans as offsets into the chunk passed to `execute`, so the codec
 * slices its own bytes and never reads the WebAssembly memory.
 * No lenient flag is ever set: llhttp's strict defaults reject smuggling-prone input.
 */
import { decodeBase64 } from "../../util/base64.ts";
import { LLHTTP_WASM_BASE64 } from "./llhttp-wasm.ts";

/** llhttp_type */
export const PARSER_REQUEST = 1;
export const PARSER_RESPONSE = 2;

/** llhttp_errno values the codec acts on. */
export const HPE_OK = 0;
export const HPE_PAUSED = 21;
export const HPE_PAUSED_UPGRADE = 22;
export const HPE_USER = 24;

/** What on_headers_complete may return (llhttp.h). */
export const HEADERS_PROCEED = 0;
export const HEADERS_SKIP_BODY = 1;
export const HEADERS_UPGRADE = 2;

/** llhttp's method numbering (HTTP_ALL_METHOD_MAP). */
export const METHODS = [
  "DELETE", "GET", "HEAD", "POST", "PUT", "CONNECT", "OPTIONS", "TRACE", "COPY", "LOCK", "MKCOL", "MOVE",
  "PROPFIND", "PROPPATCH", "SEARCH", "UNLOCK", "BIND", "REBIND", "UNBIND", "ACL", "REPORT", "MKACTIVITY",
  "CHECKOUT", "MERGE", "M-SEARCH", "NOTIFY", "SUBSCRIBE", "UNSUBSCRIBE", "PATCH", "PURGE", "MKCALENDAR",
  "LINK", "UNLINK", "SOURCE", "PRI", "DESCRIBE", "ANNOUNCE", "SETUP", "PLAY", "PAUSE", "TEARDOWN",
  "GET_PARAMETER", "SET_PARAMETER", "REDIRECT", "RECORD", "FLUSH", "QUERY",
] as const;

/** Parser events. Spans are offsets into the chunk being executed. Return 0 to go on, or an llhttp errno. */
export interface LlhttpHandler {
  onMessageBegin(): number;
  onUrl(start: number, end: number): number;
  onStatus(start: number, end: number): number;
  onHeaderField(start: number, end: number): number;
  onHeaderValue(start: number, end: number): number;
  onHeadersComplete(statusCode: number, upgrade: boolean, shouldKeepAlive: boolean): number;
  onBody(start: number, end: number): number;
  onMessageComplete(): number;
}

interface LlhttpExports {
  memory: { buffer: ArrayBuffer };
  _initialize(): void;
  malloc(size: number): number;
  free(ptr: number): void;
  llhttp_alloc(type: number): number;
  llhttp_free(parser: number): void;
  llhttp_execute(parser: number, data: number, length: number): number;
  llhttp_finish(parser: number): number;
  llhttp_resume(parser: number): void;
  llhttp_resume_after_upgrade(parser: number): void;
  llhttp_get_error_reason(parser: number): number;
  llhttp_get_error_pos(parser: number): number;
  llhttp_get_method(parser: number): number;
  llhttp_get_http_minor(parser: number): number;
  llhttp_message_needs_eof(parser: number): number;
}

interface WasmGlobal {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

let wasm: LlhttpExports | undefined;
/** The parser whose `execute` is running; the instance's callbacks go to it. */
let current: LlhttpParser | undefined;
/** Where the chunk being executed starts in wasm memory: spans are reported relative to it. */
let currentBase = 0;
/** Where chunks are copied for parsing: one buffer for all parsers, grown as needed. */
let inputPtr = 0;
let inputSize = 0;

function instance(): LlhttpExports {
  if (wasm) return wasm;
  const WebAssembly = (globalThis as unknown as { WebAssembly: WasmGlobal }).WebAssembly;
  const at = (p: number) => p - currentBase;
  const imports = {
    env: {
      wasm_on_message_begin: () => current!.handler.onMessageBegin(),
      wasm_on_url: (_p: number, ptr: number, len: number) => current!.handler.onUrl(at(ptr), at(ptr) + len),
      wasm_on_status: (_p: number, ptr: number, len: number) => current!.handler.onStatus(at(ptr), at(ptr) + len),
      wasm_on_header_field: (_p: number, ptr: number, len: number) => current!.handler.onHeaderField(at(ptr), at(ptr) + len),
      wasm_on_header_value: (_p: number, ptr: number, len: number) => current!.handler.onHeaderValue(at(ptr), at(ptr) + len),
      wasm_on_headers_complete: (_p: number, status: number, upgrade: number, keepAlive: number) =>
        current!.handler.onHeadersComplete(status, upgrade === 1, keepAlive === 1),
      wasm_on_body: (_p: number, ptr: number, len: number) => current!.handler.onBody(at(ptr), at(ptr) + len),
      wasm_on_message_complete: () => current!.handler.onMessageComplete(),
    },
  };
  const module = new WebAssembly.Module(decodeBase64(LLHTTP_WASM_BASE64));
  wasm = new WebAssembly.Instance(module, imports).exports as LlhttpExports;
  wasm._initialize();
  return wasm;
}

/** A view of the instance's memory, made again only when growth replaced the buffer. */
let view: Uint8Array | undefined;

function memoryView(llhttp: LlhttpExports): Uint8Array {
  const buffer = llhttp.memory.buffer;
  if (view === undefined || view.buffer !== buffer) view = new Uint8Array(buffer);
  return view;
}

/** One llhttp parser (request or response mode). Call `destroy` when done with it. */
export class LlhttpParser {
  private readonly ptr: number;
  private readonly llhttp: LlhttpExports;
  /** Where the last chunk was copied, for `stoppedAt`. */
  private base = 0;
  /** `execute`/`finish` calls of this parser on the stack. */
  private running = 0;
  /** `destroy` was called from one of this parser's callbacks: free it once llhttp returns. */
  private destroyed = false;

  constructor(
    type: typeof PARSER_REQUEST | typeof PARSER_RESPONSE,
    readonly handler: LlhttpHandler,
  ) {
    this.llhttp = instance();
    this.ptr = this.llhttp.llhttp_alloc(type);
  }

  /** Parse `chunk`; returns an llhttp errno (HPE_OK, HPE_PAUSED, HPE_PAUSED_UPGRADE or an error). */
  execute(chunk: Uint8Array): number {
    const llhttp = this.llhttp;
    if (this.destroyed) return HPE_USER;
    // Nested inside another parser's callback, the shared buffer still holds the outer
    // chunk, which llhttp goes on reading after the callback: use a buffer of its own.
    const nested = current !== undefined;
    let base = inputPtr;
    if (nested) {
      base = llhttp.malloc(Math.max(chunk.byteLength, 1));
    } else if (chunk.byteLength > inputSize) {
      if (inputPtr) llhttp.free(inputPtr);
      inputSize = Math.max(chunk.byteLength, 16384);
      inputPtr = base = llhttp.malloc(inputSize);
    }
    memoryView(llhttp).set(chunk, base);
    this.base = base;
    const outer = this.enter(base);
    try {
      return llhttp.llhttp_execute(this.ptr, base, chunk.byteLength);
    } finally {
      this.leave(outer, nested ? base : 0);
    }
  }

  /** Offset in the last chunk where parsing stopped (after a pause or an error). */
  get stoppedAt(): number {
    return this.llhttp.llhttp_get_error_pos(this.ptr) - this.base;
  }

  /** The peer closed: completes a read-until-close body; returns an errno. */
  finish(): number {
    if (this.destroyed) return HPE_USER;
    const outer = this.enter(currentBase);
    try {
      return this.llhttp.llhttp_finish(this.ptr);
    } finally {
      this.leave(outer, 0);
    }
  }

  /** Make this parser current for a call into llhttp (no closure: this runs for every read). */
  private enter(base: number): { parser: LlhttpParser | undefined; base: number } | undefined {
    const outer = current ? { parser: current, base: currentBase } : undefined;
    current = this;
    currentBase = base;
    this.running++;
    return outer;
  }

  /** The call returned: restore the outer parser's state, free a nested call's own buffer (`ownBuffer`, or 0). */
  private leave(outer: { parser: LlhttpParser | undefined; base: number } | undefined, ownBuffer: number): void {
    this.running--;
    current = outer?.parser;
    currentBase = outer?.base ?? 0;
    if (ownBuffer) this.llhttp.free(ownBuffer);
    if (this.destroyed && this.running === 0) this.llhttp.llhttp_free(this.ptr);
  }

  resume(): void {
    this.llhttp.llhttp_resume(this.ptr);
  }

  /** After HPE_PAUSED_UPGRADE: go on parsing what follows as HTTP/1 (an upgrade not taken). */
  resumeAfterUpgrade(): void {
    this.llhttp.llhttp_resume_after_upgrade(this.ptr);
  }

  get method(): string {
    return METHODS[this.llhttp.llhttp_get_method(this.ptr)] ?? "UNKNOWN";
  }

  get httpMinor(): number {
    return this.llhttp.llhttp_get_http_minor(this.ptr);
  }

  get needsEof(): boolean {
    return this.llhttp.llhttp_message_needs_eof(this.ptr) === 1;
  }

  /** llhttp's reason for the last error, e.g. "Invalid header value char". */
  get errorReason(): string {
    const memory = new Uint8Array(this.llhttp.memory.buffer);
    let at = this.llhttp.llhttp_get_error_reason(this.ptr);
    if (!at) return "";
    let reason = "";
    while (memory[at]) reason += String.fromCharCode(memory[at++]!);
    return reason;
  }

  /** Free the parser; from inside its own callback, once llhttp has returned (it still writes the parser's state). */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.running === 0) this.llhttp.llhttp_free(this.ptr);
  }
}
