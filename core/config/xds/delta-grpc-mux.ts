/**
 * Envoy's NewGrpcMuxImpl with DeltaSubscriptionState (source/extensions/
 * config_subscription/grpc/new_grpc_mux_impl.cc, delta_subscription_state.cc): incremental
 * xDS (the xDS protocol's "Incremental xDS") over one gRPC stream — ADS's
 * DeltaAggregatedResources or a type's own Delta* method.
 *
 * Per type it keeps what the watches want (names, or the wildcard: LDS and CDS), the
 * resources accepted with their versions, and the names to subscribe and unsubscribe
 * on the next DeltaDiscoveryRequest. A DeltaDiscoveryResponse adds or replaces resources
 * and removes names; the result is handed to the watches as the whole set they watch —
 * the same updates as state of the world, so the owners apply it through the same
 * add/update/remove paths — and answered with an ACK (the nonce) when all took it, or a
 * NACK (the nonce, error_detail with code INTERNAL) while the accepted set and versions
 * stay as they were. A named watch (RDS, EDS) hears only of responses that add one of its
 * names; a removal of a named resource is logged and the resource kept, as Envoy's RDS
 * and EDS do (rds_impl.cc: "Server sent a delta RDS update attempting to remove a
 * resource"). A new stream (after the back-off of xds-stream.ts) subscribes to every
 * name again and sends initial_resource_versions: what it has, so the server sends only
 * what changed.
 */
import type { NodeConfig } from "../bootstrap.ts";
import type { GrpcServiceTarget } from "../bootstrap.ts";
import { GrpcStatus } from "../../http/grpc-common.ts";
import type { ServerContext } from "../../server-context.ts";
import { ProtoReader, ProtoWriter } from "../../util/protobuf-wire.ts";
import { utf8Decode } from "../../util/utf8.ts";
import { encodeNode } from "./discovery-node.ts";
import { anyToJson } from "./proto-to-json.ts";
import type { RawDiscoveryResponse } from "./raw-discovery-response.ts";
import type { GrpcMuxLike, Watch, WatchCallbacks } from "./subscription-types.ts";
import { EDS_TYPE, MuxWatch, queueHeldUpdate, resourceName, wantedNames, type WatchedType } from "./mux-watch.ts";
import { type OpenXdsCall, XdsStream } from "./xds-stream.ts";

export const DELTA_ADS_METHOD = "/envoy.service.discovery.v3.AggregatedDiscoveryService/DeltaAggregatedResources";

/** Each type's own incremental method (envoy/service/<x>/v3/<x>ds.proto). */
export const DELTA_TYPE_METHODS: Readonly<Record<string, string>> = {
  "type.googleapis.com/envoy.config.listener.v3.Listener": "/envoy.service.listener.v3.ListenerDiscoveryService/DeltaListeners",
  "type.googleapis.com/envoy.config.cluster.v3.Cluster": "/envoy.service.cluster.v3.ClusterDiscoveryService/DeltaClusters",
  "type.googleapis.com/envoy.config.route.v3.RouteConfiguration": "/envoy.service.route.v3.RouteDiscoveryService/DeltaRoutes",
  "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment": "/envoy.service.endpoint.v3.EndpointDiscoveryService/DeltaEndpoints",
  "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret": "/envoy.service.secret.v3.SecretDiscoveryService/DeltaSecrets",
  "type.googleapis.com/envoy.service.runtime.v3.Runtime": "/envoy.service.runtime.v3.RuntimeDiscoveryService/DeltaRuntime",
};

const CDS_TYPE = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
const LDS_TYPE = "type.googleapis.com/envoy.config.listener.v3.Listener";
const RDS_TYPE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
/**
 * The type whose subscription changes wait while an update of the key type applies: the
 * EDS (RDS) names a CDS (LDS) update's clusters (listeners) watch or stop watching go out
 * in one request, before that update's ACK (Envoy's CdsApiHelper and LdsApiImpl pause
 * EDS and RDS on the ADS mux; NewGrpcMuxImpl holds the paused type's requests).
 */
const PAUSED_DURING: Readonly<Record<string, string>> = { [CDS_TYPE]: EDS_TYPE, [LDS_TYPE]: RDS_TYPE };

/** Responses waiting to be applied: more means the server outpaces us badly; the stream is restarted. */
const MAX_QUEUED_RESPONSES = 64;
/** The bytes of received responses waiting to be applied, at most (each holds its whole message). */
const MAX_QUEUED_BYTES = 128 * 1024 * 1024;
/** The most names one type may track (subscribed or received); a bound is ours. */
const MAX_RESOURCES_PER_TYPE = 100_000;

/** One accepted resource: its version (as the server gave it) and its JSON. */
interface HeldResource {
  readonly version: string;
  readonly resource: Record<string, unknown>;
  /**
   * The server removed it while a named watch kept it in use: it has no version worth
   * telling a new stream (Envoy's ResourceState::waitingForServer), which then sends it
   * again if it exists.
   */
  readonly removedByServer?: true;
}

/** A type's watches, version and update queue (mux-watch.ts), and what the incremental protocol adds. */
interface TypeState extends WatchedType {
  /** The accepted resources by name. */
  resources: Map<string, HeldResource>;
  /** Names the server has been asked for on this stream (what the watches named). */
  readonly subscribed: Set<string>;
  /** The wildcard was asked for on this stream. */
  wildcard: boolean;
  /** A request of this type was sent on this stream (the first carries initial_resource_versions). */
  requested: boolean;
}

/** What a DeltaDiscoveryResponse carries (envoy.service.discovery.v3). */
export interface DecodedDeltaResponse {
  systemVersionInfo: string;
  resources: DecodedDeltaResource[];
  typeUrl: string;
  removedResources: string[];
  nonce: string;
}

export interface DecodedDeltaResource {
  name: string;
  version: string;
  /** The Any's bytes; undefined for a resource without one (a TTL heartbeat). */
  resource: Uint8Array | undefined;
}

export class DeltaGrpcMux implements GrpcMuxLike {
  private readonly states = new Map<string, TypeState>();
  private readonly stream: XdsStream;
  private queued = 0;
  private queuedBytes = 0;
  private firstRequestSent = false;
  /** Types whose subscription changes wait, with how many pauses hold each (Envoy's pause). */
  private readonly pauses = new Map<string, number>();

  constructor(
    private readonly server: ServerContext,
    target: GrpcServiceTarget,
    method: string,
    private readonly node: NodeConfig | undefined,
    private readonly nodeOnFirstMessageOnly: boolean,
    openCall?: OpenXdsCall,
  ) {
    this.stream = new XdsStream(server, target, method, {
      onStreamEstablished: () => this.onStreamEstablished(),
      onMessage: (message) => this.onMessage(message),
      onStreamClosed: (reason) => {
        for (const state of this.states.values()) for (const watch of state.watches) watch.callbacks.onConfigUpdateFailed(reason);
      },
    }, openCall);
  }

  watch(typeUrl: string, resourceNames: readonly string[], callbacks: WatchCallbacks): Watch {
    let state = this.states.get(typeUrl);
    if (state === undefined) {
      state = { typeUrl, watches: new Set(), resources: new Map(), versionInfo: "", subscribed: new Set(), wildcard: false, requested: false, queue: Promise.resolve() };
      this.states.set(typeUrl, state);
    }
    const watch = new MuxWatch(this, state, resourceNames, callbacks);
    state.watches.add(watch);
    queueHeldUpdate(watch, (name) => state.resources.get(name)?.resource);
    if (!this.stream.open) this.stream.ensureOpen();
    else this.sendRequest(state, undefined);
    return watch;
  }

  /** @internal */
  removeWatch(watch: MuxWatch<TypeState>): void {
    const state = watch.state;
    if (!state.watches.delete(watch)) return;
    // Names nobody watches now are unsubscribed and forgotten (not in a reconnect's initial_resource_versions).
    const wanted = wantedNames(state);
    for (const name of state.resources.keys()) if (!wanted.wildcard && !wanted.names.has(name)) state.resources.delete(name);
    if (this.stream.open) this.sendRequest(state, undefined);
  }

  stop(): void {
    this.stream.stop();
  }

  private onStreamEstablished(): void {
    this.firstRequestSent = false;
    // A new stream knows nothing of the last one's subscriptions: ask for everything again.
    for (const state of this.states.values()) {
      state.subscribed.clear();
      state.wildcard = false;
      state.requested = false;
      this.sendRequest(state, undefined);
    }
  }

  private onMessage(message: Uint8Array): void {
    const generation = this.stream.generation;
    if (this.queued >= MAX_QUEUED_RESPONSES || this.queuedBytes + message.byteLength > MAX_QUEUED_BYTES) {
      this.server.log.warn(`xds: ${this.queued} delta responses (${this.queuedBytes} bytes) wait to be applied: restarting the stream`);
      this.stream.fail(GrpcStatus.ResourceExhausted, "too many responses queued");
      return;
    }
    let response: DecodedDeltaResponse;
    try {
      response = decodeDeltaDiscoveryResponse(message);
    } catch (err) {
      // Not a DeltaDiscoveryResponse: Envoy closes the stream (the codec fails); so do we.
      this.server.log.warn(`xds: a DeltaDiscoveryResponse that cannot be decoded: ${err instanceof Error ? err.message : String(err)}`);
      this.stream.fail(GrpcStatus.Internal, "DeltaDiscoveryResponse decode error");
      return;
    }
    const state = this.states.get(response.typeUrl);
    if (state === undefined) {
      this.server.log.debug(`xds: a delta response for ${response.typeUrl}, which nothing watches`);
      return;
    }
    this.queued++;
    this.queuedBytes += message.byteLength;
    state.queue = state.queue
      .then(() => this.apply(generation, state, response))
      .catch((err: unknown) => {
        // Outside apply's own error handling (a request that could not be written): the
        // stream restarts rather than leave this type's queue rejected for good.
        this.server.log.warn(`xds: applying a delta ${response.typeUrl} response failed: ${err instanceof Error ? err.message : String(err)}`);
        if (this.stream.generation === generation) this.stream.fail(GrpcStatus.Internal, "delta response apply error");
      })
      .finally(() => {
        this.queued--;
        this.queuedBytes -= message.byteLength;
      });
  }

  /** One DeltaDiscoveryResponse: merge, hand to the watches, ACK or NACK. */
  private async apply(generation: object | undefined, state: TypeState, response: DecodedDeltaResponse): Promise<void> {
    // A response of a stream that has ended since is dropped: the new stream asks again.
    if (this.stream.generation !== generation) return;
    let error: string | undefined;
    let handedOn = false;
    const next = new Map(state.resources);
    const added = new Set<string>();
    const paused = PAUSED_DURING[state.typeUrl];
    if (paused !== undefined) this.pauses.set(paused, (this.pauses.get(paused) ?? 0) + 1);
    try {
      checkNames(response);
      for (const entry of response.resources) {
        // A resource without its Any is a heartbeat for its TTL (polyvoy keeps no TTL): nothing changes.
        if (entry.resource === undefined) continue;
        const resource = anyToJson(entry.resource);
        if (resource["@type"] !== response.typeUrl) throw new Error(`${response.typeUrl} does not match the message-wide type URL ${String(resource["@type"])} in DeltaDiscoveryResponse`);
        const inner = resourceName(response.typeUrl, resource);
        if (inner !== entry.name) throw new Error(`resource name '${entry.name}' does not match the resource's own name '${inner}'`);
        next.set(entry.name, { version: entry.version, resource });
        added.add(entry.name);
      }
      const removed = new Set<string>();
      // Named EDS resources the server says it does not have: the cluster is told (an empty
      // update: Envoy's EdsClusterImpl counts update_empty and ends its warming).
      const absent = new Set<string>();
      for (const name of response.removedResources) {
        if (!next.has(name)) {
          if (!state.wildcard && response.typeUrl === EDS_TYPE) absent.add(name);
          continue;
        }
        if (state.wildcard) {
          next.delete(name);
          removed.add(name);
        } else {
          this.server.log.warn(`xds: the server removed ${response.typeUrl} '${name}' by delta: it stays in use (a named resource is kept, as Envoy's RDS and EDS do)`);
          const held = next.get(name)!;
          next.set(name, { version: held.version, resource: held.resource, removedByServer: true });
        }
      }
      if (next.size > MAX_RESOURCES_PER_TYPE) throw new Error(`more than ${MAX_RESOURCES_PER_TYPE} ${response.typeUrl} resources`);
      handedOn = true;
      for (const watch of [...state.watches]) {
        // A watch removed while an earlier one applied gets nothing more.
        if (!state.watches.has(watch)) continue;
        const wildcard = watch.names.length === 0;
        if (!wildcard && !watch.names.some((name) => added.has(name) || absent.has(name))) continue;
        // A wildcard watch hears of a change, and of a response that changes nothing at all
        // (no resources, no removals: Envoy's WatchMap "notify empty update"), so a server with
        // no listeners or clusters still completes LDS/CDS init, as in Envoy (watch_map.cc).
        const empty = added.size === 0 && response.removedResources.length === 0;
        if (wildcard && added.size === 0 && removed.size === 0 && !empty) continue;
        const mine = wildcard ? [...next.values()].map((held) => held.resource) : watch.names.flatMap((name) => next.get(name)?.resource ?? []);
        const update: RawDiscoveryResponse = { versionInfo: response.systemVersionInfo, resources: mine };
        try {
          await watch.callbacks.onConfigUpdate(update);
        } catch (err) {
          error ??= err instanceof Error ? err.message : String(err);
        }
      }
    } catch (err) {
      error = err instanceof Error ? err.message : String(err);
    }
    // Refused before any watch saw it: each is told, and counts it (Envoy's onConfigUpdateFailed(UpdateRejected)).
    if (error !== undefined && !handedOn) for (const watch of [...state.watches]) watch.callbacks.onConfigUpdateRejected?.(error);
    if (error === undefined) {
      // Only what is watched now is kept: a name unsubscribed while this applied, or one the
      // server sent unasked, must not reappear in a reconnect's initial_resource_versions.
      const wanted = wantedNames(state);
      if (!wanted.wildcard) for (const name of next.keys()) if (!wanted.names.has(name)) next.delete(name);
      state.resources = next;
      state.versionInfo = response.systemVersionInfo;
    }
    // The paused type's subscription changes first, then this response's ACK or NACK.
    if (paused !== undefined) this.resume(paused);
    if (this.stream.generation === generation) this.sendRequest(state, error, response.nonce);
  }

  private resume(typeUrl: string): void {
    const count = (this.pauses.get(typeUrl) ?? 1) - 1;
    if (count > 0) return void this.pauses.set(typeUrl, count);
    this.pauses.delete(typeUrl);
    const state = this.states.get(typeUrl);
    if (state !== undefined) this.sendRequest(state, undefined);
  }

  /**
   * A DeltaDiscoveryRequest for `state`'s type: the names to subscribe and unsubscribe
   * since the last one, with the nonce of the response it answers (ACK, or NACK with
   * `error`). The stream's first for the type carries initial_resource_versions.
   */
  private sendRequest(state: TypeState, error: string | undefined, nonce = ""): void {
    if (!this.stream.open) return;
    // A subscription change of a paused type waits for resume(), which sends what is owed then.
    if (nonce === "" && this.pauses.has(state.typeUrl)) return;
    const initial = !state.requested;
    const wanted = wantedNames(state);
    // Nothing watched on a new stream: say nothing (a first request without names would be the wildcard).
    if (initial && !wanted.wildcard && wanted.names.size === 0) return;
    const subscribe: string[] = [];
    const unsubscribe: string[] = [];
    for (const name of wanted.names) if (!state.subscribed.has(name)) subscribe.push(name);
    for (const name of state.subscribed) if (!wanted.names.has(name)) unsubscribe.push(name);
    // The wildcard: implicit on a type's first request with no names (the legacy wildcard), else "*" (the protocol's explicit one).
    if (wanted.wildcard && !state.wildcard && !(initial && wanted.names.size === 0)) subscribe.push("*");
    if (!wanted.wildcard && state.wildcard) unsubscribe.push("*");
    if (!initial && nonce === "" && subscribe.length === 0 && unsubscribe.length === 0) return;
    state.subscribed.clear();
    for (const name of wanted.names) state.subscribed.add(name);
    state.wildcard = wanted.wildcard;
    state.requested = true;
    const writer = new ProtoWriter();
    if (!this.nodeOnFirstMessageOnly || !this.firstRequestSent) writer.message(1, (node) => encodeNode(node, this.node));
    writer.string(2, state.typeUrl);
    for (const name of subscribe.sort()) writer.string(3, name);
    for (const name of unsubscribe.sort()) writer.string(4, name);
    if (initial) for (const [name, held] of [...state.resources].filter(([, held]) => held.removedByServer !== true).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) writer.mapEntry(5, name, held.version);
    writer.string(6, nonce);
    if (error !== undefined) writer.message(7, (status) => status.uint(1, GrpcStatus.Internal).string(2, error));
    this.firstRequestSent = true;
    this.stream.send(writer.finish());
  }
}

/** delta_subscription_state.cc's checks: a name added twice, or added and removed in one response. */
function checkNames(response: DecodedDeltaResponse): void {
  const seen = new Set<string>();
  for (const { name } of response.resources) {
    if (seen.has(name)) throw new Error(`duplicate name ${name} found among added/updated resources`);
    seen.add(name);
  }
  for (const name of response.removedResources) {
    if (seen.has(name)) throw new Error(`duplicate name ${name} found in the union of added+removed resources`);
  }
}

/**
 * envoy.service.discovery.v3.DeltaDiscoveryResponse: system_version_info 1, resources 2
 * (Resource: version 1, resource 2 (Any), name 3, aliases 4, ttl 6, cache_control 7,
 * resource_name 8, metadata 9), type_url 4, nonce 5, removed_resources 6, control_plane 7,
 * removed_resource_names 8. Throws ProtoDecodeError on malformed bytes.
 */
export function decodeDeltaDiscoveryResponse(bytes: Uint8Array): DecodedDeltaResponse {
  const out: DecodedDeltaResponse = { systemVersionInfo: "", resources: [], typeUrl: "", removedResources: [], nonce: "" };
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    switch (reader.field) {
      case 1:
        out.systemVersionInfo = utf8Decode(reader.lengthDelimited());
        break;
      case 2:
        out.resources.push(decodeResource(reader.lengthDelimited()));
        break;
      case 4:
        out.typeUrl = utf8Decode(reader.lengthDelimited());
        break;
      case 5:
        out.nonce = utf8Decode(reader.lengthDelimited());
        break;
      case 6:
        out.removedResources.push(utf8Decode(reader.lengthDelimited()));
        break;
      default:
        reader.skip();
    }
  }
  return out;
}

function decodeResource(bytes: Uint8Array): DecodedDeltaResource {
  const out: DecodedDeltaResource = { name: "", version: "", resource: undefined };
  const reader = new ProtoReader(bytes);
  while (reader.next()) {
    switch (reader.field) {
      case 1:
        out.version = utf8Decode(reader.lengthDelimited());
        break;
      case 2:
        out.resource = reader.lengthDelimited();
        break;
      case 3:
        out.name = utf8Decode(reader.lengthDelimited());
        break;
      default:
        reader.skip();
    }
  }
  return out;
}
