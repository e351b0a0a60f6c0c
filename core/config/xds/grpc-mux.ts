/**
 * Envoy's GrpcMuxImpl (source/extensions/config_subscription/grpc/grpc_mux_impl.cc):
 * state-of-the-world xDS over one bidirectional gRPC stream to a management server —
 * ADS (every type on AggregatedDiscoveryService/StreamAggregatedResources) or one type's
 * own service. Per type it keeps the watches, the resource names they want (none:
 * wildcard), the last accepted version_info and the last nonce. Each DiscoveryResponse
 * is decoded (resources are Any, proto-to-json.ts), handed to the type's watches (a named
 * watch gets its own resources; RDS and EDS watches with none are skipped, as Envoy), and
 * answered: an ACK (the new version_info, the nonce) when every watch took it, else a
 * NACK (the previous version_info, the nonce, error_detail with code INTERNAL and the
 * reason) while the watches keep what they had. Each type's responses are applied one
 * at a time in order; the ACK follows once the update is applied (its clusters or
 * listeners warmed: Envoy ACKs a CDS or LDS update before they warm). A stream that ends is opened again after a jittered back-off (base 500 ms, max
 * 30 s: Envoy's) and every type is asked for again with its last accepted version.
 * Stats under `control_plane.`: connected_state, rate_limit_enforced, pending_requests.
 */
import type { NodeConfig } from "../../config/bootstrap.ts";
import { GrpcAsyncStream } from "../../http/grpc-async-stream.ts";
import { GrpcStatus } from "../../http/grpc-common.ts";
import type { TimerHandle } from "../../port.ts";
import type { ServerContext } from "../../server-context.ts";
import type { Counter } from "../../stats/counter.ts";
import type { Gauge } from "../../stats/gauge.ts";
import { JitteredExponentialBackOffStrategy } from "../../util/backoff-strategy.ts";
import { ProtoReader, ProtoWriter } from "../../util/protobuf-wire.ts";
import { utf8Decode } from "../../util/utf8.ts";
import type { GrpcServiceTarget } from "../bootstrap.ts";
import { encodeNode } from "./discovery-node.ts";
import { anyToJson } from "./proto-to-json.ts";
import type { RawDiscoveryResponse } from "./raw-discovery-response.ts";
import type { GrpcMuxLike, Watch, WatchCallbacks } from "./subscription-types.ts";

export const ADS_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

/** Each type's own service (envoy/service/<x>/v3/<x>ds.proto). */
export const TYPE_METHODS: Readonly<Record<string, string>> = {
  "type.googleapis.com/envoy.config.listener.v3.Listener": "/envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners",
  "type.googleapis.com/envoy.config.cluster.v3.Cluster": "/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters",
  "type.googleapis.com/envoy.config.route.v3.RouteConfiguration": "/envoy.service.route.v3.RouteDiscoveryService/StreamRoutes",
  "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment": "/envoy.service.endpoint.v3.EndpointDiscoveryService/StreamEndpoints",
};

const EDS_TYPE = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
const RDS_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";

/** The largest DiscoveryResponse taken (Envoy's is unbounded; a bound is ours). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
/** Responses waiting to be applied: more means the server outpaces us badly; the stream is restarted. */
const MAX_QUEUED_RESPONSES = 64;
const BACKOFF_BASE_MS = 500;
const BACKOFF_MAX_MS = 30_000;

interface ApiState {
  readonly typeUrl: string;
  readonly watches: Set<MuxWatch>;
  /** The last accepted version_info ("" before one). */
  versionInfo: string;
  /** The last response's nonce on this stream. */
  nonce: string;
  /**
   * Its responses, applied one at a time in order. One queue per type: a CDS update
   * waits for its clusters' first EDS answer (warming), which comes on the same stream.
   */
  queue: Promise<void>;
  /**
   * The accepted resources by name (named types: RDS, EDS). A watch added for a name
   * already received gets it from here: a replaced EDS cluster or a listener's new RDS
   * provider asks for the same names, which a server need not answer again (Envoy's EDS
   * resources cache, source/extensions/config_subscription/grpc/eds_resources_cache_impl.cc).
   */
  readonly cache: Map<string, Record<string, unknown>>;
}

class MuxWatch implements Watch {
  constructor(
    private readonly mux: GrpcMux,
    readonly state: ApiState,
    readonly names: readonly string[],
    readonly callbacks: WatchCallbacks,
  ) {}

  remove(): void {
    this.mux.removeWatch(this);
  }
}

export class GrpcMux implements GrpcMuxLike {
  private readonly states = new Map<string, ApiState>();
  private stream: GrpcAsyncStream | undefined;
  private retryTimer: TimerHandle | undefined;
  private readonly backoff: JitteredExponentialBackOffStrategy;
  private queued = 0;
  private firstRequestSent = false;
  private stopped = false;
  private readonly connectedState: Gauge;
  /** Kept for Envoy's names: polyvoy does not rate-limit its requests, so they stay 0. */
  private readonly rateLimitEnforced: Counter;
  private readonly pendingRequests: Gauge;

  constructor(
    private readonly server: ServerContext,
    private readonly target: GrpcServiceTarget,
    private readonly method: string,
    private readonly node: NodeConfig | undefined,
    private readonly nodeOnFirstMessageOnly: boolean,
  ) {
    this.backoff = new JitteredExponentialBackOffStrategy(BACKOFF_BASE_MS, BACKOFF_MAX_MS, server.runtime);
    const scope = server.stats.scope("control_plane.");
    this.connectedState = scope.gauge("connected_state");
    this.rateLimitEnforced = scope.counter("rate_limit_enforced");
    this.pendingRequests = scope.gauge("pending_requests");
    void this.rateLimitEnforced;
  }

  watch(typeUrl: string, resourceNames: readonly string[], callbacks: WatchCallbacks): Watch {
    let state = this.states.get(typeUrl);
    if (state === undefined) {
      state = { typeUrl, watches: new Set(), versionInfo: "", nonce: "", queue: Promise.resolve(), cache: new Map() };
      this.states.set(typeUrl, state);
    }
    const watch = new MuxWatch(this, state, resourceNames, callbacks);
    state.watches.add(watch);
    const cached = resourceNames.flatMap((name) => state.cache.get(name) ?? []);
    if (cached.length > 0) {
      const update: RawDiscoveryResponse = { versionInfo: state.versionInfo, resources: cached };
      // Refused or not, the subscription logs and counts it; the server's next push follows.
      state.queue = state.queue.then(() => (state.watches.has(watch) ? watch.callbacks.onConfigUpdate(update) : undefined)).catch(() => undefined);
    }
    if (this.stream === undefined && this.retryTimer === undefined) this.establish();
    else if (this.stream !== undefined) this.sendRequest(state, undefined);
    return watch;
  }

  /** @internal */
  removeWatch(watch: MuxWatch): void {
    const state = watch.state;
    if (!state.watches.delete(watch)) return;
    // What the remaining watches want (Envoy sends the narrowed names; none left: an empty list).
    if (this.stream !== undefined && !this.stopped) this.sendRequest(state, undefined);
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer !== undefined) this.server.runtime.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.stream?.reset();
    this.stream = undefined;
    this.connectedState.set(0);
  }

  private establish(): void {
    if (this.stopped) return;
    this.firstRequestSent = false;
    const stream = new GrpcAsyncStream(this.server, {
      onReceiveMessage: (message) => this.onReceiveMessage(stream, message),
      onRemoteClose: (status, message) => this.onRemoteClose(stream, status, message),
    }, MAX_MESSAGE_BYTES);
    this.stream = stream;
    this.server.log.debug(`xds: opening ${this.method} to cluster '${this.target.clusterName}'`);
    stream.start(this.target.clusterName, this.method, this.target.authority, this.target.initialMetadata);
    if (this.stream !== stream) return;
    // Every type, with the version it has: the server may answer only what changed since.
    for (const state of this.states.values()) {
      state.nonce = "";
      this.sendRequest(state, undefined);
    }
  }

  private onRemoteClose(stream: GrpcAsyncStream, status: number, message: string): void {
    if (this.stream !== stream) return;
    this.stream = undefined;
    this.connectedState.set(0);
    if (this.stopped) return;
    this.server.log.warn(`xds: ${this.method} to cluster '${this.target.clusterName}' closed: gRPC status ${status}${message ? ` ${message}` : ""}`);
    for (const state of this.states.values()) for (const watch of state.watches) watch.callbacks.onConfigUpdateFailed(message || `gRPC status ${status}`);
    const delay = this.backoff.nextBackOffMs();
    this.retryTimer = this.server.runtime.setTimeout(() => {
      this.retryTimer = undefined;
      this.establish();
    }, delay);
  }

  private onReceiveMessage(stream: GrpcAsyncStream, message: Uint8Array): void {
    if (this.stream !== stream) return;
    // The stream works: the next failure waits from the base again (Envoy resets on the first response).
    this.backoff.reset();
    this.connectedState.set(1);
    if (this.queued >= MAX_QUEUED_RESPONSES) {
      this.server.log.warn(`xds: ${MAX_QUEUED_RESPONSES} responses wait to be applied: restarting the stream`);
      stream.reset();
      this.onRemoteClose(stream, GrpcStatus.ResourceExhausted, "too many responses queued");
      return;
    }
    let response: DecodedDiscoveryResponse;
    try {
      response = decodeDiscoveryResponse(message);
    } catch (err) {
      // Not a DiscoveryResponse: Envoy closes the stream (the codec fails); so do we.
      this.server.log.warn(`xds: a DiscoveryResponse that cannot be decoded: ${err instanceof Error ? err.message : String(err)}`);
      stream.reset();
      this.onRemoteClose(stream, GrpcStatus.Internal, "DiscoveryResponse decode error");
      return;
    }
    const state = this.states.get(response.typeUrl);
    if (state === undefined) {
      // Envoy: "Ignoring the message for type URL ... as it has no current subscribers."
      this.server.log.debug(`xds: a response for ${response.typeUrl}, which nothing watches`);
      return;
    }
    this.queued++;
    state.queue = state.queue.then(() => this.apply(stream, state, response)).finally(() => {
      this.queued--;
    });
  }

  /** One DiscoveryResponse: decode, hand to the watches, ACK or NACK. */
  private async apply(stream: GrpcAsyncStream, state: ApiState, response: DecodedDiscoveryResponse): Promise<void> {
    // A response of a stream that has ended since is dropped: the new stream asks again.
    if (this.stream !== stream) return;
    state.nonce = response.nonce;
    let error: string | undefined;
    let resources: Record<string, unknown>[] = [];
    try {
      resources = response.resources.map((bytes) => anyToJson(bytes));
      for (const resource of resources) {
        if (resource["@type"] !== response.typeUrl) throw new Error(`${response.typeUrl} does not match the message-wide type URL ${String(resource["@type"])} in DiscoveryResponse`);
      }
      for (const watch of [...state.watches]) {
        // A watch removed while an earlier one applied (a retired EDS cluster, a drained
        // listener's RDS) gets nothing more, and cannot NACK the others' update.
        if (!state.watches.has(watch)) continue;
        const mine = watch.names.length === 0 ? resources : resources.filter((r) => watch.names.includes(resourceName(response.typeUrl, r)));
        // onConfigUpdate reaches RDS and EDS watches only when the response has theirs.
        if (watch.names.length > 0 && mine.length === 0 && (response.typeUrl === RDS_TYPE || response.typeUrl === EDS_TYPE)) continue;
        const update: RawDiscoveryResponse = { versionInfo: response.versionInfo, resources: mine };
        try {
          await watch.callbacks.onConfigUpdate(update);
        } catch (err) {
          error ??= err instanceof Error ? err.message : String(err);
        }
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    if (error === undefined) {
      state.versionInfo = response.versionInfo;
      if (response.typeUrl === RDS_TYPE || response.typeUrl === EDS_TYPE) {
        for (const resource of resources) state.cache.set(resourceName(response.typeUrl, resource), resource);
      }
    }
    if (this.stream === stream) this.sendRequest(state, error);
  }

  /** A DiscoveryRequest for `state`'s type: an ACK, a NACK (with `error`), or the first ask. */
  private sendRequest(state: ApiState, error: string | undefined): void {
    const stream = this.stream;
    if (stream === undefined) return;
    const names = new Set<string>();
    let wildcard = false;
    for (const watch of state.watches) {
      if (watch.names.length === 0) wildcard = true;
      for (const name of watch.names) names.add(name);
    }
    const writer = new ProtoWriter().string(1, state.versionInfo);
    if (!this.nodeOnFirstMessageOnly || !this.firstRequestSent) writer.message(2, (node) => encodeNode(node, this.node));
    if (!wildcard) for (const name of [...names].sort()) writer.string(3, name);
    writer.string(4, state.typeUrl).string(5, state.nonce);
    if (error !== undefined) writer.message(6, (status) => status.uint(1, GrpcStatus.Internal).string(2, error));
    this.firstRequestSent = true;
    this.pendingRequests.set(0);
    stream.sendMessage(writer.finish());
  }
}

interface DecodedDiscoveryResponse {
  versionInfo: string;
  resources: Uint8Array[];
  typeUrl: string;
  nonce: string;
}

/** envoy.service.discovery.v3.DiscoveryResponse: version_info 1, resources 2 (Any), canary 3, type_url 4, nonce 5, control_plane 6. */
export function decodeDiscoveryResponse(bytes: Uint8Array): DecodedDiscoveryResponse {
  const out: DecodedDiscoveryResponse = { versionInfo: "", resources: [], typeUrl: "", nonce: "" };
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    switch (reader.field) {
      case 1:
        out.versionInfo = utf8Decode(reader.lengthDelimited());
        break;
      case 2:
        out.resources.push(reader.lengthDelimited());
        break;
      case 4:
        out.typeUrl = utf8Decode(reader.lengthDelimited());
        break;
      case 5:
        out.nonce = utf8Decode(reader.lengthDelimited());
        break;
      default:
        reader.skip();
    }
  }
  return out;
}

/** A resource's name: ClusterLoadAssignment's is cluster_name, the others' name. */
function resourceName(typeUrl: string, resource: Record<string, unknown>): string {
  const name = typeUrl === EDS_TYPE ? resource["cluster_name"] : resource["name"];
  return typeof name === "string" ? name : "";
}
