import type { Connection, ConnectionCallbacks, ConnectionEvent } from "../connection.ts";
import type { DrainCloseTarget } from "../drain-manager.ts";
import { FilterStatus, type ReadFilter, type ReadFilterCallbacks } from "../filter.ts";
import type { ReadBuffer } from "../read-buffer.ts";
import type { CommandSplitter } from "./command-splitter.ts";
import type { SplitCallbacks, SplitRequest } from "./split-request.ts";
import type { RedisProxyStats } from "./redis-proxy-stats.ts";
import { REQUEST_RESP_LIMITS, RespDecoder } from "./resp-decoder.ts";
import { RespEncoder } from "./resp-encoder.ts";
import { RedisTransaction } from "./redis-transaction.ts";
import { byteString, respError, respSimple, respValueBytes, type RespValue } from "./resp-value.ts";

/** What the filter needs of its config, shared by its connections. */
export interface RedisProxyFilterConfig {
  readonly stats: RedisProxyStats;
  readonly splitter: CommandSplitter;
  /** downstream_auth_password(s): any of them is accepted. */
  readonly downstreamAuthPasswords: readonly string[];
  readonly downstreamAuthUsername: string;
  /** The listener's drain (Envoy's DrainDecision); absent, nothing drains. */
  readonly drain?: RedisDrainDecision;
}

/** What the filter asks of a drain: ServerContext's drainClose and drain-close targets. */
export interface RedisDrainDecision {
  drainClose(): boolean;
  addDrainCloseTarget?(target: DrainCloseTarget): void;
  removeDrainCloseTarget?(target: DrainCloseTarget): void;
}

/**
 * The weight of requests decoded but not answered that a connection may have before its reads
 * are paused (Envoy bounds them by buffer watermarks only): a pipelining client cannot make
 * the proxy hold an unbounded queue. A request weighs its arguments after the command name
 * (at least 1), so one MGET of thousands of keys — thousands of upstream requests — counts
 * as what it costs.
 */
const MAX_PENDING_WEIGHT = 1024;

/**
 * The weight of requests sent upstream and not yet answered, per connection; the rest wait
 * here, decoded, in order, and none is sent while the client's write buffer is above its high
 * watermark. A client that pipelines a thousand GETs of big values and does not read its
 * replies so holds at most this many replies beyond its write buffer, not a thousand. One
 * request is always let through, whatever it weighs.
 */
const MAX_IN_FLIGHT_WEIGHT = 64;

/**
 * The bytes of replies a connection may have coming, held (answered out of order) and in its
 * write buffer before no more requests are sent (one is always let through): requests go
 * upstream while (weight in flight × the reply size per weight lately seen) plus those bytes
 * stay under it. A client that pipelines GETs of big values so has few of them in flight
 * (four on a new connection, one once a big reply is seen), not MAX_IN_FLIGHT_WEIGHT.
 */
export const MAX_HELD_REPLY_BYTES = 1024 * 1024;

/**
 * The reply size per weight a new connection assumes (MAX_HELD_REPLY_BYTES / 4: four in
 * flight at first); each upstream reply makes the estimate its own size per weight, or half
 * the estimate if that is more, so small replies open the window in a few round trips and a
 * big one closes it at once.
 */
const INITIAL_REPLY_BYTES_PER_WEIGHT = MAX_HELD_REPLY_BYTES / 4;

/** One request of a connection, in arrival order (Envoy's ProxyFilter::PendingRequest). */
class PendingRequest implements SplitCallbacks {
  response: RespValue | undefined;
  handle: SplitRequest | undefined;
  /** Its reply's bytes while it waits for an earlier one. */
  heldBytes = 0;

  constructor(
    private readonly filter: RedisProxyFilter,
    readonly weight: number,
    /** The decoded request until it is sent upstream. */
    public value: RespValue | undefined,
    /** EXEC or DISCARD: nothing after it is sent until its reply is in. */
    readonly endsTransaction: boolean,
    /** Sent inside MULTI (EXEC aside): its reply (+QUEUED) says nothing of reply sizes. */
    readonly queued: boolean,
  ) {}

  onResponse(value: RespValue): void {
    this.filter.onResponse(this, value);
  }

  connectionAllowed(): boolean {
    return this.filter.connectionAllowed;
  }

  onAuth(password: string, username?: string): void {
    this.filter.onAuth(this, password, username);
  }

  onQuit(): void {
    this.filter.onQuit(this);
  }

  transaction(): RedisTransaction {
    return this.filter.transaction;
  }
}

/**
 * Envoy's `envoy.filters.network.redis_proxy` (redis_proxy/proxy_filter.cc): a terminal read
 * filter that decodes the client's RESP requests, has the command splitter send them to
 * upstream Redis hosts, and writes the replies back in the order the requests came —
 * however the hosts' replies interleave. Bytes that are not RESP get Envoy's
 * "downstream protocol error" and the connection is closed.
 */
export class RedisProxyFilter implements ReadFilter, ConnectionCallbacks, DrainCloseTarget {
  private readonly decoder = new RespDecoder((value) => this.onRequest(value), REQUEST_RESP_LIMITS);
  private readonly encoder = new RespEncoder();
  private readonly pending: PendingRequest[] = [];
  /** MULTI…EXEC and WATCH state; its connections close with this one. */
  readonly transaction = new RedisTransaction();
  private pendingWeight = 0;
  /** pending[sent..] are decoded but not yet sent upstream. */
  private sent = 0;
  private inFlightWeight = 0;
  /** Bytes of replies in, held behind an earlier unanswered request. */
  private heldReplyBytes = 0;
  private replyBytesPerWeight = INITIAL_REPLY_BYTES_PER_WEIGHT;
  /**
   * An EXEC or DISCARD sent and not answered: nothing after it is sent until its reply is in,
   * so a command pipelined after EXEC runs after the transaction, as in Envoy, which keeps the
   * transaction's connection until the client owes no replies (proxy_filter.cc onResponse).
   */
  private transactionEnding: PendingRequest | undefined;
  /** As requests are decoded: inside MULTI, and the weight of the commands queued in it (what EXEC's reply will carry). */
  private decodedInMulti = false;
  private queuedWeight = 0;
  /** The request being handed to the splitter: its reply, if it comes now, is the proxy's own. */
  private dispatchingRequest: PendingRequest | undefined;
  private dispatching = false;
  connectionAllowed: boolean;
  private quit = false;
  /** The client half-closed: the connection closes once its last reply is written. */
  private downstreamEnded = false;
  private closed = false;
  /** Told to drain while replies were owed: closes once they are written. */
  private drainRequested = false;
  /** Closed for the drain (the close may come later): requests decoded after it are dropped. */
  private closing = false;
  /** Reads paused for the queue's bound, and for the client's unread replies (watermarks). */
  private pausedForQueue = false;
  private pausedForWrite = false;

  constructor(
    private readonly config: RedisProxyFilterConfig,
    private readonly connection: Connection,
  ) {
    this.connectionAllowed = config.downstreamAuthUsername === "" && config.downstreamAuthPasswords.length === 0;
  }

  initializeReadFilterCallbacks(callbacks: ReadFilterCallbacks): void {
    callbacks.connection.addConnectionCallbacks(this);
  }

  onNewConnection(): FilterStatus {
    this.config.stats.downstreamCxTotal.inc();
    this.config.stats.downstreamCxActive.inc();
    this.connection.setTxBufferedGauge?.(this.config.stats.downstreamCxTxBytesBuffered);
    this.config.drain?.addDrainCloseTarget?.(this);
    return FilterStatus.StopIteration;
  }

  onData(buffer: ReadBuffer, endStream: boolean): FilterStatus {
    const stats = this.config.stats;
    stats.downstreamCxRxBytesTotal.inc(buffer.length);
    try {
      for (let i = 0; i < buffer.chunkCount && !this.closed; i++) this.decoder.decode(buffer.chunkAt(i));
    } catch {
      // Not RESP, over a limit, or anything else a request made go wrong: that connection
      // alone is closed, never the process (Envoy's ProxyFilter::onData catches ProtocolError).
      stats.downstreamCxProtocolError.inc();
      // Envoy writes the error and closes without flushing; polyvoy flushes it so the client sees why.
      this.encoder.encode(respError("downstream protocol error"));
      this.write();
      this.connection.close("FlushWrite");
    }
    buffer.drainAll();
    if (endStream && !this.closed) {
      this.downstreamEnded = true;
      if (this.pending.length === 0) this.connection.close("FlushWrite");
    }
    return FilterStatus.StopIteration;
  }

  onEvent(event: ConnectionEvent): void {
    if (event !== "RemoteClose" && event !== "LocalClose") return;
    if (this.closed) return;
    this.closed = true;
    this.config.stats.downstreamCxActive.dec();
    this.config.drain?.removeDrainCloseTarget?.(this);
    for (const request of this.pending) request.handle?.cancel();
    this.config.stats.downstreamRqActive.dec(this.pending.length);
    this.pending.length = 0;
    this.pendingWeight = 0;
    this.heldReplyBytes = 0;
    this.sent = 0;
    this.transaction.close();
  }

  onAboveWriteBufferHighWatermark(): void {
    if (this.pausedForWrite) return;
    this.pausedForWrite = true;
    this.connection.readDisable(true);
  }

  onBelowWriteBufferLowWatermark(): void {
    if (!this.pausedForWrite) return;
    this.pausedForWrite = false;
    this.connection.readDisable(false);
    this.dispatch();
  }

  private onRequest(value: RespValue): void {
    if (this.closed || this.quit || this.closing) return;
    let weight = value.type === "array" ? Math.max(1, value.value.length - 1) : 1;
    const command = transactionCommand(value);
    const endsTransaction = command === "exec" || command === "discard";
    const queued = this.decodedInMulti && !endsTransaction;
    if (queued) this.queuedWeight += weight;
    else if (command === "multi") {
      this.decodedInMulti = true;
      this.queuedWeight = 0;
    } else if (endsTransaction && this.decodedInMulti) {
      // EXEC's reply carries every queued command's: it weighs them (MAX_HELD_REPLY_BYTES).
      if (command === "exec") weight = Math.max(weight, this.queuedWeight);
      this.decodedInMulti = false;
    }
    const request = new PendingRequest(this, weight, value, endsTransaction, queued);
    this.pending.push(request);
    this.pendingWeight += request.weight;
    this.config.stats.downstreamRqTotal.inc();
    this.config.stats.downstreamRqActive.inc();
    if (this.pendingWeight >= MAX_PENDING_WEIGHT && !this.pausedForQueue) {
      this.pausedForQueue = true;
      this.connection.readDisable(true);
    }
    this.dispatch();
  }

  /** Send held requests upstream, in order, while the in-flight and write bounds allow. */
  private dispatch(): void {
    if (this.dispatching) return;
    this.dispatching = true;
    try {
      while (this.sent < this.pending.length && !this.closed && !this.quit && !this.pausedForWrite && this.transactionEnding === undefined) {
        const request = this.pending[this.sent]!;
        if (this.inFlightWeight > 0 && (this.inFlightWeight + request.weight > MAX_IN_FLIGHT_WEIGHT || this.replyBytesComing(request.weight) > MAX_HELD_REPLY_BYTES)) break;
        this.sent++;
        this.inFlightWeight += request.weight;
        const value = request.value!;
        request.value = undefined;
        this.dispatchingRequest = request;
        let handle: SplitRequest | undefined;
        try {
          handle = this.config.splitter.makeRequest(value, request);
        } finally {
          this.dispatchingRequest = undefined;
        }
        // Answered at once (a local reply, an error): nothing to cancel.
        if (request.response === undefined) {
          request.handle = handle;
          if (request.endsTransaction) this.transactionEnding = request;
        }
      }
    } finally {
      this.dispatching = false;
    }
  }

  /** What replies may bring if `weight` more is sent, with what is held and buffered already. */
  private replyBytesComing(weight: number): number {
    return (this.inFlightWeight + weight) * this.replyBytesPerWeight + this.heldReplyBytes + this.connection.writeBufferedBytes;
  }

  /** A request's reply: written with every earlier one's (Envoy's ProxyFilter::onResponse). */
  onResponse(request: PendingRequest, value: RespValue): void {
    if (this.closed) return;
    request.response = value;
    request.handle = undefined;
    this.inFlightWeight -= request.weight;
    const endedTransaction = request === this.transactionEnding;
    if (endedTransaction) this.transactionEnding = undefined;
    const inOrder = this.pending[0] === request;
    if (request !== this.dispatchingRequest || !inOrder) {
      const bytes = respValueBytes(value);
      if (request !== this.dispatchingRequest && !request.queued) this.replyBytesPerWeight = Math.max(bytes / request.weight, this.replyBytesPerWeight / 2);
      if (!inOrder) {
        request.heldBytes = bytes;
        this.heldReplyBytes += bytes;
      }
    }
    if (!inOrder) {
      // Held behind an earlier reply, EXEC's or DISCARD's still lets what waited for it go.
      if (endedTransaction) this.dispatch();
      return;
    }
    let done = 0;
    while (done < this.pending.length && this.pending[done]!.response !== undefined) {
      const answered = this.pending[done++]!;
      this.pendingWeight -= answered.weight;
      this.heldReplyBytes -= answered.heldBytes;
      this.encoder.encode(answered.response!);
    }
    this.pending.splice(0, done);
    this.sent -= done;
    this.config.stats.downstreamRqActive.dec(done);
    this.write();
    if (this.pausedForQueue && this.pendingWeight < MAX_PENDING_WEIGHT / 2) {
      this.pausedForQueue = false;
      this.connection.readDisable(false);
    }
    if (this.pending.length === 0 && (this.quit || this.downstreamEnded)) this.connection.close("FlushWrite");
    // Draining: closed once it owes no reply (Envoy's ProxyFilter::onResponse checks drainClose()).
    else if (this.pending.length === 0 && (this.drainRequested || this.config.drain?.drainClose())) this.closeForDrain();
    else this.dispatch();
  }

  /**
   * The listener or server started draining (Envoy's addOnDrainCloseCb; Envoy's redis_proxy
   * itself waits for the next reply): an idle connection closes now, a busy one after its
   * last owed reply.
   */
  onDrainClose(): void {
    if (this.closed) return;
    this.drainRequested = true;
    if (this.pending.length === 0) this.closeForDrain();
  }

  private closeForDrain(): void {
    if (this.closing) return;
    this.closing = true;
    this.config.stats.downstreamCxDrainClose.inc();
    this.connection.close("FlushWrite");
  }

  /** AUTH (Envoy's ProxyFilter::onAuth), the username form with `username`. */
  onAuth(request: PendingRequest, password: string, username?: string): void {
    const { downstreamAuthPasswords: passwords, downstreamAuthUsername: configured } = this.config;
    const passwordOk = passwords.includes(password);
    let reply: RespValue;
    if (username === undefined) {
      if (passwords.length === 0) reply = respError("ERR Client sent AUTH, but no password is set");
      else reply = this.allow(passwordOk, "ERR invalid password");
    } else if (configured === "" && passwords.length === 0) reply = respError("ERR Client sent AUTH, but no username-password pair is set");
    // An empty username and "default" are one in Redis 6 ACLs.
    else reply = this.allow(passwordOk && (username === configured || (configured === "" && username === "default")), "WRONGPASS invalid username-password pair");
    request.onResponse(reply);
  }

  onQuit(request: PendingRequest): void {
    this.quit = true;
    // What came after QUIT is not sent (Redis closes at QUIT; Envoy drops later requests).
    const dropped = this.pending.length - this.sent;
    for (let i = this.sent; i < this.pending.length; i++) this.pendingWeight -= this.pending[i]!.weight;
    this.pending.length = this.sent;
    this.config.stats.downstreamRqActive.dec(dropped);
    request.onResponse(respSimple("OK"));
  }

  private allow(ok: boolean, refusal: string): RespValue {
    this.connectionAllowed = ok;
    return ok ? respSimple("OK") : respError(refusal);
  }

  private write(): void {
    for (const chunk of this.encoder.take()) {
      this.config.stats.downstreamCxTxBytesTotal.inc(chunk.byteLength);
      this.connection.write(chunk, false);
    }
  }
}

/** "multi", "exec" or "discard" when `value` is that command (any case), else undefined. */
function transactionCommand(value: RespValue): "multi" | "exec" | "discard" | undefined {
  if (value.type !== "array") return undefined;
  const name = value.value[0];
  if (name?.type !== "bulk" || name.value.byteLength < 4 || name.value.byteLength > 7) return undefined;
  const command = byteString(name.value).toLowerCase();
  return command === "multi" || command === "exec" || command === "discard" ? command : undefined;
}
