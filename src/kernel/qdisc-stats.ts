// qdisc statistics (`tc -s -j qdisc show`): each qdisc's drops as "qdisc <dev> <handle> <kind> drops",
// and what the ledger says of it (root or not, its limit, its backlog).
import type { CounterSnapshot } from './counters';

export interface QdiscInfo {
  dev: string;
  handle: string;
  kind: string;
  /** The device's root qdisc: it counts every drop of the qdiscs below it. */
  root: boolean;
  /** The qdisc's own limit (packets for pfifo, bytes for tbf and bfifo), as tc names it; null when it has none. */
  limit: string | null;
  drops: number;
  overlimits: number;
  /** Its drops' name in the snapshot (qdiscCounter). */
  counter: string;
}

/** A qdisc's drops counter as it appears in the snapshot. */
export function qdiscCounter(q: Pick<QdiscInfo, 'dev' | 'handle' | 'kind'>): string {
  return `qdisc ${q.dev} ${q.handle} ${q.kind} drops`;
}

interface TcQdisc {
  kind?: string;
  handle?: string;
  dev?: string;
  root?: boolean;
  options?: Record<string, unknown>;
  drops?: number;
  overlimits?: number;
}

/** noqueue holds nothing and so drops nothing: left out. Throws on text that is not tc's JSON. */
export function parseQdiscStats(json: string, into: CounterSnapshot): QdiscInfo[] {
  const listed = JSON.parse(json) as TcQdisc[];
  if (!Array.isArray(listed)) throw new Error('tc -j qdisc: not a list');
  const qdiscs: QdiscInfo[] = [];
  for (const q of listed) {
    if (!q.kind || !q.dev || q.handle === undefined || q.kind === 'noqueue') continue;
    const limit = q.options?.limit;
    const named = { dev: q.dev, handle: q.handle, kind: q.kind };
    const info: QdiscInfo = {
      ...named,
      counter: qdiscCounter(named),
      root: q.root === true,
      limit: limit === undefined ? null : String(limit),
      drops: q.drops ?? 0,
      overlimits: q.overlimits ?? 0,
    };
    into.set(info.counter, info.drops);
    qdiscs.push(info);
  }
  return qdiscs;
}
