/**
 * Every xDS/SDS resource is checked with the RE2 engine loaded when it needs one: each call
 * of discovery-response.ts's `decodeResource(` runs inside `withRegexEngine(...)`
 * (core/config/regex-engine.ts) or `withDataSources(...)` (data-source-files.ts, which runs its
 * check under withRegexEngine), directly or through an exported function every one of whose
 * calls does. A schema that meets a regex without the engine throws RegexEngineNotLoaded,
 * and a path that forgot it refused good resources (an SDS secret's safe_regex SAN
 * matcher did). Read from the source's syntax tree (TypeScript's parser), so a call in a
 * comment or string does not count and an alias or a reference passed on is seen.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import ts from "typescript";
import { expect, test } from "vitest";

const CORE = join(import.meta.dirname, "../../../core");
const DEFINED_IN = "config/xds/discovery-response.ts";

/** A call that must run under withRegexEngine: `file:line` and the callee's name. */
interface Site {
  file: string;
  line: number;
  callee: string;
}

const sources = new Map(
  readdirSync(CORE, { recursive: true, encoding: "utf8" })
    .filter((file) => file.endsWith(".ts"))
    .map((file) => [file, ts.createSourceFile(file, readFileSync(join(CORE, file), "utf8"), ts.ScriptTarget.Latest, true)] as const),
);

function visit(node: ts.Node, each: (node: ts.Node) => void): void {
  each(node);
  node.forEachChild((child) => visit(child, each));
}

/** The local names `file` binds to `decodeResource`: `import { decodeResource as x }` or `const { decodeResource: x } = await import(…)`. */
function decodeResourceNames(source: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const fromDefiningModule = (specifier: ts.Node) => ts.isStringLiteral(specifier) && specifier.text.endsWith("/discovery-response.ts");
  visit(source, (node) => {
    if (ts.isImportDeclaration(node) && fromDefiningModule(node.moduleSpecifier) && node.importClause?.namedBindings && ts.isNamedImports(node.importClause.namedBindings)) {
      for (const element of node.importClause.namedBindings.elements) if ((element.propertyName ?? element.name).text === "decodeResource") names.add(element.name.text);
    }
    if (ts.isVariableDeclaration(node) && ts.isObjectBindingPattern(node.name) && node.initializer) {
      let init: ts.Expression = node.initializer;
      if (ts.isAwaitExpression(init)) init = init.expression;
      if (ts.isCallExpression(init) && init.expression.kind === ts.SyntaxKind.ImportKeyword && init.arguments[0] && fromDefiningModule(init.arguments[0])) {
        for (const element of node.name.elements) {
          const key = element.propertyName ?? element.name;
          if (ts.isIdentifier(key) && key.text === "decodeResource" && ts.isIdentifier(element.name)) names.add(element.name.text);
        }
      }
    }
  });
  return names;
}

/** Whether `node` is inside the function passed to a `withRegexEngine(...)` call. */
function underEngine(node: ts.Node): boolean {
  for (let at: ts.Node = node; at.parent; at = at.parent) {
    const parent = at.parent;
    if (ts.isCallExpression(parent) && ts.isIdentifier(parent.expression) && (parent.expression.text === "withRegexEngine" || parent.expression.text === "withDataSources") && parent.arguments.includes(at as ts.Expression)) return true;
  }
  return false;
}

/** The exported function `node` is in (`export function f` or `export const f = (…) =>`), if any. */
function exportedFunction(node: ts.Node): string | undefined {
  for (let at: ts.Node | undefined = node.parent; at; at = at.parent) {
    const exported = (n: ts.Node) => ts.canHaveModifiers(n) && (ts.getModifiers(n) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    if (ts.isFunctionDeclaration(at)) return at.name && exported(at) ? at.name.text : undefined;
    if (ts.isArrowFunction(at) || ts.isFunctionExpression(at)) {
      const declaration = at.parent;
      if (ts.isVariableDeclaration(declaration) && ts.isIdentifier(declaration.name) && exported(declaration.parent.parent)) return declaration.name.text;
      return undefined;
    }
    if (ts.isFunctionLike(at) || ts.isClassLike(at)) return undefined;
  }
  return undefined;
}

/** Every use of `names` in `source` (their bindings aside): the calls found, and the uses that are not a call. */
function uses(source: ts.SourceFile, names: Set<string>): { calls: ts.CallExpression[]; other: ts.Identifier[] } {
  const calls: ts.CallExpression[] = [];
  const other: ts.Identifier[] = [];
  visit(source, (node) => {
    if (!ts.isIdentifier(node) || !names.has(node.text)) return;
    const parent = node.parent;
    if (ts.isCallExpression(parent) && parent.expression === node) calls.push(parent);
    else if (ts.isImportSpecifier(parent) || ts.isBindingElement(parent) || ts.isPropertyAccessExpression(parent) && parent.name === node) return;
    else if ((ts.isFunctionDeclaration(parent) || ts.isVariableDeclaration(parent)) && parent.name === node) return;
    else other.push(node);
  });
  return { calls, other };
}

/**
 * The calls of decodeResource and of the exported functions that wrap it, and what is
 * wrong: a call neither under withRegexEngine nor in an exported function, or a
 * reference that is not a call (passed on, it could be called anywhere).
 */
function check(): { covered: Site[]; problems: string[] } {
  const covered: Site[] = [];
  const problems: string[] = [];
  // Names to follow: decodeResource as each file binds it; then each exported wrapper, in every file.
  const pending: { callee: string; names: (file: string, source: ts.SourceFile) => Set<string> }[] = [
    { callee: "decodeResource", names: (file, source) => (file === DEFINED_IN ? new Set() : decodeResourceNames(source)) },
  ];
  const followed = new Set<string>(["decodeResource"]);
  while (pending.length > 0) {
    const { callee, names } = pending.shift()!;
    for (const [file, source] of sources) {
      const { calls, other } = uses(source, names(file, source));
      for (const node of other) problems.push(`${file}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${callee} used other than called`);
      for (const call of calls) {
        const site = { file, line: source.getLineAndCharacterOfPosition(call.getStart()).line + 1, callee };
        if (underEngine(call)) {
          covered.push(site);
          continue;
        }
        const wrapper = exportedFunction(call);
        if (wrapper === undefined) problems.push(`${file}:${site.line}: ${callee}( outside withRegexEngine(...) and outside an exported function`);
        else if (!followed.has(wrapper)) {
          followed.add(wrapper);
          // A wrapper is called by its name (where it is imported, or in its own file).
          pending.push({ callee: wrapper, names: () => new Set([wrapper]) });
        }
      }
    }
  }
  return { covered, problems };
}

test("every decodeResource( of an xDS or SDS resource runs under withRegexEngine, directly or through its wrapper", () => {
  const { covered, problems } = check();
  expect(problems).toEqual([]);
  // LDS and CDS, RDS, EDS directly; SDS through sds-resource.ts's readSecretResponse.
  const where = covered.map((site) => `${site.file} ${site.callee}`);
  expect(where).toEqual(
    expect.arrayContaining([
      "config/xds/lds-cds-api.ts decodeResource",
      "http/route/rds-route-config-provider.ts decodeResource",
      "config/xds/eds-resource.ts decodeResource",
      "tls/sds-api.ts readSecretResponse",
    ]),
  );
});
