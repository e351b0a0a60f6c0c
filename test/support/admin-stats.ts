/** The admin's /stats text as a map of counter and gauge values (histogram lines skipped). */
export async function adminStats(adminPort: number): Promise<Map<string, number>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/stats`)).text();
  const map = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^([^:]+): (\d+)$/.exec(line);
    if (m) map.set(m[1]!, Number(m[2]));
  }
  return map;
}
