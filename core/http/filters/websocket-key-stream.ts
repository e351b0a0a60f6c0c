/**
 * An HTTP/2 client's WebSocket going to an HTTP/1.1 origin gets a `Sec-WebSocket-Key` made
 * up for it at the codec, after the upstream HTTP filters (Envoy's
 * UpstreamRequest::maybeGenerateWebsocketKey, source/common/router/upstream_request.cc, and
 * UpstreamCodecFilter::encodeHeaders, upstream_codec_filter.cc; runtime guard
 * envoy.reloadable_features.websocket_synthesize_key_on_h2_downgrade, on). RFC 8441 §5
 * drops the key from the extended CONNECT, but an RFC 6455 origin refuses an upgrade
 * without one. A request that already has a key (the client sent one) keeps it, unchecked.
 *
 * The key goes on a copy of the request's headers, as Envoy's codec filter copies them:
 * the router's headers stay as they were for anything else that reads them.
 */
import type { HeaderMap } from "../header-map.ts";
import type { RequestHeaders } from "../message.ts";
import type { SocketAddress, TlsSession } from "../../port.ts";
import type { Host } from "../../upstream/host.ts";
import type { UpstreamStream } from "../../upstream/http1-conn-pool.ts";
import { copyRequestHeaders } from "./shadow-writer.ts";

export class WebSocketKeyStream implements UpstreamStream {
  /** The key this stream put on the request (Envoy's injected_websocket_key_); undefined when it kept the client's. */
  injectedKey: string | undefined = undefined;

  constructor(
    private readonly connection: UpstreamStream,
    /** The key made for this attempt (Envoy's generated_websocket_key_). */
    private readonly generatedKey: string,
  ) {}

  get host(): Host {
    return this.connection.host;
  }
  get reused(): boolean {
    return this.connection.reused;
  }
  get responseStarted(): boolean {
    return this.connection.responseStarted;
  }
  get tls(): TlsSession | undefined {
    return this.connection.tls;
  }
  get localAddress(): SocketAddress | undefined {
    return this.connection.localAddress;
  }
  get http2(): boolean | undefined {
    return this.connection.http2;
  }

  encodeHeaders(headers: RequestHeaders, endStream: boolean): void {
    if (headers.has("sec-websocket-key")) {
      this.connection.encodeHeaders(headers, endStream);
      return;
    }
    const copy = copyRequestHeaders(headers);
    copy.upgrade = headers.upgrade;
    copy.schemeFromTarget = headers.schemeFromTarget;
    copy.set("sec-websocket-key", this.generatedKey);
    this.injectedKey = this.generatedKey;
    this.connection.encodeHeaders(copy, endStream);
  }
  encodeData(data: Uint8Array, endStream: boolean): void {
    this.connection.encodeData(data, endStream);
  }
  encodeTrailers(trailers: HeaderMap): void {
    this.connection.encodeTrailers(trailers);
  }
  encodeUpgradeData(data: Uint8Array, endStream: boolean): void {
    this.connection.encodeUpgradeData(data, endStream);
  }
  readDisable(disable: boolean): void {
    this.connection.readDisable(disable);
  }
  reset(): void {
    this.connection.reset();
  }
}
