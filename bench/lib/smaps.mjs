// What a process's resident memory is made of, from /proc/<pid>/smaps: file-backed pages
// (the runtime's executable, shared libraries, other files) and anonymous ones (the brk heap,
// stacks, and the other anonymous mappings: the JS engine's heap pages, malloc's thread
// arenas and large blocks, allocators' own mappings). For bench/rss-breakdown.mjs.
import { readFileSync, readlinkSync } from "node:fs";

const kB = (line) => Number(/(\d+) kB/.exec(line)?.[1] ?? 0);

/**
 * The mappings of `pid`: {start, end, perms, path, rssKiB, anonKiB, sizeKiB} each, in
 * address order; null when the process is gone.
 */
export function readSmaps(pid) {
  let text;
  try {
    text = readFileSync(`/proc/${pid}/smaps`, "utf8");
  } catch {
    return null;
  }
  const maps = [];
  let current = null;
  for (const line of text.split("\n")) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      current = { start: parseInt(head[1], 16), end: parseInt(head[2], 16), perms: head[3], path: head[4], rssKiB: 0, anonKiB: 0 };
      current.sizeKiB = (current.end - current.start) / 1024;
      maps.push(current);
    } else if (current && line.startsWith("Rss:")) current.rssKiB = kB(line);
    else if (current && line.startsWith("Anonymous:")) current.anonKiB = kB(line);
  }
  return maps;
}

/**
 * Resident KiB by kind: exe (file pages of the runtime's executable), libs (other .so),
 * files (other files), heap ([heap]: malloc's main arena), stack, anon (other anonymous
 * mappings), and total.
 */
export function classify(pid, maps) {
  let exe = "";
  try {
    exe = readlinkSync(`/proc/${pid}/exe`);
  } catch {
    // gone
  }
  const out = { exe: 0, libs: 0, files: 0, heap: 0, stack: 0, anon: 0, total: 0 };
  for (const m of maps) {
    out.total += m.rssKiB;
    const filePages = m.rssKiB - m.anonKiB;
    // private copies of file pages (relocations, .data) count as anonymous, where they are
    out.anon += m.path.startsWith("/") ? m.anonKiB : 0;
    if (m.path === "[heap]") out.heap += m.rssKiB;
    else if (m.path.startsWith("[stack")) out.stack += m.rssKiB;
    else if (m.path === exe) out.exe += filePages;
    else if (/\.so(\.|$)/.test(m.path)) out.libs += filePages;
    else if (m.path.startsWith("/")) out.files += filePages;
    else out.anon += m.rssKiB; // unnamed, [anon:…], [vvar], [vdso]
  }
  return out;
}

/**
 * Anonymous mappings grouped by the region they belong to, for a diff between two moments:
 * a key per mapping start (mappings grow in place), with its resident KiB.
 */
export function anonRegions(maps) {
  const out = new Map();
  for (const m of maps) {
    if (m.path.startsWith("/") || m.path === "[heap]" || m.path.startsWith("[stack")) continue;
    if (m.rssKiB === 0) continue;
    out.set(m.start, { sizeKiB: m.sizeKiB, rssKiB: m.rssKiB, perms: m.perms, path: m.path });
  }
  return out;
}
