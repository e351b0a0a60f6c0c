/**
 * Node's built-in modules that only some configs need (TLS, certificates, compression,
 * the workers' admin front, DNS clusters), loaded on first use with
 * `process.getBuiltinModule` (node ≥ 20.16, Bun, Deno 2) rather than imported at start:
 * loading node:tls, node:crypto, node:http and node:zlib was ~10 % of a small config's
 * start-up on node (docs/performance.md, "Start-up: built-in modules and more schemas on
 * first use; where the rest goes"). The first call loads the module synchronously, so the
 * callers stay synchronous. node:fs/promises, os, path, url and timers come the same way:
 * Bun compiles each of its node: modules when first loaded (node:fs/promises ~5 ms of CPU,
 * the five ~10), and the proxy needs them only for what a config asks (directories, user
 * filters, --concurrency, the workers, the launcher watch).
 */
import type * as Crypto from "node:crypto";
import type * as DnsPromises from "node:dns/promises";
import type * as Http from "node:http";
import type * as Stream from "node:stream";
import type * as Tls from "node:tls";
import type * as Zlib from "node:zlib";
import type * as FsPromises from "node:fs/promises";
import type * as Os from "node:os";
import type * as Path from "node:path";
import type * as Timers from "node:timers";
import type * as Url from "node:url";

let tls: typeof Tls | undefined;
let crypto: typeof Crypto | undefined;
let http: typeof Http | undefined;
/** What the kit uses of node:stream (Deno's node types give the whole module a `default` getBuiltinModule's type lacks). */
type StreamModule = Pick<typeof Stream, "Duplex">;
let stream: StreamModule | undefined;
let zlib: typeof Zlib | undefined;
let dnsPromises: typeof DnsPromises | undefined;
let fsPromises: typeof FsPromises | undefined;
let os: typeof Os | undefined;
let path: typeof Path | undefined;
let timers: typeof Timers | undefined;
let url: typeof Url | undefined;

export const nodeTls = (): typeof Tls => (tls ??= process.getBuiltinModule("node:tls"));
export const nodeCrypto = (): typeof Crypto => (crypto ??= process.getBuiltinModule("node:crypto"));
export const nodeHttp = (): typeof Http => (http ??= process.getBuiltinModule("node:http"));
export const nodeStream = (): StreamModule => (stream ??= process.getBuiltinModule("node:stream"));
export const nodeZlib = (): typeof Zlib => (zlib ??= process.getBuiltinModule("node:zlib"));
export const nodeDnsPromises = (): typeof DnsPromises => (dnsPromises ??= process.getBuiltinModule("node:dns/promises"));
export const nodeFsPromises = (): typeof FsPromises => (fsPromises ??= process.getBuiltinModule("node:fs/promises"));
export const nodeOs = (): typeof Os => (os ??= process.getBuiltinModule("node:os"));
export const nodePath = (): typeof Path => (path ??= process.getBuiltinModule("node:path"));
/** Node's timers (unref()'d handles; Deno's global ones are numbers). */
export const nodeTimers = (): typeof Timers => (timers ??= process.getBuiltinModule("node:timers"));
export const nodeUrl = (): typeof Url => (url ??= process.getBuiltinModule("node:url"));
