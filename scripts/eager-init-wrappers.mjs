// The deno bundle's module-init functions in parentheses, so that Deno's code cache holds them.
//
// esbuild wraps each bundled module's top-level code in a function that runs once, at the
// module's first import (`var init_x = __esm(() => { … })`, minified `C(()=>{…})`). V8
// compiles a function lazily, at its first call, unless it is parenthesized (the "PIFE"
// heuristic: https://v8.dev/blog/code-caching-for-devs, "Don't be lazy about functions you
// call early"). Deno writes a module's V8 code cache when it compiles the module, before it
// runs it (deno_core's modules/map.rs; stored in DENO_DIR/v8_code_cache_v2): so the lazily
// compiled init functions are not in it and are compiled again at every start. In
// parentheses they are compiled with the bundle and cached with it (the cache grows from
// ~0.7 to ~1.3 MB); every one that a start imports runs anyway (docs/performance.md,
// "Start-up on deno: the module-init functions in the code cache"). Node's and Bun's
// entries keep their own caches made after start (bin/node-code-cache.js, Bun's bytecode).
//
// Only the wrappers' own positions change (`C(()=>{…})` → `C((()=>{…}))`): same program.
import { dirname, resolve } from "node:path";
import ts from "typescript";

/** esbuild's lazy-init helper as it minifies it: `var C=(r,e,t)=>()=>{if(t)throw t[0];…`. */
const INIT_HELPER = /var ([\w$]+)=\([\w$]+,[\w$]+,[\w$]+\)=>\(\)=>\{if\([\w$]+\)throw /;

/**
 * The files of a code-split esbuild build (`{ path, text }`, minified ESM, absolute paths)
 * with every lazy-init wrapper parenthesized. With splitting, esbuild keeps its helpers in
 * one shared chunk, which exports them (`export{k as a}`), and a chunk with wrappers imports
 * the helper under a name of its own (`import{a as t}from"./chunk-….js"`; `t(()=>{…})`).
 * A module reached by import() gets a chunk of its own and its top level stays a module's
 * top level (compiled with the chunk, so in Deno's code cache): esbuild wraps only a module
 * that is require()d, which polyvoy's ESM sources are not, so today no file has a wrapper.
 * The helper's shape is checked on the one-file bundle, made by the same esbuild
 * (parenthesizeInitWrappers throws there when it cannot find the helper).
 */
export function parenthesizeSplitOutputs(files) {
  const defining = files.filter(({ text }) => INIT_HELPER.test(text));
  if (defining.length > 1) throw new Error(`eager-init-wrappers: esbuild's lazy-init helper is defined in ${defining.length} chunks (esbuild changed?)`);
  if (defining.length === 0) return { files, wrappers: 0 };
  const home = defining[0];
  const helper = INIT_HELPER.exec(home.text)[1];
  const exported = exportedNames(parse(home.text), helper);
  let wrappers = 0;
  const out = files.map(({ path, text }) => {
    const file = parse(text);
    const names = path === home.path ? [helper] : importedNames(file, path, home.path, exported);
    if (names.length === 0) return { path, text };
    const rewritten = parenthesizeCalls(text, file, names);
    wrappers += rewritten.wrappers;
    return { path, text: rewritten.source };
  });
  return { files: out, wrappers };
}

const parse = (source) => ts.createSourceFile("bundle.js", source, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);

/** The names under which `file` exports its local `local` (`export{k as a}`). */
function exportedNames(file, local) {
  const names = [];
  for (const statement of file.statements) {
    if (!ts.isExportDeclaration(statement) || statement.moduleSpecifier !== undefined || !statement.exportClause || !ts.isNamedExports(statement.exportClause)) continue;
    for (const element of statement.exportClause.elements) if ((element.propertyName ?? element.name).text === local) names.push(element.name.text);
  }
  return names;
}

/** The local names `file` (at `path`) gives to `home`'s exports `exported` (`import{a as t}from"./chunk-….js"`). */
function importedNames(file, path, home, exported) {
  const names = [];
  for (const statement of file.statements) {
    if (!ts.isImportDeclaration(statement) || !ts.isStringLiteral(statement.moduleSpecifier)) continue;
    if (resolve(dirname(path), statement.moduleSpecifier.text) !== home) continue;
    const bindings = statement.importClause?.namedBindings;
    if (bindings === undefined) continue;
    if (!ts.isNamedImports(bindings)) throw new Error(`eager-init-wrappers: ${path} imports the lazy-init helper's chunk as a namespace (esbuild changed?)`);
    for (const element of bindings.elements) if (exported.includes((element.propertyName ?? element.name).text)) names.push(element.name.text);
  }
  return names;
}

/**
 * `source` (an esbuild ESM bundle, minified) with every argument of the lazy-init helper that
 * is an arrow function in parentheses; throws when the helper is not found (a changed esbuild
 * would otherwise silently drop the gain).
 */
export function parenthesizeInitWrappers(source) {
  const helper = INIT_HELPER.exec(source)?.[1];
  if (helper === undefined) throw new Error("eager-init-wrappers: esbuild's lazy-init helper not found in the bundle");
  const result = parenthesizeCalls(source, parse(source), [helper]);
  if (result.wrappers === 0) throw new Error(`eager-init-wrappers: no call of the lazy-init helper ${helper} found`);
  return result;
}

/** `source` with the arrow function passed alone to any of `names` parenthesized. */
function parenthesizeCalls(source, file, names) {
  const at = [];
  const visit = (node) => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && names.includes(node.expression.text) && node.arguments.length === 1) {
      const init = node.arguments[0];
      if (ts.isArrowFunction(init)) at.push(init.getStart(file), init.end);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  // at: start, end, start, end … in source order; wrappers do not nest (each is a module's).
  let out = "";
  let from = 0;
  for (let i = 0; i < at.length; i += 2) {
    if (at[i] < from) throw new Error("eager-init-wrappers: nested lazy-init wrappers (esbuild changed?)");
    out += `${source.slice(from, at[i])}(${source.slice(at[i], at[i + 1])})`;
    from = at[i + 1];
  }
  return { source: out + source.slice(from), wrappers: at.length / 2 };
}
