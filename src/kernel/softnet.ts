// /proc/net/softnet_stat: one line of hex columns per CPU, a host-wide file (the same in every
// network namespace). Columns were added over the years (flow_limit in 3.x, the CPU's number in
// 5.10, the queue lengths in 6.x), so each is read by its position only when the line has it.
import type { CounterSnapshot } from './counters';

const PROCESSED = 0;
const DROPPED = 1;
const TIME_SQUEEZE = 2;
const FLOW_LIMIT = 10;
const CPU_INDEX = 12;

/**
 * The sums as "softnet processed|dropped|time_squeeze|flow_limit", and each CPU's drops as
 * "softnet cpu<N> dropped" / "softnet cpu<N> flow_limit". Before 5.10 a line has no CPU number and
 * offline CPUs have no line: the line's position stands in for it.
 */
export function parseSoftnetStat(text: string, into: CounterSnapshot): CounterSnapshot {
  const sums = { processed: 0, dropped: 0, time_squeeze: 0, flow_limit: 0 };
  text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .forEach((line, position) => {
      const columns = line
        .trim()
        .split(/\s+/)
        .map((hex) => parseInt(hex, 16));
      if (columns.some((n) => !Number.isFinite(n))) return;
      const cpu = columns.length > CPU_INDEX ? columns[CPU_INDEX] : position;
      const flowLimit = columns[FLOW_LIMIT] ?? 0;
      sums.processed += columns[PROCESSED] ?? 0;
      sums.dropped += columns[DROPPED] ?? 0;
      sums.time_squeeze += columns[TIME_SQUEEZE] ?? 0;
      sums.flow_limit += flowLimit;
      into.set(`softnet cpu${cpu} dropped`, columns[DROPPED] ?? 0);
      into.set(`softnet cpu${cpu} flow_limit`, flowLimit);
    });
  for (const [name, value] of Object.entries(sums)) into.set(`softnet ${name}`, value);
  return into;
}
