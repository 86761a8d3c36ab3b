// dropwhy summary: count drops per (reason, protocol, location) in the kernel
// and print the counts every interval, dropwatch-style. No per-event traffic
// to user space, so this is the mode for very high drop rates.
import type { Family } from '../events/address';
import { explain } from '../knowledge/advice';
import { hintLine } from './explain';
import { correlate, formatCorrelation, unseenCounted, verdict, type CounterCheck } from '../knowledge/correlate';
import { formatKernelAddress, type KernelAddress } from '../events/decode';
import { lowerFilter } from '../events/filter';
import { protocolName, type FormatContext } from '../output/format';
import { COUNT_RECORD, COUNT_RECORD_SIZE } from '../events/layout';
import type { CounterDelta } from '../kernel/counters';
import type { SummaryOptions } from './options';
import { Session } from './session';
import { prepare, WAKEUP_BYTES, type CommandIo } from './trace';

/** Summary mode sends no events: the smallest ring the kernel accepts. */
const UNUSED_RING_BYTES = 4096;
/** How often --count is checked between intervals. */
const COUNT_CHECK_MS = 100;

export interface DropCount {
  location: KernelAddress;
  reason: number | null;
  family: Family | null;
  l4Proto: number | null;
  count: number;
}

export function decodeCounts(records: Uint8Array, hasReason: boolean): DropCount[] {
  const view = new DataView(records.buffer, records.byteOffset, records.byteLength);
  const counts: DropCount[] = [];
  for (let base = 0; base + COUNT_RECORD_SIZE <= records.byteLength; base += COUNT_RECORD_SIZE) {
    const family = view.getUint8(base + COUNT_RECORD.family);
    counts.push({
      location: { hi: view.getUint32(base + COUNT_RECORD.location + 4, true), lo: view.getUint32(base + COUNT_RECORD.location, true) },
      reason: hasReason ? view.getUint32(base + COUNT_RECORD.reason, true) : null,
      family: family === 4 || family === 6 ? family : null,
      l4Proto: (family === 4 || family === 6) && view.getUint8(base + COUNT_RECORD.has_l4_proto) ? view.getUint8(base + COUNT_RECORD.l4_proto) : null,
      count: view.getUint32(base + COUNT_RECORD.count + 4, true) * 2 ** 32 + view.getUint32(base + COUNT_RECORD.count, true),
    });
  }
  return counts;
}

export interface SummaryRow {
  reason: string | null;
  reasonCode: number | null;
  subsystem: string | null;
  proto: string | null;
  family: Family | null;
  location: string | null;
  address: string;
  count: number; // in this interval
  total: number; // since the start
}

/** Rows for this interval, sorted by count, from cumulative kernel counts and the totals seen before. */
export function intervalRows(counts: DropCount[], previous: Map<string, number>, context: FormatContext): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const c of counts) {
    const key = `${c.location.hi}:${c.location.lo}/${c.reason}/${c.family}/${c.l4Proto}`;
    const before = previous.get(key) ?? 0;
    previous.set(key, c.count);
    const reason = c.reason === null ? null : context.reasons.decode(c.reason);
    rows.push({
      reason: reason?.name ?? null,
      reasonCode: reason?.code ?? null,
      subsystem: reason?.subsystem ?? null,
      proto: protocolName(c.l4Proto, 0),
      family: c.family,
      location: context.symbols.symbolize(c.location),
      address: formatKernelAddress(c.location),
      count: c.count - before,
      total: c.count,
    });
  }
  return rows.sort((a, b) => b.count - a.count || b.total - a.total);
}

function rowJson(row: SummaryRow, count: number) {
  return {
    reason: row.reason,
    reason_code: row.reasonCode,
    subsystem: row.subsystem,
    proto: row.proto,
    family: row.family === null ? null : row.family === 4 ? 'ipv4' : 'ipv6',
    location: row.location,
    address: row.address,
    count,
  };
}

export function intervalJson(rows: SummaryRow[], intervalS: number, at: Date) {
  return {
    type: 'interval',
    ts: at.toISOString(),
    interval_s: intervalS,
    drops: rows.filter((r) => r.count > 0).map((r) => rowJson(r, r.count)),
  };
}

export function totalJson(
  rows: SummaryRow[],
  durationS: number,
  counters: { seen: number; matched: number; lost: number; overflow: number },
  deltas: CounterDelta[] | null,
  checks: CounterCheck[],
) {
  return {
    type: 'total',
    duration_s: durationS,
    drops: [...rows].sort((a, b) => b.total - a.total).map((r) => rowJson(r, r.total)),
    seen: counters.seen,
    matched: counters.matched,
    overflow: counters.overflow,
    counters: deltas === null ? null : deltas.map((d) => ({ name: d.name, delta: d.delta })),
    correlation: checks.map((c) => ({
      counter: c.counter,
      delta: c.delta,
      traced: c.traced,
      reasons: c.reasons,
      uncounted: unseenCounted(c, counters.overflow),
      verdict: verdict(c, counters.overflow),
    })),
  };
}

function rowText(row: SummaryRow, count: number): string {
  const where = row.location ? `${row.location} (${row.address})` : row.address;
  return `${String(count).padStart(9)} drops  ${(row.reason ?? '-').padEnd(22)} ${(row.proto ?? '-').padEnd(5)} ${where}`;
}

export function intervalText(rows: SummaryRow[], at: Date, hinted: Set<string> | null): string {
  const active = rows.filter((r) => r.count > 0);
  const total = active.reduce((sum, r) => sum + r.count, 0);
  const lines = [`--- ${at.toTimeString().slice(0, 8)}: ${total} drops ---`];
  for (const row of active) {
    lines.push(rowText(row, row.count));
    if (hinted && row.reason && !hinted.has(row.reason)) {
      hinted.add(row.reason);
      lines.push(hintLine(row.reason));
    }
  }
  return lines.join('\n') + '\n';
}

const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/** The live table on a terminal: redrawn in place, sorted by rate. */
export function liveTable(rows: SummaryRow[], elapsedS: number, intervalS: number, matched: number): string {
  const header = `dropwhy summary: ${elapsedS.toFixed(0)}s, ${matched} drops matched   (Ctrl-C to stop)`;
  const lines = [CLEAR_SCREEN + header, '', `${'RATE/s'.padStart(9)} ${'TOTAL'.padStart(10)}  ${'REASON'.padEnd(22)} PROTO LOCATION`];
  for (const row of rows) {
    const rate = (row.count / intervalS).toFixed(0);
    lines.push(`${rate.padStart(9)} ${String(row.total).padStart(10)}  ${(row.reason ?? '-').padEnd(22)} ${(row.proto ?? '-').padEnd(5)} ${row.location ?? row.address}`);
  }
  return lines.join('\n') + '\n';
}

/** overflow: drops the full map did not count, which the correlation may count as a counter's. */
export function totalText(
  rows: SummaryRow[],
  durationS: number,
  deltas: CounterDelta[] | null,
  checks: CounterCheck[],
  wholeHost: boolean,
  overflow: number,
): string {
  const byTotal = [...rows].sort((a, b) => b.total - a.total);
  const lines = [`=== total over ${durationS.toFixed(1)}s: ${byTotal.reduce((s, r) => s + r.total, 0)} drops ===`];
  for (const row of byTotal) lines.push(rowText(row, row.total));
  if (deltas !== null) lines.push(...formatCorrelation(checks, deltas, wholeHost, { count: overflow, noun: 'uncounted' }).map((line) => `  ${line}`));
  for (const reason of new Set(byTotal.map((r) => r.reason).filter((r): r is string => r !== null))) {
    const { advice } = explain(reason);
    lines.push(`  ${reason}: ${advice.summary}`);
    if (advice.checks[0]) lines.push(`    try: ${advice.checks[0]}`);
  }
  return lines.join('\n') + '\n';
}

export async function runSummary(options: SummaryOptions, io: CommandIo): Promise<void> {
  const { kernel, filter, context } = prepare(options, io);
  const hasReason = kernel.tracepointFields?.includes('reason') ?? false;
  const session = new Session(io, { readyFile: options.readyFile, durationMs: options.durationMs, netns: filter.netns ?? null });
  const previous = new Map<string, number>();
  const hinted = options.hints ? new Set<string>() : null;
  const live = options.output === 'text' && io.color;
  const started = Date.now();
  let lastRows: SummaryRow[] = [];

  await session.snapshotCounters();
  const tracer = await session.open(() =>
    io.binding.openTracer({
      config: lowerFilter(filter, WAKEUP_BYTES, 'count'),
      ringBytes: UNUSED_RING_BYTES,
      countEntries: options.maxKeys,
      onBatch: () => {},
      ...session.tracerHooks(),
    }),
  );
  const write = session.guard((text: string) => io.writeOut(text));
  const tick = session.guard(() => {
    const rows = intervalRows(decodeCounts(tracer.dropCounts(), hasReason), previous, context);
    lastRows = rows;
    const now = new Date();
    if (options.output === 'json') write(JSON.stringify(intervalJson(rows, options.intervalMs / 1000, now)) + '\n');
    else if (live) write(liveTable(rows, (Date.now() - started) / 1000, options.intervalMs / 1000, tracer.counters().matched));
    else if (rows.some((r) => r.count > 0)) write(intervalText(rows, now, hinted));
  });
  const timers: NodeJS.Timeout[] = [];
  const { counters, counterDeltas } = await session.run(tracer, () => {
    timers.push(setInterval(tick, options.intervalMs));
    if (options.count !== null) {
      const count = options.count;
      timers.push(setInterval(() => tracer.counters().matched >= count && session.requestStop({ kind: 'count' }), COUNT_CHECK_MS));
    }
  }).finally(() => timers.forEach(clearInterval));

  try {
    // The last partial interval: the kernel's counts as they were when the program was detached.
    const finalRows = intervalRows(decodeCounts(tracer.dropCounts(), hasReason), previous, context);
    const rows = mergeTotals(lastRows, finalRows);
    const traced = rows.filter((r) => r.reason !== null).map((r) => ({ reason: r.reason!, proto: r.proto, family: r.family, count: r.total }));
    const checks = counterDeltas === null ? [] : correlate(traced, counterDeltas);
    const durationS = (Date.now() - started) / 1000;
    if (session.stopReason?.kind !== 'output-closed') {
      if (options.output === 'json') write(JSON.stringify(totalJson(rows, durationS, counters, counterDeltas, checks)) + '\n');
      else write(totalText(rows, durationS, counterDeltas, checks, filter.netns === undefined, counters.overflow));
    }
  } finally {
    session.writeClosing(counters);
  }
}

/** Rows from the final read, plus any earlier row that has since left the map. */
function mergeTotals(earlier: SummaryRow[], latest: SummaryRow[]): SummaryRow[] {
  const key = (r: SummaryRow) => `${r.address}/${r.reasonCode}/${r.family}/${r.proto}`;
  const seen = new Set(latest.map(key));
  return [...latest, ...earlier.filter((r) => !seen.has(key(r)))];
}
