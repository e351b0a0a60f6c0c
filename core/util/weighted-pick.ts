/**
 * One entry chosen with probability weight / total weight, from `random` in [0, 1) (the
 * port's random()): the walk of Envoy's weighted cluster selection (router's
 * WeightedClusterEntry, tcp_proxy's Config::getRegularRouteFromEntries). Undefined only
 * for an empty list.
 */
export function pickWeighted<T extends { weight: number }>(entries: readonly T[], random: number): T | undefined {
  const total = entries.reduce((sum, e) => sum + e.weight, 0);
  let pick = random * total;
  for (const entry of entries) {
    pick -= entry.weight;
    if (pick < 0) return entry;
  }
  return entries[entries.length - 1];
}
