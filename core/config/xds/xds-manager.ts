/**
 * What the server knows of its xDS subscriptions: each one registered here is stopped at
 * shutdown, and what it last accepted (version_info, when, the resource as written) is
 * listed by /config_dump under the dynamic_* fields, as Envoy's config tracker does
 * (server/config_tracker_impl.cc).
 */

/** One resource as /config_dump shows it. */
export interface DynamicResource {
  readonly name: string;
  readonly versionInfo: string;
  /** Wall-clock ms when it was accepted. */
  readonly lastUpdated: number;
  /** The resource as written (snake_case keys, without its "@type"). */
  readonly document: unknown;
}

/** A subscription's owner: RDS route configs, EDS load assignments, LDS listeners, CDS clusters. */
export interface XdsResourceOwner {
  readonly kind: "route" | "endpoint" | "cluster" | "listener";
  /** What it serves now (none before its first accepted update). */
  dump(): readonly DynamicResource[];
  /** LDS and CDS: what it took and still warms. */
  dumpWarming?(): readonly DynamicResource[];
  stop(): void;
  /** LDS and CDS: the version_info of the last update that changed anything (Envoy's LdsApi/CdsApi versionInfo()). */
  readonly systemVersionInfo?: string;
}

import type { NodeConfig } from "../bootstrap.ts";
import type { OpenMux, RestFetch } from "./subscription-types.ts";

export class XdsManager {
  private readonly owners = new Set<XdsResourceOwner>();
  /** How gRPC subscriptions reach their management server's stream (set by the server; absent: files only). */
  openMux: OpenMux | undefined;
  /** How REST subscriptions poll (set by the server, with the bootstrap's node). */
  restFetch: RestFetch | undefined;
  node: NodeConfig | undefined;
  /** Stopped with the owners (the management servers' streams). */
  private readonly stoppers: (() => void)[] = [];

  onStop(stop: () => void): void {
    this.stoppers.push(stop);
  }

  add(owner: XdsResourceOwner): void {
    this.owners.add(owner);
  }

  remove(owner: XdsResourceOwner): void {
    this.owners.delete(owner);
  }

  /** Every resource of `kind` now served (or, with `warming`, taken and warming), by name. */
  dynamic(kind: XdsResourceOwner["kind"], warming = false): DynamicResource[] {
    const out: DynamicResource[] = [];
    for (const owner of this.owners) if (owner.kind === kind) out.push(...(warming ? (owner.dumpWarming?.() ?? []) : owner.dump()));
    return out.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** CDS's or LDS's version_info, for /config_dump's ClustersConfigDump and ListenersConfigDump ("" without one). */
  systemVersionInfo(kind: "cluster" | "listener"): string {
    for (const owner of this.owners) if (owner.kind === kind && owner.systemVersionInfo) return owner.systemVersionInfo;
    return "";
  }

  stop(): void {
    for (const owner of this.owners) owner.stop();
    for (const stop of this.stoppers.splice(0)) stop();
  }
}
