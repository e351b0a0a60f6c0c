/**
 * Envoy's HttpSubscriptionImpl with its RestApiFetcher (source/extensions/
 * config_subscription/rest/http_subscription_impl.cc, source/common/http/
 * rest_api_fetcher.cc): api_config_source with api_type REST, state of the world by
 * polling. Each poll is a POST of a JSON DiscoveryRequest (node, version_info, the
 * resource_names watched, type_url, and, after a response, its nonce and, after a refused
 * one, error_detail) to `/v3/discovery:<type>` on the source's cluster, through the proxy's
 * own HTTP client (async-client.ts: the cluster's load balancer and pool), with
 * request_timeout. The answer, a JSON DiscoveryResponse (proto3 JSON, resources with
 * "@type"), is handed whole to the owner; its version_info is the next request's once
 * taken (the ACK). A status other than 200, a reset or a timeout is update_failure; a
 * body that is not a DiscoveryResponse, or resources the owner refuses, update_rejected
 * (the config in use is kept). The next poll follows refresh_delay plus a jitter of up to
 * refresh_delay, as RestApiFetcher::requestComplete. initial_fetch_timeout: initial-fetch.ts.
 */
import type { TimerHandle } from "../../port.ts";
import type { StatsScope } from "../../stats/stats-store.ts";
import { utf8Decode, utf8Encode } from "../../util/utf8.ts";
import type { NodeConfig, RestConfigSource } from "../bootstrap.ts";
import { SubscriptionStats, type ConfigUpdateCallback, describeUpdateError, errorKind, versionHash } from "./filesystem-subscription.ts";
import { InitialFetch } from "./initial-fetch.ts";
import type { RawDiscoveryResponse } from "./raw-discovery-response.ts";
import type { RestResponse, Subscription, SubscriptionContext } from "./subscription-types.ts";
import { VERSION } from "../../version.ts";

/** The largest DiscoveryResponse body taken (Envoy buffers it unbounded; a bound is ours). */
export const MAX_REST_RESPONSE_BYTES = 64 * 1024 * 1024;

/** The path of each type's REST endpoint (Envoy's Utility of the xDS services: `/v3/discovery:<resource>`). */
export const REST_PATHS: Readonly<Record<string, string>> = {
  "type.googleapis.com/envoy.config.listener.v3.Listener": "/v3/discovery:listeners",
  "type.googleapis.com/envoy.config.cluster.v3.Cluster": "/v3/discovery:clusters",
  "type.googleapis.com/envoy.config.route.v3.RouteConfiguration": "/v3/discovery:routes",
  "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment": "/v3/discovery:endpoints",
  "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret": "/v3/discovery:secrets",
  "type.googleapis.com/envoy.service.runtime.v3.Runtime": "/v3/discovery:runtime",
};

export class HttpSubscription implements Subscription {
  private readonly stats: SubscriptionStats;
  private readonly path: string;
  private readonly origin: string;
  private timer: TimerHandle | undefined;
  /** Gives up the poll in flight, if any. */
  private cancelPoll: (() => void) | undefined;
  private readonly initialFetch: InitialFetch;
  private stopped = false;
  /** The last response's nonce, and why it was refused (the next request's error_detail). */
  private nonce = "";
  private errorDetail: string | undefined;
  versionInfo = "";
  lastUpdated = 0;

  constructor(
    private readonly context: SubscriptionContext,
    private readonly name: string,
    private readonly source: RestConfigSource,
    private readonly typeUrl: string,
    private readonly resourceNames: readonly string[],
    scope: StatsScope,
    private readonly onUpdate: ConfigUpdateCallback,
  ) {
    this.stats = new SubscriptionStats(scope);
    this.path = REST_PATHS[typeUrl] ?? "";
    this.origin = `rest cluster '${source.clusterName}' ${this.path}`;
    this.initialFetch = new InitialFetch(context.runtime, context.log, source.initialFetchTimeoutMs, this.stats.initFetchTimeout);
  }

  clock(): number {
    return this.context.runtime.wallClock();
  }

  start(): Promise<string | undefined> {
    if (this.context.restFetch === undefined) return Promise.resolve("no management server");
    if (this.path === "") return Promise.resolve(`no REST discovery path for ${this.typeUrl}`);
    const first = this.initialFetch.wait(`${this.name} from ${this.origin}`);
    void this.poll();
    return first;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.context.runtime.clearTimeout(this.timer);
    this.timer = undefined;
    this.cancelPoll?.();
    this.cancelPoll = undefined;
    this.initialFetch.ready("stopped");
  }

  private async poll(): Promise<void> {
    const fetch = this.context.restFetch!;
    this.stats.updateAttempt.inc();
    let response: RestResponse | undefined;
    let failure: string | undefined;
    try {
      response = await fetch(this.source.clusterName, this.path, utf8Encode(JSON.stringify(this.request())), this.source.requestTimeoutMs, MAX_REST_RESPONSE_BYTES, (cancel) => {
        this.cancelPoll = cancel;
      });
      if (response.status !== 200) failure = `status ${response.status}`;
    } catch (err) {
      failure = err instanceof Error ? err.message : String(err);
    }
    this.cancelPoll = undefined;
    if (this.stopped) return;
    if (failure !== undefined) {
      // RestApiFetcher::onSuccess (status not 200) and onFailure: ConnectionFailure.
      this.stats.updateFailure.inc();
      this.context.log.warn(`${this.name}: REST update for ${this.path} failed: ${failure}`);
    } else {
      await this.parseResponse(response!.body);
    }
    if (this.stopped) return;
    const delay = this.source.refreshDelayMs;
    const jitter = delay > 0 ? Math.floor(this.context.runtime.random() * delay) : 0;
    this.timer = this.context.runtime.setTimeout(() => {
      this.timer = undefined;
      void this.poll();
    }, delay + jitter);
  }

  /** envoy.service.discovery.v3.DiscoveryRequest in proto3 JSON (its field names as protobuf's printer writes them). */
  private request(): Record<string, unknown> {
    const node = this.context.node;
    const request: Record<string, unknown> = { versionInfo: this.versionInfo, node: nodeJson(node), typeUrl: this.typeUrl };
    if (this.resourceNames.length > 0) request["resourceNames"] = [...this.resourceNames].sort();
    if (this.nonce !== "") request["responseNonce"] = this.nonce;
    if (this.errorDetail !== undefined) request["errorDetail"] = { code: 13, message: this.errorDetail };
    return request;
  }

  private async parseResponse(body: Uint8Array): Promise<void> {
    let response: RawDiscoveryResponse;
    try {
      const parsed = readRestDiscoveryResponse(utf8Decode(body));
      response = parsed;
      this.nonce = parsed.nonce;
    } catch (err) {
      this.reject(err);
      return;
    }
    try {
      await this.onUpdate(response, this.origin);
    } catch (err) {
      this.reject(err);
      return;
    }
    this.errorDetail = undefined;
    this.versionInfo = response.versionInfo;
    this.lastUpdated = this.context.runtime.wallClock();
    this.stats.updateSuccess.inc();
    this.stats.updateTime.set(this.lastUpdated);
    this.stats.version.set(versionHash(response.versionInfo));
    this.initialFetch.ready(undefined);
  }

  private reject(err: unknown): void {
    const message = describeUpdateError(err);
    (errorKind(err) === "failure" ? this.stats.updateFailure : this.stats.updateRejected).inc();
    this.errorDetail = message;
    const kept = this.lastUpdated > 0 ? " (the config in use is kept)" : "";
    this.context.log.warn(`${this.name}: REST config for ${this.path} rejected: ${message}${kept}`);
    this.initialFetch.ready(message);
  }
}

/** Node in proto3 JSON (what grpc-mux.ts encodes as protobuf). */
function nodeJson(node: NodeConfig | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = { id: node?.id ?? "", cluster: node?.cluster ?? "", userAgentName: "polyvoy", userAgentVersion: VERSION };
  if (node?.metadata !== undefined) out["metadata"] = node.metadata;
  if (node?.locality) out["locality"] = { region: node.locality.region ?? "", zone: node.locality.zone ?? "", subZone: node.locality.sub_zone ?? "" };
  return out;
}

/**
 * A REST body as a DiscoveryResponse (proto3 JSON: fields by their JSON or proto names);
 * throws on anything else. The resources are checked by the owner.
 */
export function readRestDiscoveryResponse(text: string): RawDiscoveryResponse & { readonly nonce: string } {
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (typeof document !== "object" || document === null || Array.isArray(document)) throw new Error("not a DiscoveryResponse (a JSON object)");
  const fields = document as Record<string, unknown>;
  const pick = (json: string, proto: string): unknown => (Object.hasOwn(fields, json) ? fields[json] : Object.hasOwn(fields, proto) ? fields[proto] : undefined);
  const version = pick("versionInfo", "version_info") ?? "";
  const nonce = pick("nonce", "nonce") ?? "";
  const resources = pick("resources", "resources") ?? [];
  if (typeof version !== "string") throw new Error("version_info: expected a string");
  if (typeof nonce !== "string") throw new Error("nonce: expected a string");
  if (!Array.isArray(resources)) throw new Error("resources: expected a list");
  return { versionInfo: version, resources, nonce };
}
