// /proc/net/stat/nf_conntrack, arp_cache and ndisc_cache: a header of column names, then one line of
// hex values per CPU. The conntrack statistics are per network namespace; the neighbour tables'
// are the whole host's (arp_tbl and nd_tbl are shared by every namespace).
import type { CounterSnapshot } from './counters';

/** Each column summed over the CPUs as "<group> <column>"; `entries` is a gauge, the same on every line, left out. */
export function parseStatTable(text: string, group: string, into: CounterSnapshot): CounterSnapshot {
  const [header, ...rows] = text.split('\n').filter((line) => line.trim() !== '');
  if (header === undefined) return into;
  const names = header.trim().split(/\s+/);
  const sums = new Map<string, number>();
  for (const row of rows) {
    row
      .trim()
      .split(/\s+/)
      .forEach((hex, i) => {
        const value = parseInt(hex, 16);
        if (names[i] !== undefined && Number.isFinite(value)) sums.set(names[i], (sums.get(names[i]) ?? 0) + value);
      });
  }
  for (const [name, value] of sums) if (name !== 'entries') into.set(`${group} ${name}`, value);
  return into;
}
