// dropwhy summary: count drops per (reason, protocol, location) in the kernel
// and print the counts every interval, dropwatch-style. No per-event traffic
// to user space, so this is the mode for very high drop rates.
import { decodeCounts, decodeSocketCounts } from '../events/counts';
import { correlate } from '../knowledge/correlate';
import {
  ENTER_ALTERNATE_SCREEN,
  intervalJson,
  intervalRows,
  intervalText,
  LEAVE_ALTERNATE_SCREEN,
  liveTable,
  SocketTally,
  totalJson,
  totalText,
  type SummaryRow,
} from '../output/summary';
import { narrowingFilters, type SummaryOptions } from './options';
import { withSession, type CommandIo } from './session';
import { RuleTally } from '../nft/rule-tally';
import { StackTable } from '../kernel/stacks';
import { fitMessage } from '../output/terminal-layout';

/** How often --count is checked between intervals. */
const COUNT_CHECK_MS = 100;

/** Counts until a stop; resolves with the exit status of the command traced with -- CMD (null without one). */
export function runSummary(options: SummaryOptions, io: CommandIo): Promise<number | null> {
  return withSession({ ...options, countersBefore: true }, io, async (session) => {
    const { context, kernel } = session;
    const previous = new Map<string, number>();
    const hinted = options.hints ? new Set<string>() : null;
    const live = options.output === 'text' && io.terminal;
    // The live table and the totals fit the terminal's width, followed when it changes.
    let columns = live ? io.columns : null;
    if (live) session.defer(io.onResize((width) => (columns = width)));
    const started = Date.now();
    let ticks = 0;
    let lastTick = started;
    let onAlternateScreen = false;
    const leaveAlternateScreen = () => {
      if (!onAlternateScreen) return;
      onAlternateScreen = false;
      try {
        io.writeOut(LEAVE_ALTERNATE_SCREEN);
      } catch {
        // the terminal is gone: there is no screen to go back to
      }
    };
    session.defer(leaveAlternateScreen);
    let lastRows: SummaryRow[] = [];
    const sockets = new SocketTally(context);

    // --nft-trace: the trace's drop verdicts counted per rule, beside the kernel's counts.
    const rules = options.nftTrace ? new RuleTally() : null;
    if (rules) await session.traceRules((drop) => rules.add(drop));
    const tracer = await session.openTracer({ mode: 'count', countEntries: options.maxKeys, features: { socket: options.socket, stack: options.stack } });
    // The stacks stay readable after the tracer has stopped, for the totals.
    if (options.stack) context.stacks = new StackTable((ids) => tracer.stackFrames(ids), context.symbols);
    const write = session.guard((text: string) => io.writeOut(text));
    const tick = session.guard(() => {
      // Owners before symbols: the first tick loads kallsyms, and a process can be gone by then.
      sockets.update(decodeSocketCounts(tracer.socketCounts(), kernel.hasReason));
      const rows = intervalRows(decodeCounts(tracer.dropCounts(), kernel.hasReason), previous, context);
      lastRows = rows;
      const now = new Date();
      if (options.output === 'json') write(JSON.stringify(intervalJson(rows, options.intervalMs / 1000, now)) + '\n');
      else if (live) {
        // The elapsed time in whole intervals; the rates over the interval's real length (a late timer makes it longer).
        const now = Date.now();
        const actualS = Math.max(now - lastTick, 1) / 1000;
        lastTick = now;
        ticks++;
        if (!onAlternateScreen) write(ENTER_ALTERNATE_SCREEN);
        onAlternateScreen = true;
        write(liveTable(rows, (ticks * options.intervalMs) / 1000, actualS, tracer.counters().matched, columns));
      } else if (rows.some((r) => r.count > 0)) write(intervalText(rows, now, hinted));
    });
    const timers: NodeJS.Timeout[] = [];
    const { counters, counterDeltas, host, commandStatus } = await session
      .run(() => {
        lastTick = Date.now();
        timers.push(setInterval(tick, options.intervalMs));
        if (options.count !== null) {
          const count = options.count;
          timers.push(setInterval(() => tracer.counters().matched >= count && session.requestStop({ kind: 'count' }), COUNT_CHECK_MS));
        }
      })
      .finally(() => timers.forEach(clearInterval));

    try {
      // The last partial interval: the kernel's counts as they were when the program was detached.
      const finalRows = intervalRows(decodeCounts(tracer.dropCounts(), kernel.hasReason), previous, context);
      const rows = mergeTotals(lastRows, finalRows);
      sockets.update(decodeSocketCounts(tracer.socketCounts(), kernel.hasReason));
      const traced = rows.filter((r) => r.reason !== null).map((r) => ({ reason: r.reason!, proto: r.proto, family: r.family, count: r.total, location: r.location }));
      const checks = counterDeltas === null ? [] : correlate(traced, counterDeltas, host);
      const found = counterDeltas === null ? [] : session.findings(counterDeltas, checks, traced, counters.overflow);
      const durationS = (Date.now() - started) / 1000;
      if (session.stopReason?.kind !== 'output-closed') {
        const ledger = { findings: found, settings: host?.settings ?? null };
        // The totals go to the normal screen, where they stay.
        leaveAlternateScreen();
        if (options.output === 'json') write(JSON.stringify(totalJson(rows, durationS, counters, counterDeltas, checks, rules?.rows ?? null, sockets.rows(), ledger)) + '\n');
        else {
          const wholeHost = session.filter.netns === undefined;
          const totals = totalText(
            rows,
            durationS,
            counterDeltas,
            checks,
            wholeHost,
            counters.overflow,
            rules?.rows ?? null,
            sockets.rows(),
            narrowingFilters(options.filter),
            ledger,
          );
          write(fitMessage(totals, columns));
        }
      }
    } finally {
      session.writeClosing(counters);
      // The counts were the kernel's all along: only the table is missing.
      if (session.stopReason?.kind === 'output-closed') io.writeErr('dropwhy: output closed: the totals were not written');
    }
    return commandStatus;
  });
}

/** Rows from the final read, plus any earlier row that has since left the map. */
function mergeTotals(earlier: SummaryRow[], latest: SummaryRow[]): SummaryRow[] {
  const key = (r: SummaryRow) => `${r.address}/${r.reasonCode}/${r.family}/${r.proto}`;
  const seen = new Set(latest.map(key));
  return [...latest, ...earlier.filter((r) => !seen.has(key(r)))];
}
