/**
 * The setups the management-server e2e tests share (xds-grpc, xds-delta): polyvoy taking
 * LDS and CDS (and through them RDS and EDS) over ADS from test/support's control plane,
 * with two named upstreams and a first snapshot (cluster "backend" by EDS on upstream "a",
 * listener "dyn" whose route "dyn_route" answers /direct with "v1"); clients that keep
 * sending while the server pushes changes; a GET as "status body".
 */
import { freePort } from "./net-helpers.ts";
import { ProxyProcess, type RuntimeName } from "./proxy-process.ts";
import { CLUSTER, ENDPOINT, LISTENER, ROUTE, XdsControlPlane } from "./xds-control-plane.ts";
import { edsCluster, endpoints, listener, namedUpstream, route, xdsCluster } from "./xds-resources.ts";

/** A GET as "status body". */
export async function getText(port: number, path: string): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`);
  return `${response.status} ${await response.text()}`;
}

/** The ADS config source every resource of the setup names. */
export const ADS_SOURCE = { ads: {}, resource_api_version: "V3" };

export interface AdsSetup {
  readonly proxy: ProxyProcess;
  readonly controlPlane: XdsControlPlane;
  /** The listener "dyn"'s port, a free one for a second listener, the admin's. */
  readonly port: number;
  readonly port2: number;
  readonly adminPort: number;
  /** Upstreams answering "a" and "b". */
  readonly upstreams: readonly { port: number; close: () => void }[];
  stop(): Promise<void>;
}

/** The control plane with the first snapshot, and polyvoy on `runtime` taking LDS and CDS over ADS (`apiType` GRPC or DELTA_GRPC). */
export async function startAdsSetup(runtime: RuntimeName, apiType: "GRPC" | "DELTA_GRPC", node: object): Promise<AdsSetup> {
  const [port, port2, adminPort] = [await freePort(), await freePort(), await freePort()];
  const upstreams = [await namedUpstream("a"), await namedUpstream("b")];
  const controlPlane = new XdsControlPlane();
  const cpPort = await controlPlane.start();
  controlPlane.setSnapshot(CLUSTER, "c1", [edsCluster("backend", ADS_SOURCE)]);
  controlPlane.setSnapshot(ENDPOINT, "e1", [endpoints("backend", upstreams[0]!.port)]);
  controlPlane.setSnapshot(LISTENER, "l1", [listener("dyn", port, "dyn", "dyn_route", ADS_SOURCE)]);
  controlPlane.setSnapshot(ROUTE, "r1", [route("dyn_route", "v1")]);
  let proxy: ProxyProcess | undefined;
  const stop = async () => {
    await proxy?.stop();
    await controlPlane.stop();
    for (const upstream of upstreams) upstream.close();
  };
  try {
    proxy = await ProxyProcess.start(
      runtime,
      {
        node,
        admin: { address: { socket_address: { address: "127.0.0.1", port_value: adminPort } } },
        dynamic_resources: {
          ads_config: { api_type: apiType, transport_api_version: "V3", grpc_services: [{ envoy_grpc: { cluster_name: "xds_cluster" } }] },
          cds_config: ADS_SOURCE,
          lds_config: ADS_SOURCE,
        },
        static_resources: { clusters: [xdsCluster(cpPort)] },
      },
      2,
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { proxy, controlPlane, port, port2, adminPort, upstreams, stop };
}

/** Clients that keep sending GETs, each to a port and path, every answer one of those allowed. */
export function constantLoad(clients: readonly { port: number; path: string; allowed: readonly string[] }[]): { stop(): Promise<{ failures: string[]; sent: number }> } {
  const failures: string[] = [];
  let sent = 0;
  let running = true;
  const client = async ({ port, path, allowed }: (typeof clients)[number]) => {
    while (running) {
      sent++;
      const answer = await getText(port, path).catch((err: unknown) => String(err));
      if (!allowed.includes(answer)) failures.push(`${path}: ${answer}`);
    }
  };
  const load = Promise.all(clients.map(client));
  return {
    async stop() {
      running = false;
      await load;
      return { failures, sent };
    },
  };
}
