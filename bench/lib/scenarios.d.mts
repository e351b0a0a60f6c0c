// Types for what the unit tests import from scenarios.mjs (the bench is plain Node ESM).

/** One throughput scenario (see THROUGHPUT in scenarios.mjs); only the fields the tests read are typed. */
export interface ThroughputScenario {
  id: string;
  title: string;
  unit: string;
  protocol?: string;
  baseline?: string;
  /** Warm up until this many requests were answered (within warmupMaxSeconds), not only --warmup seconds. */
  warmupRequests?: number;
  warmupMaxSeconds?: number;
}

export const THROUGHPUT: ThroughputScenario[];

/** What a load run returns that the warm-up reads (wrk's summary). */
export interface RunSummary {
  requests: number;
  duration_us: number;
}

export function warmUp(
  ctx: { settings: { warmupSeconds: number } },
  scenario: ThroughputScenario,
  params: object,
  run?: (ctx: never, params: { seconds: number }) => Promise<RunSummary>,
): Promise<{ requests: number; seconds: number }>;
