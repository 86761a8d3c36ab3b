// What summary mode prints: rows per (reason, protocol, location), as interval
// blocks, a live table on a terminal, NDJSON, and the totals with advice.
import { familyName, type Family } from '../events/address';
import type { DropCount, SocketCount } from '../events/counts';
import { formatKernelAddress, type DropSocket } from '../events/decode';
import { protocolName } from '../events/protocols';
import { explain, socketAdvice } from '../knowledge/advice';
import { formatCorrelation, unseenCounted, verdict, type CounterCheck } from '../knowledge/correlate';
import { findingJson, findingText, type Finding } from '../knowledge/findings';
import type { CounterDelta } from '../kernel/counters';
import { isGlobalCounter } from '../knowledge/counter-links';
import type { Pod } from '../kernel/pods';
import { hintLine } from './explain';
import { plural } from '../plural';
import type { FormatContext, StackFrames } from './format';
import { podOf, podText } from './pod';
import { containerText, localEndpoint, resolveSocket, socketHolder, socketName, socketRecord, type ResolvedSocket } from './socket';
import { ruleName } from './text-writer';
import type { RuleCount } from '../nft/rule-tally';

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
  /** With --stack: the row's distinct kernel call paths since the start, most drops first; else null. */
  paths: CallPath[] | null;
}

/** Drops that took one kernel call path; frames null when no stack was recorded for them. */
export interface CallPath {
  frames: string[] | null;
  count: number;
}

/**
 * Rows for this interval, sorted by count, from cumulative kernel counts and
 * the totals seen before. The kernel counts per namespace too; summary rows
 * add the namespaces up.
 */
export function intervalRows(counts: DropCount[], previous: Map<string, number>, context: FormatContext): SummaryRow[] {
  const totals = new Map<string, DropCount>();
  // With --stack the kernel counts per stack too: per row, the drops by stack id (null: none recorded).
  const byStack = new Map<string, Map<number | null, number>>();
  for (const c of counts) {
    const key = `${c.location.hi}:${c.location.lo}/${c.reason}/${c.family}/${c.l4Proto}`;
    const sum = totals.get(key);
    if (sum) sum.count += c.count;
    else totals.set(key, { ...c });
    let stacks = byStack.get(key);
    if (!stacks) byStack.set(key, (stacks = new Map()));
    stacks.set(c.stackId, (stacks.get(c.stackId) ?? 0) + c.count);
  }
  context.stacks?.load(counts.flatMap((c) => (c.stackId === null ? [] : [c.stackId])));
  const rows: SummaryRow[] = [];
  for (const [key, c] of totals) {
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
      paths: context.stacks ? callPaths(byStack.get(key)!, context.stacks) : null,
    });
  }
  return rows.sort((a, b) => b.count - a.count || b.total - a.total);
}

/** One row's drops by stack id as call paths, most drops first; ids with the same frames are one path. */
function callPaths(byStack: Map<number | null, number>, stacks: StackFrames): CallPath[] {
  const paths = new Map<string, CallPath>();
  for (const [id, count] of byStack) {
    const frames = id === null ? null : stacks.get(id);
    const key = frames === null ? '' : frames.join('\n');
    const path = paths.get(key);
    if (path) path.count += count;
    else paths.set(key, { frames, count });
  }
  return [...paths.values()].sort((a, b) => b.count - a.count);
}

/** Drops at one socket for one reason: the kernel's count, the socket as its latest drop found it, who held it and its pod. */
export interface SocketRow {
  reason: string | null;
  count: number;
  socket: DropSocket;
  resolved: ResolvedSocket;
  /** The pod of the socket's cgroup, in Kubernetes; else null. */
  pod: Pod | null;
}

/**
 * The kernel's per-socket counts, read every interval, with each socket's owner,
 * cgroup and pod looked up while the socket is new, and remembered: by the total,
 * the process (and the pod) may be gone.
 */
export class SocketTally {
  private readonly sockets = new Map<string, SocketRow>();

  constructor(private readonly context: FormatContext) {}

  update(counts: SocketCount[]): void {
    for (const { reason, socket, count } of counts) {
      const key = `${socket.inode}/${reason}`;
      const known = this.sockets.get(key);
      const resolved = known?.resolved.owner && known.resolved.cgroup ? known.resolved : this.resolve(socket, known?.resolved);
      const name = reason === null ? null : this.context.reasons.decode(reason).name;
      this.sockets.set(key, { reason: name, count, socket, resolved, pod: this.pod(resolved, known?.pod ?? null) });
    }
  }

  /** Most drops first. */
  rows(): SocketRow[] {
    return [...this.sockets.values()].sort((a, b) => b.count - a.count);
  }

  private resolve(socket: DropSocket, before: ResolvedSocket | undefined): ResolvedSocket {
    const now = resolveSocket(socket, this.context.sockets);
    return { owner: now.owner ?? before?.owner ?? null, cgroup: now.cgroup ?? before?.cgroup ?? null };
  }

  /** A pod once named stays named: by the total, the kubelet may have removed its directory. */
  private pod(resolved: ResolvedSocket, before: Pod | null): Pod | null {
    const now = this.context.pods === undefined ? null : podOf(null, resolved, this.context.pods);
    return now !== null && (now.name !== null || before === null) ? now : before;
  }
}

/** What to change at this row's socket, naming it, for a reason about its buffer (with the settings that cap it, when read); else null. */
export function socketRowAdvice(row: SocketRow, settings: ReadonlyMap<string, string> | null = null): string | null {
  if (row.reason === null) return null;
  const local = localEndpoint(row.socket);
  const where = `${socketHolder(row.socket, row.resolved)}${local === null ? '' : ` on ${local}`}${containerText(row.resolved)}${podText(row.pod)}`;
  return socketAdvice(row.reason, { where, rcvbuf: row.socket.rcvbuf, queued: row.socket.queued }, settings);
}

/** The ledger beyond the counters compared: the findings, the settings read (null: none). */
export interface LedgerView {
  findings: Finding[];
  settings: ReadonlyMap<string, string> | null;
}

const NO_LEDGER: LedgerView = { findings: [], settings: null };

/** Sockets the text total names under each reason. */
const SOCKETS_PER_REASON = 3;

function rowJson(row: SummaryRow, count: number) {
  return {
    reason: row.reason,
    reason_code: row.reasonCode,
    subsystem: row.subsystem,
    proto: row.proto,
    family: familyName(row.family),
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
  rules: RuleCount[] | null = null,
  sockets: SocketRow[] = [],
  ledger: LedgerView = NO_LEDGER,
) {
  const { settings } = ledger;
  return {
    type: 'total',
    duration_s: durationS,
    drops: [...rows].sort((a, b) => b.total - a.total).map((r) => ({ ...rowJson(r, r.total), stacks: r.paths })),
    seen: counters.seen,
    matched: counters.matched,
    overflow: counters.overflow,
    counters: deltas === null ? null : deltas.map((d) => ({ name: d.name, delta: d.delta, ...(isGlobalCounter(d.name) ? { global: true } : {}) })),
    correlation: checks.map((c) => ({
      counter: c.counter,
      delta: c.delta,
      traced: c.traced,
      reasons: c.reasons,
      uncounted: unseenCounted(c, counters.overflow),
      verdict: verdict(c, counters.overflow),
    })),
    // --nft-trace: NETFILTER_DROP by the rule whose verdict dropped the packet; else null.
    rules: rules === null ? null : rules.map(({ rule, count }) => ({ ...rule, count })),
    sockets: sockets.map((row) => ({
      reason: row.reason,
      count: row.count,
      socket: socketRecord(row.socket, row.resolved),
      pod: row.pod,
      advice: socketRowAdvice(row, settings),
    })),
    // The counters that moved beyond the traced drops, explained (knowledge/findings.ts).
    findings: ledger.findings.map(findingJson),
  };
}

/** Call paths the text total prints under each row; the rest are summed up in one line. */
const PATHS_PER_ROW = 5;
const PATH_INDENT = ' '.repeat(11);

/** Under a row: each of its most frequent call paths, its count, then its frames, innermost first. */
function callPathLines(paths: CallPath[]): string[] {
  const lines: string[] = [];
  paths.slice(0, PATHS_PER_ROW).forEach(({ frames, count }, i) => {
    lines.push(`${PATH_INDENT}call path ${i + 1} of ${paths.length}: ${plural(count, 'drop')}${frames === null ? ' (no stack recorded)' : ''}`);
    for (const frame of frames ?? []) lines.push(`${PATH_INDENT}  ${frame}`);
  });
  const rest = paths.slice(PATHS_PER_ROW);
  if (rest.length > 0) {
    lines.push(
      `${PATH_INDENT}(and ${plural(rest.length, 'more call path')}: ${plural(
        rest.reduce((sum, p) => sum + p.count, 0),
        'drop',
      )})`,
    );
  }
  return lines;
}

/** A table's count column: `        1 drop `, `      120 drops`, aligned. */
function countColumn(count: number): string {
  return `${String(count).padStart(9)} ${count === 1 ? 'drop ' : 'drops'}`;
}

function rowText(row: SummaryRow, count: number): string {
  const where = row.location ? `${row.location} (${row.address})` : row.address;
  return `${countColumn(count)}  ${(row.reason ?? '-').padEnd(22)} ${(row.proto ?? '-').padEnd(5)} ${where}`;
}

export function intervalText(rows: SummaryRow[], at: Date, hinted: Set<string> | null): string {
  const active = rows.filter((r) => r.count > 0);
  const total = active.reduce((sum, r) => sum + r.count, 0);
  const lines = [`--- ${at.toTimeString().slice(0, 8)}: ${plural(total, 'drop')} ---`];
  for (const row of active) {
    lines.push(rowText(row, row.count));
    if (hinted && row.reason && !hinted.has(row.reason)) {
      hinted.add(row.reason);
      lines.push(hintLine(row.reason, row.location));
    }
  }
  return lines.join('\n') + '\n';
}

const CLEAR_SCREEN = '\x1b[H\x1b[2J';

/** The live table is drawn on the terminal's alternate screen (as top and watch do): its frames never reach the scrollback. */
export const ENTER_ALTERNATE_SCREEN = '\x1b[?1049h';
export const LEAVE_ALTERNATE_SCREEN = '\x1b[?1049l';

/**
 * The live table on a terminal: redrawn in place, sorted by rate. elapsedS: since the start, in whole
 * intervals; intervalS: the interval's real length, which the rates are of; columns: the terminal's
 * width, which each line is cut to (null: not cut).
 */
export function liveTable(rows: SummaryRow[], elapsedS: number, intervalS: number, matched: number, columns: number | null = null): string {
  const header = `dropwhy summary: ${elapsedS.toFixed(0)}s, ${plural(matched, 'drop')} matched   (Ctrl-C to stop)`;
  const lines = [header, '', `${'RATE/s'.padStart(9)} ${'TOTAL'.padStart(10)}  ${'REASON'.padEnd(22)} PROTO LOCATION`];
  for (const row of rows) {
    const rate = (row.count / intervalS).toFixed(0);
    lines.push(`${rate.padStart(9)} ${String(row.total).padStart(10)}  ${(row.reason ?? '-').padEnd(22)} ${(row.proto ?? '-').padEnd(5)} ${row.location ?? row.address}`);
  }
  return CLEAR_SCREEN + lines.map((line) => (columns === null ? line : cut(line, columns))).join('\n') + '\n';
}

/** A line cut to width columns, its end marked with … when cut (a line as wide as the terminal wraps in some). */
function cut(line: string, width: number): string {
  return line.length < width ? line : `${line.slice(0, Math.max(0, width - 2))}…`;
}

/** overflow: drops the full map did not count, which the correlation may count as a counter's; filters: narrowingFilters(). */
export function totalText(
  rows: SummaryRow[],
  durationS: number,
  deltas: CounterDelta[] | null,
  checks: CounterCheck[],
  wholeHost: boolean,
  overflow: number,
  rules: RuleCount[] | null = null,
  sockets: SocketRow[] = [],
  filters: string[] = [],
  ledger: LedgerView = NO_LEDGER,
): string {
  const byTotal = [...rows].sort((a, b) => b.total - a.total);
  const lines = [
    `=== total over ${durationS.toFixed(1)}s: ${plural(
      byTotal.reduce((s, r) => s + r.total, 0),
      'drop',
    )} ===`,
  ];
  for (const row of byTotal) {
    lines.push(rowText(row, row.total));
    if (row.paths !== null) lines.push(...callPathLines(row.paths));
  }
  if (rules !== null && rules.length > 0) {
    lines.push('  NETFILTER_DROP by rule (nftables trace):');
    for (const { rule, count } of rules) lines.push(`${countColumn(count)}  ${ruleName(rule)}`);
  }
  const { findings, settings } = ledger;
  if (deltas !== null) {
    const explained = new Set(findings.flatMap((f) => [f.counter, ...f.companions]));
    lines.push(...formatCorrelation(checks, deltas, wholeHost, { count: overflow, noun: 'uncounted' }, filters, explained).map((line) => `  ${line}`));
    lines.push(...findings.map((finding) => `  finding: ${findingText(finding, { filtered: filters.length > 0 })}`));
  }
  for (const reason of new Set(byTotal.map((r) => r.reason).filter((r): r is string => r !== null))) {
    // Advice of the function where most of them were dropped, when it has its own.
    const { advice } = explain(reason, byTotal.find((r) => r.reason === reason)?.location ?? null);
    lines.push(`  ${reason}: ${advice.summary}`);
    const at = sockets.filter((s) => s.reason === reason);
    for (const row of at.slice(0, SOCKETS_PER_REASON)) {
      const advice = socketRowAdvice(row, settings);
      lines.push(
        advice === null
          ? `    at ${socketName(row.socket, row.resolved)}, queued ${row.socket.queued}${containerText(row.resolved)}${podText(row.pod)}: ${plural(row.count, 'drop')}`
          : `    ${plural(row.count, 'drop')} at ${advice}`,
      );
    }
    if (at.length > SOCKETS_PER_REASON) lines.push(`    (and ${plural(at.length - SOCKETS_PER_REASON, 'more socket')})`);
    if (advice.checks[0]) lines.push(`    try: ${advice.checks[0]}`);
  }
  return lines.join('\n') + '\n';
}
