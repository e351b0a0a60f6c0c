/**
 * The content of the envoy.config.core.v3.DataSource fields a config names by `filename` or
 * `environment_variable` (Envoy: source/common/config/datasource.cc, read when the config is
 * loaded). The checks are synchronous (zod) and file reads are not, so a check is run as
 * withRegexEngine runs one: the data-source schema records each file it meets without its
 * content, and when any was met the files are read (through the port) and the check is run
 * again with their content. A config naming no file is checked once.
 *
 * TLS's DataSources are read by core/tls (read-secret.ts) and the Lua filter's by its
 * listener (lua-sources.ts): their schemas do not ask here.
 */
import type { Runtime } from "../port.ts";
import { withRegexEngine } from "./regex-engine.ts";
import { readFailure } from "./read-failure.ts";
import { latin1Decode } from "../util/latin1.ts";
import { utf8Encode } from "../util/utf8.ts";

/** What reads the data: the runtime's file reading and environment. */
export type DataSourceReader = Pick<Runtime, "readTextFile" | "readFileBytes" | "fileSize" | "fileType" | "environmentVariable">;

/**
 * The largest file a DataSource is read from. Envoy's own read has no limit but each use's
 * (max_direct_response_body_size_bytes, checked by the route schema); one here keeps a
 * config naming a large file by mistake from holding it in memory per worker.
 */
export const MAX_DATA_SOURCE_FILE_BYTES = 1024 * 1024;

/** The most one check reads from files in all: many fields naming large files are refused, not held. */
export const MAX_DATA_SOURCE_TOTAL_BYTES = 16 * 1024 * 1024;

/**
 * A field that reads a file with a limit of its own (the gRPC-JSON transcoder's
 * proto_descriptor: a descriptor set made with --include_imports of a large API passes 1 MiB;
 * Envoy reads it with fileReadToEnd, no limit). The check's budget grows by the largest such
 * limit, so one such file fits beside the others.
 */
export const MAX_LARGE_DATA_FILE_BYTES = 64 * 1024 * 1024;

/** A file's content as a byte string (one char ≤ 0xff per byte), or why it could not be read. */
export type DataRead = { readonly data: string } | { readonly error: string };

interface Context {
  readonly reader: DataSourceReader | undefined;
  /** Files read, by name. */
  readonly files: Map<string, DataRead>;
  /** Files the check met and `files` lacks, each with the largest size a field asked for. */
  readonly wanted: Map<string, number>;
  /** What the config read: "file NAME" / "environment variable NAME". */
  readonly used: Set<string>;
}

let context: Context | undefined;

/**
 * The content of the file `name` for a DataSource being checked, at most `maxBytes`
 * (MAX_DATA_SOURCE_FILE_BYTES, or up to MAX_LARGE_DATA_FILE_BYTES for a field that needs
 * more); undefined when it is not read yet (the check is run again once it is). An error when
 * no check wants files read (the synchronous loadBootstrap of the library entry).
 */
export function dataSourceFile(name: string, maxBytes = MAX_DATA_SOURCE_FILE_BYTES): DataRead | undefined {
  if (context === undefined) return { error: `file ${name} is not read: the synchronous loadBootstrap reads no files (validateConfig does)` };
  context.used.add(`file ${name}`);
  const read = context.files.get(name);
  if (read === undefined) context.wanted.set(name, Math.max(maxBytes, context.wanted.get(name) ?? 0));
  // Read for another field with a larger limit: this one's still holds.
  else if ("data" in read && read.data.length > maxBytes) return tooLarge(name, read.data.length, maxBytes);
  return read;
}

/** The value of the environment variable `name` for a DataSource (Envoy: std::getenv). */
export function dataSourceEnvironmentVariable(name: string): DataRead {
  if (context === undefined || context.reader === undefined) return { error: `environment variable ${name} is not read: the synchronous loadBootstrap reads none (validateConfig does)` };
  context.used.add(`environment variable ${name}`);
  if (context.reader.environmentVariable === undefined) return { error: `this runtime cannot read environment variables` };
  const value = context.reader.environmentVariable(name);
  // Envoy's wording (datasource.cc).
  return value === undefined ? { error: `Environment variable doesn't exist: ${name}` } : { data: utf8ByteString(value) };
}

/**
 * Run `check` (synchronous, and again with the RE2 engine loaded if it meets a regex: see
 * withRegexEngine) with the DataSource files it names read through `reader`. Returns its
 * result and what the config read (files, environment variables: a checked-config cache must
 * not keep such a config, whose data may change while its text does not).
 */
export async function withDataSources<T>(reader: DataSourceReader | undefined, check: () => T): Promise<{ result: T; used: readonly string[] }> {
  const ctx: Context = { reader, files: new Map(), wanted: new Map(), used: new Set() };
  const run = (): T => {
    const outer = context;
    context = ctx;
    try {
      return check();
    } finally {
      context = outer;
    }
  };
  let first: T;
  try {
    first = await withRegexEngine(run);
  } catch (err) {
    if (ctx.wanted.size === 0) throw err;
    first = undefined as T;
  }
  if (ctx.wanted.size === 0) return { result: first, used: [...ctx.used] };
  const names = [...ctx.wanted];
  ctx.wanted.clear();
  // One at a time, within a budget for the whole check (grown by the largest own limit asked).
  const largest = Math.max(MAX_DATA_SOURCE_FILE_BYTES, ...names.map(([, max]) => max));
  const budget = MAX_DATA_SOURCE_TOTAL_BYTES + (largest - MAX_DATA_SOURCE_FILE_BYTES);
  let total = 0;
  const overBudget = (name: string): DataRead => ({ error: `file ${name} is not read: the config's files exceed ${budget} bytes in all` });
  for (const [name, max] of names) {
    let read = total > budget ? overBudget(name) : await readDataFile(reader, name, max);
    if ("data" in read) {
      total += read.data.length;
      if (total > budget) read = overBudget(name);
    }
    ctx.files.set(name, read);
  }
  const result = await withRegexEngine(run);
  return { result, used: [...ctx.used] };
}

/**
 * One DataSource file, capped (MAX_DATA_SOURCE_FILE_BYTES: by its size before the read where
 * the port tells it, and by what was read, for a file that grew), in Envoy's words where it
 * has them (datasource.cc).
 */
export async function readDataFile(reader: DataSourceReader | undefined, name: string, maxBytes = MAX_DATA_SOURCE_FILE_BYTES): Promise<DataRead> {
  if (reader === undefined) return { error: `file ${name} is not read: this check has no file reading` };
  // Envoy's Filesystem::illegalPath (datasource.cc: "Invalid path: X"): nothing under /dev
  // (but /dev/fd/), /sys or /proc — devices, endless or blocking files, the process's own
  // environment. Envoy resolves the path first; a link elsewhere leading there is caught below
  // (not a regular file, or a size its content does not have).
  if (illegalPath(name)) return { error: `Invalid path: ${name}` };
  let data: string;
  try {
    // Only a regular file: a FIFO would block the read, a device never end it.
    if (reader.fileType !== undefined && (await reader.fileType(name)) !== "file") return { error: `file ${name} is not a regular file` };
    // As Envoy's readFile with a max_size: the size first, so a large file is not read at all.
    let size: number | undefined;
    if (reader.fileSize !== undefined) {
      size = await reader.fileSize(name);
      if (size > maxBytes) return tooLarge(name, size, maxBytes);
    }
    if (reader.readFileBytes !== undefined) {
      const bytes = await reader.readFileBytes(name);
      if (bytes.length > maxBytes) return tooLarge(name, bytes.length, maxBytes);
      // procfs and sysfs files say 0 or 4096 whatever they hold: content of another size is refused.
      if (size !== undefined && bytes.length !== size) return { error: `file ${name} changed size while it was read (${size} bytes, then ${bytes.length})` };
      data = bytesToByteString(bytes);
    } else {
      data = utf8ByteString(await reader.readTextFile(name));
    }
  } catch (err) {
    if ((err as { code?: unknown } | undefined)?.code === "ENOENT") return { error: `file ${name} does not exist` };
    return { error: `cannot read file ${name}: ${readFailure(err)}` };
  }
  if (data.length > maxBytes) return tooLarge(name, data.length, maxBytes);
  return { data };
}

function tooLarge(name: string, size: number, maxBytes: number): DataRead {
  return { error: `file ${name} size is ${size} bytes; maximum is ${maxBytes}` };
}

function bytesToByteString(bytes: Uint8Array): string {
  return latin1Decode(bytes, 0, bytes.length);
}

/** Text as its UTF-8 bytes, one char per byte. */
function utf8ByteString(text: string): string {
  return bytesToByteString(utf8Encode(text));
}

/** Envoy's InstanceImplPosix::illegalPath on the path as written (normalized, not resolved). */
export function illegalPath(name: string): boolean {
  const parts: string[] = [];
  for (const part of name.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  const path = "/" + parts.join("/");
  if (!name.startsWith("/")) return false;
  if (path.startsWith("/dev/fd/")) return false;
  return path.startsWith("/dev") || path.startsWith("/sys") || path.startsWith("/proc");
}

/**
 * The value of the environment variable `name` for a format's %ENVIRONMENT(NAME)% (Envoy's
 * EnvironmentFormatter: std::getenv when the format is parsed): `value` undefined when it is
 * unset, an error when this check reads no environment.
 */
export function formatEnvironmentVariable(name: string): { readonly value: string | undefined } | { readonly error: string } {
  if (context === undefined || context.reader === undefined) return { error: `environment variable ${name} is not read: the synchronous loadBootstrap reads none (validateConfig does)` };
  context.used.add(`environment variable ${name}`);
  if (context.reader.environmentVariable === undefined) return { error: `this runtime cannot read environment variables` };
  const value = context.reader.environmentVariable(name);
  return { value: value === undefined ? undefined : utf8ByteString(value) };
}
