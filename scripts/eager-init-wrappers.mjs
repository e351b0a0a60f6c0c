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
import ts from "typescript";

/** esbuild's lazy-init helper as it minifies it: `var C=(r,e,t)=>()=>{if(t)throw t[0];…`. */
const INIT_HELPER = /var ([\w$]+)=\([\w$]+,[\w$]+,[\w$]+\)=>\(\)=>\{if\([\w$]+\)throw /;

/**
 * The files of a code-split esbuild build (`{ path, text }`, minified ESM), each that has
 * lazy-init wrappers with them parenthesized. With splitting, a module reached by import()
 * gets a chunk of its own and its top level stays a module's top level (compiled with the
 * chunk, so in Deno's code cache): esbuild wraps only a module that is require()d, which
 * polyvoy's ESM sources are not, so today no file has a wrapper. A helper shared between
 * chunks (exported by one, imported under other names by the rest) is refused: this
 * rewrite finds the calls by the helper's local name. The helper's shape itself is checked
 * on the one-file bundle, built by the same esbuild (parenthesizeInitWrappers throws there).
 */
export function parenthesizeSplitOutputs(files) {
  let wrappers = 0;
  const out = files.map(({ path, text }) => {
    const helper = INIT_HELPER.exec(text)?.[1];
    if (helper === undefined) return { path, text };
    if (new RegExp(`export\\s*\\{[^}]*([\\s,{])${helper.replace(/\$/g, "\\$")}(\\s+as\\s|[\\s,}])`).test(text)) {
      throw new Error(`eager-init-wrappers: ${path} exports esbuild's lazy-init helper to other chunks (esbuild changed?)`);
    }
    const rewritten = parenthesizeInitWrappers(text);
    wrappers += rewritten.wrappers;
    return { path, text: rewritten.source };
  });
  return { files: out, wrappers };
}

/**
 * `source` (an esbuild ESM bundle, minified) with every argument of the lazy-init helper that
 * is an arrow function in parentheses; throws when the helper is not found (a changed esbuild
 * would otherwise silently drop the gain).
 */
export function parenthesizeInitWrappers(source) {
  const helper = INIT_HELPER.exec(source)?.[1];
  if (helper === undefined) throw new Error("eager-init-wrappers: esbuild's lazy-init helper not found in the bundle");
  const file = ts.createSourceFile("bundle.js", source, ts.ScriptTarget.Latest, false, ts.ScriptKind.JS);
  const at = [];
  const visit = (node) => {
    if (ts.isCallExpression(node) && ts.isIdentifier(node.expression) && node.expression.text === helper && node.arguments.length === 1) {
      const init = node.arguments[0];
      if (ts.isArrowFunction(init)) at.push(init.getStart(file), init.end);
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  if (at.length === 0) throw new Error(`eager-init-wrappers: no call of the lazy-init helper ${helper} found`);
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
