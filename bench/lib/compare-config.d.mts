// Types for compare-config.mjs (the bench is plain Node ESM; the unit tests import it from TypeScript).

export interface HttpListener {
  name: string;
  host: string;
  port: number;
  tls: boolean;
  http2: boolean;
  hcm: Record<string, any>;
}

export interface Target {
  id: string;
  listener: HttpListener;
  host: string | undefined;
  path: string;
  source: "direct_response" | "route" | "target";
}

export interface Plan {
  listeners: HttpListener[];
  targets: Target[];
  upstreamRoutes: { listener: HttpListener; host: string | undefined; path: string }[];
}

export function readBootstrap(path: string): Record<string, any> | Error;
export function httpListeners(bootstrap: Record<string, any>): HttpListener[];
export function planTargets(bootstrap: Record<string, any>, options?: { targets?: string[]; host?: string; withUpstreams?: boolean }): Plan;
export function pointClustersAt<T extends Record<string, any>>(bootstrap: T, originPort: number, keep?: string[]): T;
