/**
 * A schema built the first time a config is checked against it, not when its module loads.
 * Building schemas (schema-kit/) is most of what loading the config loader costs, and most of them
 * are for fields and extensions a given config does not use: only the objects a config's
 * path goes through are built. An object asks each field's schema whether it may be absent
 * (optin/optout); a stand-in answers from its declared presence, so a field the config
 * does not set is not built either.
 *
 * Two steps, so that a module's constants cost no schema object at all until used:
 * - the value returned is a stand-in (a Proxy) that makes the z.lazy on first touch
 *   (`.optional()`, a parse, a holder reading its optin/optout) and forwards everything to it;
 * - the z.lazy builds the schema itself when zod first needs it (z.lazy memoises it).
 *
 * releaseSchemas() forgets what the stand-ins made at module scope, so the schemas one
 * config needed are not kept for the life of the process (they are rebuilt on the next
 * check: a reload, an xDS update).
 */
// The schema kit (zod's API, the part the config layer uses: schema-kit/index.ts) as one namespace.
import * as z from "./schema-kit/index.ts";

/**
 * Whether a field holding the schema may be absent, as zod's `optin`/`optout` say it
 * (v4/core/schemas.js): "required" (an object, a string…: neither), "optional" (both
 * "optional": `.optional()`, z.unknown()), "defaulted" (`.default()`: optin "defaulted").
 */
export type Presence = "required" | "optional" | "defaulted";

const OPTIN = { required: undefined, optional: "optional", defaulted: "defaulted" } as const;
const OPTOUT = { required: undefined, optional: "optional", defaulted: undefined } as const;

/** What a stand-in holds: how to build its schema, and the z.lazy once made. */
class Deferred {
  schema: z.ZodType | undefined = undefined;
  constructor(
    readonly build: () => z.ZodType,
    readonly presence: Presence,
  ) {}

  get(): z.ZodType {
    if (this.schema !== undefined) return this.schema;
    const lazy = z.lazy(() => {
      building++;
      try {
        const built = this.build();
        checkPresence(built, this.presence);
        return built;
      } catch (err) {
        // A fresh z.lazy on the next touch builds again: nothing half-made is kept.
        if (this.schema === lazy) this.schema = undefined;
        throw err;
      } finally {
        building--;
      }
    });
    // zod reads a field's optin/optout to know whether it may be absent (an object's parse,
    // `.optional()`), and a z.lazy answers by building its schema: declared here, a field a
    // config does not set costs no build. checkPresence holds the declaration to the truth.
    Object.defineProperty(lazy._zod, "optin", { value: OPTIN[this.presence], writable: true, configurable: true });
    Object.defineProperty(lazy._zod, "optout", { value: OPTOUT[this.presence], writable: true, configurable: true });
    return (this.schema = lazy);
  }
}

/** A declared presence that is not the built schema's would change what zod accepts: refuse it where it is built. */
function checkPresence(built: z.ZodType, presence: Presence): void {
  const { optin, optout } = built._zod;
  if (optin !== OPTIN[presence] || optout !== OPTOUT[presence]) {
    throw new Error(`lazySchema declared "${presence}" for a schema whose optin/optout are ${String(optin)}/${String(optout)}`);
  }
}

/** How deep in schema builders the code now runs: stand-ins made there belong to the schema being built. */
let building = 0;
/** The stand-ins made at module scope (outside any builder): what releaseSchemas() clears. */
const moduleScope: Deferred[] = [];

/**
 * Every operation on the stand-in goes to the z.lazy. Reads keep the stand-in as receiver:
 * zod binds a method to the schema it is read from (`schema.optional`), and the schema an
 * outer one holds must be the stand-in, not the z.lazy releaseSchemas() lets go of. A
 * property descriptor is reported configurable: the stand-in's own target has none of
 * zod's (non-configurable) `_zod`, and a Proxy may not report a non-configurable property
 * its target lacks.
 */
const forward: ProxyHandler<Deferred> = {
  get: (d, key, receiver) => Reflect.get(d.get(), key, receiver),
  set: (d, key, value) => Reflect.set(d.get(), key, value),
  has: (d, key) => Reflect.has(d.get(), key),
  deleteProperty: (d, key) => Reflect.deleteProperty(d.get(), key),
  defineProperty: (d, key, descriptor) => Reflect.defineProperty(d.get(), key, descriptor),
  ownKeys: (d) => Reflect.ownKeys(d.get()),
  getOwnPropertyDescriptor: (d, key) => {
    const descriptor = Reflect.getOwnPropertyDescriptor(d.get(), key);
    return descriptor && { ...descriptor, configurable: true };
  },
  getPrototypeOf: (d) => Reflect.getPrototypeOf(d.get()),
};

/**
 * `presence` says whether the built schema lets its field be absent (most are "required":
 * objects, strings…); it is checked when the schema is built.
 *
 * Call it at module scope (a stand-in releaseSchemas() resets) or inside another schema's
 * builder (one that goes with the schema holding it); not from a check's own code (a
 * transform, a refinement), whose stand-ins would each be kept as module-scope ones.
 */
export function lazySchema<T extends z.ZodType>(build: () => T, presence: Presence = "required"): z.ZodLazy<T> {
  const deferred = new Deferred(build, presence);
  if (building === 0) moduleScope.push(deferred);
  else collected?.push(deferred);
  return new Proxy(deferred, forward) as unknown as z.ZodLazy<T>;
}

/**
 * Drop every schema built so far: each module-scope stand-in forgets its z.lazy (and so
 * everything built under it). The next check builds again what it needs.
 */
export function releaseSchemas(): void {
  for (const deferred of moduleScope) deferred.schema = undefined;
}

/** How many module-scope stand-ins hold a schema now: what releaseSchemas() would let go. */
export function heldSchemas(): number {
  return moduleScope.filter((deferred) => deferred.schema !== undefined).length;
}

/** While checkEveryStandIn() runs: the stand-ins made inside builders (nested ones), to build in turn. */
let collected: Deferred[] | undefined;

/**
 * For tests: build every stand-in made so far, module-scope ones and those made while
 * building them, until no new one appears, so that each declared presence is checked
 * (checkPresence) whether or not a schema walk can reach it (a stand-in used only in a
 * transform is not). A wrong declaration under `.optional()` is otherwise never built and
 * silently changes what zod accepts. Returns how many were built and the lines of those
 * whose build failed. Releases what it built (and what was built before).
 */
export function checkEveryStandIn(): { built: number; wrong: string[] } {
  // Built ones first forget their schemas, so that the stand-ins nested in them are made again here.
  releaseSchemas();
  const queue = [...moduleScope];
  const seen = new Set<Deferred>();
  const wrong: string[] = [];
  collected = queue;
  try {
    for (let i = 0; i < queue.length; i++) {
      const deferred = queue[i]!;
      if (seen.has(deferred)) continue;
      seen.add(deferred);
      try {
        // A z.lazy's innerType is its getter's result: building it checks the declaration.
        void (deferred.get() as unknown as z.ZodLazy<z.ZodType>)._zod.innerType;
      } catch (err) {
        wrong.push(`${err instanceof Error ? err.message : String(err)}: ${deferred.build.toString().replace(/\s+/g, " ").slice(0, 160)}`);
      }
    }
  } finally {
    collected = undefined;
    releaseSchemas();
  }
  return { built: seen.size, wrong };
}
