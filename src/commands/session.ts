// What the tracing commands (trace, summary, exporter) share: kernel facts and
// the resolved filter, the stop signals, the ready file, --duration, one stop
// path that drains and frees the tracer, and the closing report on stderr with
// the kernel's counter deltas beside what was traced.
import { accessSync, constants, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { systemErrorText } from '../errors';
import type { Counters, NativeBinding, NativeTracer, TracerOptions } from '../kernel/binding';
import { readKernelFacts, type KernelFacts } from '../kernel/facts';
import type { FormatContext, SocketResolver, Symbolizer } from '../output/format';
import { OutputClosedError, type Chunk } from '../output/writer';
import { resolveFilter, resolveInterface, type FilterSpec, type InterfaceIndex, type StatInode } from './options';
import { correlate, formatCorrelation, type TracedCount } from '../knowledge/correlate';
import type { Logger } from '../log';
import { lowerFilter, type DropFilter, type EventFeatures } from '../events/filter';
import { NftTrace } from '../nft/nft-trace';
import type { TraceDrop } from '../nft/trace-parse';
import { diffSnapshots, readCounters, findNetnsPath, type CounterSnapshot, type CounterDelta } from '../kernel/counters';
import { interfaceIndex, listInterfaces, type InterfaceNames } from '../kernel/interfaces';
import { compileExpression } from '../events/expression';
import type { TracedCommand } from './traced-command';
import { STOP_SIGNALS } from '../signals';
import { zeroCounters } from '../events/counts';
import { STACK_DEPTH } from '../events/layout';
import type { KernelAddress } from '../events/decode';
import { STACK_ENTRIES, UNUSED_STACK_ENTRIES } from '../kernel/stacks';

/** Count mode sends no events: the smallest ring the kernel accepts. */
const UNUSED_RING_BYTES = 4096;

/** Wake user space once this much is pending in the ring (the poll timeout picks up the rest). */
export const WAKEUP_BYTES = 64 << 10;

/** A ring smaller than a few wake-ups' worth would fill before the reader is ever woken. */
export function wakeupBytesFor(ringBytes: number): number {
  return Math.min(WAKEUP_BYTES, Math.floor(ringBytes / 4));
}

/** What a tracing command gets, once the machine is known to allow tracing. */
export interface CommandIo extends SessionIo {
  binding: NativeBinding;
  writeOut(chunk: Chunk): void;
  symbols(): Symbolizer;
  /** Resolves socket owners and cgroups; made once per command. */
  sockets(): SocketResolver;
  /** Names the interfaces of events; made once per command. */
  interfaces(logger: Logger): InterfaceNames;
  statInode: StatInode;
  interfaceIndex: InterfaceIndex;
  color: boolean;
  /** -- CMD: the command, in a cgroup of its own, ready to start. */
  traceCommand(argv: string[]): TracedCommand;
}

/** Kernel facts, the resolved filter and what both modes print with; the note for reason-less kernels. */
export async function prepare(options: { filter: FilterSpec; command?: string[] | null }, io: CommandIo) {
  const kernel: KernelFacts = readKernelFacts(io.binding);
  const filter = await resolveInterface(options.filter, resolveFilter(options.filter, kernel.reasons, io.statInode), io.interfaceIndex);
  if (options.filter.expression !== undefined) {
    filter.program = compileExpression((expression, snaplen) => io.binding.compileFilter(expression, snaplen), options.filter.expression);
  }
  if (kernel.tracepointFields && !kernel.tracepointFields.includes('reason')) {
    io.writeErr('dropwhy: this kernel\'s skb:kfree_skb tracepoint reports no drop reason (Linux < 5.17): "reason" is null');
  }
  const interfaces = io.interfaces(io.logger);
  const symbols = new KernelSymbols(io.symbols);
  const context: FormatContext = {
    reasons: kernel.reasons,
    symbols,
    sockets: io.sockets(),
    interfaces,
    monotonicToUnixNs: Date.now() * 1e6 - Number(process.hrtime.bigint()),
    color: io.color,
  };
  // -- CMD: its cgroup exists from here on; the caller closes it (closeCommand) whatever happens next.
  const command = options.command ? io.traceCommand(options.command) : null;
  if (command) filter.commandCgroup = command.cgroup.id;
  return { kernel, filter, context, interfaces, command, symbols };
}

/** Removes the traced command's cgroup; what could not be removed is a warning. */
export function closeCommand(command: TracedCommand | null, io: CommandIo): void {
  const warning = command?.close();
  if (warning) io.logger.warn(warning);
}

export type StopReason = { kind: 'count' | 'duration' | 'signal' | 'output-closed' | 'command-ended' } | { kind: 'error'; error: unknown };

/**
 * Why a tracing command is ending, and its one listener for stop signals.
 * Created when the command starts, before the BTF read, the counter snapshot
 * and the load, so that a signal at any of them ends it as cleanly as one
 * while tracing; close() when the command is over.
 */
export class StopRequest {
  private current: StopReason | null = null;
  private wake: () => void = () => {};
  /** Resolves once a stop was requested. */
  readonly requested = new Promise<void>((resolve) => (this.wake = resolve));
  /** While a traced command runs, stop signals are its: passed on, as sudo and timeout(1) do. */
  private forward: ((signal: NodeJS.Signals) => void) | null = null;
  private readonly listeners = STOP_SIGNALS.map((signal) => [signal, () => this.onSignal(signal)] as const);

  constructor(private readonly signals: NodeJS.EventEmitter) {
    for (const [signal, listener] of this.listeners) signals.on(signal, listener);
  }

  private onSignal(signal: NodeJS.Signals): void {
    if (this.forward) this.forward(signal);
    else this.request({ kind: 'signal' });
  }

  /** Stop signals go to `to` until it is set back to null. */
  forwardSignals(to: ((signal: NodeJS.Signals) => void) | null): void {
    this.forward = to;
  }

  /** The first reason given, or null while the command goes on. */
  get reason(): StopReason | null {
    return this.current;
  }

  request(reason: StopReason): void {
    this.current ??= reason;
    this.wake();
  }

  close(): void {
    for (const [signal, listener] of this.listeners) this.signals.off(signal, listener);
  }
}

export interface SessionIo {
  writeErr(line: string): void;
  logger: Logger;
  stop: StopRequest;
  /** Reads the kernel's counters of the traced namespace (null: ours). */
  readCounters(netns: number | null): Promise<CounterSnapshot>;
}

export interface SessionOptions {
  readyFile: string | null;
  durationMs: number | null;
  netns: number | null;
  /** -- CMD: started once the tracer is attached; its end ends the session. */
  command?: TracedCommand | null;
  /** Parsed once the tracer is attached (prepare's). */
  symbols?: KernelSymbols;
}

export interface SessionResult {
  counters: Counters;
  counterDeltas: CounterDelta[] | null; // null when the counters could not be read, or nothing was traced
  /** -- CMD: the command's exit status; null without a command, or when it never started. */
  commandStatus: number | null;
}

/** A traced command still running when tracing stops for another reason gets SIGTERM, then SIGKILL after this. */
const COMMAND_KILL_AFTER_MS = 5000;

/** Stands in for the tracer when a stop came before it was loaded: nothing was traced. */
const NOT_LOADED: NativeTracer = {
  counters: zeroCounters,
  dropCounts: () => Buffer.alloc(0),
  socketCounts: () => Buffer.alloc(0),
  stackFrames: (ids) => Buffer.alloc(ids.length * STACK_DEPTH * 8),
  deleteDropCounts: () => 0,
  stop: async () => zeroCounters(),
};

/**
 * Lets a signal that arrived during synchronous work (the BTF read, the load)
 * reach its listener. Signals are dispatched in the event loop's poll phase;
 * an immediate queued from inside the check phase runs after the next one.
 */
const deliverPendingSignals = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

export class Session {
  private before: CounterSnapshot | null = null;
  private commandStatus: number | null = null;

  constructor(
    private readonly io: SessionIo,
    private readonly options: SessionOptions,
  ) {}

  /** Why the session is ending, once something asked it to. */
  get stopReason(): StopReason | null {
    return this.io.stop.reason;
  }

  requestStop(reason: StopReason): void {
    this.io.stop.request(reason);
  }

  /**
   * Wraps what the event loop calls back (a batch from the addon, a timer):
   * a throw there (decoding, formatting, reading kallsyms, writing) would end
   * the process as an uncaught exception; it ends the session instead.
   */
  guard<A extends unknown[]>(callback: (...args: A) => void): (...args: A) => void {
    return (...args) => {
      try {
        callback(...args);
      } catch (error) {
        this.requestStop(error instanceof OutputClosedError ? { kind: 'output-closed' } : { kind: 'error', error });
      }
    };
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

  /**
   * Counters at the start; call before opening the tracer. Not with -- CMD: the namespace's counters
   * count every process's drops, and the traced ones are the command's alone.
   */
  async snapshotCounters(): Promise<void> {
    if (!this.options.command) this.before = await this.readCountersOrNull();
  }

  /**
   * Loads the tracer, unless a stop came first (a signal during the BTF read or the snapshot).
   * A --ready-file that could not be written fails here, before anything is loaded or attached.
   */
  async open(load: () => NativeTracer): Promise<NativeTracer> {
    const { readyFile } = this.options;
    if (readyFile) checkWritable(readyFile);
    await deliverPendingSignals();
    return this.stopReason ? NOT_LOADED : load();
  }

  /**
   * Announces readiness, waits for a reason to stop, stops the tracer and
   * removes the ready file. Rethrows what ended it badly.
   */
  async run(tracer: NativeTracer, onReady: () => void = () => {}): Promise<SessionResult> {
    const { durationMs, readyFile } = this.options;
    let timer: NodeJS.Timeout | null = null;
    let writtenReadyFile: string | null = null;
    let failure: unknown = null;
    let command: Promise<number | null> | null = null;
    try {
      // A signal that came during the load arrives now: then the tracer stops at once, with no ready file.
      await deliverPendingSignals();
      if (!this.stopReason) {
        if (durationMs !== null) timer = setTimeout(() => this.requestStop({ kind: 'duration' }), durationMs);
        if (readyFile) {
          writeReadyFile(readyFile);
          writtenReadyFile = readyFile;
        }
        this.io.logger.info('attached to skb:kfree_skb');
        this.options.symbols?.attached();
        onReady();
        command = this.startCommand();
      }
      await this.io.stop.requested;
    } catch (error) {
      failure = error;
    } finally {
      if (timer) clearTimeout(timer);
      this.options.symbols?.close();
    }
    // The command's last drops are traced: the tracer stops once it has ended.
    const commandStatus = command && (this.commandStatus = await this.endCommand(command));
    const counters = await tracer.stop();
    if (writtenReadyFile) this.removeReadyFile(writtenReadyFile);
    const after = this.before && tracer !== NOT_LOADED ? await this.readCountersOrNull() : null;
    const reason = this.stopReason;
    if (failure === null && reason?.kind === 'error') failure = reason.error;
    if (failure !== null) {
      this.writeClosing(counters);
      throw failure;
    }
    return { counters, counterDeltas: this.before && after ? diffSnapshots(this.before, after) : null, commandStatus };
  }

  /** Starts the traced command, if there is one; its end (or failing to start) ends the session. */
  private startCommand(): Promise<number | null> | null {
    const { command } = this.options;
    if (!command) return null;
    this.io.stop.forwardSignals((signal) => command.signal(signal));
    return command.start().then(
      (status) => {
        this.requestStop({ kind: 'command-ended' });
        return status;
      },
      (error: unknown) => {
        this.requestStop({ kind: 'error', error });
        return null;
      },
    );
  }

  /** Waits for the command, which gets SIGTERM (then SIGKILL) when tracing stopped for another reason. */
  private async endCommand(running: Promise<number | null>): Promise<number | null> {
    const command = this.options.command!;
    let killer: NodeJS.Timeout | null = null;
    if (this.stopReason?.kind !== 'command-ended') {
      command.signal('SIGTERM');
      killer = setTimeout(() => {
        this.io.logger.warn(`${command.argv[0]} outlived SIGTERM by ${COMMAND_KILL_AFTER_MS / 1000} s: sending SIGKILL`);
        command.signal('SIGKILL');
      }, COMMAND_KILL_AFTER_MS);
    }
    try {
      return await running;
    } finally {
      if (killer) clearTimeout(killer);
      this.io.stop.forwardSignals(null);
    }
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
    if (counters.stackMissed > 0) {
      writeErr(`dropwhy: ${counters.stackMissed} drops have no stack: the stack map was full or their stack's bucket held another one`);
    }
    if (counters.packetUnread > 0) {
      writeErr(`dropwhy: ${counters.packetUnread} drops are not in the pcapng file: their skb had no network header or its bytes could not be read`);
    }
    if (counters.unrecordedFlows > 0) {
      writeErr(`dropwhy: ${counters.unrecordedFlows} flows of the command found the kernel's flow map full: their drops without its socket were missed`);
    }
    if (deltas !== null) {
      const lines = formatCorrelation(correlate(traced, deltas), deltas, this.options.netns === null, { count: counters.lost, noun: 'lost' });
      for (const line of lines) writeErr(`dropwhy: ${line}`);
    }
    const { command } = this.options;
    if (command && this.commandStatus !== null) writeErr(`dropwhy: ${command.argv[0]} exited with status ${this.commandStatus}`);
  }

  private removeReadyFile(path: string): void {
    try {
      rmSync(path, { force: true });
    } catch (error) {
      this.io.logger.warn(`cannot remove --ready-file ${path}: ${(error as Error).message}`);
    }
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

function checkWritable(path: string): void {
  try {
    accessSync(dirname(path), constants.W_OK);
  } catch (error) {
    throw new Error(`cannot write --ready-file ${path}: ${systemErrorText(error)}`);
  }
}

function writeReadyFile(path: string): void {
  try {
    writeFileSync(path, `${process.pid}\n`);
  } catch (error) {
    throw new Error(`cannot write --ready-file ${path}: ${systemErrorText(error)}`);
  }
}

/** A path that enters the namespace with this inode; null for ours (nothing to enter). */
async function enterNamespace(netns: number | null, ownNetns: number | null): Promise<string | null> {
  if (netns === null || netns === ownNetns) return null;
  const path = await findNetnsPath(netns);
  if (path === null) throw new Error(`no process or /run/netns entry found for network namespace ${netns}`);
  return path;
}

/** Counters of the namespace with this inode, or of ours; through nsenter when it is another one. */
export async function readNamespaceCounters(netns: number | null, ownNetns: number | null): Promise<CounterSnapshot> {
  return readCounters(await enterNamespace(netns, ownNetns));
}

/** The ifindex of an interface of the namespace with this inode; through nsenter when it is not ours. */
export async function namespaceInterfaceIndex(ifname: string, netns: number, ownNetns: number | null): Promise<number | null> {
  return interfaceIndex(ifname, await enterNamespace(netns, ownNetns));
}

/** Every interface of the namespace with this inode, or null when no way into it was found. */
export async function namespaceInterfaces(netns: number, ownNetns: number | null): Promise<Map<number, string> | null> {
  if (netns === ownNetns) return listInterfaces(null);
  const path = await findNetnsPath(netns);
  return path === null ? null : listInterfaces(path);
}

/**
 * The kernel's symbols, for the drops' locations: /proc/kallsyms is read (~200 ms) as soon as the
 * tracer is attached, else at the first drop, and never before attaching (the start would wait).
 * Read at the first drop, it held back the drops of a burst at start until the ring overflowed
 * (docs/benchmarks.md). A read after attaching that fails is left to the first drop's own, which
 * reports it.
 */
export class KernelSymbols implements Symbolizer {
  private symbols: Symbolizer | null = null;
  private state: 'loading' | 'attached' | 'closed' = 'loading';

  constructor(private readonly load: () => Symbolizer) {}

  /** The tracer is attached: read the symbols once the loop has taken what is already pending. */
  attached(): void {
    this.state = 'attached';
    setImmediate(() => {
      if (this.state !== 'attached' || this.symbols !== null) return;
      try {
        this.symbols = this.load();
      } catch {
        // left to the first drop, which reports it
      }
    });
  }

  /** The session ended: the symbols are no longer needed. */
  close(): void {
    this.state = 'closed';
  }

  symbolize(address: KernelAddress): string | null {
    return (this.symbols ??= this.load()).symbolize(address);
  }
}

/**
 * --nft-trace: the nftables trace in the traced namespace (--filter-netns,
 * else ours); each drop verdict goes to onVerdict, guarded as a callback.
 */
export async function startNftTrace(filter: DropFilter, io: SessionIo, session: Session, onVerdict: (drop: TraceDrop) => void): Promise<NftTrace> {
  const netnsPath = filter.netns === undefined ? null : await findNetnsPath(filter.netns);
  if (filter.netns !== undefined && netnsPath === null) {
    throw new Error(`--nft-trace: no process or /run/netns entry found for network namespace ${filter.netns}`);
  }
  return NftTrace.start(filter, netnsPath, io, session.guard(onVerdict), (error) => session.requestStop({ kind: 'error', error }));
}

/** The stacks map's size: room for stacks only when they are recorded. */
export function stackEntries(features: EventFeatures): number {
  return features.stack ? STACK_ENTRIES : UNUSED_STACK_ENTRIES;
}

/** Count mode (summary, exporter): the program counts per key in its map and sends no events. */
export function openCounting(
  io: CommandIo,
  session: Session,
  filter: DropFilter,
  maxKeys: number,
  features: EventFeatures = {},
  command: TracedCommand | null = null,
): Promise<NativeTracer> {
  return session.open(() =>
    io.binding.openTracer({
      config: lowerFilter(filter, WAKEUP_BYTES, 'count', features),
      ringBytes: UNUSED_RING_BYTES,
      countEntries: maxKeys,
      commandCgroup: command?.cgroup.path ?? null,
      stackEntries: stackEntries(features),
      onBatch: () => {},
      ...session.tracerHooks(),
    }),
  );
}
