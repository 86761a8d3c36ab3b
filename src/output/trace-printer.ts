// What the trace command prints for each matching drop, one batch at a time: a text or NDJSON line
// (with its stack frames, rule line and the first hint of each reason), and with -w the packet's
// pcapng blocks; the drops printed, tallied for the kernel's counters; --count; and, once the reader
// has gone, the drops read but never written.
import type { DropEvent, KernelAddress } from '../events/decode';
import type { TracedCount } from '../knowledge/correlate';
import type { NftRule } from '../nft/trace-parse';
import { protocolName } from '../events/protocols';
import { plural } from '../plural';
import { hintLine } from './explain';
import type { FormatContext } from './format';
import { JsonWriter } from './json-writer';
import { PcapngWriter } from './pcapng';
import { terminalLayout } from './terminal-layout';
import { TextWriter } from './text-writer';
import { LineBuffer, OutputClosedError, type Chunk } from './writer';

/** One group of the tally: where the drops were freed and on which device, named when the tally is read. */
interface TracedGroup {
  reason: string;
  proto: string | null;
  family: TracedCount['family'];
  location: KernelAddress;
  netns: number | null;
  ifindex: number;
  count: number;
}

/** Counts traced drops per (reason, protocol, family, location, device), to set beside the kernel's counters. */
class TracedTally {
  // Keyed by numbers, not a string built per drop: this runs for every event.
  private readonly groups = new Map<number, Map<number, Map<number, Map<number, TracedGroup>>>>();
  /** The group of the last drop added, and the keys it is under. */
  private lastGroup: TracedGroup | null = null;
  private lastCode = -1;
  private lastPacketKey = -1;

  constructor(private readonly context: FormatContext) {}

  add(code: number, event: DropEvent): void {
    const packetKey = (event.l4Proto ?? 256) + 512 * (event.family ?? 0) + 4096 * event.protocol;
    const last = this.lastGroup;
    // A storm repeats one group: the four lookups below only when the drop is of another one.
    if (last !== null && this.lastCode === code && this.lastPacketKey === packetKey && last.ifindex === event.ifindex && last.location.lo === event.location.lo) {
      last.count++;
      return;
    }
    this.lastGroup = this.groupOf(code, packetKey, event);
    this.lastCode = code;
    this.lastPacketKey = packetKey;
  }

  /** The drop's group, counted; made on its first drop. */
  private groupOf(code: number, packetKey: number, event: DropEvent): TracedGroup {
    let byPacket = this.groups.get(code);
    if (!byPacket) this.groups.set(code, (byPacket = new Map()));
    let byDevice = byPacket.get(packetKey);
    if (!byDevice) byPacket.set(packetKey, (byDevice = new Map()));
    let byLocation = byDevice.get(event.ifindex);
    if (!byLocation) byDevice.set(event.ifindex, (byLocation = new Map()));
    // The low half of a kernel address tells its functions apart: the high half is the same for all of them.
    let group = byLocation.get(event.location.lo);
    if (group) {
      group.count++;
      return group;
    }
    group = {
      reason: this.context.reasons.decode(code).name,
      proto: protocolName(event.l4Proto, event.protocol),
      family: event.family,
      location: { ...event.location },
      netns: event.netns,
      ifindex: event.ifindex,
      count: 1,
    };
    byLocation.set(event.location.lo, group);
    return group;
  }

  /** kallsyms unreadable: the drops' lines said so already; their counters are compared without a location. */
  private symbolize(location: KernelAddress): string | null {
    try {
      return this.context.symbols.symbolize(location);
    } catch {
      return null;
    }
  }

  get counts(): TracedCount[] {
    const groups = [...this.groups.values()].flatMap((byPacket) =>
      [...byPacket.values()].flatMap((byDevice) => [...byDevice.values()].flatMap((byLocation) => [...byLocation.values()])),
    );
    return groups.map(({ reason, proto, family, location, netns, ifindex, count }) => ({
      reason,
      proto,
      family,
      count,
      location: this.symbolize(location),
      device: this.context.interfaces.name(netns, ifindex),
    }));
  }
}

/** Where a trace's lines and packets go. */
export interface TraceOutputs {
  /** Lines: text or NDJSON; null prints none (-w without -o). */
  lines: 'text' | 'json' | null;
  /** The terminal's width when stdout is one: text lines then fit it (terminal-layout.ts); null: the full line. */
  columns: number | null;
  /** -w: the pcapng file's writes, and the bytes of each packet kept; null without -w. */
  pcap: { write(chunk: Chunk): void; snaplen: number } | null;
  writeOut(chunk: Chunk): void;
}

export interface TracePrinterOptions {
  /** A one-line hint after the first drop of each reason (text lines). */
  hints: boolean;
  /** --nft-trace: a NETFILTER_DROP's text line is followed by its rule's. */
  rules: boolean;
  /** --count: print no more than this many; null: no limit. */
  count: number | null;
  /** Called once, when the count-th drop was printed. */
  onCountReached(): void;
  /** Whether the reader of stdout has gone: drops are then counted, not printed. */
  outputClosed(): boolean;
}

export class TracePrinter {
  private readonly tally: TracedTally;
  private readonly hinted = new Set<number>(); // reason codes already explained
  private readonly lineBuffer: LineBuffer;
  /** The writer of the lines asked for, with its caches; null without lines. */
  private readonly json: JsonWriter | null;
  private readonly text: TextWriter | null;
  private readonly pcapng: PcapngWriter | null;
  private readonly packets: Buffer[] = [];
  private readonly netfilterDrop: number | undefined;
  private printed = 0;
  private counted = false; // --count reached: print no more
  /** Matched drops read after --count was reached: counted (and tallied), not printed. */
  private afterCount = 0;
  // Once the reader has gone, the drops read are counted, not formatted: the closing line says how many were never written.
  private written = 0;
  private pending = 0;
  private unwritten = 0;

  constructor(
    private readonly outputs: TraceOutputs,
    private readonly context: FormatContext,
    private readonly options: TracePrinterOptions,
  ) {
    this.tally = new TracedTally(context);
    this.lineBuffer = new LineBuffer(outputs.lines === 'json' ? 'latin1' : 'utf8');
    this.json = outputs.lines === 'json' ? new JsonWriter(context) : null;
    this.text = outputs.lines === 'text' ? new TextWriter(context, outputs.columns === null ? null : terminalLayout(outputs.columns)) : null;
    this.pcapng = outputs.pcap === null ? null : new PcapngWriter(context, outputs.pcap.snaplen);
    this.netfilterDrop = context.reasons.codeOf('NETFILTER_DROP');
  }

  /** -w: the section header, before any packet. */
  start(application: string): void {
    if (this.outputs.pcap && this.pcapng) this.outputs.pcap.write(this.pcapng.start(application));
  }

  /** The terminal's width changed (SIGWINCH): the text's layout is decided again, under a new header. */
  resize(columns: number): void {
    this.text?.relayout(terminalLayout(columns));
  }

  /** --count was reached: no more drops are printed. */
  get full(): boolean {
    return this.counted;
  }

  /** The drops printed (or read after the output closed), per reason, for the kernel's counters. */
  get traced(): TracedCount[] {
    return this.tally.counts;
  }

  isNetfilterDrop(event: DropEvent): boolean {
    return this.netfilterDrop !== undefined && event.reason === this.netfilterDrop;
  }

  print(event: DropEvent, rule: NftRule | null): void {
    if (this.counted || this.options.outputClosed()) {
      if (this.counted) this.afterCount++;
      else this.unwritten++;
      if (event.reason !== null) this.tally.add(event.reason, event);
      return;
    }
    this.pending++;
    if (this.pcapng) {
      const blocks = this.pcapng.add(event);
      if (blocks) this.packets.push(blocks);
    }
    const lines = this.lineBuffer;
    if (this.json) {
      this.json.write(lines, event, rule);
    } else if (this.text) {
      const text = this.text;
      text.write(lines, event);
      for (const frame of text.stackLines(event)) text.writeLine(lines, frame);
      if (this.options.rules && this.isNetfilterDrop(event)) text.writeLine(lines, text.ruleLine(rule));
    }
    if (event.reason !== null) {
      this.tally.add(event.reason, event);
      if (this.options.hints && this.text && !this.hinted.has(event.reason)) {
        this.hinted.add(event.reason);
        this.text.writeLine(lines, hintLine(this.context.reasons.decode(event.reason).name, this.context.symbols.symbolize(event.location)));
      }
    }
    if (++this.printed !== this.options.count) return;
    this.counted = true;
    this.options.onCountReached();
  }

  /**
   * Writes what print() gathered. The lines first: a -w file that fails (a full disk) still leaves the
   * batch's drops printed. A batch whose write hit the closed pipe counts as not written: what the
   * reader took of it is unknown.
   */
  flush(): void {
    const events = this.pending;
    this.pending = 0;
    try {
      if (!this.lineBuffer.empty) this.outputs.writeOut(this.lineBuffer.take());
      if (this.outputs.pcap && this.packets.length > 0) this.outputs.pcap.write(Buffer.concat(this.packets.splice(0)));
    } catch (error) {
      if (error instanceof OutputClosedError) this.unwritten += events;
      throw error;
    }
    this.written += events;
  }

  /** The closing line after --count: how many more matched drops were read, as tcpdump's "N packets received by filter". */
  countLine(): string {
    return `dropwhy: stopped at --count ${this.options.count}; ${plural(this.afterCount, 'more matching drop')} came before the tracer was detached: counted, not printed`;
  }

  /** The closing line once the output closed. */
  closedLine(): string {
    return `dropwhy: output closed: ${plural(this.unwritten, 'drop', 'drops')} read ${this.unwritten === 1 ? 'was' : 'were'} not written (${this.written} ${this.written === 1 ? 'was' : 'were'})`;
  }
}
