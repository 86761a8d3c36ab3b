// The trace command: stream every matching drop and print it, decode → filter
// → (with --nft-trace, wait for the rule) → format → write, one batch at a time.
// The printer (output/trace-printer.ts) formats and writes; the session owns the run.
import { closeSync, openSync } from 'node:fs';
import { systemErrorText, UsageError } from '../errors';
import { Decoder, type DropEvent } from '../events/decode';
import { matches } from '../events/filter';
import { FEATURE, recordSize } from '../events/layout';
import { StackTable } from '../kernel/stacks';
import { RuleAttacher, VerdictPool, type AttachClock } from '../nft/attach';
import type { NftRule } from '../nft/trace-parse';
import { TracePrinter } from '../output/trace-printer';
import { fdWriter, type Chunk } from '../output/writer';
import { VERSION } from '../version';
import type { TraceOptions } from './options';
import { withSession, type CommandIo } from './session';

/** Where the lines go (CommandIo's writeOut): standard output. */
const STDOUT_FD = 1;
/**
 * The pipe buffer asked for when standard output is a pipe. A reader such as `| wc -l` or `| jq` that
 * shares dropwhy's CPU runs once per 64 KiB with the default one, and a storm's lines wait on it: in 1 s
 * bursts at ~800k drops/s, `-o json | wc -l` lost 51 % of the events with 64 KiB and 1.5 % with 1 MiB,
 * which holds most of a batch's lines (docs/benchmarks.md).
 */
const STDOUT_PIPE_BYTES = 1 << 20;

/** Traces until a stop; resolves with the exit status of the command traced with -- CMD (null without one). */
export function runTrace(options: TraceOptions, io: CommandIo): Promise<number | null> {
  return withSession({ ...options, countersBefore: true }, io, async (session) => {
    const { context, filter } = session;
    const pipeBytes = io.binding.growPipe(STDOUT_FD, STDOUT_PIPE_BYTES);
    if (pipeBytes > 0) io.logger.debug({ bytes: pipeBytes }, 'standard output is a pipe: its buffer');
    // Opened inside the session: a -w path that cannot be written still removes -- CMD's cgroup.
    const pcap = options.pcap && { ...openPcap(options.pcap.path, io), snaplen: options.pcap.snaplen };
    if (pcap) session.defer(() => pcap.close());
    // On a terminal the text fits its width, and is laid out again when the width changes.
    const columns = io.terminal ? io.columns : null;
    const printer = new TracePrinter({ lines: options.output, columns, pcap, writeOut: io.writeOut }, context, {
      hints: options.hints,
      rules: options.nftTrace,
      count: options.count,
      onCountReached: () => session.requestStop({ kind: 'count' }),
      outputClosed: () => session.stopReason?.kind === 'output-closed',
    });
    printer.start(`dropwhy ${VERSION}`);
    if (columns !== null) session.defer(io.onResize((width) => printer.resize(width)));

    let inBatch = false;
    // With --nft-trace a NETFILTER_DROP waits briefly for the trace verdict that names its rule.
    const attacher = options.nftTrace
      ? new RuleAttacher(
          new VerdictPool(),
          (event) => printer.isNetfilterDrop(event),
          session.guard((event: DropEvent, rule: NftRule | null) => {
            printer.print(event, rule);
            if (!inBatch) printer.flush();
          }),
          SYSTEM_CLOCK,
        )
      : null;
    // Every record of the session has this size: with -w the packet's bytes follow the event.
    const decoder = new Decoder(recordSize(options.pcap ? FEATURE.PACKET : 0, options.pcap?.snaplen ?? 0));
    const onBatch = session.guard((batch: Buffer) => {
      const stopping = session.stopReason?.kind;
      // After a signal, --duration or the traced command's end the drained events are still printed; after
      // --count or the output closed, counted (and tallied for the kernel's counters), not printed.
      if (stopping === 'error') return;
      inBatch = true;
      try {
        decoder.forEachEvent(batch, (event) => {
          if (!matches(filter, event)) return true;
          // Past --count no rule is waited for: the drop is only counted.
          if (attacher && !printer.full) attacher.add(event);
          else printer.print(event, null);
          return true;
        });
      } finally {
        inBatch = false;
      }
      printer.flush();
    });

    if (attacher) await session.traceRules((drop) => attacher.verdict(drop));
    await session.loadInterfaceNames();
    const features = { socket: options.socket, stack: options.stack, snaplen: options.pcap?.snaplen };
    const tracer = await session.openTracer({ mode: 'stream', ringBytes: options.ringBytes, features, onBatch });
    // --stack: each stack's frames are read when its id is first printed (batches arrive only
    // after this turn; with --nft-trace a drop may wait for its rule until the tracer has stopped,
    // whose stacks stay readable).
    if (options.stack) context.stacks = new StackTable((ids) => tracer.stackFrames(ids), context.symbols);
    const { counters, counterDeltas, commandStatus } = await session.run();
    await attacher?.drain();
    session.writeClosing(counters, counterDeltas, printer.traced, session.stopReason?.kind === 'count' ? [printer.countLine()] : []);
    if (session.stopReason?.kind === 'output-closed') io.writeErr(printer.closedLine());
    return commandStatus;
  });
}

/** -w: the pcapng file, or stdout for '-'. */
function openPcap(path: string, io: CommandIo): { write(chunk: Chunk): void; close(): void } {
  if (path === '-') return { write: io.writeOut, close: () => {} };
  let fd: number;
  try {
    fd = openSync(path, 'w');
  } catch (error) {
    throw new UsageError(`-w: cannot write ${path}: ${systemErrorText(error)}`);
  }
  const write = fdWriter(fd);
  return {
    // A full disk ends the session with one line naming the file, not Node's bare `ENOSPC: ..., write`.
    write: (chunk) => {
      try {
        write(chunk);
      } catch (error) {
        throw new Error(`-w: cannot write ${path}: ${systemErrorText(error)}`);
      }
    },
    close: () => closeSync(fd),
  };
}

const SYSTEM_CLOCK: AttachClock = {
  nowNs: () => Number(process.hrtime.bigint()), // CLOCK_MONOTONIC, as the drop events' timestamps
  nowMs: () => performance.now(),
  setTimer: (callback, ms) => {
    const timer = setTimeout(callback, ms);
    return { cancel: () => clearTimeout(timer) };
  },
};
