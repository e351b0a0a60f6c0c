import type { HttpFilterConfig } from "../../config/bootstrap.ts";
import type { ServerContext } from "../../server-context.ts";
import type { StreamDecoderFilter, StreamEncoderFilter, StreamFilter } from "../filter.ts";
import type { FilterManager } from "../conn-manager/filter-manager.ts";

/**
 * How one HTTP filter type is built (Envoy's `NamedHttpFilterConfigFactory`):
 * createFilterFactory is its createFilterFactoryFromProto — it makes what the streams of
 * one filter config share (stats, compiled rules, buckets) once, and returns the
 * `FilterFactoryCb` that makes each stream's filter. `kind` says which chains the filter
 * joins — decoder (request, in config order), encoder (response, in reverse) or both
 * (dual). `name` is the filter's name in http_filters (the key of its typed_per_filter_config).
 */
export type HttpFilterFactory<C = unknown> = (
  | { kind: "decoder"; createFilterFactory(config: C, server: ServerContext, chain: HttpFilterChainContext, name: string): () => StreamDecoderFilter }
  | { kind: "encoder"; createFilterFactory(config: C, server: ServerContext, chain: HttpFilterChainContext, name: string): () => StreamEncoderFilter }
  | { kind: "dual"; createFilterFactory(config: C, server: ServerContext, chain: HttpFilterChainContext, name: string): () => StreamFilter }
) & {
  /**
   * Optional: throw if this runtime cannot run the filter as configured (a port
   * capability it lacks), when the listener is built — at start, not at the first request.
   */
  check?(config: C, server: ServerContext, name: string, chain: HttpFilterChainContext): void;
};

/** What a filter may know of the connection manager whose chain it joins. */
export interface HttpFilterChainContext {
  /** The HCM's stat_prefix: filters such as fault and cors count under `http.<statPrefix>.`. */
  readonly statPrefix: string;
}

const FACTORIES = new Map<string, HttpFilterFactory>();

/**
 * Make an HTTP filter type buildable from http_filters (the built-in ones are registered
 * in core/extensions.ts; its config schema is declared in
 * config/http-connection-manager-schema.ts; its per-route schema, if any, in
 * config/per-filter-config-schema.ts).
 */
export function registerHttpFilterFactory<C>(type: string, factory: HttpFilterFactory<C>): void {
  FACTORIES.set(type, factory as HttpFilterFactory);
}

const DECODER = 0;
const ENCODER = 1;
const DUAL = 2;

/** One http_filters entry, resolved: its FilterFactoryCb and where its filters join the chain. */
interface ChainEntry {
  readonly kind: typeof DECODER | typeof ENCODER | typeof DUAL;
  readonly name: string;
  readonly make: () => StreamDecoderFilter | StreamEncoderFilter | StreamFilter;
}

/**
 * An HCM's http_filters resolved once (Envoy's FilterChainFactory holds the callbacks its
 * config made): the registry lookup and each filter's shared config are not redone per
 * stream. Made on the chain's first stream, so a filter's shared state appears when it did
 * before; kept for as long as the config lives (a reload brings new config objects).
 */
const CHAINS = new WeakMap<readonly HttpFilterConfig[], readonly ChainEntry[]>();

function resolveChain(configs: readonly HttpFilterConfig[], server: ServerContext, chain: HttpFilterChainContext): readonly ChainEntry[] {
  const entries: ChainEntry[] = [];
  for (const config of configs) {
    const factory = FACTORIES.get(config.type);
    if (factory === undefined) throw new Error(`no factory for HTTP filter type ${config.type}`); // the config schema admits only registered types
    const kind = factory.kind === "decoder" ? DECODER : factory.kind === "encoder" ? ENCODER : DUAL;
    entries.push({ kind, name: config.name, make: factory.createFilterFactory(config.config, server, chain, config.name) });
  }
  return entries;
}

/** Build one stream's filter chain from the HCM's http_filters, in order (Envoy's FilterChainFactory::createFilterChain). */
export function createFilterChain(configs: readonly HttpFilterConfig[], server: ServerContext, manager: FilterManager, chain: HttpFilterChainContext): void {
  let entries = CHAINS.get(configs);
  if (entries === undefined) {
    entries = resolveChain(configs, server, chain);
    CHAINS.set(configs, entries);
  }
  // A loop, not forEach(): this runs per request, and a callback would be garbage each time.
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!;
    switch (entry.kind) {
      case DECODER:
        manager.addStreamDecoderFilter(entry.make() as StreamDecoderFilter, entry.name);
        break;
      case ENCODER:
        manager.addStreamEncoderFilter(entry.make() as StreamEncoderFilter, entry.name);
        break;
      case DUAL:
        manager.addStreamFilter(entry.make() as StreamFilter, entry.name);
        break;
    }
  }
}

/** At listener build: every filter of the chain can run on this runtime (the factories' `check`). */
export function checkFilterChain(configs: readonly HttpFilterConfig[], server: ServerContext, chain: HttpFilterChainContext): void {
  for (const config of configs) FACTORIES.get(config.type)?.check?.(config.config, server, config.name, chain);
}
