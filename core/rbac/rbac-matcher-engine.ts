/**
 * Envoy's RBAC matcher engine (RoleBasedAccessControlMatcherEngineImpl in
 * source/extensions/filters/common/rbac/engine_impl.cc): the first matcher of the list
 * whose predicate matches gives the action, else on_no_match; no action at all denies.
 * The action's name is the effective policy. ALLOW and LOG allow, DENY denies; when some
 * action is LOG, every decision that found an action says whether it was LOG (Envoy's
 * generateLog, for access_log_hint).
 */
import type { RbacMatchInput, RbacMatcherAction, RbacMatcherConfig, RbacMatcherPredicate } from "../config/bootstrap.ts";
import { compileStringMatch } from "../http/route/header-matcher.ts";
import type { RbacDecision, RbacInput } from "./rbac-engine.ts";

type Predicate = (input: RbacInput) => boolean;

export class RbacMatcherEngine {
  private readonly matchers: { matches: Predicate; action: RbacMatcherAction }[];
  private readonly onNoMatch: RbacMatcherAction | undefined;
  /** Some action is LOG (Envoy's has_log_). */
  readonly logs: boolean;

  constructor(config: RbacMatcherConfig) {
    this.matchers = config.matchers.map((m) => ({ matches: compilePredicate(m.predicate), action: m.action }));
    this.onNoMatch = config.onNoMatch;
    this.logs = config.matchers.some((m) => m.action.action === "LOG") || config.onNoMatch?.action === "LOG";
  }

  /** Envoy's handleAction. */
  evaluate(input: RbacInput): RbacDecision {
    let action = this.onNoMatch;
    for (const matcher of this.matchers) {
      if (matcher.matches(input)) {
        action = matcher.action;
        break;
      }
    }
    // Default to DENY, with no effective policy and no log decision (Envoy returns before generateLog).
    if (action === undefined) return { allowed: false, logHint: undefined, effectivePolicyId: "" };
    return { allowed: action.action !== "DENY", logHint: this.logs ? action.action === "LOG" : undefined, effectivePolicyId: action.name };
  }
}

function compilePredicate(predicate: RbacMatcherPredicate): Predicate {
  switch (predicate.type) {
    case "single": {
      const read = compileInput(predicate.input);
      const matches = compileStringMatch(predicate.value);
      // An input with no data (the header is absent) matches no value.
      return (input) => {
        const value = read(input);
        return value !== undefined && matches(value);
      };
    }
    case "and": {
      const all = predicate.predicates.map(compilePredicate);
      return (input) => all.every((p) => p(input));
    }
    case "or": {
      const any = predicate.predicates.map(compilePredicate);
      return (input) => any.some((p) => p(input));
    }
    case "not": {
      const inner = compilePredicate(predicate.predicate);
      return (input) => !inner(input);
    }
  }
}

/** The data input: HttpRequestHeaderMatchInput is the header's values joined with "," (Envoy's getAllOfHeaderAsString). */
function compileInput(matchInput: RbacMatchInput): (input: RbacInput) => string | undefined {
  const name = matchInput.name;
  return (input) => input.headers?.header(name);
}
