/**
 * A real xDS management server for the tests: @grpc/grpc-js serving Envoy's own
 * AggregatedDiscoveryService and the per-type Listener/Cluster/Route/Endpoint/Secret/Runtime discovery
 * services (protos from @grpc/grpc-js-xds, loaded with @grpc/proto-loader), state of the
 * world and incremental (the Delta* methods: per-resource versions, subscribe/unsubscribe,
 * removed_resources, initial_resource_versions honoured on a new stream), and REST (a
 * node:http server answering POST /v3/discovery:<type> with a JSON DiscoveryResponse).
 * Snapshots are set per type (resources written as protobufjs objects with "@type";
 * durations as {seconds, nanos}) and pushed to every open stream that asked for the type;
 * REST snapshots are proto3 JSON, set apart. Every request is recorded, so a test sees
 * the ACKs and NACKs.
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { join } from "node:path";
import { envoyProtoDirs } from "./envoy-protos.ts";

export const LISTENER = "type.googleapis.com/envoy.config.listener.v3.Listener";
export const CLUSTER = "type.googleapis.com/envoy.config.cluster.v3.Cluster";
export const ROUTE = "type.googleapis.com/envoy.config.route.v3.RouteConfiguration";
export const ENDPOINT = "type.googleapis.com/envoy.config.endpoint.v3.ClusterLoadAssignment";
export const SECRET = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret";
export const RUNTIME = "type.googleapis.com/envoy.service.runtime.v3.Runtime";

/** A DiscoveryRequest as the server received it. */
export interface RecordedRequest {
  service: string;
  typeUrl: string;
  versionInfo: string;
  responseNonce: string;
  resourceNames: string[];
  errorDetail: { code: number; message: string } | undefined;
  nodeId: string;
  /** node.metadata as proto-loader reads a Struct ({fields: {key: {kind, <kind>: value}}}). */
  nodeMetadata: unknown;
  /** Delta only: resource_names_subscribe, _unsubscribe and initial_resource_versions. */
  subscribe?: string[];
  unsubscribe?: string[];
  initialResourceVersions?: Record<string, string>;
}

/** One delta stream's view of a type: what the client subscribed to, and what it has (name → version). */
interface DeltaTypeState {
  wildcard: boolean;
  names: Set<string>;
  known: Map<string, string>;
}

interface DeltaStreamState {
  stream: Stream;
  types: Map<string, DeltaTypeState>;
}

interface Snapshot {
  version: string;
  resources: { type_url: string; value: Buffer }[];
  names: string[];
}

type Stream = grpc.ServerDuplexStream<Record<string, unknown>, Record<string, unknown>>;

interface StreamState {
  stream: Stream;
  /** Per type: the names asked for last ([]: all), and the version last sent. */
  asked: Map<string, string[]>;
  sent: Map<string, string>;
}

const RESOURCE_PROTOS = [
  "envoy/config/listener/v3/listener.proto",
  "envoy/config/cluster/v3/cluster.proto",
  "envoy/config/route/v3/route.proto",
  "envoy/config/endpoint/v3/endpoint.proto",
  "envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto",
  "envoy/extensions/filters/http/router/v3/router.proto",
  "envoy/extensions/filters/http/lua/v3/lua.proto",
  "envoy/extensions/filters/http/header_mutation/v3/header_mutation.proto",
  "envoy/extensions/filters/http/upstream_codec/v3/upstream_codec.proto",
  "envoy/extensions/upstreams/http/v3/http_protocol_options.proto",
  "envoy/extensions/access_loggers/stream/v3/stream.proto",
  "envoy/extensions/access_loggers/file/v3/file.proto",
  "envoy/extensions/transport_sockets/tls/v3/secret.proto",
  "envoy/extensions/transport_sockets/tls/v3/tls.proto",
  "envoy/service/runtime/v3/rtds.proto",
  "envoy/service/discovery/v3/discovery.proto",
];

const SERVICE_PROTOS = [
  "envoy/service/discovery/v3/ads.proto",
  "envoy/service/listener/v3/lds.proto",
  "envoy/service/cluster/v3/cds.proto",
  "envoy/service/route/v3/rds.proto",
  "envoy/service/endpoint/v3/eds.proto",
  "envoy/service/secret/v3/sds.proto",
  "envoy/service/runtime/v3/rtds.proto",
];

export class XdsControlPlane {
  readonly requests: RecordedRequest[] = [];
  private readonly snapshots = new Map<string, Snapshot>();
  private readonly streams = new Set<StreamState>();
  private readonly deltaStreams = new Set<DeltaStreamState>();
  private readonly restSnapshots = new Map<string, { version: string; resources: Record<string, unknown>[] }>();
  private rest: http.Server | undefined;
  /** REST: answer every poll with this status instead (a test of update_failure). */
  restStatus = 200;
  private server: grpc.Server | undefined;
  private nonce = 0;
  port = 0;
  private readonly root: {
    lookupType(name: string): { fromObject(o: object): unknown; encode(m: unknown): { finish(): Uint8Array }; decode(b: Uint8Array): unknown; toObject(m: unknown, o: object): Record<string, unknown> };
  };
  private readonly services: grpc.GrpcObject;

  constructor() {
    const dirs = envoyProtoDirs();
    this.services = grpc.loadPackageDefinition(protoLoader.loadSync(SERVICE_PROTOS, { keepCase: true, longs: String, enums: String, defaults: false, oneofs: true, includeDirs: dirs }));
    // protobufjs (proto-loader's own) encodes the resources: its Any takes "@type" objects.
    const require = createRequire(createRequire(import.meta.url).resolve("@grpc/proto-loader"));
    const protobuf = require("protobufjs");
    const protobufDir = join(require.resolve("protobufjs/package.json"), "..");
    const root = new protobuf.Root();
    root.resolvePath = (_origin: string, target: string) => {
      for (const dir of [...dirs, protobufDir]) if (existsSync(join(dir, target))) return join(dir, target);
      return target;
    };
    root.loadSync(RESOURCE_PROTOS, { keepCase: true });
    root.resolveAll();
    this.root = root;
  }

  /** The resource's bytes as an Any (for a test that builds a response by hand). */
  encodeAny(resource: Record<string, unknown>): { type_url: string; value: Buffer } {
    const { "@type": typeUrl, ...fields } = resource;
    const name = String(typeUrl).slice(String(typeUrl).lastIndexOf("/") + 1);
    const type = this.root.lookupType(name);
    return { type_url: String(typeUrl), value: Buffer.from(type.encode(type.fromObject(fields)).finish()) };
  }

  /** `message` (a protobufjs object of the full message name `name`) as bytes. */
  encodeMessage(name: string, message: Record<string, unknown>): Uint8Array {
    const type = this.root.lookupType(name);
    return type.encode(type.fromObject(message)).finish();
  }

  /** `bytes` as protobufjs reads message `name` (enums by name, 64-bit as numbers, defaults left out). */
  toObject(name: string, bytes: Uint8Array): Record<string, unknown> {
    const type = this.root.lookupType(name);
    return JSON.parse(JSON.stringify(type.toObject(type.decode(bytes), { enums: String, longs: Number, defaults: false, json: true })));
  }

  /** Set `typeUrl`'s resources at `version` and push them to every stream that asked for the type. */
  setSnapshot(typeUrl: string, version: string, resources: Record<string, unknown>[]): void {
    const names = resources.map((r) => String(typeUrl === ENDPOINT ? r["cluster_name"] : r["name"]));
    this.snapshots.set(typeUrl, { version, resources: resources.map((r) => this.encodeAny({ "@type": typeUrl, ...r })), names });
    for (const state of this.streams) if (state.asked.has(typeUrl)) this.send(state, typeUrl);
    for (const state of this.deltaStreams) if (state.types.has(typeUrl)) this.sendDelta(state, typeUrl);
  }

  /** Set `typeUrl`'s REST answer: proto3 JSON resources (durations as "1s"), "@type" added here. */
  setRestSnapshot(typeUrl: string, version: string, resources: Record<string, unknown>[]): void {
    this.restSnapshots.set(typeUrl, { version, resources: resources.map((r) => ({ "@type": typeUrl, ...r })) });
  }

  /** Serve REST on a port of its own (node:http); returns it. */
  async startRest(): Promise<number> {
    const server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const kinds: Record<string, string> = { listeners: LISTENER, clusters: CLUSTER, routes: ROUTE, endpoints: ENDPOINT, secrets: SECRET, runtime: RUNTIME };
        const typeUrl = kinds[(req.url ?? "").replace("/v3/discovery:", "")];
        let request: Record<string, unknown>;
        try {
          request = JSON.parse(Buffer.concat(chunks).toString("utf8")) as Record<string, unknown>;
        } catch {
          request = {};
        }
        const error = request["errorDetail"] as { code?: number; message?: string } | undefined;
        this.requests.push({
          service: "rest",
          typeUrl: String(request["typeUrl"] ?? ""),
          versionInfo: String(request["versionInfo"] ?? ""),
          responseNonce: String(request["responseNonce"] ?? ""),
          resourceNames: (request["resourceNames"] as string[] | undefined) ?? [],
          errorDetail: error ? { code: error.code ?? 0, message: error.message ?? "" } : undefined,
          nodeId: String((request["node"] as { id?: string } | undefined)?.id ?? ""),
          nodeMetadata: (request["node"] as { metadata?: unknown } | undefined)?.metadata,
        });
        const snapshot = typeUrl === undefined || req.method !== "POST" || req.headers["content-type"] !== "application/json" ? undefined : this.restSnapshots.get(typeUrl);
        if (snapshot === undefined || this.restStatus !== 200) {
          res.writeHead(snapshot === undefined ? 404 : this.restStatus).end();
          return;
        }
        const names = (request["resourceNames"] as string[] | undefined) ?? [];
        const resources = names.length === 0 ? snapshot.resources : snapshot.resources.filter((r) => names.includes(String(typeUrl === ENDPOINT ? r["cluster_name"] : r["name"])));
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ versionInfo: snapshot.version, resources, typeUrl, nonce: String(++this.nonce) }));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    this.rest = server;
    return (server.address() as AddressInfo).port;
  }

  /** The requests of `typeUrl` so far. */
  requestsOf(typeUrl: string): RecordedRequest[] {
    return this.requests.filter((r) => r.typeUrl === typeUrl);
  }

  get openStreams(): number {
    return this.streams.size;
  }

  async start(port = 0): Promise<number> {
    const server = new grpc.Server();
    const discovery = (path: string[]) => path.reduce<any>((o, k) => o[k], this.services);
    const handler = (service: string) => (stream: Stream) => this.onStream(service, stream);
    const delta = (service: string) => (stream: Stream) => this.onDeltaStream(service, stream);
    server.addService(discovery(["envoy", "service", "discovery", "v3", "AggregatedDiscoveryService"]).service, { StreamAggregatedResources: handler("ads"), DeltaAggregatedResources: delta("delta-ads") });
    server.addService(discovery(["envoy", "service", "listener", "v3", "ListenerDiscoveryService"]).service, { StreamListeners: handler("lds"), DeltaListeners: delta("delta-lds"), FetchListeners: unimplemented });
    server.addService(discovery(["envoy", "service", "cluster", "v3", "ClusterDiscoveryService"]).service, { StreamClusters: handler("cds"), DeltaClusters: delta("delta-cds"), FetchClusters: unimplemented });
    server.addService(discovery(["envoy", "service", "route", "v3", "RouteDiscoveryService"]).service, { StreamRoutes: handler("rds"), DeltaRoutes: delta("delta-rds"), FetchRoutes: unimplemented });
    server.addService(discovery(["envoy", "service", "endpoint", "v3", "EndpointDiscoveryService"]).service, { StreamEndpoints: handler("eds"), DeltaEndpoints: delta("delta-eds"), FetchEndpoints: unimplemented });
    server.addService(discovery(["envoy", "service", "secret", "v3", "SecretDiscoveryService"]).service, { StreamSecrets: handler("sds"), DeltaSecrets: delta("delta-sds"), FetchSecrets: unimplemented });
    server.addService(discovery(["envoy", "service", "runtime", "v3", "RuntimeDiscoveryService"]).service, { StreamRuntime: handler("rtds"), DeltaRuntime: delta("delta-rtds"), FetchRuntime: unimplemented });
    this.port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    this.server = server;
    return this.port;
  }

  /** Close every stream and stop serving (a restart is start(port) again). */
  async stop(): Promise<void> {
    for (const state of this.streams) state.stream.destroy();
    this.streams.clear();
    for (const state of this.deltaStreams) state.stream.destroy();
    this.deltaStreams.clear();
    this.rest?.close();
    this.rest?.closeAllConnections();
    this.rest = undefined;
    const server = this.server;
    this.server = undefined;
    server?.forceShutdown();
  }

  private onStream(service: string, stream: Stream): void {
    const state: StreamState = { stream, asked: new Map(), sent: new Map() };
    this.streams.add(state);
    stream.on("data", (request: Record<string, unknown>) => {
      const typeUrl = String(request["type_url"] ?? "");
      const error = request["error_detail"] as { code?: number; message?: string } | undefined;
      const names = (request["resource_names"] as string[] | undefined) ?? [];
      this.requests.push({
        service,
        typeUrl,
        versionInfo: String(request["version_info"] ?? ""),
        responseNonce: String(request["response_nonce"] ?? ""),
        resourceNames: names,
        errorDetail: error ? { code: error.code ?? 0, message: error.message ?? "" } : undefined,
        nodeId: String((request["node"] as { id?: string } | undefined)?.id ?? ""),
        nodeMetadata: (request["node"] as { metadata?: unknown } | undefined)?.metadata,
      });
      const before = state.asked.get(typeUrl);
      state.asked.set(typeUrl, names);
      // The first ask, or new names: send what there is; an ACK or a NACK needs no answer.
      if (before === undefined || before.join() !== names.join()) {
        state.sent.delete(typeUrl);
        this.send(state, typeUrl);
      }
    });
    const end = () => this.streams.delete(state);
    stream.on("end", () => {
      end();
      stream.end();
    });
    stream.on("error", end);
    stream.on("close", end);
  }

  private onDeltaStream(service: string, stream: Stream): void {
    const state: DeltaStreamState = { stream, types: new Map() };
    this.deltaStreams.add(state);
    stream.on("data", (request: Record<string, unknown>) => {
      const typeUrl = String(request["type_url"] ?? "");
      const error = request["error_detail"] as { code?: number; message?: string } | undefined;
      const subscribe = (request["resource_names_subscribe"] as string[] | undefined) ?? [];
      const unsubscribe = (request["resource_names_unsubscribe"] as string[] | undefined) ?? [];
      const initial = (request["initial_resource_versions"] as Record<string, string> | undefined) ?? {};
      this.requests.push({
        service,
        typeUrl,
        versionInfo: "",
        responseNonce: String(request["response_nonce"] ?? ""),
        resourceNames: subscribe,
        errorDetail: error ? { code: error.code ?? 0, message: error.message ?? "" } : undefined,
        nodeId: String((request["node"] as { id?: string } | undefined)?.id ?? ""),
        nodeMetadata: (request["node"] as { metadata?: unknown } | undefined)?.metadata,
        subscribe,
        unsubscribe,
        initialResourceVersions: { ...initial },
      });
      let type = state.types.get(typeUrl);
      if (type === undefined) {
        // The first request of a type: no names is the legacy wildcard; what the client has needs no resend.
        type = { wildcard: subscribe.length === 0, names: new Set(), known: new Map(Object.entries(initial)) };
        state.types.set(typeUrl, type);
      }
      for (const name of subscribe) {
        if (name === "*") type.wildcard = true;
        else type.names.add(name);
      }
      for (const name of unsubscribe) {
        if (name === "*") type.wildcard = false;
        else type.names.delete(name);
        type.known.delete(name);
      }
      // An ACK or a NACK alone needs no answer; a new subscription does.
      if (subscribe.length > 0 || unsubscribe.length > 0 || String(request["response_nonce"] ?? "") === "") this.sendDelta(state, typeUrl);
    });
    const end = () => this.deltaStreams.delete(state);
    stream.on("end", () => {
      end();
      stream.end();
    });
    stream.on("error", end);
    stream.on("close", end);
  }

  /** What changed for `typeUrl` since the client's last view: resources of a new version, and names gone. */
  private sendDelta(state: DeltaStreamState, typeUrl: string): void {
    const snapshot = this.snapshots.get(typeUrl);
    const type = state.types.get(typeUrl);
    if (snapshot === undefined || type === undefined) return;
    const resources: { name: string; version: string; resource: { type_url: string; value: Buffer } }[] = [];
    const present = new Set<string>();
    snapshot.resources.forEach((resource, i) => {
      const name = snapshot.names[i]!;
      if (!type.wildcard && !type.names.has(name)) return;
      present.add(name);
      const version = createHash("sha256").update(resource.value).digest("hex").slice(0, 16);
      if (type.known.get(name) === version) return;
      type.known.set(name, version);
      resources.push({ name, version, resource });
    });
    const removed = [...type.known.keys()].filter((name) => !present.has(name));
    for (const name of removed) type.known.delete(name);
    if (resources.length === 0 && removed.length === 0) return;
    state.stream.write({ system_version_info: snapshot.version, resources, type_url: typeUrl, removed_resources: removed, nonce: String(++this.nonce) });
  }

  private send(state: StreamState, typeUrl: string): void {
    const snapshot = this.snapshots.get(typeUrl);
    if (snapshot === undefined || state.sent.get(typeUrl) === snapshot.version) return;
    const names = state.asked.get(typeUrl) ?? [];
    const resources = names.length === 0 ? snapshot.resources : snapshot.resources.filter((_r, i) => names.includes(snapshot.names[i]!));
    state.sent.set(typeUrl, snapshot.version);
    state.stream.write({ version_info: snapshot.version, resources, type_url: typeUrl, nonce: String(++this.nonce) });
  }
}

function unimplemented(_call: unknown, callback: grpc.sendUnaryData<unknown>): void {
  callback({ code: grpc.status.UNIMPLEMENTED, details: "state of the world streams only" });
}
