// Types for goals.mjs (the bench is plain Node ESM; the unit tests import it from TypeScript).

/** One aggregated cell of the report's table: a metric's median over the rounds, and each round's value. */
export interface GoalCell {
  median: number;
  runs: number[];
}

/** metric id → target id → cell, as report.mjs's `aggregate` builds it. */
export type GoalTable = Record<string, Record<string, GoalCell | object>>;

export interface Goal {
  target: string;
  measured: string;
  /** null: this run did not measure what the target needs (or the machine's stalls decided it). */
  met: boolean | null;
}

export function fastestPolyvoy(table: GoalTable): string | undefined;
export function checkGoals(table: GoalTable): Goal[];
export function renderGoals(table: GoalTable, mode?: string): string[];
