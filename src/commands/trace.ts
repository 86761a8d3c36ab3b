// The trace command: stream every matching drop and print it, decode → filter
// → (with --nft-trace, wait for the rule) → format → write, one batch at a time.
import { closeSync, openSync } from 'node:fs';
import { systemErrorText, UsageError } from '../errors';
import { hintLine } from '../output/explain';
import type { TracedCount } from '../knowledge/correlate';
import { Decoder, type DropEvent } from '../events/decode';
import { lowerFilter, matches } from '../events/filter';
import { FEATURE, recordSize } from '../events/layout';
import { PcapngWriter } from '../output/pcapng';
import { protocolName } from '../events/protocols';
import { JsonWriter } from '../output/json-writer';
import { TextWriter } from '../output/text-writer';
import { StackTable } from '../kernel/stacks';
import { RuleAttacher, VerdictPool, type AttachClock } from '../nft/attach';
import type { NftTrace } from '../nft/nft-trace';
import type { NftRule } from '../nft/trace-parse';
import type { ReasonTable } from '../events/reasons';
import { OWN_NETNS_PATH, type TraceOptions } from './options';
import { fdWriter, LineBuffer, OutputClosedError, type Chunk } from '../output/writer';
import { VERSION } from '../version';
import { closeCommand, prepare, Session, stackEntries, startNftTrace, wakeupBytesFor, type CommandIo } from './session';

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

/** Traces until a stop; resolves with the exit status of the command traced with -- CMD (null without one). */
export async function runTrace(options: TraceOptions, io: CommandIo): Promise<number | null> {
  const { filter, context, interfaces, command, symbols } = await prepare(options, io);
  const jsonWriter = new JsonWriter(context);
  const textWriter = new TextWriter(context);
  const session = new Session(io, { readyFile: options.readyFile, durationMs: options.durationMs, netns: filter.netns ?? null, command, symbols });
  const hinted = new Set<number>(); // reason codes already explained
  const tally = new TracedTally(context.reasons);
  const lines = new LineBuffer(options.output === 'json' ? 'latin1' : 'utf8');
  const netfilterDrop = context.reasons.codeOf('NETFILTER_DROP');
  let printed = 0;
  let counted = false; // --count reached: print no more
  // Once the reader has gone, the drops read are counted, not formatted: the closing line says how many were never written.
  const output = { written: 0, pending: 0, unwritten: 0 };

  let pcap: ReturnType<typeof openPcap> | null = null; // opened inside the try: a bad -w path still removes -- CMD's cgroup
  const pcapng = options.pcap === null ? null : new PcapngWriter(context, options.pcap.snaplen);
  const packets: Buffer[] = [];

  const print = (event: DropEvent, rule: NftRule | null) => {
    if (counted) return;
    if (session.stopReason?.kind === 'output-closed') {
      output.unwritten++;
      if (event.reason !== null) tally.add(event.reason, event);
      return;
    }
    output.pending++;
    if (pcapng) {
      const blocks = pcapng.add(event);
      if (blocks) packets.push(blocks);
    }
    if (options.output === 'json') {
      jsonWriter.write(lines, event, rule);
    } else if (options.output === 'text') {
      lines.add(textWriter.line(event));
      for (const frame of textWriter.stackLines(event)) lines.add(frame);
      if (options.nftTrace && event.reason === netfilterDrop) lines.add(textWriter.ruleLine(rule));
    }
    if (event.reason !== null) {
      tally.add(event.reason, event);
      if (options.hints && options.output === 'text' && !hinted.has(event.reason)) {
        hinted.add(event.reason);
        lines.add(hintLine(context.reasons.decode(event.reason).name));
      }
    }
    if (++printed !== options.count) return;
    counted = true;
    session.requestStop({ kind: 'count' });
  };
  // The lines first: a -w file that fails (a full disk) still leaves the batch's drops printed.
  // A batch whose write hit the closed pipe counts as not written: what the reader took of it is unknown.
  const flush = () => {
    const events = output.pending;
    output.pending = 0;
    try {
      if (!lines.empty) io.writeOut(lines.take());
      if (pcap && packets.length > 0) pcap.write(Buffer.concat(packets.splice(0)));
    } catch (error) {
      if (error instanceof OutputClosedError) output.unwritten += events;
      throw error;
    }
    output.written += events;
  };

  // Every record of the session has this size: with -w the packet's bytes follow the event.
  const decoder = new Decoder(recordSize(options.pcap ? FEATURE.PACKET : 0, options.pcap?.snaplen ?? 0));
  let inBatch = false;
  // With --nft-trace a NETFILTER_DROP waits briefly for the trace verdict that names its rule.
  const attacher = options.nftTrace
    ? new RuleAttacher(
        new VerdictPool(),
        (event) => netfilterDrop !== undefined && event.reason === netfilterDrop,
        session.guard((event: DropEvent, rule: NftRule | null) => {
          print(event, rule);
          if (!inBatch) flush();
        }),
        SYSTEM_CLOCK,
      )
    : null;

  const onBatch = session.guard((batch: Buffer) => {
    const stopping = session.stopReason?.kind;
    // After a signal, --duration or the traced command's end the drained events are still printed; after the output closed, counted.
    if (stopping === 'count' || stopping === 'error') return;
    inBatch = true;
    try {
      decoder.forEachEvent(batch, (event) => {
        if (!matches(filter, event)) return true;
        if (attacher) attacher.add(event);
        else print(event, null);
        return !counted;
      });
    } finally {
      inBatch = false;
    }
    flush();
  });

  const features = { socket: options.socket, stack: options.stack, snaplen: options.pcap?.snaplen };
  let nftTrace: NftTrace | null = null;
  try {
    if (options.pcap && pcapng) {
      pcap = openPcap(options.pcap.path, io);
      pcap.write(pcapng.start(`dropwhy ${VERSION}`));
    }
    if (attacher) nftTrace = await startNftTrace(filter, io, session, (drop) => attacher.verdict(drop));
    await session.snapshotCounters();
    // The traced namespace's names before the first drop: a lookup never waits, so a list still missing would name nothing.
    const tracedNetns = filter.netns ?? io.statInode(OWN_NETNS_PATH);
    if (tracedNetns !== null) await interfaces.load(tracedNetns);
    const tracer = await session.open(() => {
      io.logger.debug({ filter: options.filter, ringBytes: options.ringBytes }, 'opening tracer');
      return io.binding.openTracer({
        config: lowerFilter(filter, wakeupBytesFor(options.ringBytes), 'stream', features),
        ringBytes: options.ringBytes,
        countEntries: UNUSED_COUNT_ENTRIES,
        commandCgroup: command?.cgroup.path ?? null,
        stackEntries: stackEntries(features),
        onBatch,
        ...session.tracerHooks(),
      });
    });
    // --stack: each stack's frames are read when its id is first printed (batches arrive only
    // after this turn; with --nft-trace a drop may wait for its rule until the tracer has stopped,
    // whose stacks stay readable).
    if (options.stack) context.stacks = new StackTable((ids) => tracer.stackFrames(ids), context.symbols);
    const { counters, counterDeltas, commandStatus } = await session.run(tracer);
    await attacher?.drain();
    session.writeClosing(counters, counterDeltas, tally.counts);
    if (session.stopReason?.kind === 'output-closed') {
      io.writeErr(`dropwhy: output closed: ${output.unwritten} drops read were not written (${output.written} were)`);
    }
    return commandStatus;
  } finally {
    pcap?.close();
    await nftTrace?.stop();
    closeCommand(command, io);
  }
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
