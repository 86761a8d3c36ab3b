// What tracing and summary mode share: the ready file, --duration, signals,
// one stop path that drains and frees the tracer, and the closing report on
// stderr with the kernel's counter deltas beside what was traced.
import { writeFileSync } from 'node:fs';
import type { Counters, NativeTracer, TracerOptions } from './binding';
import { correlate, formatCorrelation, type TracedCount } from './correlate';
import type { Logger } from './log';
import { diffSnapshots, readCounters, findNetnsPath, type CounterSnapshot, type CounterDelta } from './netstat';

export type StopReason =
  | { kind: 'count' | 'duration' | 'signal' | 'output-closed' }
  | { kind: 'error'; error: unknown };

export interface SessionIo {
  writeErr(line: string): void;
  logger: Logger;
  /** Receives SIGINT and SIGTERM. */
  signals: NodeJS.EventEmitter;
  /** Reads the kernel's counters of the traced namespace (null: ours). */
  readCounters(netns: number | null): Promise<CounterSnapshot>;
}

export interface SessionOptions {
  readyFile: string | null;
  durationMs: number | null;
  netns: number | null;
}

export interface SessionResult {
  counters: Counters;
  counterDeltas: CounterDelta[] | null; // null when the counters could not be read
}

export class Session {
  private reason: StopReason | null = null;
  private wake: () => void = () => {};
  private readonly stopped = new Promise<void>((resolve) => (this.wake = resolve));
  private before: CounterSnapshot | null = null;

  constructor(
    private readonly io: SessionIo,
    private readonly options: SessionOptions,
  ) {}

  /** Why the session is ending, once something asked it to. */
  get stopReason(): StopReason | null {
    return this.reason;
  }

  requestStop(reason: StopReason): void {
    this.reason ??= reason;
    this.wake();
  }

  /**
   * The tracer's callbacks: a poll error ends the session; libbpf's log, the
   * verifier's included, is debug output (shown with --log-level debug).
   */
  tracerHooks(): Pick<TracerOptions, 'onError' | 'onLog'> {
    return {
      onError: (error) => this.requestStop({ kind: 'error', error }),
      onLog: (level, message) => this.io.logger.debug({ source: 'libbpf', libbpfLevel: level }, message),
    };
  }

  /** Counters at the start; call before opening the tracer. */
  async snapshotCounters(): Promise<void> {
    this.before = await this.readCountersOrNull();
  }

  /** Announces readiness, waits for a reason to stop, stops the tracer. Rethrows what ended it badly. */
  async run(tracer: NativeTracer, onReady: () => void = () => {}): Promise<SessionResult> {
    const onSignal = () => this.requestStop({ kind: 'signal' });
    this.io.signals.on('SIGINT', onSignal);
    this.io.signals.on('SIGTERM', onSignal);
    const { durationMs, readyFile } = this.options;
    const timer = durationMs === null ? null : setTimeout(() => this.requestStop({ kind: 'duration' }), durationMs);
    let failure: unknown = null;
    try {
      if (readyFile) writeReadyFile(readyFile);
      this.io.logger.info('attached to skb:kfree_skb');
      onReady();
      await this.stopped;
    } catch (error) {
      failure = error;
    } finally {
      if (timer) clearTimeout(timer);
      this.io.signals.off('SIGINT', onSignal);
      this.io.signals.off('SIGTERM', onSignal);
    }
    const counters = await tracer.stop();
    const after = this.before ? await this.readCountersOrNull() : null;
    const reason = this.reason as StopReason | null;
    if (failure === null && reason?.kind === 'error') failure = reason.error;
    if (failure !== null) {
      this.writeClosing(counters);
      throw failure;
    }
    return { counters, counterDeltas: this.before && after ? diffSnapshots(this.before, after) : null };
  }

  /** The closing lines on stderr: counters, loss, and the kernel's counters beside the traced drops. */
  writeClosing(counters: Counters, deltas: CounterDelta[] | null = null, traced: TracedCount[] = []): void {
    const { writeErr } = this.io;
    writeErr(`dropwhy: ${counters.seen} drops seen, ${counters.matched} matched, ${counters.lost} lost`);
    if (counters.lost > 0) {
      writeErr(`dropwhy: ${counters.lost} events were lost because the ring buffer was full: raise --ring-size or narrow the filter`);
    }
    if (counters.overflow > 0) {
      writeErr(`dropwhy: ${counters.overflow} drops were not counted because the count map was full: raise --max-keys`);
    }
    if (deltas === null) return;
    const lines = formatCorrelation(correlate(traced, deltas), deltas, this.options.netns === null, { count: counters.lost, noun: 'lost' });
    for (const line of lines) writeErr(`dropwhy: ${line}`);
  }

  private async readCountersOrNull(): Promise<CounterSnapshot | null> {
    try {
      return await this.io.readCounters(this.options.netns);
    } catch (error) {
      this.io.logger.warn(`cannot read the namespace's counters: ${(error as Error).message}`);
      return null;
    }
  }
}

function writeReadyFile(path: string): void {
  try {
    writeFileSync(path, `${process.pid}\n`);
  } catch (error) {
    throw new Error(`cannot write --ready-file ${path}: ${(error as Error).message}`);
  }
}

/** Counters of the namespace with this inode, or of ours; through nsenter when it is another one. */
export async function readNamespaceCounters(netns: number | null, ownNetns: number | null): Promise<CounterSnapshot> {
  if (netns === null || netns === ownNetns) return readCounters(null);
  const path = await findNetnsPath(netns);
  if (path === null) throw new Error(`no process or /run/netns entry found for network namespace ${netns}`);
  return readCounters(path);
}
