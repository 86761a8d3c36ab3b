// What `dropwhy diagnose` prints: one report of the host's loss over the run, every cause ranked by
// its drops — a traced reason at its location (with the sockets, counters and settings behind it)
// or a counter no traced drop explains (a finding) — then what was checked and found quiet.
import { explain, socketFix } from '../knowledge/advice';
import { counterLabel, signed, verdict, type CounterCheck } from '../knowledge/correlate';
import { findingJson, reasonSettings, type Finding, type Setting } from '../knowledge/findings';
import type { CounterDelta } from '../kernel/counters';
import { socketName, socketRecord } from './socket';
import { socketRowAdvice, type SocketRow, type SummaryRow } from './summary';

/** A cause of the report: traced drops of one reason at one location, or a finding. */
export type Cause =
  | { kind: 'drop'; count: number; row: SummaryRow; sockets: SocketRow[]; socketAdvice: Array<string | null>; checks: CounterCheck[]; settings: Setting[]; fix: string }
  | { kind: 'counter'; count: number; finding: Finding };

export interface DiagnoseReport {
  durationS: number;
  seen: number;
  matched: number;
  causes: Cause[];
  /** The counter groups read that moved (named by their causes or not) and those that stayed quiet. */
  checked: string[];
  quiet: string[];
  unread: string[];
}

/** Sockets each drop cause names. */
const SOCKETS_PER_CAUSE = 3;

/** The groups of counters the ledger reads, by the prefix of their names, as the closing line names them. */
const GROUPS: ReadonlyArray<[string, RegExp]> = [
  ['IP/TCP/UDP/ICMP counters', /^(Ip|IpExt|Ip6|Icmp|Icmp6|Tcp|TcpExt|Udp|Udp6|UdpLite|UdpLite6|MPTcpExt) /],
  ['interfaces', /^dev /],
  ['qdiscs', /^qdisc /],
  ['driver counters', /^ethtool /],
  ['softnet backlog', /^softnet /],
  ['conntrack', /^conntrack /],
  ['neighbour tables', /^(arp_cache|ndisc_cache) /],
];

/** Counters that count trouble, as in the closing lines (traffic moving is not a cause). */
const TROUBLE = /Err|Drop|Discard|NoPorts|Overflow|Fail|NoRoute|Csum|dropped|errors|fifo|drops?$|_failed|discards|table_fulls|nohandler|flow_limit|miss|no_?buf/;

/** The ranked causes, and which counter groups moved. */
export function diagnoseReport(
  run: { durationS: number; seen: number; matched: number; unread: string[] },
  rows: SummaryRow[],
  sockets: SocketRow[],
  checks: CounterCheck[],
  findings: Finding[],
  deltas: CounterDelta[] | null,
  settings: ReadonlyMap<string, string> | null,
  host: Parameters<typeof reasonSettings>[1],
): DiagnoseReport {
  const causes: Cause[] = [];
  for (const row of rows.filter((r) => r.total > 0)) {
    const reason = row.reason ?? 'NOT_SPECIFIED';
    const at = sockets.filter((s) => s.reason === row.reason).slice(0, SOCKETS_PER_CAUSE);
    const socketAdvice = at.map((s) => socketRowAdvice(s, settings));
    const fixAtSocket = at.length > 0 && row.reason !== null ? socketFix(row.reason, at[0].socket.rcvbuf, settings) : null;
    causes.push({
      kind: 'drop',
      count: row.total,
      row,
      sockets: at,
      socketAdvice,
      checks: checks.filter((c) => row.reason !== null && c.reasons.includes(row.reason)),
      settings: reasonSettings(reason, host),
      fix: fixAtSocket ?? explain(reason).advice.checks[0] ?? '',
    });
  }
  for (const finding of findings) causes.push({ kind: 'counter', count: finding.delta - finding.traced, finding });
  causes.sort((a, b) => b.count - a.count);
  const moved = new Set((deltas ?? []).filter((d) => d.delta > 0 && TROUBLE.test(d.name)).map((d) => d.name));
  const checked: string[] = [];
  const quiet: string[] = [];
  for (const [group, pattern] of GROUPS) {
    if (deltas === null) break;
    (([...moved].some((name) => pattern.test(name)) ? checked : quiet) as string[]).push(group);
  }
  return { durationS: run.durationS, seen: run.seen, matched: run.matched, causes, checked, quiet, unread: run.unread };
}

function settingsText(settings: Setting[]): string {
  return settings.map((s) => `${s.name} ${s.value}`).join(', ');
}

export function diagnoseText(report: DiagnoseReport): string {
  const total = report.causes.reduce((sum, c) => sum + c.count, 0);
  const lines = [`dropwhy diagnose: ${report.durationS.toFixed(1)} s, ${report.matched} drops traced, ${report.causes.length} causes (${total} drops)`];
  report.causes.forEach((cause, i) => {
    const rank = `${String(i + 1).padStart(3)}. ${String(cause.count).padStart(9)} drops  `;
    if (cause.kind === 'drop') {
      const { row } = cause;
      const where = row.location ?? row.address;
      lines.push(`${rank}${row.reason ?? '(no reason)'} at ${where}${row.proto ? ` (${row.proto})` : ''}: ${explain(row.reason ?? 'NOT_SPECIFIED').advice.summary}`);
      cause.sockets.forEach((s, j) =>
        lines.push(`       socket: ${cause.socketAdvice[j] ?? `${socketName(s.socket, s.resolved)}, queued ${s.socket.queued}`} (${s.count} drops)`),
      );
      if (cause.settings.length > 0) lines.push(`       settings: ${settingsText(cause.settings)}`);
      for (const c of cause.checks) lines.push(`       counter: ${counterLabel(c.counter)} ${signed(c.delta)} vs ${c.traced} traced: ${verdict(c)}`);
      if (cause.fix) lines.push(`       fix: ${cause.fix}`);
    } else {
      const { finding } = cause;
      lines.push(
        `${rank}${counterLabel(finding.counter)} ${signed(finding.delta)}, ${finding.traced === 0 ? 'none traced' : `${finding.traced} traced`}: ${finding.explanation}`,
      );
      if (finding.objects.length > 0) lines.push(`       involved: ${finding.objects.join(', ')}`);
      if (finding.settings.length > 0) lines.push(`       settings: ${settingsText(finding.settings)}`);
      lines.push(`       fix: ${finding.advice}`);
    }
  });
  if (report.causes.length === 0) lines.push('  no drops traced and no counter of trouble moved');
  const tail = [`checked: kfree_skb drops${report.checked.length > 0 ? `, ${report.checked.join(', ')}` : ''}`];
  if (report.quiet.length > 0) tail.push(`quiet: ${report.quiet.join(', ')}`);
  if (report.unread.length > 0) tail.push(`not readable here: ${report.unread.join(', ')}`);
  lines.push(tail.join('; '));
  return lines.join('\n') + '\n';
}

export function diagnoseJson(report: DiagnoseReport) {
  return {
    type: 'diagnose',
    duration_s: report.durationS,
    seen: report.seen,
    matched: report.matched,
    causes: report.causes.map((cause) =>
      cause.kind === 'drop'
        ? {
            kind: 'drop',
            count: cause.count,
            reason: cause.row.reason,
            location: cause.row.location,
            proto: cause.row.proto,
            sockets: cause.sockets.map((s, j) => ({ count: s.count, socket: socketRecord(s.socket, s.resolved), advice: cause.socketAdvice[j] })),
            counters: cause.checks.map((c) => ({ counter: c.counter, delta: c.delta, traced: c.traced, verdict: verdict(c) })),
            settings: cause.settings,
            fix: cause.fix,
          }
        : { kind: 'counter', count: cause.count, ...findingJson(cause.finding) },
    ),
    checked: report.checked,
    quiet: report.quiet,
    unread: report.unread,
  };
}
