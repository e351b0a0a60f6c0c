/**
 * require() for the Lua filter. Envoy's LuaJIT searches package.path when a script calls
 * require, reading files synchronously; polyvoy reads files only asynchronously (the port's
 * readTextFile), so the names a code requires are found before it runs: every
 * `require "name"` / `require("name")` / `require 'name'` with a literal name in the code
 * and, transitively, in the modules found, is looked up along package.path when the
 * listener is built. A require the scan could not see (a computed name) fails at run time
 * as a Lua error saying so (lua-code.ts).
 */
import { readDataFile } from "../../../config/data-source-files.ts";
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

/**
 * A file's bytes as a byte string (one char per byte): Lua source is bytes, not UTF-16 text.
 * Read as a DataSource file is (config/data-source-files.ts): a regular file, not under
 * /dev, /sys or /proc, at most MAX_DATA_SOURCE_FILE_BYTES.
 */
export async function readByteString(server: Pick<ServerContext, "runtime">, file: string): Promise<string> {
  const read = await readDataFile(server.runtime, file);
  if ("error" in read) throw new Error(read.error);
  return read.data;
}
