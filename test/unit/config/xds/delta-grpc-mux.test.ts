/**
 * delta-grpc-mux.ts's state machine on the memory runtime (its timers and random), as
 * Envoy's test/extensions/config_subscription/grpc/delta_subscription_state_test.cc
 * covers DeltaSubscriptionState: the first request (legacy wildcard for LDS/CDS, names
 * for RDS/EDS), subscribe/unsubscribe diffs, ACK/NACK by nonce, removed_resources,
 * per-resource versions, a new stream's initial_resource_versions, the back-off, and
 * resources nobody asked for. The gRPC call is xds-stream.ts's XdsCall seam: a fake
 * server side records the requests (decoded by protobufjs) and answers with responses
 * protobufjs encodes.
 */
import { describe, expect, test } from "vitest";
import type { GrpcServiceTarget } from "../../../../core/config/bootstrap.ts";
import { DELTA_ADS_METHOD, DeltaGrpcMux } from "../../../../core/config/xds/delta-grpc-mux.ts";
import type { RawDiscoveryResponse } from "../../../../core/config/xds/raw-discovery-response.ts";
import type { Watch } from "../../../../core/config/xds/subscription-types.ts";
import type { XdsCall } from "../../../../core/config/xds/xds-stream.ts";
import type { GrpcStreamCallbacks } from "../../../../core/http/grpc-async-stream.ts";
import { Logger } from "../../../../core/log.ts";
import type { ServerContext } from "../../../../core/server-context.ts";
import { StatsStore } from "../../../../core/stats/stats-store.ts";
import { MemoryRuntime } from "../../../../runtimes/memory/memory-runtime.ts";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, XdsControlPlane } from "../../../support/xds-control-plane.ts";

const plane = new XdsControlPlane();

interface DeltaRequest {
  node?: { id?: string };
  type_url?: string;
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  initial_resource_versions?: Record<string, string>;
  response_nonce?: string;
  error_detail?: { code?: number; message?: string };
}

/** The server side of one call: what the mux sent, and a way to answer or end it. */
class FakeCall implements XdsCall {
  readonly sent: DeltaRequest[] = [];
  method = "";
  reset_ = false;
  constructor(readonly callbacks: GrpcStreamCallbacks) {}
  start(_cluster: string, method: string): void {
    this.method = method;
  }
  sendMessage(message: Uint8Array): boolean {
    this.sent.push(plane.toObject("envoy.service.discovery.v3.DeltaDiscoveryRequest", message) as DeltaRequest);
    return true;
  }
  reset(): void {
    this.reset_ = true;
  }
  /** The requests of one type (in order). */
  of(typeUrl: string): DeltaRequest[] {
    return this.sent.filter((r) => r.type_url === typeUrl);
  }
  respond(typeUrl: string, nonce: string, resources: { name: string; version: string }[], removed: string[] = [], systemVersionInfo = nonce): void {
    const nameField = typeUrl === ENDPOINT ? "cluster_name" : "name";
    this.callbacks.onReceiveMessage(
      plane.encodeMessage("envoy.service.discovery.v3.DeltaDiscoveryResponse", {
        system_version_info: systemVersionInfo,
        type_url: typeUrl,
        nonce,
        removed_resources: removed,
        resources: resources.map((r) => ({ name: r.name, version: r.version, resource: plane.encodeAny({ "@type": typeUrl, [nameField]: r.name }) })),
      }),
    );
  }
}

/** One watch's updates (the names it was given each time); `refuse` makes the next ones throw (a NACK). */
class Recorder {
  readonly updates: { versionInfo: string; names: string[] }[] = [];
  readonly failures: string[] = [];
  refuse: string | undefined;
  readonly callbacks = {
    onConfigUpdate: async (response: RawDiscoveryResponse): Promise<void> => {
      if (this.refuse !== undefined) throw new Error(this.refuse);
      const names = response.resources.map((r) => String((r as Record<string, unknown>)["name"] ?? (r as Record<string, unknown>)["cluster_name"]));
      this.updates.push({ versionInfo: response.versionInfo, names: names.sort() });
    },
    onConfigUpdateFailed: (reason: string): void => {
      this.failures.push(reason);
    },
  };
}

function harness(nodeOnFirstMessageOnly = false) {
  const runtime = new MemoryRuntime({ seed: 1 });
  const server = { runtime, log: new Logger(runtime, "off"), stats: new StatsStore() } as unknown as ServerContext;
  const target: GrpcServiceTarget = { clusterName: "xds", authority: "", initialMetadata: [] };
  const calls: FakeCall[] = [];
  const mux = new DeltaGrpcMux(server, target, DELTA_ADS_METHOD, { id: "node-1", cluster: "c" } as never, nodeOnFirstMessageOnly, (callbacks) => {
    const call = new FakeCall(callbacks);
    calls.push(call);
    return call;
  });
  const call = (): FakeCall => calls[calls.length - 1]!;
  const watch = (typeUrl: string, names: string[]): { rec: Recorder; w: Watch } => {
    const rec = new Recorder();
    return { rec, w: mux.watch(typeUrl, names, rec.callbacks) };
  };
  return { runtime, server, mux, calls, call, watch };
}

/** Let the mux's promise chain (apply, then the ACK) run. */
async function settled(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}

describe("DeltaGrpcMux: the first requests", () => {
  test("LDS and CDS: the legacy wildcard (no names); RDS and EDS: their names; node on the first", () => {
    const h = harness();
    h.watch(LISTENER, []);
    expect(h.calls).toHaveLength(1);
    expect(h.call().method).toBe(DELTA_ADS_METHOD);
    h.watch(CLUSTER, []);
    h.watch(ROUTE, ["r2", "r1"]);
    h.watch(ENDPOINT, ["e1"]);
    expect(h.calls).toHaveLength(1);
    const [lds, cds, rds, eds] = h.call().sent;
    expect(lds).toMatchObject({ type_url: LISTENER, node: { id: "node-1" } });
    expect(lds!.resource_names_subscribe).toBeUndefined();
    expect(lds!.initial_resource_versions).toBeUndefined();
    expect(cds).toMatchObject({ type_url: CLUSTER });
    expect(cds!.resource_names_subscribe).toBeUndefined();
    expect(rds).toMatchObject({ type_url: ROUTE, resource_names_subscribe: ["r1", "r2"] });
    expect(eds).toMatchObject({ type_url: ENDPOINT, resource_names_subscribe: ["e1"] });
    expect(h.call().sent).toHaveLength(4);
  });

  test("set_node_on_first_message_only: the node on each stream's first request only", () => {
    const h = harness(true);
    h.watch(LISTENER, []);
    h.watch(CLUSTER, []);
    expect(h.call().sent.map((r) => r.node?.id)).toEqual(["node-1", undefined]);
    h.call().callbacks.onRemoteClose(14, "gone");
    h.runtime.advance(500);
    expect(h.call().sent.map((r) => r.node?.id)).toEqual(["node-1", undefined]);
    // Without it, every request carries the node.
    const all = harness();
    all.watch(LISTENER, []);
    all.watch(CLUSTER, []);
    expect(all.call().sent.map((r) => r.node?.id)).toEqual(["node-1", "node-1"]);
  });

  test("a wildcard watch added after named ones subscribes to '*'; removing it unsubscribes '*'", () => {
    const h = harness();
    h.watch(CLUSTER, ["c1"]);
    const { w } = h.watch(CLUSTER, []);
    expect(h.call().of(CLUSTER)[1]).toMatchObject({ resource_names_subscribe: ["*"] });
    w.remove();
    expect(h.call().of(CLUSTER)[2]).toMatchObject({ resource_names_unsubscribe: ["*"] });
    expect(h.call().of(CLUSTER)[2]!.resource_names_subscribe).toBeUndefined();
  });
});

describe("DeltaGrpcMux: subscription diffs", () => {
  test("a new name is subscribed alone; a name nobody watches any more is unsubscribed", () => {
    const h = harness();
    const a = h.watch(ROUTE, ["r1"]);
    h.watch(ROUTE, ["r1", "r2"]);
    const rds = h.call().of(ROUTE);
    expect(rds[1]).toMatchObject({ resource_names_subscribe: ["r2"] });
    expect(rds[1]!.resource_names_unsubscribe).toBeUndefined();
    // r1 is still watched by the second watch: no request.
    a.w.remove();
    expect(h.call().of(ROUTE)).toHaveLength(2);
    h.watch(ROUTE, ["r3"]).w.remove();
    const after = h.call().of(ROUTE);
    expect(after[2]).toMatchObject({ resource_names_subscribe: ["r3"] });
    expect(after[3]).toMatchObject({ resource_names_unsubscribe: ["r3"] });
    // Diffs carry no initial_resource_versions (only a stream's first request does).
    expect(after.slice(1).every((r) => r.initial_resource_versions === undefined)).toBe(true);
  });
});

describe("DeltaGrpcMux: responses", () => {
  test("an accepted response is handed to the watch and ACKed with its nonce (no error_detail)", async () => {
    const h = harness();
    const { rec } = h.watch(ROUTE, ["r1"]);
    h.call().respond(ROUTE, "n1", [{ name: "r1", version: "v1" }]);
    await settled();
    expect(rec.updates).toEqual([{ versionInfo: "n1", names: ["r1"] }]);
    const ack = h.call().of(ROUTE)[1]!;
    expect(ack.response_nonce).toBe("n1");
    expect(ack.error_detail).toBeUndefined();
    expect(ack.resource_names_subscribe).toBeUndefined();
  });

  test("a refused response is NACKed (nonce, code 13, message) and the accepted versions stay", async () => {
    const h = harness();
    const { rec } = h.watch(ROUTE, ["r1"]);
    h.call().respond(ROUTE, "n1", [{ name: "r1", version: "v1" }]);
    await settled();
    rec.refuse = "bad route";
    h.call().respond(ROUTE, "n2", [{ name: "r1", version: "v2" }]);
    await settled();
    expect(h.call().of(ROUTE)[2]).toMatchObject({ response_nonce: "n2", error_detail: { code: 13, message: "bad route" } });
    // The new stream says what is held: still v1.
    h.call().callbacks.onRemoteClose(14, "gone");
    h.runtime.advance(500);
    expect(h.calls).toHaveLength(2);
    expect(h.call().of(ROUTE)[0]).toMatchObject({ resource_names_subscribe: ["r1"], initial_resource_versions: { r1: "v1" } });
  });

  test("a response naming a resource twice, or adding and removing one, is NACKed whole", async () => {
    const h = harness();
    const { rec } = h.watch(LISTENER, []);
    h.call().respond(LISTENER, "n1", [{ name: "l1", version: "v1" }, { name: "l1", version: "v2" }]);
    await settled();
    expect(h.call().of(LISTENER)[1]).toMatchObject({ response_nonce: "n1", error_detail: { code: 13, message: "duplicate name l1 found among added/updated resources" } });
    h.call().respond(LISTENER, "n2", [{ name: "l2", version: "v1" }], ["l2"]);
    await settled();
    expect(h.call().of(LISTENER)[2]).toMatchObject({ response_nonce: "n2", error_detail: { code: 13, message: "duplicate name l2 found in the union of added+removed resources" } });
    expect(rec.updates).toEqual([]);
  });

  test("wildcard: removed_resources takes the listener out; the rest is handed on", async () => {
    const h = harness();
    const { rec } = h.watch(LISTENER, []);
    h.call().respond(LISTENER, "n1", [{ name: "l1", version: "v1" }, { name: "l2", version: "v1" }]);
    await settled();
    h.call().respond(LISTENER, "n2", [], ["l1"]);
    await settled();
    expect(rec.updates).toEqual([
      { versionInfo: "n1", names: ["l1", "l2"] },
      { versionInfo: "n2", names: ["l2"] },
    ]);
    expect(h.call().of(LISTENER)[2]).toMatchObject({ response_nonce: "n2" });
    // Removing a name not held changes nothing: no update, still an ACK.
    h.call().respond(LISTENER, "n3", [], ["nope"]);
    await settled();
    expect(rec.updates).toHaveLength(2);
    expect(h.call().of(LISTENER)[3]).toMatchObject({ response_nonce: "n3" });
    expect(h.call().of(LISTENER)[3]!.error_detail).toBeUndefined();
  });

  test("wildcard: an empty response is handed on as an empty update (Envoy's WatchMap notifies it), so init completes", async () => {
    const h = harness();
    const { rec } = h.watch(CLUSTER, []);
    h.call().respond(CLUSTER, "n1", []);
    await settled();
    expect(rec.updates).toEqual([{ versionInfo: "n1", names: [] }]);
    expect(h.call().of(CLUSTER)[1]).toMatchObject({ response_nonce: "n1" });
    // A named watch hears nothing of it.
    const named = h.watch(ROUTE, ["r1"]);
    h.call().respond(ROUTE, "n2", []);
    await settled();
    expect(named.rec.updates).toEqual([]);
  });

  test("per-resource versions: an update of one keeps the other's; a new stream sends both", async () => {
    const h = harness();
    h.watch(CLUSTER, []);
    h.call().respond(CLUSTER, "n1", [{ name: "a", version: "1" }, { name: "b", version: "1" }]);
    await settled();
    h.call().respond(CLUSTER, "n2", [{ name: "b", version: "2" }]);
    await settled();
    h.call().callbacks.onRemoteClose(14, "gone");
    h.runtime.advance(500);
    const first = h.call().of(CLUSTER)[0]!;
    // Only the wildcard is watched: the new stream's request is the legacy wildcard again, with what is held.
    expect(first.resource_names_subscribe).toBeUndefined();
    expect(first.initial_resource_versions).toEqual({ a: "1", b: "2" });
  });

  test("resources nobody subscribed to are not handed to a named watch (nor kept)", async () => {
    const h = harness();
    const { rec } = h.watch(ENDPOINT, ["e1"]);
    h.call().respond(ENDPOINT, "n1", [{ name: "other", version: "1" }]);
    await settled();
    expect(rec.updates).toEqual([]);
    expect(h.call().of(ENDPOINT)[1]).toMatchObject({ response_nonce: "n1" });
    h.call().respond(ENDPOINT, "n2", [{ name: "e1", version: "1" }, { name: "other2", version: "1" }]);
    await settled();
    expect(rec.updates).toEqual([{ versionInfo: "n2", names: ["e1"] }]);
    h.call().callbacks.onRemoteClose(14, "gone");
    h.runtime.advance(500);
    expect(h.call().of(ENDPOINT)[0]!.initial_resource_versions).toEqual({ e1: "1" });
  });

  test("a named watch keeps a resource the server removes (as Envoy's RDS and EDS), without its version on a new stream", async () => {
    const h = harness();
    const { rec } = h.watch(ROUTE, ["r1"]);
    h.call().respond(ROUTE, "n1", [{ name: "r1", version: "v1" }]);
    await settled();
    h.call().respond(ROUTE, "n2", [], ["r1"]);
    await settled();
    expect(rec.updates).toEqual([{ versionInfo: "n1", names: ["r1"] }]);
    expect(h.call().of(ROUTE)[2]).toMatchObject({ response_nonce: "n2" });
    // A new watch of it still gets the one in use.
    const again = h.watch(ROUTE, ["r1"]);
    await settled();
    expect(again.rec.updates).toEqual([{ versionInfo: "n2", names: ["r1"] }]);
    // A new stream subscribes to it with no version (Envoy's waitingForServer), so the server sends it if it exists.
    h.call().callbacks.onRemoteClose(14, "gone");
    h.runtime.advance(500);
    const first = h.call().of(ROUTE)[0]!;
    expect(first.resource_names_subscribe).toEqual(["r1"]);
    expect(first.initial_resource_versions).toBeUndefined();
    // Sent again: in use, with its version.
    h.call().respond(ROUTE, "n3", [{ name: "r1", version: "v3" }]);
    await settled();
    expect(rec.updates.at(-1)).toEqual({ versionInfo: "n3", names: ["r1"] });
    h.call().callbacks.onRemoteClose(14, "gone");
    h.runtime.advance(500);
    expect(h.call().of(ROUTE)[0]!.initial_resource_versions).toEqual({ r1: "v3" });
  });

  test("a second watch of a held name gets it at once, without asking the server", async () => {
    const h = harness();
    h.watch(ROUTE, ["r1"]);
    h.call().respond(ROUTE, "n1", [{ name: "r1", version: "v1" }]);
    await settled();
    const before = h.call().sent.length;
    const { rec } = h.watch(ROUTE, ["r1"]);
    await settled();
    expect(rec.updates).toEqual([{ versionInfo: "n1", names: ["r1"] }]);
    expect(h.call().sent).toHaveLength(before);
  });
});

describe("DeltaGrpcMux: a new stream", () => {
  test("named and wildcard together: every name again plus '*', with initial_resource_versions", async () => {
    const h = harness();
    h.watch(CLUSTER, ["c1"]);
    h.watch(CLUSTER, []);
    h.call().respond(CLUSTER, "n1", [{ name: "c1", version: "1" }, { name: "c2", version: "7" }]);
    await settled();
    h.call().callbacks.onRemoteClose(14, "gone");
    h.runtime.advance(500);
    const first = h.call().of(CLUSTER)[0]!;
    expect(first.resource_names_subscribe).toEqual(["*", "c1"]);
    expect(first.initial_resource_versions).toEqual({ c1: "1", c2: "7" });
    expect(first.response_nonce).toBeUndefined();
  });

  test("a response of the old stream applied after it ended is dropped (the new stream asks again)", async () => {
    const h = harness();
    const { rec } = h.watch(LISTENER, []);
    h.call().respond(LISTENER, "n1", [{ name: "l1", version: "v1" }]);
    // Ended before the queued apply runs.
    h.call().callbacks.onRemoteClose(14, "gone");
    await settled();
    expect(rec.updates).toEqual([]);
    expect(rec.failures).toEqual(["gone"]);
  });

  test("back-off: jittered from 500 ms doubling to 30 s, reset by a response; the port's timers and random", async () => {
    const h = harness();
    // random() just under 1: each wait is its interval - 1 ms (Envoy: random % interval).
    h.runtime.random = () => 1 - 1e-9;
    const { rec } = h.watch(LISTENER, []);
    const expectReopenAfter = (ms: number): void => {
      const n = h.calls.length;
      h.call().callbacks.onRemoteClose(14, "unavailable");
      h.runtime.advance(ms - 1);
      expect(h.calls).toHaveLength(n);
      h.runtime.advance(1);
      expect(h.calls).toHaveLength(n + 1);
      // The new stream asks for the type again.
      expect(h.call().of(LISTENER)).toHaveLength(1);
    };
    expectReopenAfter(499);
    expectReopenAfter(999);
    expectReopenAfter(1999);
    for (const ms of [3999, 7999, 15999, 29999, 29999]) expectReopenAfter(ms);
    // A response: the next failure waits from the base again.
    h.call().respond(LISTENER, "n1", [{ name: "l1", version: "v1" }]);
    await settled();
    expectReopenAfter(499);
    expect(rec.failures.length).toBe(9);
    // Stopped: no more streams.
    h.call().callbacks.onRemoteClose(14, "unavailable");
    h.mux.stop();
    h.runtime.advance(60_000);
    expect(h.calls).toHaveLength(10);
  });
});

describe("DeltaGrpcMux: CDS pauses EDS (audit-xds)", () => {
  test("EDS watches added and removed while a CDS update applies go out in one request, before the CDS ACK (Envoy's CdsApiHelper pauses EDS)", async () => {
    const h = harness();
    const eds = new Map<string, Watch>();
    // The CDS owner starts (and stops) its clusters' EDS watches while it applies, as the cluster manager does.
    h.mux.watch(CLUSTER, [], {
      onConfigUpdate: async (response) => {
        const names = response.resources.map((r) => String((r as Record<string, unknown>)["name"]));
        for (const [name, watch] of eds) if (!names.includes(name)) (watch.remove(), eds.delete(name));
        for (const name of names) {
          await Promise.resolve();
          if (!eds.has(name)) eds.set(name, h.mux.watch(ENDPOINT, [name], new Recorder().callbacks));
        }
      },
      onConfigUpdateFailed: () => {},
    });
    h.call().respond(CLUSTER, "n1", [{ name: "a", version: "1" }, { name: "b", version: "1" }, { name: "c", version: "1" }]);
    await settled();
    expect(h.call().sent.slice(1).map((r) => [r.type_url, r.resource_names_subscribe ?? [], r.response_nonce ?? ""])).toEqual([
      [ENDPOINT, ["a", "b", "c"], ""],
      [CLUSTER, [], "n1"],
    ]);
    h.call().respond(CLUSTER, "n2", [{ name: "a", version: "1" }, { name: "d", version: "1" }], ["b", "c"]);
    await settled();
    expect(h.call().sent.slice(3).map((r) => [r.type_url, r.resource_names_subscribe ?? [], r.resource_names_unsubscribe ?? [], r.response_nonce ?? ""])).toEqual([
      [ENDPOINT, ["d"], ["b", "c"], ""],
      [CLUSTER, [], [], "n2"],
    ]);
  });
});

describe("DeltaGrpcMux: a response refused before it reaches the watches (audit-xds)", () => {
  test("every watch of the type is told (Envoy's onConfigUpdateFailed(UpdateRejected)), so its subscription counts update_rejected and its initial fetch ends", async () => {
    const h = harness();
    const rejected: string[] = [];
    const callbacks = { onConfigUpdate: async () => {}, onConfigUpdateFailed: () => {}, onConfigUpdateRejected: (reason: string) => void rejected.push(reason) };
    h.mux.watch(ROUTE, ["r1"], callbacks);
    h.mux.watch(ROUTE, ["r2"], callbacks);
    h.call().respond(ROUTE, "n1", [{ name: "r1", version: "1" }, { name: "r1", version: "2" }]);
    await settled();
    expect(rejected).toEqual(["duplicate name r1 found among added/updated resources", "duplicate name r1 found among added/updated resources"]);
    expect(h.call().of(ROUTE).at(-1)).toMatchObject({ response_nonce: "n1", error_detail: { code: 13 } });
  });
});
