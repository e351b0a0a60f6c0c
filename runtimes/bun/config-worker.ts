/**
 * Validates one config in a worker of its own and posts the result back as plain data
 * (bun-config.ts). zod and yaml are loaded here only, so their weak collections die with
 * this worker instead of being visited in every collection of the proxy's heap.
 */
import { loadConfig } from "../../core/config/load.ts";
import type { ConfigFormat } from "../../core/config/config-source.ts";

interface WorkerScope {
  onmessage: ((event: { data: { text: string; format: ConfigFormat } }) => void) | null;
  postMessage(data: unknown): void;
}

const scope = globalThis as unknown as WorkerScope;
scope.onmessage = (event) => {
  try {
    scope.postMessage({ loaded: loadConfig(event.data.text, event.data.format) });
  } catch (err) {
    scope.postMessage({ error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
  }
};
