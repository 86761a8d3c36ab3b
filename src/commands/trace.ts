// The trace command: stream every matching drop and print it, decode → filter
// → format → write, one batch at a time.
import type { Counters } from '../kernel/binding';
import { hintLine } from '../output/explain';
import type { TracedCount } from '../knowledge/correlate';
import { forEachEvent, type DropEvent } from '../events/decode';
import { lowerFilter, matches } from '../events/filter';
import { formatJson, formatText, protocolName } from '../output/format';
import type { ReasonTable } from '../events/reasons';
import type { TraceOptions } from './options';
import { LineBuffer } from '../output/writer';
import { prepare, Session, wakeupBytesFor, type CommandIo } from './session';

/** Tracing streams events and counts nothing per key: the smallest map the kernel accepts. */
const UNUSED_COUNT_ENTRIES = 1;

/** Counts traced drops per (reason, protocol, family), to set beside the kernel's counters. */
class TracedTally {
  // Keyed by numbers, not a string built per drop: this runs for every event.
  private readonly groups = new Map<number, Map<number, TracedCount>>();

  constructor(private readonly reasons: ReasonTable) {}

  add(code: number, event: DropEvent): void {
    let byPacket = this.groups.get(code);
    if (!byPacket) this.groups.set(code, (byPacket = new Map()));
    const packetKey = (event.l4Proto ?? 256) + 512 * (event.family ?? 0) + 4096 * event.protocol;
    const group = byPacket.get(packetKey);
    if (group) {
      group.count++;
      return;
    }
    const reason = this.reasons.decode(code).name;
    byPacket.set(packetKey, { reason, proto: protocolName(event.l4Proto, event.protocol), family: event.family, count: 1 });
  }

  get counts(): TracedCount[] {
    return [...this.groups.values()].flatMap((byPacket) => [...byPacket.values()]);
  }
}

export async function runTrace(options: TraceOptions, io: CommandIo): Promise<Counters> {
  const { filter, context } = await prepare(options, io);
  const session = new Session(io, { readyFile: options.readyFile, durationMs: options.durationMs, netns: filter.netns ?? null });
  const format = options.output === 'json' ? formatJson : formatText;
  const hinted = new Set<number>(); // reason codes already explained
  const tally = new TracedTally(context.reasons);
  const lines = new LineBuffer(options.output === 'json' ? 'latin1' : 'utf8');
  let printed = 0;

  const onBatch = session.guard((batch: Buffer) => {
    const stopping = session.stopReason?.kind;
    // After a signal or --duration the drained events are still printed.
    if (stopping && stopping !== 'signal' && stopping !== 'duration') return;
    forEachEvent(batch, (event) => {
      if (!matches(filter, event)) return true;
      lines.add(format(event, context));
      if (event.reason !== null) {
        tally.add(event.reason, event);
        if (options.hints && options.output === 'text' && !hinted.has(event.reason)) {
          hinted.add(event.reason);
          lines.add(hintLine(context.reasons.decode(event.reason).name));
        }
      }
      if (++printed !== options.count) return true;
      session.requestStop({ kind: 'count' });
      return false;
    });
    if (!lines.empty) io.writeOut(lines.take());
  });

  await session.snapshotCounters();
  const tracer = await session.open(() => {
    io.logger.debug({ filter: options.filter, ringBytes: options.ringBytes }, 'opening tracer');
    return io.binding.openTracer({
      config: lowerFilter(filter, wakeupBytesFor(options.ringBytes)),
      ringBytes: options.ringBytes,
      countEntries: UNUSED_COUNT_ENTRIES,
      onBatch,
      ...session.tracerHooks(),
    });
  });
  const { counters, counterDeltas } = await session.run(tracer);
  session.writeClosing(counters, counterDeltas, tally.counts);
  return counters;
}
