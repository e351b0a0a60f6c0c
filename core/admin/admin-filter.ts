import type { AdminRequestHandler } from "../config/bootstrap.ts";
import {
  FilterDataStatus,
  FilterHeadersStatus,
  FilterTrailersStatus,
  UNBOUND_DECODER_FILTER_CALLBACKS,
  type DecoderFilterCallbacks,
  type StreamDecoderFilter,
} from "../http/filter.ts";
import { ResponseHeaders, type RequestHeaders } from "../http/message.ts";
import { utf8ByteString } from "../access-log/byte-string.ts";
import { latin1Decode, latin1Encode } from "../util/latin1.ts";
import { utf8Decode } from "../util/utf8.ts";
import { SUPERVISOR_TOKEN_HEADER } from "./supervisor-requests.ts";
import { loadRegexEngine, RegexEngineNotLoaded } from "../config/regex-engine.ts";

/**
 * Envoy's `AdminFilter`: the only HTTP filter of the admin listener's connection
 * manager, terminal. It waits for the whole request, has the admin answer it, and sends
 * the answer with Envoy's admin response headers. A form-encoded body is kept (up to
 * FORM_BODY_LIMIT: /runtime_modify reads its parameters there), and a JSON body where the
 * handler takes one (a worker's merged stats flush: core/stats/merged-flush.ts); any other
 * body is read and ignored.
 */
export class AdminFilter implements StreamDecoderFilter {
  /** Set by the filter manager when it adds the filter, before any decode call. */
  private callbacks = UNBOUND_DECODER_FILTER_CALLBACKS;
  private headers: RequestHeaders | undefined;
  private answered = false;
  /** The form body's chunks, when the request is form-encoded. */
  private form: Uint8Array[] | undefined;
  private formBytes = 0;
  /** A JSON body's chunks, where the handler keeps one, and its limit. */
  private json: Uint8Array[] | undefined;
  private jsonBytes = 0;
  private jsonLimit = 0;
  /** The request carries the supervisor's token (worker processes: core/admin/admin.ts). */
  private fromSupervisor = false;
  private destroyed = false;

  constructor(private readonly handler: AdminRequestHandler) {}

  setDecoderFilterCallbacks(callbacks: DecoderFilterCallbacks): void {
    this.callbacks = callbacks;
  }

  decodeHeaders(headers: RequestHeaders, endStream: boolean): FilterHeadersStatus {
    this.headers = headers;
    const contentType = headers.get("content-type")?.split(";")[0]!.trim().toLowerCase();
    if (contentType === FORM_URL_ENCODED) this.form = [];
    // Whether the supervisor sent it is known before anything is buffered: no one else's JSON body is kept.
    this.fromSupervisor = this.handler.fromSupervisor?.(headers.get(SUPERVISOR_TOKEN_HEADER)) ?? false;
    if (contentType === JSON_TYPE) {
      const at = headers.path.indexOf("?");
      this.jsonLimit = this.handler.jsonBodyLimit?.(at < 0 ? headers.path : headers.path.slice(0, at), this.fromSupervisor) ?? 0;
      if (this.jsonLimit > 0) this.json = [];
    }
    if (endStream) this.onComplete();
    return FilterHeadersStatus.StopIteration;
  }

  decodeData(data: Uint8Array, endStream: boolean): FilterDataStatus {
    if (this.form !== undefined && data.byteLength > 0) {
      this.formBytes += data.byteLength;
      // Over the limit the chunks are dropped; the request is answered 413 when complete.
      if (this.formBytes <= FORM_BODY_LIMIT) this.form.push(data.slice());
    }
    if (this.json !== undefined && data.byteLength > 0) {
      this.jsonBytes += data.byteLength;
      if (this.jsonBytes <= this.jsonLimit) this.json.push(data.slice());
    }
    if (endStream) this.onComplete();
    return FilterDataStatus.StopIterationNoBuffer;
  }

  decodeTrailers(): FilterTrailersStatus {
    this.onComplete();
    return FilterTrailersStatus.StopIteration;
  }

  onDestroy(): void {
    this.destroyed = true;
  }

  /** The form's bytes as text (form encoding is ASCII; %-escapes are decoded by the admin). */
  private formText(chunks: Uint8Array[]): string {
    let text = "";
    for (const chunk of chunks) text += latin1Decode(chunk, 0, chunk.byteLength);
    return text;
  }

  private onComplete(): void {
    if (this.answered || !this.headers) return;
    this.answered = true;
    this.respond(true);
  }

  /** Answer; `mayWait`: a request that needs the RE2 engine (`/stats?filter=`) may wait for it to load, once. */
  private respond(mayWait: boolean): void {
    const request = this.headers;
    if (this.destroyed || !request) return;
    let response: { status: number; contentType: string; body: string };
    try {
      if (this.formBytes > FORM_BODY_LIMIT) {
        response = { status: 413, contentType: TEXT, body: `admin: a form body is limited to ${FORM_BODY_LIMIT} bytes\n` };
      } else if (this.json !== undefined && this.jsonBytes > this.jsonLimit) {
        response = { status: 413, contentType: TEXT, body: `admin: a JSON body is limited to ${this.jsonLimit} bytes here\n` };
      } else {
        const form = this.form === undefined ? undefined : this.formText(this.form);
        const json = this.json === undefined ? undefined : utf8Decode(concat(this.json, this.jsonBytes));
        response = this.handler.handle({ method: request.method, path: request.path, ...(form !== undefined && { body: form }), ...(json !== undefined && { json }), ...(this.fromSupervisor && { fromSupervisor: true }) });
      }
    } catch (err) {
      // The engine is loaded on first use (config/regex-engine.ts); the stats handlers that
      // need it only refresh the server's gauges (idempotent) before they compile the
      // pattern, so they run again after. What the handler throws then is answered 500
      // below; what sending the answer throws (here it would reach the connection manager)
      // must end this stream, not escape as an unhandled rejection, which ends a node process.
      if (mayWait && err instanceof RegexEngineNotLoaded) {
        void loadRegexEngine()
          .catch(() => {})
          .then(() => this.respond(false))
          .catch(() => {
            if (!this.destroyed) this.callbacks.resetStream();
          });
        return;
      }
      response = { status: 500, contentType: TEXT, body: `admin error: ${err instanceof Error ? err.message : String(err)}\n` };
    }
    const body = latin1Encode(utf8ByteString(response.body));
    const headers = new ResponseHeaders(response.status);
    // Envoy's populateFallbackResponseHeaders.
    headers.set("content-type", response.contentType);
    headers.set("cache-control", "no-cache, max-age=0");
    headers.set("x-content-type-options", "nosniff");
    headers.set("content-length", String(body.byteLength));
    const callbacks = this.callbacks;
    callbacks.encodeHeaders(headers, body.byteLength === 0);
    if (body.byteLength > 0) callbacks.encodeData(body, true);
  }
}

const TEXT = "text/plain; charset=UTF-8";
const FORM_URL_ENCODED = "application/x-www-form-urlencoded";
const JSON_TYPE = "application/json";

function concat(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.byteLength;
  }
  return out;
}
/** The most of a form body the admin keeps (form parameters are short). */
const FORM_BODY_LIMIT = 64 * 1024;
