// The trace command: stream every matching drop and print it, decode → filter
// → format → write, one batch at a time.
import type { Counters, NativeBinding } from '../kernel/binding';
import { hintLine } from './explain';
import type { TracedCount } from '../knowledge/correlate';
import { forEachEvent, type DropEvent } from '../events/decode';
import { lowerFilter, matches } from '../events/filter';
import { formatJson, formatText, protocolName, type FormatContext, type Symbolizer } from '../output/format';
import { readKernelFacts, type KernelFacts } from '../kernel/facts';
import type { ReasonTable } from '../events/reasons';
import { resolveFilter, type StatInode, type TraceOptions } from './options';
import { LineBuffer, type Chunk } from '../output/writer';
import { Session, type SessionIo } from './session';

/** Wake user space once this much is pending in the ring (the poll timeout picks up the rest). */
export const WAKEUP_BYTES = 64 << 10;

/** A ring smaller than a few wake-ups' worth would fill before the reader is ever woken. */
export function wakeupBytesFor(ringBytes: number): number {
  return Math.min(WAKEUP_BYTES, Math.floor(ringBytes / 4));
}
/** Tracing streams events and counts nothing per key: the smallest map the kernel accepts. */
const UNUSED_COUNT_ENTRIES = 1;

export interface CommandIo extends SessionIo {
  binding: NativeBinding;
  writeOut(chunk: Chunk): void;
  symbols(): Symbolizer;
  statInode: StatInode;
  color: boolean;
}

/** Kernel facts, the resolved filter and what both modes print with; the note for reason-less kernels. */
export function prepare(options: Pick<TraceOptions, 'filter'>, io: CommandIo) {
  const kernel: KernelFacts = readKernelFacts(io.binding);
  const filter = resolveFilter(options.filter, kernel.reasons, io.statInode);
  if (kernel.tracepointFields && !kernel.tracepointFields.includes('reason')) {
    io.writeErr('dropwhy: this kernel\'s skb:kfree_skb tracepoint reports no drop reason (Linux < 5.17): "reason" is null');
  }
  const context: FormatContext = {
    reasons: kernel.reasons,
    symbols: lazySymbols(io.symbols),
    monotonicToUnixNs: Date.now() * 1e6 - Number(process.hrtime.bigint()),
    color: io.color,
  };
  return { kernel, filter, context };
}

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
  const { filter, context } = prepare(options, io);
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

/** Reading /proc/kallsyms takes a while; do it on the first drop, not before attaching. */
function lazySymbols(load: () => Symbolizer): Symbolizer {
  let symbols: Symbolizer | null = null;
  return { symbolize: (address) => (symbols ??= load()).symbolize(address) };
}
