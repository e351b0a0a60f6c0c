// Types for compare-settings.mjs (the unit tests import it from TypeScript).

export interface CompareSettings {
  config: string;
  runtimes: string[];
  targets: string[];
  host: string | undefined;
  method: string;
  body: string | null;
  /** --header: "name: value" lines sent with every request. */
  headers: string[];
  connections: number;
  seconds: number;
  warmupSeconds: number;
  rate: number | null;
  rounds: number;
  origin: "builtin" | null;
  /** --keep-cluster: clusters --origin builtin leaves as written. */
  keepClusters: string[];
  out: string | null;
  quick: boolean;
}

export const COMPARE_USAGE: string;
export function parseDuration(text: string): number;
export function parseCompareArgs(argv: string[]): CompareSettings;
