// polyvoy compare's reading of a config and of its command line (bench/lib/compare-*.mjs).
import { describe, expect, test } from "vitest";
import { planTargets, pointClustersAt } from "../../bench/lib/compare-config.mjs";
import { parseCompareArgs, parseDuration } from "../../bench/lib/compare-settings.mjs";

const HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager";

function bootstrap(routes: object[], domains = ["*"], chainExtra: object = {}, hcmExtra: object = {}) {
  return {
    static_resources: {
      listeners: [
        {
          name: "l",
          address: { socket_address: { address: "0.0.0.0", port_value: 8080 } },
          filter_chains: [{ ...chainExtra, filters: [{ name: "envoy.filters.network.http_connection_manager", typed_config: { "@type": HCM, ...hcmExtra, route_config: { virtual_hosts: [{ name: "v", domains, routes }] } } }] }],
        },
        { name: "tcp", address: { socket_address: { address: "127.0.0.1", port_value: 9000 } }, filter_chains: [{ filters: [{ name: "envoy.filters.network.tcp_proxy" }] }] },
      ],
      clusters: [{ name: "svc", type: "STRICT_DNS", connect_timeout: "0.25s", transport_socket: { name: "tls" }, load_assignment: { cluster_name: "svc", endpoints: [] } }],
    },
  };
}

describe("planTargets", () => {
  const direct = (path: string) => ({ match: { prefix: path }, direct_response: { status: 200 } });
  const routed = (path: string) => ({ match: { prefix: path }, route: { cluster: "svc" } });

  test("direct responses of HTTP listeners are the default targets (at most four); a tcp_proxy listener is not one", () => {
    const plan = planTargets(bootstrap([direct("/a"), routed("/api"), direct("/b"), direct("/c"), direct("/d"), direct("/e")], ["www.example.com", "*.example.com"]));
    expect(plan.listeners.map((l) => l.port)).toEqual([8080]);
    expect(plan.targets.map((t) => [t.id, t.path, t.host, t.source])).toEqual([
      ["t1", "/a", "www.example.com", "direct_response"],
      ["t2", "/b", "www.example.com", "direct_response"],
      ["t3", "/c", "www.example.com", "direct_response"],
      ["t4", "/d", "www.example.com", "direct_response"],
    ]);
    expect(plan.targets[0]!.listener.host).toBe("127.0.0.1"); // 0.0.0.0 is reached on loopback
    expect(plan.upstreamRoutes.map((r) => r.path)).toEqual(["/api"]);
  });

  test("routes to clusters become targets with the builtin origin; --target paths and --host are added", () => {
    const plan = planTargets(bootstrap([routed("/api"), { match: { prefix: "/h", headers: [{ name: "x" }] }, direct_response: { status: 200 } }], ["*.example.com"]), {
      withUpstreams: true,
      targets: ["/x"],
      host: "h.test",
    });
    expect(plan.targets.map((t) => [t.path, t.host, t.source])).toEqual([
      ["/api", "h.test", "route"],
      ["/x", "h.test", "target"],
    ]);
  });

  test("a wildcard domain gets a name it matches; TLS chains are measured over https", () => {
    const plan = planTargets(bootstrap([direct("/")], ["*.example.com"], { transport_socket: { name: "envoy.transport_sockets.tls" } }));
    expect(plan.targets[0]!.host).toBe("www.example.com");
    expect(plan.targets[0]!.listener.tls).toBe(true);
    expect(plan.targets[0]!.listener.http2).toBe(false);
    expect(planTargets(bootstrap([direct("/")], ["*"], {}, { codec_type: "http2" })).targets[0]!.listener.http2).toBe(true); // h2load, not wrk
  });
});

test("pointClustersAt keeps each cluster's name and connect timeout, and nothing of its upstream", () => {
  const doc = bootstrap([]);
  const pointed = pointClustersAt(doc, 4321);
  expect(pointed.static_resources.clusters).toEqual([
    {
      name: "svc",
      type: "STATIC",
      connect_timeout: "0.25s",
      load_assignment: { cluster_name: "svc", endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: "127.0.0.1", port_value: 4321 } } } }] }] },
    },
  ]);
  expect(doc.static_resources.clusters[0]!.type).toBe("STRICT_DNS"); // the user's config is not changed
  // --keep-cluster: a cluster the bench serves itself stays as written.
  expect(pointClustersAt(doc, 4321, ["svc"]).static_resources.clusters).toEqual(doc.static_resources.clusters);
});

test("pointClustersAt keeps a cluster's upstream HTTP filters (the user's filters), over plain HTTP/1.1", () => {
  const OPTIONS = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions";
  const filters = [{ name: "envoy.filters.http.header_mutation" }, { name: "envoy.filters.http.upstream_codec" }];
  const doc = bootstrap([]);
  const svc = doc.static_resources.clusters[0] as Record<string, unknown>;
  svc.typed_extension_protocol_options = { [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http2_protocol_options: {} }, http_filters: filters } };
  const [pointed] = pointClustersAt(doc, 4321).static_resources.clusters as Record<string, unknown>[];
  expect(pointed!.typed_extension_protocol_options).toEqual({ [OPTIONS]: { "@type": `type.googleapis.com/${OPTIONS}`, explicit_http_config: { http_protocol_options: {} }, http_filters: filters } });
});

describe("the command line", () => {
  test("durations", () => {
    expect([parseDuration("10s"), parseDuration("500ms"), parseDuration("1m"), parseDuration("2.5")]).toEqual([10, 0.5, 60, 2.5]);
    expect(parseDuration("ten")).toBeNaN();
  });

  test("defaults, --quick, and the options", () => {
    expect(parseCompareArgs(["-c", "e.yaml"])).toMatchObject({ config: "e.yaml", runtimes: ["node", "bun", "deno"], rounds: 3, seconds: 10, connections: 64, rate: null });
    expect(parseCompareArgs(["-c", "e.yaml", "--quick"])).toMatchObject({ rounds: 1, seconds: 3 });
    expect(parseCompareArgs(["-c", "e.yaml", "--runtimes", "bun,deno", "--target", "/a", "--target", "/b", "--duration", "2s", "--rate", "500", "--origin", "builtin"])).toMatchObject({
      runtimes: ["bun", "deno"],
      targets: ["/a", "/b"],
      seconds: 2,
      rate: 500,
      origin: "builtin",
    });
    expect(parseCompareArgs(["-c", "e.yaml"]).headers).toEqual([]);
    expect(parseCompareArgs(["-c", "e.yaml", "--header", "cookie: a=b; c=d", "--header", "x-empty:"]).headers).toEqual(["cookie: a=b; c=d", "x-empty:"]);
  });

  test("bad command lines say what is wrong, then the usage", () => {
    const error = (argv: string[]) => {
      try {
        parseCompareArgs(argv);
      } catch (e) {
        return (e as Error).message.split("\n")[0];
      }
      return "no error";
    };
    expect(error([])).toBe("-c FILE is required");
    expect(error(["-c", "e.yaml", "--connections", "0"])).toBe("--connections: connections must be a positive integer, not '0'");
    expect(error(["-c", "e.yaml", "--duration", "soon"])).toBe("--duration: 'soon' is not a duration (e.g. 10s, 500ms)");
    expect(error(["-c", "e.yaml", "--target", "api"])).toBe("--target: 'api' is not a path (it starts with /)");
    expect(error(["-c", "e.yaml", "--origin", "mine"])).toBe("--origin: only 'builtin' is known, not 'mine'");
    expect(error(["-c", "e.yaml", "--colour"])).toBe("unknown option '--colour'");
    expect(error(["-c", "e.yaml", "--header", "cookie"])).toBe("--header: 'cookie' is not 'name: value'");
    expect(error(["-c", "e.yaml", "--header", "bad name: v"])).toBe("--header: 'bad name: v' is not 'name: value'");
    // A line break would end the request's head early: refused, not sent.
    expect(() => parseCompareArgs(["-c", "e.yaml", "--header", "x: a\r\ny: b"])).toThrow(/^--header: 'x: a\r\ny: b' is not 'name: value'/);
  });
});
