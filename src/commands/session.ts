// One run of a tracing command (trace, summary, exporter): the kernel's facts and the filter made
// into this machine's, the tracer, the nftables trace and the traced command it owns, the stop
// signals, the ready file, --duration, one stop path that drains the tracer, the closing report on
// stderr with the kernel's counter deltas beside what was traced, and one cleanup path for all of
// it (withSession), as bootstrap.c's main has one `cleanup:`.
import { accessSync, constants, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { systemErrorText } from '../errors';
import { plural } from '../plural';
import type { Counters, NativeBinding, NativeTracer, TracerOptions } from '../kernel/binding';
import { readKernelFacts, type KernelFacts } from '../kernel/facts';
import { KernelSymbols } from '../kernel/kallsyms';
import { OWN_NETNS_PATH, type FindNetns, type InterfaceIndex, type StatInode } from '../kernel/netns';
import type { FormatContext, SocketResolver, Symbolizer } from '../output/format';
import { OutputClosedError, type Chunk } from '../output/writer';
import { filterText, narrowingFilters, type FilterSpec } from './options';
import { filteredNetns, resolveSessionFilter } from './resolve';
import { correlate, formatCorrelation, type TracedCount } from '../knowledge/correlate';
import { findings, findingText, type Finding } from '../knowledge/findings';
import type { Logger } from '../log';
import { lowerFilter, type DropFilter, type EventFeatures } from '../events/filter';
import { NftTrace } from '../nft/nft-trace';
import type { TraceDrop } from '../nft/trace-parse';
import { diffSnapshots, type CounterDelta, type HostSnapshot, type HostState } from '../kernel/counters';
import type { InterfaceNames } from '../kernel/interfaces';
import { exitText, type CommandExit, type TracedCommand } from './traced-command';
import type { Pods, PodSettings } from '../kernel/pods';
import type { StopReason, StopRequest } from './stop';
import { zeroCounters } from '../events/counts';
import { STACK_DEPTH } from '../events/layout';
import { STACK_ENTRIES, UNUSED_STACK_ENTRIES } from '../kernel/stacks';

/** Count mode sends no events: the smallest ring the kernel accepts. */
const UNUSED_RING_BYTES = 4096;

/** Streaming counts nothing per key: the smallest map the kernel accepts. */
const UNUSED_COUNT_ENTRIES = 1;

/** Wake user space once this much is pending in the ring (the poll timeout picks up the rest). On the CI
 * machine kind (a VM: irq_work's self-IPI, the reader's wake-up) a wake-up every 64 KiB cost the BPF program
 * ~40 ns per streamed drop, ~14 µs each (docs/benchmarks.md, "The BPF program's parts"). */
export const WAKEUP_BYTES = 512 << 10;

/** A ring smaller than a few wake-ups' worth would fill before the reader is ever woken. */
export function wakeupBytesFor(ringBytes: number): number {
  return Math.min(WAKEUP_BYTES, Math.floor(ringBytes / 4));
}

/** What a tracing session gets of the world, once the machine is known to allow tracing. */
export interface CommandIo {
  binding: NativeBinding;
  writeOut(chunk: Chunk): void;
  writeErr(line: string): void;
  /** On a terminal's stderr, the one status line redrawn in place; null clears it. */
  statusLine(text: string | null): void;
  logger: Logger;
  stop: StopRequest;
  symbols(): Symbolizer;
  /** Resolves socket owners and cgroups; made once per command. */
  sockets(): SocketResolver;
  /** Names the interfaces of events; made once per command. */
  interfaces(logger: Logger): InterfaceNames;
  /** The pods of drops, in Kubernetes (asked for, or detected); null elsewhere. Made once per command. */
  pods(settings: PodSettings, logger: Logger): Pods | null;
  statInode: StatInode;
  interfaceIndex: InterfaceIndex;
  findNetns: FindNetns;
  /** Reads the kernel's counters of the namespace with this inode (null: ours); withState: its settings too. */
  readCounters(netns: number | null, withState?: boolean): Promise<HostSnapshot>;
  /** Stdout is a terminal: a person is watching (summary's live table). */
  terminal: boolean;
  /** The terminal's width, when stdout is one. */
  columns: number | null;
  /** Calls listener with the terminal's new width whenever it changes; returns what stops it. */
  onResize(listener: (columns: number) => void): () => void;
  /** Stderr is a terminal: a person waits to be told the tracer is attached. */
  stderrTerminal: boolean;
  /** Colour in the text on stdout (--color, NO_COLOR). */
  color: boolean;
  /** -- CMD: the command, in a cgroup of its own, ready to start. */
  traceCommand(argv: string[]): TracedCommand;
}

/** What every tracing command asks of its session (its options share these). */
export interface SessionSpec {
  filter: FilterSpec;
  readyFile: string | null;
  durationMs: number | null;
  /** -- CMD: run this command and trace only its drops. */
  command?: string[] | null;
  /** Read the traced namespace's counters before the tracer attaches, to set the run's counter deltas beside what it traced. */
  countersBefore?: boolean;
  /** --kubernetes and --pod-logs. */
  pods: PodSettings;
}

/** The tracer a command asks for: events streamed through the ring, or counts kept in the kernel. */
export type TracerRequest =
  | { mode: 'stream'; features: EventFeatures; ringBytes: number; onBatch(batch: Buffer): void }
  | { mode: 'count'; features: EventFeatures; countEntries: number };

export interface SessionResult {
  counters: Counters;
  counterDeltas: CounterDelta[] | null; // null when the counters could not be read, or nothing was traced
  /** The traced namespace's devices, qdiscs, settings and listeners after the run; null with counterDeltas null, or when not read. */
  host: HostState | null;
  /** The counter sources that could not be read (left out). */
  unread: string[];
  /**
   * -- CMD: the command's exit status, dropwhy's own; null without a command, when it never started, or
   * when dropwhy ended it (--count, --duration: the run ended as asked, exit 0).
   */
  commandStatus: number | null;
}

/** What ended tracing while the command ran, for the closing line: `sleep was killed by SIGTERM: dropwhy ended it at --duration`. */
const ENDED_BY: Partial<Record<StopReason['kind'], string>> = { count: '--count', duration: '--duration', 'output-closed': 'the output closing' };

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

/** The stacks map's size: room for stacks only when they are recorded. */
function stackEntries(features: EventFeatures): number {
  return features.stack ? STACK_ENTRIES : UNUSED_STACK_ENTRIES;
}

/**
 * Prepares a session, runs body with it, and then, however body ended, runs the session's one
 * cleanup path: the tracer stopped, the nftables trace stopped, the traced command's cgroup removed,
 * and whatever body handed over with defer() closed.
 */
export async function withSession<T>(spec: SessionSpec, io: CommandIo, body: (session: Session) => Promise<T>): Promise<T> {
  const session = await Session.prepare(spec, io);
  try {
    return await body(session);
  } finally {
    await session.close();
  }
}

export class Session {
  /** The counters before the tracer attached; null when not read or not readable. */
  private before: HostSnapshot | null = null;
  private host: HostState | null = null;
  private commandExit: CommandExit | null = null;
  /** Why dropwhy ended the command (--count, --duration, ...); null when it ended by itself. */
  private commandEndedBy: StopReason | null = null;
  private tracer: NativeTracer | null = null;
  /** The tracer's mode, once opened. */
  private mode: TracerRequest['mode'] | null = null;
  private nftTrace: NftTrace | null = null;
  /** What close() undoes besides the session's own parts, newest first. */
  private readonly cleanups: Array<() => unknown> = [];

  private constructor(
    private readonly io: CommandIo,
    private readonly spec: SessionSpec,
    readonly kernel: KernelFacts,
    readonly filter: DropFilter,
    /** What the outputs format with: its symbols are read once the tracer is attached. */
    readonly context: FormatContext & { symbols: KernelSymbols },
    private readonly interfaces: InterfaceNames,
    /** In Kubernetes, the pods of drops (also in context.pods); else null. */
    readonly pods: Pods | null,
    /** -- CMD: started once the tracer is attached; its end ends the session. */
    readonly command: TracedCommand | null,
    /** The counter snapshot started by prepare(), awaited just before the attach. */
    private readonly snapshotBefore: Promise<HostSnapshot | null>,
  ) {}

  /**
   * Kernel facts and the filter on this machine; the note for reason-less kernels; in Kubernetes
   * the pods known now (a lookup never waits, so a pod still unknown at its first drop would be
   * named by none); -- CMD's cgroup, made last.
   */
  static async prepare(spec: SessionSpec, io: CommandIo): Promise<Session> {
    // The counters before the run are read by a child process (~100 ms of spawns: ip, tc, ethtool) while
    // this one parses the BTF and resolves the filter; only the attach waits for them. Not with
    // -- CMD: the namespace's counters count every process's drops, and the traced ones are the command's alone.
    const snapshotBefore = spec.countersBefore && !spec.command ? readCountersOrNull(io, filteredNetns(spec.filter, io.statInode) ?? null) : Promise.resolve(null);
    const kernel = readKernelFacts(io.binding);
    const filter = await resolveSessionFilter(spec.filter, kernel, io);
    if (kernel.tracepointFields && !kernel.hasReason) {
      io.writeErr('dropwhy: this kernel\'s skb:kfree_skb tracepoint reports no drop reason (Linux < 5.17): "reason" is null');
    }
    const interfaces = io.interfaces(io.logger);
    const pods = io.pods(spec.pods, io.logger);
    await pods?.load();
    const context = {
      reasons: kernel.reasons,
      symbols: new KernelSymbols(io.symbols),
      sockets: io.sockets(),
      interfaces,
      pods: pods ?? undefined,
      monotonicToUnixNs: Date.now() * 1e6 - Number(process.hrtime.bigint()),
      color: io.color,
    };
    // -- CMD: its cgroup exists from here on; close() removes it whatever happens next.
    const command = spec.command ? io.traceCommand(spec.command) : null;
    if (command) filter.commandCgroup = command.cgroup.id;
    return new Session(io, spec, kernel, filter, context, interfaces, pods, command, snapshotBefore);
  }

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

  /** close() also runs cleanup, before the session's own parts (the last handed over runs first). */
  defer(cleanup: () => unknown): void {
    this.cleanups.unshift(cleanup);
  }

  /**
   * --nft-trace: the nftables trace in the traced namespace (--filter-netns, else ours); each drop
   * verdict goes to onVerdict, guarded as a callback. Stopped by close().
   */
  async traceRules(onVerdict: (drop: TraceDrop) => void): Promise<void> {
    const { netns } = this.filter;
    const netnsPath = netns === undefined ? null : await this.io.findNetns(netns);
    if (netns !== undefined && netnsPath === null) {
      throw new Error(`--nft-trace: no process or /run/netns entry found for network namespace ${netns}`);
    }
    this.nftTrace = await NftTrace.start(this.filter, netnsPath, this.io, this.guard(onVerdict), (error) => this.requestStop({ kind: 'error', error }));
  }

  /** The traced namespace's interface names, listed now: a lookup never waits, so a list still missing at the first drop would name nothing. */
  async loadInterfaceNames(): Promise<void> {
    const traced = this.filter.netns ?? this.io.statInode(OWN_NETNS_PATH);
    if (traced !== null) await this.interfaces.load(traced);
  }

  /**
   * Loads and attaches the tracer, unless a stop came first (a signal during the BTF read or the
   * snapshot). A --ready-file that could not be written fails here, before anything is loaded.
   */
  async openTracer(request: TracerRequest): Promise<NativeTracer> {
    const { readyFile } = this.spec;
    if (readyFile) checkWritable(readyFile);
    this.before = await this.snapshotBefore;
    await deliverPendingSignals();
    if (this.stopReason) return NOT_LOADED;
    const stream = request.mode === 'stream';
    this.mode = request.mode;
    if (stream) this.io.logger.debug({ filter: this.spec.filter, ringBytes: request.ringBytes }, 'opening tracer');
    this.tracer = this.io.binding.openTracer({
      config: lowerFilter(this.filter, stream ? wakeupBytesFor(request.ringBytes) : WAKEUP_BYTES, request.mode, request.features),
      ringBytes: stream ? request.ringBytes : UNUSED_RING_BYTES,
      countEntries: stream ? UNUSED_COUNT_ENTRIES : request.countEntries,
      commandCgroup: this.command?.cgroup.path ?? null,
      stackEntries: stackEntries(request.features),
      onBatch: stream ? request.onBatch : () => {},
      ...this.tracerHooks(),
    });
    return this.tracer;
  }

  /**
   * The tracer's callbacks: a poll error ends the session; libbpf's log, the
   * verifier's included, is debug output (shown with --log-level debug).
   */
  private tracerHooks(): Pick<TracerOptions, 'onError' | 'onLog'> {
    return {
      onError: (error) => this.requestStop({ kind: 'error', error }),
      onLog: (level, message) => this.io.logger.debug({ source: 'libbpf', libbpfLevel: level }, message),
    };
  }

  /**
   * Announces readiness, waits for a reason to stop, stops the tracer and
   * removes the ready file. Rethrows what ended it badly.
   */
  async run(onReady: () => void = () => {}): Promise<SessionResult> {
    const tracer = this.tracer ?? NOT_LOADED;
    const { durationMs, readyFile } = this.spec;
    const { symbols } = this.context;
    let timer: NodeJS.Timeout | null = null;
    let writtenReadyFile: string | null = null;
    let failure: unknown = null;
    let command: Promise<CommandExit | null> | null = null;
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
        symbols.attached();
        if (this.io.stderrTerminal) this.io.writeErr(this.listeningLine());
        onReady();
        command = this.startCommand();
      } else if (tracer !== NOT_LOADED) {
        this.io.logger.debug('attached to skb:kfree_skb, and stopping: the stop came during the load');
      }
      await this.io.stop.requested;
    } catch (error) {
      failure = error;
    } finally {
      if (timer) clearTimeout(timer);
      symbols.close();
    }
    // The command's last drops are traced: the tracer stops once it has ended.
    const commandExit = command && (this.commandExit = await this.endCommand(command));
    const commandStatus = commandExit && !this.commandEndedBy ? commandExit.status : null;
    const counters = await tracer.stop();
    this.tracer = null; // stopped: close() has nothing left to stop
    if (writtenReadyFile) this.removeReadyFile(writtenReadyFile);
    const after = this.before && tracer !== NOT_LOADED ? await readCountersOrNull(this.io, this.filter.netns ?? null, true) : null;
    this.host = after?.state ?? null;
    const reason = this.stopReason;
    if (failure === null && reason?.kind === 'error') failure = reason.error;
    if (failure !== null) {
      this.writeClosing(counters);
      throw failure;
    }
    const counterDeltas = this.before && after ? diffSnapshots(this.before.counters, after.counters) : null;
    return { counters, counterDeltas, host: this.host, unread: this.before?.unread ?? [], commandStatus };
  }

  /**
   * What tcpdump's "listening on eth0" is to it, once attached: startup takes long enough that a person
   * wonders whether the first packets were missed.
   */
  private listeningLine(): string {
    const verb = this.mode === 'count' ? 'counting' : 'tracing';
    const filters = filterText(this.spec.filter);
    const scope = [...(this.command ? [`the drops of ${this.command.argv[0]}`] : []), filters.length > 0 ? `filters ${filters.join(' ')}` : 'no filter'];
    return `dropwhy: ${verb} drops on skb:kfree_skb (${scope.join('; ')}); Ctrl-C to stop`;
  }

  /** Starts the traced command, if there is one; its end (or failing to start) ends the session. */
  private startCommand(): Promise<CommandExit | null> | null {
    const { command } = this;
    if (!command) return null;
    this.io.stop.forwardSignals((signal) => command.signal(signal));
    return command.start().then(
      (exit) => {
        this.requestStop({ kind: 'command-ended' });
        return exit;
      },
      (error: unknown) => {
        this.requestStop({ kind: 'error', error });
        return null;
      },
    );
  }

  /** Waits for the command, which gets SIGTERM (then SIGKILL) when tracing stopped for another reason. */
  private async endCommand(running: Promise<CommandExit | null>): Promise<CommandExit | null> {
    const command = this.command!;
    let killer: NodeJS.Timeout | null = null;
    if (this.stopReason?.kind !== 'command-ended') {
      this.commandEndedBy = this.stopReason;
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

  /**
   * The closing lines on stderr: counters, the command's notes on them (notes, each a whole line), loss,
   * and the kernel's counters beside the traced drops.
   */
  writeClosing(counters: Counters, deltas: CounterDelta[] | null = null, traced: TracedCount[] = [], notes: string[] = []): void {
    const { writeErr } = this.io;
    writeErr(`dropwhy: ${plural(counters.seen, 'drop')} seen, ${counters.matched} matched, ${counters.lost} lost`);
    for (const note of notes) writeErr(note);
    if (counters.lost > 0) {
      writeErr(`dropwhy: ${plural(counters.lost, 'event was', 'events were')} lost because the ring buffer was full: raise --ring-size or narrow the filter`);
    }
    if (counters.overflow > 0) {
      writeErr(`dropwhy: ${plural(counters.overflow, 'drop was', 'drops were')} not counted because the count map was full: raise --max-keys`);
    }
    if (counters.stackMissed > 0) {
      writeErr(`dropwhy: ${plural(counters.stackMissed, 'drop has', 'drops have')} no stack: the stack map was full or their stack's bucket held another one`);
    }
    if (counters.packetUnread > 0) {
      writeErr(`dropwhy: ${plural(counters.packetUnread, 'drop is', 'drops are')} not in the pcapng file: their skb had no network header or its bytes could not be read`);
    }
    if (counters.unrecordedFlows > 0) {
      writeErr(`dropwhy: ${plural(counters.unrecordedFlows, 'flow')} of the command found the kernel's flow map full: their drops without its socket were missed`);
    }
    if (deltas !== null) {
      const checks = correlate(traced, deltas, this.host);
      const found = this.findings(deltas, checks, traced, counters.lost);
      const explained = new Set(found.flatMap((f) => [f.counter, ...f.companions]));
      const unseen = { count: counters.lost, noun: 'lost' } as const;
      const lines = formatCorrelation(checks, deltas, this.filter.netns === undefined, unseen, narrowingFilters(this.spec.filter), explained);
      for (const line of lines) writeErr(`dropwhy: ${line}`);
      for (const finding of found) writeErr(`dropwhy: finding: ${findingText(finding, { filtered: narrowingFilters(this.spec.filter).length > 0 })}`);
    }
    const { command } = this;
    if (command && this.commandExit !== null) {
      const endedBy = this.commandEndedBy && ENDED_BY[this.commandEndedBy.kind];
      writeErr(`dropwhy: ${exitText(command.argv[0], this.commandExit)}${endedBy ? `: dropwhy ended it at ${endedBy}` : ''}`);
    }
  }

  /** The counters that moved beyond the traced drops, explained with the namespace's settings (see knowledge/findings.ts). */
  findings(deltas: CounterDelta[], checks: ReturnType<typeof correlate>, traced: TracedCount[], unseen: number): Finding[] {
    const byReason = new Map<string, number>();
    for (const group of traced) byReason.set(group.reason, (byReason.get(group.reason) ?? 0) + group.count);
    return findings(deltas, checks, this.host, byReason, unseen);
  }

  /**
   * The one cleanup path, whatever stage was reached: what was handed over with defer(), the tracer
   * (when run() did not stop it), the nftables trace, the traced command's cgroup. Each step runs
   * even when an earlier one failed; the first failure is thrown at the end.
   */
  async close(): Promise<void> {
    const steps: Array<() => unknown> = [
      ...this.cleanups,
      () => this.tracer?.stop(),
      () => this.nftTrace?.stop(),
      () => {
        const warning = this.command?.close();
        if (warning) this.io.logger.warn(warning);
      },
    ];
    let failure: { error: unknown } | null = null;
    for (const step of steps) {
      try {
        await step();
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure) throw failure.error;
  }

  private removeReadyFile(path: string): void {
    try {
      rmSync(path, { force: true });
    } catch (error) {
      this.io.logger.warn(`cannot remove --ready-file ${path}: ${(error as Error).message}`);
    }
  }
}

/** A source that cannot be read is left out with one debug line; a snapshot that cannot be taken at all is a warning. */
async function readCountersOrNull(io: CommandIo, netns: number | null, withState = false): Promise<HostSnapshot | null> {
  try {
    const snapshot = await io.readCounters(netns, withState);
    if (snapshot.unread.length > 0 && !withState) io.logger.debug({ unread: snapshot.unread }, 'counter sources left out: they could not be read');
    return snapshot;
  } catch (error) {
    io.logger.warn(`cannot read the namespace's counters: ${(error as Error).message}`);
    return null;
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
