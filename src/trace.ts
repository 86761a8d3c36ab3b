// The trace command: open the tracer, then decode → filter → format → write
// each batch until --count, --duration, a signal or a closed output ends it.
import { writeFileSync } from 'node:fs';
import type { Counters, NativeBinding } from './binding';
import { decodeBatch } from './decode';
import { lowerFilter, matches } from './filter';
import { formatJson, formatText, type FormatContext, type Symbolizer } from './format';
import type { Logger } from './log';
import { resolveFilter, type StatInode, type TraceOptions } from './options';
import { OutputClosedError } from './output';
import { readKernelFacts } from './kernel';

/** Wake user space once this much is pending in the ring (the poll timeout picks up the rest). */
export const WAKEUP_BYTES = 64 << 10;

export interface TraceIo {
  binding: NativeBinding;
  writeOut(chunk: string): void;
  writeErr(line: string): void;
  logger: Logger;
  symbols(): Symbolizer;
  statInode: StatInode;
  /** Receives SIGINT and SIGTERM. */
  signals: NodeJS.EventEmitter;
  color: boolean;
}

type StopReason = { kind: 'count' | 'duration' | 'signal' | 'output-closed' } | { kind: 'error'; error: unknown };

export async function runTrace(options: TraceOptions, io: TraceIo): Promise<Counters> {
  const kernel = readKernelFacts(io.binding);
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
  const format = options.output === 'json' ? formatJson : formatText;

  let printed = 0;
  let stopReason: StopReason | null = null;
  let wake: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (wake = resolve));
  const requestStop = (reason: StopReason) => {
    stopReason ??= reason;
    wake();
  };

  const onBatch = (batch: Buffer) => {
    if (stopReason && stopReason.kind !== 'signal' && stopReason.kind !== 'duration') return;
    let chunk = '';
    for (const event of decodeBatch(batch)) {
      if (!matches(filter, event)) continue;
      chunk += format(event, context) + '\n';
      if (++printed === options.count) {
        requestStop({ kind: 'count' });
        break;
      }
    }
    if (chunk === '') return;
    try {
      io.writeOut(chunk);
    } catch (error) {
      requestStop(error instanceof OutputClosedError ? { kind: 'output-closed' } : { kind: 'error', error });
    }
  };

  io.logger.debug({ filter: options.filter, ringBytes: options.ringBytes }, 'opening tracer');
  const tracer = io.binding.openTracer({
    config: lowerFilter(filter, WAKEUP_BYTES),
    ringBytes: options.ringBytes,
    onBatch,
    onError: (error) => requestStop({ kind: 'error', error }),
    onLog: (level, message) => io.logger[level]({ source: 'libbpf' }, message),
  });

  const onSignal = () => requestStop({ kind: 'signal' });
  io.signals.on('SIGINT', onSignal);
  io.signals.on('SIGTERM', onSignal);
  const timer = options.durationMs === null ? null : setTimeout(() => requestStop({ kind: 'duration' }), options.durationMs);
  let failure: unknown = null;
  try {
    if (options.readyFile) {
      try {
        writeFileSync(options.readyFile, `${process.pid}\n`);
      } catch (error) {
        throw new Error(`cannot write --ready-file ${options.readyFile}: ${(error as Error).message}`);
      }
    }
    io.logger.info('attached to skb:kfree_skb');
    await stopped;
  } catch (error) {
    failure = error;
  } finally {
    if (timer) clearTimeout(timer);
    io.signals.off('SIGINT', onSignal);
    io.signals.off('SIGTERM', onSignal);
  }
  const counters = await tracer.stop();
  io.writeErr(`dropwhy: ${counters.seen} drops seen, ${counters.matched} matched, ${counters.lost} lost`);
  if (counters.lost > 0) {
    io.writeErr(`dropwhy: ${counters.lost} events were lost because the ring buffer was full: raise --ring-size or narrow the filter`);
  }
  const reason = stopReason as StopReason | null;
  if (failure === null && reason?.kind === 'error') failure = reason.error;
  if (failure !== null) throw failure;
  return counters;
}

/** Reading /proc/kallsyms takes a while; do it on the first drop, not before attaching. */
function lazySymbols(load: () => Symbolizer): Symbolizer {
  let symbols: Symbolizer | null = null;
  return { symbolize: (address) => (symbols ??= load()).symbolize(address) };
}
