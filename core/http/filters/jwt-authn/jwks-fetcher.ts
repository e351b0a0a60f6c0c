/**
 * Envoy's JwksFetcher (source/extensions/filters/http/common/jwks_fetcher.cc): one GET of
 * a remote_jwks http_uri through the async client (so through the cluster manager, its
 * load balancer and connection pools). 200 with a JWKS that has a usable key is a
 * success; anything else — another status, an empty body, a JWKS without keys, a reset,
 * the timeout, an unknown cluster — is a failure.
 *
 * With a retry_policy, as Envoy's convertCoreToRouteRetryPolicy makes it: up to
 * num_retries more tries on 5xx, gateway-error, connect-failure and reset (the async
 * client turns the last two into 503s), each try limited to max_interval, jittered
 * exponential back-off between tries; http_uri.timeout bounds the whole fetch.
 */
import type { JwtJwk, RemoteJwksConfig } from "../../../config/bootstrap.ts";
import type { Timer } from "../../../event/timers.ts";
import type { ServerContext } from "../../../server-context.ts";
import { JitteredExponentialBackOffStrategy } from "../../../util/backoff-strategy.ts";
import { latin1Decode } from "../../../util/latin1.ts";
import type { AsyncClient, AsyncFailureReason, AsyncRequest, AsyncRequestCallbacks, AsyncResponse } from "../../async-client.ts";
import { RequestHeaders } from "../../message.ts";
import { parseJwks } from "./jwks.ts";

export interface JwksReceiver {
  onJwksSuccess(keys: JwtJwk[]): void;
  onJwksError(): void;
}

/** The most JWKS body kept (a JWKS is a few KiB; Envoy's async client buffers up to its own limit). */
const MAX_JWKS_BYTES = 1024 * 1024;

export class JwksFetcher implements AsyncRequestCallbacks {
  private request: AsyncRequest | undefined;
  private receiver: JwksReceiver | undefined;
  private deadline: Timer | undefined;
  private backOffTimer: Timer | undefined;
  private backOff: JitteredExponentialBackOffStrategy | undefined;
  private retriesLeft = 0;
  private readonly authority: string;
  private readonly path: string;
  private readonly scheme: string;

  constructor(
    private readonly server: ServerContext,
    private readonly client: AsyncClient,
    private readonly config: RemoteJwksConfig,
  ) {
    // Http::Utility::prepareHeaders: :authority and :path from the URI (validated by the schema).
    const match = /^(https?):\/\/([^/?#]+)([^#]*)/i.exec(config.uri)!;
    this.scheme = match[1]!.toLowerCase();
    this.authority = match[2]!;
    this.path = match[3] === "" ? "/" : match[3]!.startsWith("/") ? match[3]! : `/${match[3]}`;
  }

  /** Start a fetch; `receiver` hears once, unless cancel() comes first. */
  fetch(receiver: JwksReceiver): void {
    this.cancel();
    this.receiver = receiver;
    const retry = this.config.retryPolicy;
    this.retriesLeft = retry?.numRetries ?? 0;
    if (retry !== undefined) this.backOff = new JitteredExponentialBackOffStrategy(retry.baseIntervalMs, retry.maxIntervalMs, this.server.runtime);
    if (this.config.timeoutMs > 0) {
      this.deadline ??= this.server.timers.create(() => this.done(false, undefined, "timeout"));
      this.deadline.enable(this.config.timeoutMs);
    }
    this.send();
  }

  /** Stop the fetch in flight, if any: the receiver hears nothing. */
  cancel(): void {
    this.receiver = undefined;
    this.deadline?.disable();
    this.backOffTimer?.disable();
    const request = this.request;
    this.request = undefined;
    request?.cancel();
  }

  private send(): void {
    const headers = new RequestHeaders();
    headers.method = "GET";
    headers.path = this.path;
    headers.authority = this.authority;
    headers.scheme = this.scheme;
    // Envoy's per-try timeout for the fetcher is the back-off's max interval.
    const perTry = this.config.retryPolicy?.maxIntervalMs ?? 0;
    const timeoutMs = perTry > 0 && this.config.timeoutMs > 0 ? Math.min(perTry, this.config.timeoutMs) : perTry || this.config.timeoutMs;
    this.request = this.client.send(this.config.cluster, headers, undefined, this, { timeoutMs, maxResponseBytes: MAX_JWKS_BYTES });
  }

  onSuccess(_request: AsyncRequest, response: AsyncResponse): void {
    this.request = undefined;
    const status = response.headers.status;
    if (status >= 500 && this.retry()) return;
    if (status !== 200) return this.done(false, undefined, `response status code ${status}`);
    if (response.body.byteLength === 0) return this.done(false, undefined, "body is empty");
    const parsed = parseJwks(latin1Decode(response.body, 0, response.body.byteLength));
    if (!parsed.ok) return this.done(false, undefined, `invalid jwks: ${parsed.error}`);
    this.done(true, parsed.keys, "");
  }

  onFailure(_request: AsyncRequest, reason: AsyncFailureReason): void {
    this.request = undefined;
    if (reason === "reset" && this.retry()) return;
    this.done(false, undefined, `network error ${reason}`);
  }

  /** Another try after the back-off, if the policy allows one. */
  private retry(): boolean {
    if (this.retriesLeft <= 0 || this.receiver === undefined) return false;
    this.retriesLeft--;
    this.backOffTimer ??= this.server.timers.create(() => this.send());
    this.backOffTimer.enable(this.backOff!.nextBackOffMs());
    return true;
  }

  private done(ok: boolean, keys: JwtJwk[] | undefined, why: string): void {
    const receiver = this.receiver;
    this.cancel();
    if (receiver === undefined) return;
    if (ok) {
      this.server.log.debug(`jwt_authn: fetch pubkey [uri = ${this.config.uri}]: succeeded`);
      receiver.onJwksSuccess(keys!);
    } else {
      this.server.log.debug(`jwt_authn: fetch pubkey [uri = ${this.config.uri}]: ${why}`);
      receiver.onJwksError();
    }
  }
}
