/**
 * The client's bytes behind an upgrade or CONNECT head, held until the upstream accepted
 * the upgrade (Envoy's UpstreamRequest paused_for_connect_, paused_for_websocket_ and
 * paused_for_generic_upgrade_, source/common/router/upstream_request.cc
 * acceptHeadersFromRouter; released in UpstreamCodecFilter::CodecBridge::decodeHeaders,
 * source/common/router/upstream_codec_filter.cc).
 *
 * Why: an HTTP/1.1 origin that refuses the upgrade (a 403, a 426, a 200) reads whatever
 * follows the head as its next request. Sent before the answer, a client's "websocket
 * frame" could be a whole HTTP request that reaches the origin past the proxy's routing
 * and filters (request smuggling).
 */
import type { RequestHeaders, ResponseHeaders } from "../message.ts";
import type { RequestEncoder } from "../codec/codec.ts";

/** What an upgrade waits for (Envoy's three pause flags; exclusive, as acceptHeadersFromRouter sets them). */
export const enum UpgradePause {
  /** CONNECT: a 2xx (paused_for_connect_). */
  Connect,
  /** `Upgrade: websocket`: a 101, or any answer from an HTTP/2 upstream (paused_for_websocket_). */
  WebSocket,
  /** Another upgrade token: a 101, or a 2xx from an HTTP/2 upstream (paused_for_generic_upgrade_). */
  Generic,
}

/** What the upstream's response headers do to a paused upgrade. */
export const enum UpgradeAnswer {
  /** Accepted: the held bytes go, in order, and the tunnel flows. */
  Accepted,
  /** Not accepted: the response goes downstream as it is; the held bytes never go. */
  Refused,
  /**
   * A WebSocket upgrade answered below 400 without a 101 (a 200, a 3xx): Envoy turns it into
   * a local reply with the upstream's status and headers and no body
   * (websocket_handshake_unsuccessful).
   */
  RefusedLocalReply,
}

/** Which pause an upgrade request (headers.upgrade: the codec saw Upgrade + Connection: upgrade, or CONNECT) takes. */
export function upgradePauseOf(headers: RequestHeaders): UpgradePause {
  if (headers.method === "CONNECT") return UpgradePause.Connect;
  // Envoy's Utility::isWebSocketUpgradeRequest: the Upgrade token, case-insensitively.
  return headers.get("upgrade")?.toLowerCase() === "websocket" ? UpgradePause.WebSocket : UpgradePause.Generic;
}

/**
 * The verdict of CodecBridge::decodeHeaders on a paused stream. `http2`: the upstream stream
 * is HTTP/2, whose extended CONNECT answer the codec already turned into a 101 (a 200) or
 * left as it was (another status): Envoy unpauses a WebSocket on any status there — an
 * HTTP/2 stream cannot carry the bytes into a next request.
 * Undefined: an interim (1xx other than 101) head decides nothing.
 */
export function upgradeAnswerOf(pause: UpgradePause, status: number, http2: boolean): UpgradeAnswer | undefined {
  if (status < 200 && status !== 101) return undefined;
  const is2xx = status >= 200 && status < 300;
  switch (pause) {
    case UpgradePause.Connect:
      return is2xx ? UpgradeAnswer.Accepted : UpgradeAnswer.Refused;
    case UpgradePause.Generic:
      return status === 101 || (http2 && is2xx) ? UpgradeAnswer.Accepted : UpgradeAnswer.Refused;
    case UpgradePause.WebSocket:
      if (status === 101 || http2) return UpgradeAnswer.Accepted;
      // websocket_allow_4xx_5xx_through_filter_chain (on since Envoy 1.36): a 4xx/5xx goes
      // through the filter chain as the response; anything else is a local reply.
      return status >= 400 ? UpgradeAnswer.Refused : UpgradeAnswer.RefusedLocalReply;
  }
}

/**
 * The held bytes, in order. Bounded: past `limit` the owner stops reading the client
 * (Envoy's codec filter stops with StopAllIterationAndWatermark, so the filter manager's
 * watermark buffer pauses the downstream above the buffer limit rather than failing the
 * stream); the bytes of the read that crossed it are still kept.
 */
export class HeldUpgradeBytes {
  private chunks: Uint8Array[] = [];
  private bytes = 0;
  private end = false;

  constructor(
    readonly pause: UpgradePause,
    private readonly limit: number,
  ) {}

  /** Keep a copy (the socket lends a read's bytes for that call only, port.ts onData); true once past the limit. */
  push(data: Uint8Array, endStream: boolean): boolean {
    if (data.byteLength > 0) {
      this.chunks.push(data.slice());
      this.bytes += data.byteLength;
    }
    this.end ||= endStream;
    return this.bytes > this.limit;
  }

  /** The upgrade was accepted: everything held goes to the stream, in order. */
  flushTo(stream: RequestEncoder): void {
    const chunks = this.chunks;
    this.drop();
    const last = chunks.length - 1;
    for (let i = 0; i <= last; i++) stream.encodeUpgradeData(chunks[i]!, this.end && i === last);
    if (last < 0 && this.end) stream.encodeUpgradeData(new Uint8Array(0), true);
  }

  /** The upgrade was refused or the attempt abandoned: the bytes never go. */
  drop(): void {
    this.chunks = [];
    this.bytes = 0;
  }
}

/** Envoy's failed WebSocket upgrade: the response loses `Upgrade` and Connection's `upgrade` token (removeConnectionUpgrade). */
export function stripUpgradeFields(headers: ResponseHeaders): void {
  headers.remove("upgrade");
  const connection = headers.get("connection");
  if (connection === undefined) return;
  const kept = connection.split(",").map((token) => token.trim()).filter((token) => token !== "" && token.toLowerCase() !== "upgrade");
  if (kept.length === 0) headers.remove("connection");
  else headers.set("connection", kept.join(", "));
}
