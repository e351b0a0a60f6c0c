/**
 * Envoy's GrpcMuxImpl (source/extensions/config_subscription/grpc/grpc_mux_impl.cc):
 * state-of-the-world xDS over one bidirectional gRPC stream to a management server —
 * ADS (every type on AggregatedDiscoveryService/StreamAggregatedResources) or one type's
 * own service. Per type it keeps the watches, the resource names they want (none:
 * wildcard), the last accepted version_info and the last nonce. Each DiscoveryResponse
 * is decoded (resources are Any, proto-to-json.ts), handed to the type's watches (a named
 * watch gets its own resources; named watches with none are skipped, as Envoy), and
 * answered: an ACK (the new version_info, the nonce) when every watch took it, else a
 * NACK (the previous version_info, the nonce, error_detail with code INTERNAL and the
 * reason) while the watches keep what they had. Each type's responses are applied one
 * at a time in order, the newest replacing one not yet applied (RDS/EDS: merged by
 * name); applying validates and takes the update — clusters and listeners warm after,
 * so the ACK does not wait for them (Envoy's CdsApiImpl/LdsApiImpl). Requests owed are
 * kept per type and written once the stream is ready; while a CDS (LDS) update applies,
 * EDS (RDS) requests wait and go out as one before its ACK (Envoy's pause/resume). A
 * resource may come wrapped in envoy.service.discovery.v3.Resource. The stream's life — opening it,
 * the jittered back-off before the next one, the `control_plane.` stats — is xds-stream.ts's
 * (Envoy's GrpcStream, shared with the incremental mux); on each new stream every watched
 * type is asked for again with its last accepted version.
 */
import type { NodeConfig } from "../../config/bootstrap.ts";
import { GrpcStatus } from "../../http/grpc-common.ts";
import type { ServerContext } from "../../server-context.ts";
import type { TimerHandle } from "../../port.ts";
import type { Counter } from "../../stats/counter.ts";
import { TokenBucket } from "../../http/filters/token-bucket.ts";
import { ProtoReader, ProtoWriter } from "../../util/protobuf-wire.ts";
import { utf8Decode } from "../../util/utf8.ts";
import type { GrpcServiceTarget } from "../bootstrap.ts";
import { encodeNode } from "./discovery-node.ts";
import { anyToJson } from "./proto-to-json.ts";
import type { RawDiscoveryResponse } from "./raw-discovery-response.ts";
import type { GrpcMuxLike, Watch, WatchCallbacks } from "./subscription-types.ts";
import { EDS_TYPE, MuxWatch, queueHeldUpdate, resourceName, wantedNames, type WatchedType } from "./mux-watch.ts";
import { MAX_XDS_MESSAGE_BYTES, type OpenXdsCall, XdsStream } from "./xds-stream.ts";

export const ADS_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources";

/** Each type's own service (envoy/service/<x>/v3/<x>ds.proto). */
export const TYPE_METHODS: Readonly<Record<string, string>> = {
  "type.googleapis.com/envoy.config.listener.v3.Listener": "/envoy.service.listener.v3.ListenerDiscoveryService/StreamListeners",
  "type.googleapis.com/envoy.config.cluster.v3.Cluster": "/envoy.service.cluster.v3.ClusterDiscoveryService/StreamClusters",
  "type.googleapis.com/envoy.config.route.v3.RouteConfiguration": "/envoy.service.route.v3.RouteDiscoveryService/StreamRoutes",
  "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment": "/envoy.service.endpoint.v3.EndpointDiscoveryService/StreamEndpoints",
  "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret": "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets",
  "type.googleapis.com/envoy.service.runtime.v3.Runtime": "/envoy.service.runtime.v3.RuntimeDiscoveryService/StreamRuntime",
};

const RDS_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
const CDS_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const LDS_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener";
/**
 * The type whose requests wait while an update of the key type applies: the EDS (RDS)
 * watches a CDS (LDS) update starts or ends are asked for in one request, sent before
 * the update's ACK (Envoy's CdsApiHelper and LdsApiImpl pause EDS and RDS on the ADS mux).
 */
const PAUSED_DURING: Readonly<Record<string, string>> = { [CDS_TYPE]: EDS_TYPE, [LDS_TYPE]: RDS_TYPE };
const RESOURCE_WRAPPER_TYPE = "type.googleapis.com/envoy.service.discovery.v3.Resource";

/**
 * The bytes of responses received and not yet applied, over all types (each type keeps
 * at most one, coalesced): more means the server outpaces us badly; the stream is restarted.
 */
const MAX_PENDING_BYTES = 2 * MAX_XDS_MESSAGE_BYTES;

/** A response received, decoded, waiting to be applied. */
interface PendingResponse {
  /** The stream it came on (XdsStream.generation). */
  readonly stream: object;
  readonly versionInfo: string;
  readonly nonce: string;
  /** Decoded resources; for RDS and EDS merged by name with older pending ones. */
  readonly resources: Record<string, unknown>[];
  /** Why it cannot be applied (a resource that does not decode): it is NACKed. */
  readonly error: string | undefined;
  readonly bytes: number;
}

/** A type's watches, version and update queue (mux-watch.ts), and what state of the world adds. */
interface ApiState extends WatchedType {
  /** The last response's nonce on this stream. */
  nonce: string;
  /**
   * The newest response not yet applied. A state-of-the-world response replaces the one
   * before it (only the newest state matters; the ACK of the newest carries its nonce,
   * which is the one the server waits for); RDS and EDS responses may carry only the
   * resources that changed, so theirs are merged by name.
   */
  pending: PendingResponse | undefined;
  /** A task to apply `pending` is queued. */
  scheduled: boolean;
  /** A DiscoveryRequest is owed for this type (sent when the stream is ready), with this NACK reason. */
  requestOwed: boolean;
  requestError: string | undefined;
  /**
   * The accepted resources by name (named types: RDS, EDS), of names a watch wants. A
   * watch added for a name already received gets it from here: a replaced EDS cluster or
   * a listener's new RDS provider asks for the same names, which a server need not
   * answer again (Envoy's EDS resources cache, source/extensions/config_subscription/
   * grpc/eds_resources_cache_impl.cc). Names no watch wants any more are dropped.
   */
  readonly cache: Map<string, Record<string, unknown>>;
}

export class GrpcMux implements GrpcMuxLike {
  private readonly states = new Map<string, ApiState>();
  private readonly stream: XdsStream;
  private pendingBytes = 0;
  private firstRequestSent = false;
  private stopped = false;
  /** Types whose requests wait (Envoy's GrpcMuxImpl::pause), with how many pauses hold each. */
  private readonly pauses = new Map<string, number>();
  /** rate_limit_settings: a request goes only with a token; the rest wait for the drain timer. */
  private readonly requestBucket: TokenBucket | undefined;
  private readonly rateLimitEnforced: Counter | undefined;
  private drainTimer: TimerHandle | undefined;

  constructor(
    private readonly server: ServerContext,
    target: GrpcServiceTarget,
    method: string,
    private readonly node: NodeConfig | undefined,
    private readonly nodeOnFirstMessageOnly: boolean,
    openCall?: OpenXdsCall,
    rateLimit?: { readonly maxTokens: number; readonly fillRate: number },
  ) {
    if (rateLimit !== undefined) {
      // Envoy's GrpcStream (grpc_stream.h): TokenBucketImpl(max_tokens, fill_rate per second), full at first.
      this.requestBucket = new TokenBucket({ maxTokens: rateLimit.maxTokens, tokensPerFill: rateLimit.fillRate, fillIntervalMs: 1000 });
      this.rateLimitEnforced = server.stats.counter("control_plane.rate_limit_enforced");
    }
    this.stream = new XdsStream(server, target, method, {
      onStreamEstablished: () => this.onStreamEstablished(),
      onReady: () => this.flushRequests(),
      onMessage: (message) => this.onReceiveMessage(message),
      onStreamClosed: (reason) => this.onStreamClosed(reason),
    }, openCall);
  }

  watch(typeUrl: string, resourceNames: readonly string[], callbacks: WatchCallbacks): Watch {
    let state = this.states.get(typeUrl);
    if (state === undefined) {
      state = { typeUrl, watches: new Set(), versionInfo: "", nonce: "", queue: Promise.resolve(), pending: undefined, scheduled: false, requestOwed: false, requestError: undefined, cache: new Map() };
      this.states.set(typeUrl, state);
    }
    const watch = new MuxWatch(this, state, resourceNames, callbacks);
    state.watches.add(watch);
    queueHeldUpdate(watch, (name) => state.cache.get(name));
    if (!this.stream.open) this.stream.ensureOpen();
    else this.queueRequest(state, undefined);
    return watch;
  }

  /** @internal */
  removeWatch(watch: MuxWatch<ApiState>): void {
    const state = watch.state;
    if (!state.watches.delete(watch)) return;
    // The cache keeps only what a watch still wants.
    const wanted = wantedNames(state).names;
    for (const name of [...state.cache.keys()]) if (!wanted.has(name)) state.cache.delete(name);
    // Envoy's GrpcMuxImpl::WatchImpl::remove: a named watch's removal sends the narrowed
    // names — none left: an empty list, which after names is "unsubscribe from all" (xDS
    // protocol, "Unsubscribing from resources"), never a wildcard; a wildcard watch's sends nothing.
    if (watch.names.length > 0 && this.stream.open && !this.stopped) this.queueRequest(state, undefined);
  }

  stop(): void {
    this.stopped = true;
    if (this.drainTimer !== undefined) this.server.runtime.clearTimeout(this.drainTimer);
    this.drainTimer = undefined;
    this.stream.stop();
    this.dropPending();
  }

  /** A new stream: every type watched, with the version it has (the server may answer only what changed since). */
  private onStreamEstablished(): void {
    this.firstRequestSent = false;
    // A type no watch wants is not asked (its empty list would be a wildcard on a new stream).
    for (const state of this.states.values()) {
      state.nonce = "";
      if (state.watches.size > 0) this.queueRequest(state, undefined);
    }
  }

  private onStreamClosed(reason: string): void {
    this.dropPending();
    for (const state of this.states.values()) for (const watch of state.watches) watch.callbacks.onConfigUpdateFailed(reason);
  }

  /** A stream ended: what it received and did not apply is dropped (the next stream asks again). */
  private dropPending(): void {
    for (const state of this.states.values()) {
      state.pending = undefined;
      state.requestOwed = false;
      state.requestError = undefined;
    }
    this.pendingBytes = 0;
  }

  private onReceiveMessage(message: Uint8Array): void {
    const stream = this.stream.generation!;
    let response: DecodedDiscoveryResponse;
    try {
      response = decodeDiscoveryResponse(message);
    } catch (err) {
      // Not a DiscoveryResponse: Envoy closes the stream (the codec fails); so do we.
      this.server.log.warn(`xds: a DiscoveryResponse that cannot be decoded: ${err instanceof Error ? err.message : String(err)}`);
      return this.stream.fail(GrpcStatus.Internal, "DiscoveryResponse decode error");
    }
    const state = this.states.get(response.typeUrl);
    if (state === undefined) {
      // Envoy: "Ignoring the message for type URL ... as it has no current subscribers."
      this.server.log.debug(`xds: a response for ${response.typeUrl}, which nothing watches`);
      return;
    }
    if (state.watches.size === 0) {
      // Envoy's GrpcMuxImpl::onDiscoveryResponse with no watches: nothing left to want and
      // nothing sent is accepted quietly (a removed cluster's EDS); resources are NACKed
      // by asking again with the old version.
      state.nonce = response.nonce;
      if (response.resources.length === 0) state.versionInfo = response.versionInfo;
      else {
        this.server.log.warn(`xds: ignoring unwatched type URL ${response.typeUrl}`);
        this.queueRequest(state, undefined);
      }
      return;
    }
    let resources: Record<string, unknown>[] = [];
    let error: string | undefined;
    try {
      for (const bytes of response.resources) {
        const any = anyToJson(bytes);
        // A resource may come wrapped in envoy.service.discovery.v3.Resource (go-control-plane
        // does so for resources with a TTL): its inner resource is the one taken, and one
        // without it is a TTL heartbeat, skipped when it is for the version in use (Envoy's
        // DecodedResourceImpl::fromResource and GrpcMuxImpl::isHeartbeatResource).
        if (any["@type"] === RESOURCE_WRAPPER_TYPE) {
          const inner = any["resource"];
          if (inner === undefined || inner === null) {
            if (response.versionInfo === state.versionInfo) continue;
            throw new Error(`a Resource without its resource in DiscoveryResponse version ${response.versionInfo}`);
          }
          const resource = inner as Record<string, unknown>;
          if (resource["@type"] !== response.typeUrl) throw new Error(`${response.typeUrl} does not match the message-wide type URL ${String(resource["@type"])} in DiscoveryResponse`);
          resources.push(resource);
          continue;
        }
        if (any["@type"] !== response.typeUrl) throw new Error(`${response.typeUrl} does not match the message-wide type URL ${String(any["@type"])} in DiscoveryResponse`);
        resources.push(any);
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
      resources = [];
    }
    const older = state.pending;
    const named = response.typeUrl === RDS_TYPE || response.typeUrl === EDS_TYPE;
    if (older !== undefined) {
      this.pendingBytes -= older.bytes;
      this.server.log.debug(`xds: ${response.typeUrl} version ${older.versionInfo} superseded by ${response.versionInfo} before it was applied`);
    }
    // RDS/EDS: the older one's resources the newer does not name still apply (a failed one: nothing of either).
    const merged = named && older !== undefined && older.error === undefined && error === undefined ? mergeByName(response.typeUrl, older.resources, resources) : resources;
    const bytes = message.byteLength + (named && older !== undefined ? older.bytes : 0);
    state.pending = { stream, versionInfo: response.versionInfo, nonce: response.nonce, resources: merged, error, bytes };
    this.pendingBytes += bytes;
    if (this.pendingBytes > MAX_PENDING_BYTES) {
      this.server.log.warn(`xds: ${this.pendingBytes} bytes of responses wait to be applied: restarting the stream`);
      return this.stream.fail(GrpcStatus.ResourceExhausted, "too many response bytes queued");
    }
    if (state.scheduled) return;
    state.scheduled = true;
    state.queue = state.queue.then(() => {
      state.scheduled = false;
      const next = state.pending;
      state.pending = undefined;
      if (next === undefined) return;
      this.pendingBytes -= next.bytes;
      return this.apply(state, next);
    });
  }

  /** One response: hand it to the watches, then ACK or NACK. */
  private async apply(state: ApiState, response: PendingResponse): Promise<void> {
    // A response of a stream that has ended since is dropped: the new stream asks again.
    if (this.stream.generation !== response.stream) return;
    state.nonce = response.nonce;
    let error = response.error;
    const resources = response.resources;
    const paused = error === undefined ? PAUSED_DURING[state.typeUrl] : undefined;
    if (paused !== undefined) this.pause(paused);
    // Resumed whatever happens (Envoy's ScopedResume): a paused type would otherwise send nothing again.
    try {
      // A named watch gets the first resource of each of its names: a name twice keeps the
      // first (Envoy's GrpcMuxImpl::processDiscoveryResources builds a name map with emplace).
      const byName = new Map<string, Record<string, unknown>>();
      for (const resource of resources) {
        const name = resourceName(state.typeUrl, resource);
        if (!byName.has(name)) byName.set(name, resource);
      }
      if (error === undefined) {
        for (const watch of [...state.watches]) {
          // A watch removed while an earlier one applied (a retired EDS cluster, a drained
          // listener's RDS) gets nothing more, and cannot NACK the others' update.
          if (!state.watches.has(watch)) continue;
          const mine = watch.names.length === 0 ? resources : [...new Set(watch.names)].flatMap((name) => byName.get(name) ?? []);
          // A named watch (RDS, EDS, SDS) is called only when the response has its resources
          // (GrpcMuxImpl::processDiscoveryResources: `if (!found_resources.empty())`).
          if (watch.names.length > 0 && mine.length === 0) continue;
          const update: RawDiscoveryResponse = { versionInfo: response.versionInfo, resources: mine };
          try {
            await watch.callbacks.onConfigUpdate(update);
          } catch (err) {
            error ??= err instanceof Error ? err.message : String(err);
          }
        }
      } else {
        // Refused before any watch saw it: each is told, and counts it (Envoy's GrpcMuxImpl
        // calls onConfigUpdateFailed(UpdateRejected) on every watch of the type).
        for (const watch of [...state.watches]) watch.callbacks.onConfigUpdateRejected?.(error);
      }
      if (error === undefined) {
        state.versionInfo = response.versionInfo;
        if (state.typeUrl === RDS_TYPE || state.typeUrl === EDS_TYPE) {
          const wanted = wantedNames(state).names;
          for (const [name, resource] of byName) if (wanted.has(name)) state.cache.set(name, resource);
        }
      }
    } finally {
      // The paused type's request first, then this update's ACK or NACK, as Envoy's ScopedResume does.
      if (paused !== undefined) this.resume(paused);
    }
    if (this.stream.generation === response.stream) this.queueRequest(state, error);
  }

  /** Requests of `typeUrl` wait until as many resume() calls (Envoy's GrpcMuxImpl::pause). */
  private pause(typeUrl: string): void {
    this.pauses.set(typeUrl, (this.pauses.get(typeUrl) ?? 0) + 1);
  }

  private resume(typeUrl: string): void {
    const count = (this.pauses.get(typeUrl) ?? 1) - 1;
    if (count > 0) return void this.pauses.set(typeUrl, count);
    this.pauses.delete(typeUrl);
    if (this.states.get(typeUrl)?.requestOwed === true && this.stream.ready) this.flushRequests();
  }

  /**
   * A DiscoveryRequest is owed for `state`'s type: an ACK, a NACK (with `error`), or an
   * ask. What is owed is state, not messages (Envoy's request queue holds type URLs): it
   * is built from the type's state when the stream can take it, one per type however
   * often it was asked for, so nothing is lost while the stream connects.
   */
  private queueRequest(state: ApiState, error: string | undefined): void {
    state.requestOwed = true;
    state.requestError = error;
    if (this.stream.ready && !this.pauses.has(state.typeUrl)) this.flushRequests();
    else this.stream.pendingRequests.set([...this.states.values()].filter((s) => s.requestOwed).length);
  }

  private flushRequests(): void {
    let limited = false;
    for (const state of this.states.values()) {
      if (!state.requestOwed || !this.stream.ready || this.pauses.has(state.typeUrl)) continue;
      if (!this.takeToken()) {
        limited = true;
        break;
      }
      const error = state.requestError;
      state.requestOwed = false;
      state.requestError = undefined;
      this.sendRequest(state, error);
    }
    this.stream.pendingRequests.set(limited ? [...this.states.values()].filter((s) => s.requestOwed).length : 0);
  }

  /**
   * Envoy's GrpcStream::checkRateLimitAllowsDrain: without rate_limit_settings always; else a
   * token, or control_plane.rate_limit_enforced counted and the drain timer armed for the next one.
   */
  private takeToken(): boolean {
    const bucket = this.requestBucket;
    if (bucket === undefined) return true;
    const now = this.server.runtime.now();
    if (bucket.consume(now)) return true;
    this.rateLimitEnforced!.inc();
    if (this.drainTimer === undefined && !this.stopped) {
      this.drainTimer = this.server.runtime.setTimeout(() => {
        this.drainTimer = undefined;
        if (!this.stopped) this.flushRequests();
      }, Math.max(1, Math.ceil(bucket.msUntilToken(now))));
    }
    return false;
  }

  private sendRequest(state: ApiState, error: string | undefined): void {
    const { names, wildcard } = wantedNames(state);
    const writer = new ProtoWriter().string(1, state.versionInfo);
    if (!this.nodeOnFirstMessageOnly || !this.firstRequestSent) writer.message(2, (node) => encodeNode(node, this.node));
    if (!wildcard) for (const name of [...names].sort()) writer.string(3, name);
    writer.string(4, state.typeUrl).string(5, state.nonce);
    if (error !== undefined) writer.message(6, (status) => status.uint(1, GrpcStatus.Internal).string(2, error));
    this.firstRequestSent = true;
    this.stream.send(writer.finish());
  }
}

/** RDS/EDS resources of two responses: the newer's, and the older's the newer does not name. */
function mergeByName(typeUrl: string, older: readonly Record<string, unknown>[], newer: readonly Record<string, unknown>[]): Record<string, unknown>[] {
  const names = new Set(newer.map((r) => resourceName(typeUrl, r)));
  return [...older.filter((r) => !names.has(resourceName(typeUrl, r))), ...newer];
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
