/**
 * Node's built-in modules that only some configs need (TLS, certificates, compression,
 * the workers' admin front, DNS clusters, directory watches), loaded on first use with
 * `process.getBuiltinModule` (node ≥ 20.16, Bun, Deno 2) rather than imported at start:
 * loading node:tls, node:crypto, node:http and node:zlib was ~10 % of a small config's
 * start-up on node (docs/performance.md, "Start-up: built-in modules and more schemas on
 * first use; where the rest goes"). The first call loads the module synchronously, so the
 * callers stay synchronous. node:fs/promises, os, path and url come the same way:
 * Bun compiles each of its node: modules when first loaded (node:fs/promises ~5 ms of CPU,
 * the five ~10), and the proxy needs them only for what a config asks (directories, user
 * filters, --concurrency, the workers, the launcher watch).
 *
 * `process` is the runtime's global, read at the first call, not an import of node:process:
 * on Deno each node: module costs 10–40 ms to load, and the deno adapter loads none on its
 * start path (runtimes/README.md, "Deno: no node: module on the start path").
 */
import type * as BufferModule from "node:buffer";
import type * as Crypto from "node:crypto";
import type * as DnsPromises from "node:dns/promises";
import type * as Events from "node:events";
import type * as Fs from "node:fs";
import type * as FsPromises from "node:fs/promises";
import type * as Http from "node:http";
import type * as Os from "node:os";
import type * as Path from "node:path";
import type * as Stream from "node:stream";
import type * as Tls from "node:tls";
import type * as Url from "node:url";
import type * as Zlib from "node:zlib";

/** The runtime's global `process` (node, Bun, Deno 2), for its getBuiltinModule. */
const builtin = <T>(id: string): T => (globalThis as unknown as { process: { getBuiltinModule(id: string): unknown } }).process.getBuiltinModule(id) as T;

let tls: typeof Tls | undefined;
let crypto: typeof Crypto | undefined;
let http: typeof Http | undefined;
/** What the kit uses of node:stream (Deno's node types give the whole module a `default` getBuiltinModule's type lacks). */
type StreamModule = Pick<typeof Stream, "Duplex">;
let stream: StreamModule | undefined;
let zlib: typeof Zlib | undefined;
let dnsPromises: typeof DnsPromises | undefined;
let buffer: typeof BufferModule | undefined;
let events: typeof Events | undefined;
let fs: typeof Fs | undefined;
let fsPromises: typeof FsPromises | undefined;
let os: typeof Os | undefined;
let path: typeof Path | undefined;
let url: typeof Url | undefined;

export const nodeTls = (): typeof Tls => (tls ??= builtin<typeof Tls>("node:tls"));
export const nodeCrypto = (): typeof Crypto => (crypto ??= builtin<typeof Crypto>("node:crypto"));
export const nodeHttp = (): typeof Http => (http ??= builtin<typeof Http>("node:http"));
export const nodeStream = (): StreamModule => (stream ??= builtin<StreamModule>("node:stream"));
export const nodeZlib = (): typeof Zlib => (zlib ??= builtin<typeof Zlib>("node:zlib"));
export const nodeDnsPromises = (): typeof DnsPromises => (dnsPromises ??= builtin<typeof DnsPromises>("node:dns/promises"));
export const nodeBuffer = (): typeof BufferModule => (buffer ??= builtin<typeof BufferModule>("node:buffer"));
export const nodeEvents = (): typeof Events => (events ??= builtin<typeof Events>("node:events"));
export const nodeFs = (): typeof Fs => (fs ??= builtin<typeof Fs>("node:fs"));
export const nodeFsPromises = (): typeof FsPromises => (fsPromises ??= builtin<typeof FsPromises>("node:fs/promises"));
export const nodeOs = (): typeof Os => (os ??= builtin<typeof Os>("node:os"));
export const nodePath = (): typeof Path => (path ??= builtin<typeof Path>("node:path"));
export const nodeUrl = (): typeof Url => (url ??= builtin<typeof Url>("node:url"));
