/**
 * One HTTP/2 stream (Envoy's `ConnectionImpl::StreamImpl`): its state (RFC 9113 §5.1), its
 * two flow-control windows (§6.9), the body it could not send yet, and the body it received
 * while reading was disabled. The connection drives it; the connection manager or the
 * router sees it through `Http2StreamCallbacks` and the send methods.
 */
/** What a stream asks of its connection (Http2ConnectionImpl), which does the framing and flow control. */
export interface Http2StreamOwner {
  sendHeaders(stream: Http2Stream, fields: readonly string[], endStream: boolean): void;
  sendData(stream: Http2Stream, data: Uint8Array, endStream: boolean): void;
  sendTrailers(stream: Http2Stream, fields: readonly string[]): void;
  resetStream(stream: Http2Stream, code: number): void;
  /** `n` bytes of body were handed on: flow-control credit for the peer. */
  consumed(stream: Http2Stream, n: number): void;
}

/** What a stream tells its user (the HCM's ActiveStream or the router's upstream request). */
export interface Http2StreamCallbacks {
  /** The head: a request (server), or a response — 1xx ones are interim and more headers follow (client). Fields are a flat name, value list. */
  onHeaders(fields: string[], endStream: boolean): void;
  onData(data: Uint8Array, endStream: boolean): void;
  /** Ends the stream. */
  onTrailers(fields: string[]): void;
  /** The stream is gone: `remote` when the peer reset it (or the connection went away), else ours. */
  onReset(code: number, remote: boolean): void;
  /**
   * Both sides ended and the connection forgot the stream (§5.1 closed), not by a reset: it
   * no longer counts against the concurrency limit. Body held while reading was disabled
   * may still be delivered after it.
   */
  onClose?(): void;
  /**
   * Our side ended (END_STREAM went out, §5.1 half-closed (local)) while the peer's has not:
   * called when it was held back by flow control too, not only when sent at once.
   */
  onLocalEnd?(): void;
  /** Send-side backpressure: what the stream holds unsent crossed its limit (true) or drained below half (false). */
  onWriteBufferWatermark?(above: boolean): void;
}

/** §5.1's states, those that matter without server push. */
export const enum StreamState {
  IDLE,
  OPEN,
  HALF_CLOSED_LOCAL,
  HALF_CLOSED_REMOTE,
  CLOSED,
}

const NOOP_CALLBACKS: Http2StreamCallbacks = {
  onHeaders() {},
  onData() {},
  onTrailers() {},
  onReset() {},
};

export class Http2Stream {
  callbacks: Http2StreamCallbacks = NOOP_CALLBACKS;
  state = StreamState.IDLE;
  /** What we may still send (the peer's window for us); may go negative after a SETTINGS change (§6.9.2). */
  sendWindow: number;
  /** What the peer may still send us. */
  recvWindow: number;
  /** Bytes handed on and not yet returned to the peer by WINDOW_UPDATE. */
  recvConsumed = 0;
  /** The head (or final head, for a client past 1xx) has come. */
  headersReceived = false;
  /** The head we sent. */
  headersSent = false;
  /** content-length of the received message, or -1; counted down by DATA (§8.1.1). */
  remainingContentLength = -1;
  /** Client: the request was a HEAD, so its response has no body whatever its content-length says. */
  headRequest = false;
  /** Client: the request was a CONNECT, so a 2xx response's content-length does not frame the tunnel's bytes. */
  connectRequest = false;

  /** Body waiting for a window: chunks, and whether END_STREAM (or trailers) follows. */
  readonly pending: Uint8Array[] = [];
  pendingBytes = 0;
  pendingEnd = false;
  pendingTrailers: string[] | undefined;
  aboveWatermark = false;
  /** Reset (either side): nothing more is delivered or sent. */
  wasReset = false;
  /** In the connection's list of streams waiting for the connection window. */
  queued = false;

  /** Counted read disables (Envoy's readDisable): DATA then waits here and is not acknowledged. */
  private readDisables = 0;
  private readonly held: Uint8Array[] = [];
  private heldEnd = false;
  private heldTrailers: string[] | undefined;

  /** When the stream began (the connection's clock), for the premature-reset check. */
  readonly startedAt: number;

  constructor(
    public id: number,
    readonly connection: Http2StreamOwner,
    sendWindow: number,
    recvWindow: number,
    startedAt: number,
  ) {
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
    this.startedAt = startedAt;
  }

  get localEnded(): boolean {
    return this.state === StreamState.HALF_CLOSED_LOCAL || this.state === StreamState.CLOSED;
  }

  get remoteEnded(): boolean {
    return this.state === StreamState.HALF_CLOSED_REMOTE || this.state === StreamState.CLOSED;
  }

  /**
   * §5.1 "closed": both sides ended, or reset. Such a stream can no longer be reset — no
   * RST_STREAM goes out (§5.4.2), and it is no reset to count (Envoy's codec runs its reset
   * callbacks only for a stream still open).
   */
  get closed(): boolean {
    return this.state === StreamState.CLOSED;
  }

  /** Bytes written through this stream and not yet sent (flow control). */
  get bufferedBytes(): number {
    return this.pendingBytes;
  }

  // ------------------------------------------------------------------ sending (the user's side)

  /** The head: request (client) or response (server) fields, pseudo-headers first. */
  sendHeaders(fields: readonly string[], endStream: boolean): void {
    this.connection.sendHeaders(this, fields, endStream);
  }

  sendData(data: Uint8Array, endStream: boolean): void {
    this.connection.sendData(this, data, endStream);
  }

  /** Ends the stream. */
  sendTrailers(fields: readonly string[]): void {
    this.connection.sendTrailers(this, fields);
  }

  /** RST_STREAM with `code` (CANCEL by default, as Envoy's local reset). */
  reset(code = 0x8): void {
    this.connection.resetStream(this, code);
  }

  // ------------------------------------------------------------------ receiving

  /** Stop (true) or resume (false) delivering body; counted, as Envoy's readDisable. */
  readDisable(disable: boolean): void {
    if (disable) {
      this.readDisables++;
      return;
    }
    if (this.readDisables === 0) return;
    if (--this.readDisables > 0) return;
    while (this.held.length > 0 && this.readDisables === 0 && !this.wasReset) {
      const chunk = this.held.shift()!;
      const end = this.held.length === 0 && this.heldEnd;
      this.connection.consumed(this, chunk.length);
      this.callbacks.onData(chunk, end);
    }
    if (this.held.length === 0 && this.readDisables === 0 && this.heldTrailers !== undefined && !this.wasReset) {
      const trailers = this.heldTrailers;
      this.heldTrailers = undefined;
      this.callbacks.onTrailers(trailers);
    }
  }

  get readDisabled(): boolean {
    return this.readDisables > 0;
  }

  /** Body from the peer: on to the user, or held (copied: the read's bytes are lent) while reading is disabled. */
  deliverData(data: Uint8Array, endStream: boolean): void {
    if (this.readDisables > 0 || this.held.length > 0) {
      this.held.push(data.slice());
      this.heldEnd = endStream;
      return;
    }
    this.connection.consumed(this, data.length);
    this.callbacks.onData(data, endStream);
  }

  deliverTrailers(fields: string[]): void {
    if (this.readDisables > 0 || this.held.length > 0) {
      this.heldTrailers = fields;
      return;
    }
    this.callbacks.onTrailers(fields);
  }

  /** Forget what is held (the stream was reset); returns its length, for the connection's window. */
  dropHeld(): number {
    const n = this.heldBytes;
    this.held.length = 0;
    this.heldTrailers = undefined;
    return n;
  }

  /** Held bytes (bounded by the window we gave the peer). */
  get heldBytes(): number {
    let n = 0;
    for (const c of this.held) n += c.length;
    return n;
  }
}
