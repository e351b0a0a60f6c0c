/**
 * require() for the Lua filter. Envoy's LuaJIT searches package.path when a script calls
 * require, reading files synchronously; polyvoy reads files only asynchronously (the port's
 * readTextFile), so the names a code requires are found before it runs: every
 * `require "name"` / `require("name")` / `require 'name'` with a literal name in the code
 * and, transitively, in the modules found, is looked up along package.path when the
 * listener is built. A require the scan could not see (a computed name) fails at run time
 * as a Lua error saying so (lua-code.ts).
 */
import type { ServerContext } from "../../../server-context.ts";

/** LuaJIT 2.1's default package.path (luaconf.h LUA_PATH_DEFAULT: ./ then LUA_LROOT=/usr/local). */
export const LUAJIT_DEFAULT_PATH = "./?.lua;/usr/local/share/luajit-2.1/?.lua;/usr/local/share/lua/5.1/?.lua;/usr/local/share/lua/5.1/?/init.lua";

/** A module found for a required name: the file and its source (a byte string). */
export interface LuaModuleSource {
  readonly path: string;
  readonly code: string;
}

/** What the scan found: modules by name, and for each name not found, the files tried. */
export interface ResolvedModules {
  readonly path: string;
  readonly modules: ReadonlyMap<string, LuaModuleSource>;
  readonly missing: ReadonlyMap<string, readonly string[]>;
}

// `require` followed by a literal string, with or without parentheses (Lua's f"s" call
// syntax). Long brackets ([[name]]) are rare for module names and not scanned.
const REQUIRE = /(?<![\w.:])require\s*(?:\(\s*)?(["'])((?:(?!\1)[^\\\n])+)\1/g;

/** The literal names `code` requires, in order of appearance (comments are not skipped: a require in a comment is only read, never run). */
export function requiredNames(code: string): string[] {
  const names: string[] = [];
  for (const match of code.matchAll(REQUIRE)) names.push(match[2]!);
  return names;
}

/**
 * package.path as LuaJIT builds it (lib_package.c setpath): LUA_PATH from the environment,
 * its ";;" replaced by the default path; the default without it.
 */
export function luaPackagePath(server: Pick<ServerContext, "runtime">): string {
  const env = server.runtime.environmentVariable?.("LUA_PATH");
  if (env === undefined) return LUAJIT_DEFAULT_PATH;
  return env.replace(";;", `;${LUAJIT_DEFAULT_PATH};`).replace(/^;+|;+$/g, "");
}

/** The files package.searchpath would try for `name` (its dots as directory separators). */
export function candidateFiles(name: string, path: string): string[] {
  const file = name.replaceAll(".", "/");
  return path.split(";").filter((template) => template !== "").map((template) => template.replaceAll("?", file));
}

/** Find and read, transitively, the modules `codes` require. */
export async function resolveModules(codes: readonly string[], server: Pick<ServerContext, "runtime">): Promise<ResolvedModules> {
  const path = luaPackagePath(server);
  const modules = new Map<string, LuaModuleSource>();
  const missing = new Map<string, string[]>();
  const pending = codes.flatMap(requiredNames);
  while (pending.length > 0) {
    const name = pending.shift()!;
    if (modules.has(name) || missing.has(name)) continue;
    const tried: string[] = [];
    let found: LuaModuleSource | undefined;
    for (const file of candidateFiles(name, path)) {
      tried.push(file);
      try {
        found = { path: file, code: await readByteString(server, file) };
        break;
      } catch {
        // Not there (or unreadable): the next template, as LuaJIT's searcher goes on.
      }
    }
    if (found === undefined) {
      missing.set(name, tried);
      continue;
    }
    modules.set(name, found);
    pending.push(...requiredNames(found.code));
  }
  return { path, modules, missing };
}

/** A file's bytes as a byte string (one char per byte): Lua source is bytes, not UTF-16 text. */
export async function readByteString(server: Pick<ServerContext, "runtime">, file: string): Promise<string> {
  const runtime = server.runtime;
  if (runtime.readFileBytes !== undefined) {
    const bytes = await runtime.readFileBytes(file);
    let out = "";
    for (let i = 0; i < bytes.length; i += 8192) out += String.fromCharCode(...bytes.subarray(i, i + 8192));
    return out;
  }
  // A runtime without byte reads: its text is UTF-8 encoded again.
  const text = await runtime.readTextFile(file);
  const bytes = new Uint8Array(text.length * 3);
  let n = 0;
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x80) bytes[n++] = c;
    else if (c < 0x800) (bytes[n++] = 0xc0 | (c >> 6)), (bytes[n++] = 0x80 | (c & 63));
    else if (c < 0x10000) (bytes[n++] = 0xe0 | (c >> 12)), (bytes[n++] = 0x80 | ((c >> 6) & 63)), (bytes[n++] = 0x80 | (c & 63));
    else (bytes[n++] = 0xf0 | (c >> 18)), (bytes[n++] = 0x80 | ((c >> 12) & 63)), (bytes[n++] = 0x80 | ((c >> 6) & 63)), (bytes[n++] = 0x80 | (c & 63));
  }
  let out = "";
  for (let i = 0; i < n; i++) out += String.fromCharCode(bytes[i]!);
  return out;
}
