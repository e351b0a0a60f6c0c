/** http2_protocol_options.connection_keepalive (Envoy's KeepaliveSettings), in milliseconds. */
export interface Http2KeepaliveSettings {
  /** How often a PING is sent; 0: never (only `timeout` is armed, which then never fires). */
  readonly intervalMs: number;
  /** How long a PING may go unanswered before the connection is closed. */
  readonly timeoutMs: number;
  /** `interval_jitter`: up to this percentage of the interval is added to each (Envoy: 15). */
  readonly intervalJitterPercent: number;
  /** `connection_idle_interval` (client connections only): a PING before a new stream on a connection that received nothing for this long; 0: none. */
  readonly connectionIdleIntervalMs?: number;
}

/** A timer as core/event/timers.ts makes them (declared here: the config types import this file). */
export interface KeepaliveTimer {
  enable(ms: number): void;
  disable(): void;
  readonly enabled: boolean;
}

/** What the keepalive asks of its connection. */
export interface Http2KeepaliveOwner {
  /** Send a PING with these 8 opaque bytes. */
  sendPing(opaque: Uint8Array): void;
  /** No answer within the timeout: count http2.keepalive_timeout and close without flushing. */
  onKeepaliveTimeout(): void;
}

/**
 * HTTP/2 PING keepalive, as Envoy's ConnectionImpl (codec_impl.cc: sendKeepalive,
 * onKeepaliveResponse, onKeepaliveResponseTimeout): a PING every interval (plus jitter),
 * the connection closed when its ACK does not come within the timeout. Any frame received
 * while waiting extends the timeout (Envoy's http2_delay_keepalive_timeout: a PING ACK
 * queued behind other frames on a slow link is not a dead peer); here any bytes received.
 */
export class Http2Keepalive {
  private readonly sendTimer: KeepaliveTimer | undefined;
  private readonly timeoutTimer: KeepaliveTimer;

  constructor(
    private readonly settings: Http2KeepaliveSettings,
    createTimer: (callback: () => void) => KeepaliveTimer,
    /** A number in [0, 1), for the jitter. */
    private readonly random: () => number,
    /** Milliseconds, written into the PING's opaque data (as Envoy, to match a PING with its ACK when debugging). */
    private readonly now: () => number,
    private readonly owner: Http2KeepaliveOwner,
  ) {
    if (settings.intervalMs > 0) this.sendTimer = createTimer(() => this.sendKeepalive());
    this.timeoutTimer = createTimer(() => owner.onKeepaliveTimeout());
    // The first interval, with jitter.
    this.onPingAck();
  }

  /** A PING ACK came (any: Envoy does not match the opaque data either): the next PING after an interval. */
  onPingAck(): void {
    this.timeoutTimer.disable();
    if (this.sendTimer === undefined) return;
    let interval = this.settings.intervalMs;
    const jitterMod = Math.floor((this.settings.intervalJitterPercent * interval) / 100);
    if (jitterMod > 0) interval += Math.floor(this.random() * jitterMod);
    this.sendTimer.enable(interval);
  }

  /** Bytes came from the peer: a pending timeout starts again. */
  onBytesReceived(): void {
    if (this.timeoutTimer.enabled) this.timeoutTimer.enable(this.settings.timeoutMs);
  }

  /** The connection is gone: no more timers. */
  destroy(): void {
    this.sendTimer?.disable();
    this.timeoutTimer.disable();
  }

  /** Envoy's ClientConnectionImpl::newStream on a connection idle past connection_idle_interval: a PING now. */
  sendNow(): void {
    this.sendKeepalive();
  }

  private sendKeepalive(): void {
    // A PING still unanswered: wait for it (Envoy skips this one).
    if (this.timeoutTimer.enabled) return;
    const opaque = new Uint8Array(8);
    new DataView(opaque.buffer).setBigUint64(0, BigInt(Math.max(0, Math.floor(this.now()))));
    this.owner.sendPing(opaque);
    this.timeoutTimer.enable(this.settings.timeoutMs);
  }
}
