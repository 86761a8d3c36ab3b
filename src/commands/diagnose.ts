// dropwhy diagnose: counts every drop in the kernel for --duration, snapshots every counter source
// before and after, and prints one report: the causes ranked by their drops, each with the
// socket, rule or interface involved, the settings read live and the fix; then what was checked
// and found quiet. The counting is summary's (count mode, sockets per reason); the report is
// output/diagnose.ts.
import { decodeCounts, decodeSocketCounts } from '../events/counts';
import { correlate } from '../knowledge/correlate';
import { diagnoseJson, diagnoseReport, diagnoseText } from '../output/diagnose';
import { intervalRows, SocketTally, type SummaryRow } from '../output/summary';
import type { DiagnoseOptions } from './options';
import { withSession, type CommandIo } from './session';

/** How often the sockets' owners are looked up while the sockets still live, and the progress line redrawn. */
const TICK_MS = 500;

export function runDiagnose(options: DiagnoseOptions, io: CommandIo): Promise<void> {
  return withSession({ ...options, countersBefore: true }, io, async (session) => {
    const { context, kernel } = session;
    const sockets = new SocketTally(context);
    const started = Date.now();
    const tracer = await session.openTracer({ mode: 'count', countEntries: options.maxKeys, features: { socket: true, stack: false } });
    // A progress line only for someone watching: a terminal, not a pipe or a file.
    const progress = io.stderrTerminal ? (text: string) => io.statusLine(text) : null;
    const tick = session.guard(() => {
      sockets.update(decodeSocketCounts(tracer.socketCounts(), kernel.hasReason));
      const elapsed = (Date.now() - started) / 1000;
      progress?.(`dropwhy diagnose: ${elapsed.toFixed(0)} of ${options.durationMs / 1000} s, ${tracer.counters().matched} drops so far`);
    });
    let timer: NodeJS.Timeout | null = null;
    const { counters, counterDeltas, host, unread } = await session
      .run(() => {
        timer = setInterval(tick, TICK_MS);
      })
      .finally(() => timer && clearInterval(timer));
    sockets.update(decodeSocketCounts(tracer.socketCounts(), kernel.hasReason));
    const rows: SummaryRow[] = intervalRows(decodeCounts(tracer.dropCounts(), kernel.hasReason), new Map(), context);
    const traced = rows.filter((r) => r.reason !== null).map((r) => ({ reason: r.reason!, proto: r.proto, family: r.family, count: r.total, location: r.location }));
    const checks = counterDeltas === null ? [] : correlate(traced, counterDeltas, host);
    const found = counterDeltas === null ? [] : session.findings(counterDeltas, checks, traced, counters.overflow);
    const report = diagnoseReport(
      { durationS: (Date.now() - started) / 1000, seen: counters.seen, matched: counters.matched, unread },
      rows,
      sockets.rows(),
      checks,
      found,
      counterDeltas,
      host?.settings ?? null,
      host,
    );
    if (progress) io.statusLine(null);
    const write = session.guard((text: string) => io.writeOut(text));
    write(options.output === 'json' ? JSON.stringify(diagnoseJson(report)) + '\n' : diagnoseText(report));
    // The closing lines without the comparison: the report holds it.
    session.writeClosing(counters);
  });
}
