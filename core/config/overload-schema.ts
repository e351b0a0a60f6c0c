/**
 * envoy.config.overload.v3.OverloadManager: the resource monitors and overload actions
 * polyvoy implements (core/overload/). An unsupported monitor, action or field is an
 * error naming it; Envoy's own checks (duplicate names, unknown trigger resources,
 * scaled thresholds) are done here with Envoy's wording (source/server/overload_manager_impl.cc).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";
import { nonEmptyString, strictObject } from "./shared-schemas.ts";
import { lazySchema } from "./lazy-schema.ts";
import { durationMs, oneOf } from "./proto-schema.ts";
import { FIXED_HEAP, GLOBAL_DOWNSTREAM_MAX_CONNECTIONS, STOP_ACCEPTING_REQUESTS, DISABLE_HTTP_KEEPALIVE, STOP_ACCEPTING_CONNECTIONS, REJECT_INCOMING_CONNECTIONS, REDUCE_TIMEOUTS, SHRINK_HEAP } from "../overload/overload-names.ts";
import { notAValueMessage, unsupportedNameMessage, unsupportedValueMessage } from "./refusal.ts";

export { FIXED_HEAP, GLOBAL_DOWNSTREAM_MAX_CONNECTIONS, STOP_ACCEPTING_REQUESTS, DISABLE_HTTP_KEEPALIVE, STOP_ACCEPTING_CONNECTIONS, REJECT_INCOMING_CONNECTIONS, REDUCE_TIMEOUTS, SHRINK_HEAP };

/** Envoy's refresh_interval default: 1 s. */
const DEFAULT_REFRESH_INTERVAL_MS = 1000;

export type OverloadActionName =
  | typeof STOP_ACCEPTING_REQUESTS
  | typeof DISABLE_HTTP_KEEPALIVE
  | typeof STOP_ACCEPTING_CONNECTIONS
  | typeof REJECT_INCOMING_CONNECTIONS
  | typeof REDUCE_TIMEOUTS
  | typeof SHRINK_HEAP;

const SUPPORTED_ACTIONS: readonly OverloadActionName[] = [STOP_ACCEPTING_REQUESTS, DISABLE_HTTP_KEEPALIVE, STOP_ACCEPTING_CONNECTIONS, REJECT_INCOMING_CONNECTIONS, REDUCE_TIMEOUTS, SHRINK_HEAP];

/** Envoy actions polyvoy refuses, and why (a config naming one must not seem protected). */
const REFUSED_ACTIONS: Record<string, string> = {
  "envoy.overload_actions.reset_high_memory_stream": "it needs per-stream buffer accounting, which polyvoy does not have",
  "envoy.overload_actions.close_idle_http_connections": "it applies to HTTP/3 connections, which polyvoy does not have",
};

/** A reactive monitor, sampled every refresh_interval. */
export interface FixedHeapMonitorConfig {
  name: typeof FIXED_HEAP;
  maxHeapSizeBytes: number;
}

/** A proactive monitor, checked as each downstream connection is accepted. */
export interface GlobalDownstreamMaxConnectionsConfig {
  name: typeof GLOBAL_DOWNSTREAM_MAX_CONNECTIONS;
  maxActiveDownstreamConnections: number;
}

export type ResourceMonitorConfig = FixedHeapMonitorConfig | GlobalDownstreamMaxConnectionsConfig;

/** envoy.config.overload.v3.Trigger, by the resource it watches. */
export type TriggerConfig =
  | { resource: string; type: "threshold"; value: number }
  | { resource: string; type: "scaled"; scalingThreshold: number; saturationThreshold: number };

export interface OverloadActionConfig {
  name: OverloadActionName;
  triggers: TriggerConfig[];
  /** reduce_timeouts' timer_scale_factors, by timer type (only on that action). */
  timerMinimums?: ReadonlyMap<ScaledTimerType, TimerMinimum>;
}

/** The ScaleTimersOverloadActionConfig.TimerType values polyvoy has timers for. */
export type ScaledTimerType = "HTTP_DOWNSTREAM_CONNECTION_IDLE" | "HTTP_DOWNSTREAM_STREAM_IDLE" | "HTTP_DOWNSTREAM_CONNECTION_MAX";

/** A ScaleTimer's overload_adjust: min_timeout (absolute) or min_scale (a fraction of the configured timeout). */
export type TimerMinimum = { type: "absolute"; ms: number } | { type: "scaled"; fraction: number };

const SCALED_TIMER_TYPES: readonly ScaledTimerType[] = ["HTTP_DOWNSTREAM_CONNECTION_IDLE", "HTTP_DOWNSTREAM_STREAM_IDLE", "HTTP_DOWNSTREAM_CONNECTION_MAX"];

/** Timer types Envoy scales that polyvoy does not scale, and why. */
const REFUSED_TIMER_TYPES: Record<string, string> = {
  TRANSPORT_SOCKET_CONNECT: "transport_socket_connect_timeout is not scaled yet",
  HTTP_DOWNSTREAM_STREAM_FLUSH: "polyvoy has no stream_flush_timeout",
};

/** envoy.config.overload.v3.ScaleTimersOverloadActionConfig */
const scaleTimersConfig = lazySchema(() =>
  strictObject({
    "@type": z.literal("type.googleapis.com/envoy.config.overload.v3.ScaleTimersOverloadActionConfig"),
    timer_scale_factors: z
      .array(
        strictObject({
            timer: z.string(),
            min_timeout: durationMs.optional(),
            min_scale: strictObject({ value: z.number().min(0).max(100) }).optional(),
          })
          .transform((t, ctx) => {
            if (!SCALED_TIMER_TYPES.includes(t.timer as ScaledTimerType)) {
              const refused = REFUSED_TIMER_TYPES[t.timer];
              const message =
                refused !== undefined
                  ? unsupportedValueMessage(t.timer, `${refused}; supported: ${SCALED_TIMER_TYPES.join(", ")}`)
                  : notAValueMessage(t.timer, "envoy.config.overload.v3.ScaleTimersOverloadActionConfig.TimerType", SCALED_TIMER_TYPES, [...SCALED_TIMER_TYPES, ...Object.keys(REFUSED_TIMER_TYPES)]);
              ctx.addIssue({ code: "custom", message, path: ["timer"] });
            }
            const kind = oneOf(t, ["min_timeout", "min_scale"], ctx, true);
            const minimum: TimerMinimum = kind === "min_scale" ? { type: "scaled", fraction: t.min_scale!.value / 100 } : { type: "absolute", ms: t.min_timeout ?? 0 };
            return { timer: t.timer as ScaledTimerType, minimum };
          }),
      )
      .min(1),
  })
  .transform((c, ctx) => {
    const minimums = new Map<ScaledTimerType, TimerMinimum>();
    for (const [i, t] of c.timer_scale_factors.entries()) {
      if (minimums.has(t.timer)) ctx.addIssue({ code: "custom", message: `Found duplicate entry for timer type ${t.timer}`, path: ["timer_scale_factors", i, "timer"] });
      minimums.set(t.timer, t.minimum);
    }
    return minimums;
  }));

export interface OverloadManagerConfig {
  refreshIntervalMs: number;
  resourceMonitors: ResourceMonitorConfig[];
  actions: OverloadActionConfig[];
}

const unitInterval = lazySchema(() =>
  z.number().min(0).max(1));

/** A proto uint64/int64: JSON gives it as a number or a decimal string. */
const positiveInteger = lazySchema(() =>
  z.union([z.number(), z.string().regex(/^\d+$/).transform(Number)]).pipe(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)));

const fixedHeapConfig = lazySchema(() =>
  strictObject({
  "@type": z.literal("type.googleapis.com/envoy.extensions.resource_monitors.fixed_heap.v3.FixedHeapConfig"),
  max_heap_size_bytes: positiveInteger,
}));

const downstreamConnectionsConfig = lazySchema(() =>
  strictObject({
  "@type": z.literal("type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3.DownstreamConnectionsConfig"),
  max_active_downstream_connections: positiveInteger,
}));

const resourceMonitor = lazySchema(() =>
  strictObject({ name: nonEmptyString, typed_config: z.unknown() })
  .transform((m, ctx): ResourceMonitorConfig => {
    const schema = m.name === FIXED_HEAP ? fixedHeapConfig : m.name === GLOBAL_DOWNSTREAM_MAX_CONNECTIONS ? downstreamConnectionsConfig : undefined;
    if (schema === undefined) {
      ctx.addIssue({ code: "custom", message: unsupportedNameMessage("resource monitor", m.name, [FIXED_HEAP, GLOBAL_DOWNSTREAM_MAX_CONNECTIONS]), path: ["name"] });
      return z.NEVER;
    }
    const parsed = schema.safeParse(m.typed_config ?? {});
    if (!parsed.success) {
      for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
      return z.NEVER;
    }
    const typed = parsed.data;
    return "max_heap_size_bytes" in typed
      ? { name: FIXED_HEAP, maxHeapSizeBytes: typed.max_heap_size_bytes }
      : { name: GLOBAL_DOWNSTREAM_MAX_CONNECTIONS, maxActiveDownstreamConnections: typed.max_active_downstream_connections };
  }));

const trigger = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    threshold: strictObject({ value: unitInterval }).optional(),
    scaled: strictObject({ scaling_threshold: unitInterval, saturation_threshold: unitInterval }).optional(),
  })
  .transform((t, ctx): TriggerConfig => {
    const kind = oneOf(t, ["threshold", "scaled"], ctx, true);
    if (kind === "threshold") return { resource: t.name, type: "threshold", value: t.threshold!.value };
    if (kind === "scaled") {
      const { scaling_threshold, saturation_threshold } = t.scaled!;
      if (scaling_threshold >= saturation_threshold) {
        ctx.addIssue({ code: "custom", message: "scaling_threshold must be less than saturation_threshold", path: ["scaled"] });
      }
      return { resource: t.name, type: "scaled", scalingThreshold: scaling_threshold, saturationThreshold: saturation_threshold };
    }
    return z.NEVER;
  }));

const action = lazySchema(() =>
  strictObject({
    name: nonEmptyString,
    triggers: z.array(trigger).min(1),
    typed_config: z.unknown().optional(),
  })
  .transform((a, ctx): OverloadActionConfig => {
    const refused = REFUSED_ACTIONS[a.name];
    if (refused !== undefined || !SUPPORTED_ACTIONS.includes(a.name as OverloadActionName)) {
      const shown = `envoy.overload_actions.{${SUPPORTED_ACTIONS.map((n) => n.replace("envoy.overload_actions.", "")).join(",")}}`;
      const message = unsupportedNameMessage("overload action", a.name, SUPPORTED_ACTIONS, refused, shown);
      ctx.addIssue({ code: "custom", message, path: ["name"] });
      return z.NEVER;
    }
    // Only reduce_timeouts takes a config (OverloadManagerImpl's constructor refuses one elsewhere).
    let timerMinimums: ReadonlyMap<ScaledTimerType, TimerMinimum> | undefined;
    if (a.name === REDUCE_TIMEOUTS) {
      const parsed = scaleTimersConfig.safeParse(a.typed_config ?? {});
      if (parsed.success) timerMinimums = parsed.data;
      else for (const issue of parsed.error.issues) ctx.addIssue({ ...issue, path: ["typed_config", ...issue.path] });
    } else if (a.typed_config !== undefined) {
      ctx.addIssue({ code: "custom", message: `Overload action "${a.name}" has an unexpected value for the typed_config field`, path: ["typed_config"] });
    }
    const seen = new Set<string>();
    for (const t of a.triggers) {
      if (seen.has(t.resource)) ctx.addIssue({ code: "custom", message: `Duplicate trigger resource for overload action ${a.name}`, path: ["triggers"] });
      seen.add(t.resource);
    }
    return { name: a.name as OverloadActionName, triggers: a.triggers, ...(timerMinimums ? { timerMinimums } : {}) };
  }));

/** envoy.config.overload.v3.OverloadManager (no buffer_factory_config, no loadshed_points). */
export const overloadManager = lazySchema(() =>
  strictObject({
    // Envoy reads 0s as a 0 ms period: a refresh loop that never yields. Refused instead.
    refresh_interval: durationMs.refine((ms) => ms > 0, { message: "must be greater than 0s" }).optional(),
    resource_monitors: z.array(resourceMonitor).min(1),
    actions: z.array(action).default([]),
  })
  .superRefine((o, ctx) => {
    const monitors = new Map<string, ResourceMonitorConfig>();
    for (const [i, m] of o.resource_monitors.entries()) {
      if (monitors.has(m.name)) ctx.addIssue({ code: "custom", message: `Duplicate resource monitor ${m.name}`, path: ["resource_monitors", i, "name"] });
      monitors.set(m.name, m);
    }
    const actions = new Set<string>();
    for (const [i, a] of o.actions.entries()) {
      if (actions.has(a.name)) ctx.addIssue({ code: "custom", message: `Duplicate overload action ${a.name}`, path: ["actions", i, "name"] });
      actions.add(a.name);
      for (const [j, t] of a.triggers.entries()) {
        const monitor = monitors.get(t.resource);
        if (monitor === undefined) {
          ctx.addIssue({ code: "custom", message: `Unknown trigger resource ${t.resource} for overload action ${a.name}`, path: ["actions", i, "triggers", j, "name"] });
        } else if (monitor.name === GLOBAL_DOWNSTREAM_MAX_CONNECTIONS) {
          // Envoy accepts such a trigger and never fires it: the proactive monitor is only
          // asked at accept time and reports no pressure. A trigger that can never fire is refused.
          const message = `${t.resource} is a proactive resource monitor (checked as connections are accepted); it reports no pressure and cannot trigger an overload action`;
          ctx.addIssue({ code: "custom", message, path: ["actions", i, "triggers", j, "name"] });
        }
      }
    }
  })
  .transform(
    (o): OverloadManagerConfig => ({
      refreshIntervalMs: o.refresh_interval ?? DEFAULT_REFRESH_INTERVAL_MS,
      resourceMonitors: o.resource_monitors,
      actions: o.actions,
    }),
  ));
