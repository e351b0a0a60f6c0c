/**
 * Envoy's runtime (Runtime::LoaderImpl and SnapshotImpl, source/common/runtime/runtime_impl.cc):
 * `layered_runtime`'s layers merged into one snapshot, later layers overriding earlier
 * ones; the admin layer's values set by POST /runtime_modify (an empty value removes a
 * key). Keys no layer sets leave every default as configured. Envoy allows any key, so
 * unknown keys are kept and shown by GET /runtime; the keys polyvoy reads are listed in
 * core/runtime/runtime-keys.ts.
 *
 * One event loop, so the snapshot is rebuilt in place when the admin layer changes
 * (Envoy swaps a new snapshot into each worker). Disk layers are empty until
 * loadDiskLayers() reads them, once, before the server binds (disk-layer.ts).
 */
import type { FractionalPercent, LayeredRuntimeConfig } from "../config/bootstrap.ts";
import type { Gauge } from "../stats/gauge.ts";
import type { StatsStore } from "../stats/stats-store.ts";
import type { Runtime } from "../port.ts";
import { diskLayerPath, readDiskLayer } from "./disk-layer.ts";
import { createEntry, type RuntimeEntry } from "./runtime-entry.ts";

/** Where the snapshot draws for featureEnabled: a float in [0, 1) (the port's Runtime). */
export interface RandomSource {
  random(): number;
}

/**
 * What reads runtime values (Envoy's Runtime::Snapshot, as polyvoy's features use it).
 * Every method takes the configured default and returns it when no layer sets the key.
 */
export interface RuntimeSnapshot extends RandomSource {
  /** The fraction in effect for a RuntimeFractionalPercent: the value of `key` (its runtimeKey by default), or `percent` itself. */
  fraction(percent: FractionalPercent, key?: string): FractionalPercent;
  /** featureEnabled(key, FractionalPercent): one random draw against fraction(percent, key). */
  featureEnabled(percent: FractionalPercent, key?: string): boolean;
  /** featureEnabled(key, FractionalPercent, random_value): `value % denominator < numerator`. */
  featureEnabledFor(percent: FractionalPercent, value: number): boolean;
  getInteger(key: string | undefined, defaultValue: number): number;
  getDouble(key: string | undefined, defaultValue: number): number;
  getBoolean(key: string | undefined, defaultValue: boolean): boolean;
  /** The raw value of a key as a layer holds it, number or not (Envoy's Snapshot::get). */
  get(key: string): string | undefined;
}

/** One layer as /runtime shows it. */
export interface RuntimeLayer {
  readonly name: string;
  readonly values: ReadonlyMap<string, RuntimeEntry>;
}

/** POST /runtime_modify without an admin layer (Envoy's text; the admin answers 503). */
export class NoAdminLayerError extends Error {
  constructor() {
    super("No admin layer specified");
  }
}

/** The runtime.* stats Envoy keeps (ALL_RUNTIME_STATS in runtime_impl.h). */
class RuntimeStats {
  readonly numKeys: Gauge;
  readonly numLayers: Gauge;
  readonly adminOverridesActive: Gauge;
  constructor(private readonly store: StatsStore) {
    this.numKeys = store.gauge("runtime.num_keys");
    this.numLayers = store.gauge("runtime.num_layers");
    this.adminOverridesActive = store.gauge("runtime.admin_overrides_active");
    store.gauge("runtime.deprecated_feature_seen_since_process_start");
    store.counter("runtime.deprecated_feature_use");
    store.counter("runtime.load_error");
    store.counter("runtime.override_dir_exists");
  }
  /**
   * A snapshot was built (LoaderImpl::createNewSnapshot): load_error when a disk layer
   * could not be read; override_dir_exists when more than one disk layer was read (Envoy
   * counts `disk_layers > 1`, kept as it is).
   */
  loaded(errorLayers: number, diskLayers: number): void {
    this.store.counter(errorLayers === 0 ? "runtime.load_success" : "runtime.load_error").inc();
    this.store.counter(diskLayers > 1 ? "runtime.override_dir_exists" : "runtime.override_dir_not_exists").inc();
  }
}

/** A disk layer's config and, once read, its values (`present`: its directory existed and was read). */
interface DiskLayerState {
  readonly config: Extract<LayeredRuntimeConfig["layers"][number], { kind: "disk" }>;
  readonly layer: RuntimeLayer & { values: Map<string, RuntimeEntry> };
  present: boolean;
}

export class RuntimeLoader implements RuntimeSnapshot {
  private readonly layers: RuntimeLayer[] = [];
  private readonly diskLayers: DiskLayerState[] = [];
  private diskErrors = 0;
  private readonly adminValues: Map<string, RuntimeEntry> | undefined;
  /** rtds_layer values by the name of its Runtime resource. */
  private readonly rtdsLayers = new Map<string, Map<string, RuntimeEntry>>();
  private values = new Map<string, RuntimeEntry>();
  private readonly stats: RuntimeStats | undefined;

  /** `config` absent: no layers (Envoy without layered_runtime), so /runtime_modify is refused. */
  constructor(
    private readonly source: RandomSource,
    config?: LayeredRuntimeConfig,
    store?: StatsStore,
  ) {
    for (const layer of config?.layers ?? []) {
      if (layer.kind === "admin") {
        this.adminValues = new Map();
        this.layers.push({ name: layer.name, values: this.adminValues });
      } else if (layer.kind === "disk") {
        const state: DiskLayerState = { config: layer, layer: { name: layer.name, values: new Map() }, present: false };
        this.diskLayers.push(state);
        this.layers.push(state.layer);
      } else if (layer.kind === "rtds") {
        // Empty until its first update (Envoy's RtdsSubscription starts with an empty ProtoLayer).
        const values = new Map<string, RuntimeEntry>();
        this.rtdsLayers.set(layer.resourceName, values);
        this.layers.push({ name: layer.name, values });
      } else {
        const values = new Map<string, RuntimeEntry>();
        for (const [key, raw] of layer.values) values.set(key, createEntry(raw));
        this.layers.push({ name: layer.name, values });
      }
    }
    if (store) this.stats = new RuntimeStats(store);
    this.loadNewSnapshot();
  }

  /** The layers in order, for GET /runtime (a disk layer whose directory was not there is none). */
  getLayers(): readonly RuntimeLayer[] {
    return this.layers.filter((layer) => this.diskLayers.every((disk) => disk.layer !== layer || disk.present));
  }

  /**
   * Read the disk layers (once; `serviceCluster` is the node's cluster, for
   * append_service_cluster). A layer that cannot be read is left out, as in Envoy; its
   * error is given to `onError` (Envoy logs it at debug level) and counted in load_error.
   */
  async loadDiskLayers(runtime: Pick<Runtime, "readDirectory" | "readTextFile">, serviceCluster: string, onError?: (layer: string, message: string) => void): Promise<void> {
    if (this.diskLayers.length === 0) return;
    this.diskErrors = 0;
    for (const disk of this.diskLayers) {
      const { symlinkRoot, subdirectory, appendServiceCluster } = disk.config;
      const result = await readDiskLayer(runtime, diskLayerPath(symlinkRoot, subdirectory, appendServiceCluster ? serviceCluster : undefined));
      disk.layer.values.clear();
      disk.present = result.kind === "loaded";
      if (result.kind === "loaded") for (const [key, raw] of result.values) disk.layer.values.set(key, createEntry(raw));
      if (result.kind === "error") {
        this.diskErrors++;
        onError?.(disk.config.name, result.message);
      }
    }
    this.loadNewSnapshot();
  }

  /** An RTDS update (Envoy's RtdsSubscription::onConfigUpdate): the layer's values replaced whole. */
  setRtdsLayer(name: string, values: readonly (readonly [string, string])[]): void {
    const layer = this.rtdsLayers.get(name);
    if (layer === undefined) return;
    // Parsed first: an update that throws leaves the layer as it was (mergeValues).
    const entries = values.map(([key, raw]) => [key, createEntry(raw)] as const);
    layer.clear();
    for (const [key, entry] of entries) layer.set(key, entry);
    this.loadNewSnapshot();
  }

  get hasAdminLayer(): boolean {
    return this.adminValues !== undefined;
  }

  /** Envoy's LoaderImpl::mergeValues (POST /runtime_modify): set each key in the admin layer; "" removes it. */
  mergeValues(values: ReadonlyMap<string, string>): void {
    const admin = this.adminValues;
    if (admin === undefined) throw new NoAdminLayerError();
    // Every value parsed before the layer changes: one that throws (yaml failing to load,
    // runtime-entry.ts) leaves it as it was.
    const entries = [...values].map(([key, raw]) => [key, raw === "" ? undefined : createEntry(raw)] as const);
    for (const [key, entry] of entries) {
      admin.delete(key);
      if (entry !== undefined) admin.set(key, entry);
    }
    this.stats?.adminOverridesActive.set(admin.size === 0 ? 0 : 1);
    this.loadNewSnapshot();
  }

  private loadNewSnapshot(): void {
    const values = new Map<string, RuntimeEntry>();
    const layers = this.getLayers();
    for (const layer of layers) for (const [key, entry] of layer.values) values.set(key, entry);
    this.values = values;
    if (this.stats) {
      this.stats.numLayers.set(layers.length);
      this.stats.numKeys.set(values.size);
      this.stats.loaded(this.diskErrors, this.diskLayers.filter((disk) => disk.present).length);
    }
  }

  /** The raw value of a key, as a layer holds it (Envoy's Snapshot::get). */
  get(key: string): string | undefined {
    return this.values.get(key)?.raw;
  }

  random(): number {
    return this.source.random();
  }

  fraction(percent: FractionalPercent, key = percent.runtimeKey): FractionalPercent {
    if (key === undefined || key === "" || this.values.size === 0) return percent;
    const entry = this.values.get(key);
    if (entry === undefined) return percent;
    if (entry.fraction !== undefined) return entry.fraction;
    // An integer is a percentage (denominator 100); over 100, always on (SnapshotImpl::featureEnabled).
    if (entry.uint !== undefined) return { numerator: entry.uint, denominator: 100 };
    return percent;
  }

  featureEnabled(percent: FractionalPercent, key = percent.runtimeKey): boolean {
    const p = this.fraction(percent, key);
    // No draw wasted on 0 % and 100 %.
    if (p.numerator >= p.denominator) return true;
    if (p.numerator === 0) return false;
    return Math.floor(this.source.random() * p.denominator) < p.numerator;
  }

  featureEnabledFor(percent: FractionalPercent, value: number): boolean {
    const p = this.fraction(percent);
    return value % p.denominator < p.numerator;
  }

  getInteger(key: string | undefined, defaultValue: number): number {
    if (key === undefined || key === "") return defaultValue;
    return this.values.get(key)?.uint ?? defaultValue;
  }

  getDouble(key: string | undefined, defaultValue: number): number {
    if (key === undefined || key === "") return defaultValue;
    return this.values.get(key)?.double ?? defaultValue;
  }

  getBoolean(key: string | undefined, defaultValue: boolean): boolean {
    if (key === undefined || key === "") return defaultValue;
    return this.values.get(key)?.bool ?? defaultValue;
  }
}

/** A snapshot with no layers: every default applies (for tests and tools that build one part alone). */
export function defaultsOnly(source: RandomSource): RuntimeSnapshot {
  return new RuntimeLoader(source);
}
