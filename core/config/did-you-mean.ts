/**
 * "did you mean …?" for a misspelt name: the closest candidate by edit distance
 * (optimal string alignment: insertions, deletions, substitutions and swaps of two
 * neighbours, case ignored), offered only when it is close enough to be the likely intent.
 */

/** At most this many edits for a name of this length: one for short names, up to three for long ones. */
function maxEdits(length: number): number {
  return length <= 4 ? 1 : length <= 12 ? 2 : 3;
}

/** The candidate closest to `name`, if one is close; ties go to the earliest candidate. */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  const wanted = name.toLowerCase();
  const limit = maxEdits(wanted.length);
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    if (candidate === name) continue;
    const distance = editDistance(wanted, candidate.toLowerCase(), bestDistance);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** Optimal string alignment distance; stops early (returning `bound`) once it cannot be below it. */
export function editDistance(a: string, b: string, bound = Infinity): number {
  if (Math.abs(a.length - b.length) >= bound) return bound;
  let before: number[] = [];
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let d = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d = Math.min(d, before[j - 2]! + 1);
      current.push(d);
      rowMin = Math.min(rowMin, d);
    }
    if (rowMin >= bound) return bound;
    before = previous;
    previous = current;
  }
  return previous[b.length]!;
}

/** "; did you mean `x`?" or nothing. */
export function didYouMean(name: string, candidates: Iterable<string>, quote: (s: string) => string = (s) => `\`${s}\``): string {
  const closest = closestName(name, candidates);
  return closest === undefined ? "" : `; did you mean ${quote(closest)}?`;
}
