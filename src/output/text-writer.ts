// One drop as text, for people: time, reason, location, protocol, flow and
// details; in Kubernetes its pod; with --stack its frames under it, with
// --nft-trace the rule that dropped it. Piped or into a file: one stable,
// aligned line per drop, written as bytes straight into the output buffer as
// the JSON lines are (a string per drop cost a storm's memory and its drops),
// from fragments cached as bytes. On a terminal: the lines of a layout that
// fits its width (terminal-layout.ts), under a header naming the columns.
import type { Family } from '../events/address';
import { formatKernelAddress, type DropEvent, type DropSocket } from '../events/decode';
import { protocolName, TCP_FLAG_TEXT, tcpFlagsText } from '../events/protocols';
import type { Pod } from '../kernel/pods';
import type { NftRule } from '../nft/trace-parse';
import { AddressCache, FragmentCache, InterfaceParts } from './caches';
import { LineBuffer, nsInSecond } from './writer';
import type { FormatContext, InterfaceResolver } from './format';
import { podName, podOf } from './pod';
import { containerText, localEndpoint, resolveSocket, socketHolder, type ResolvedSocket } from './socket';
import { fitGroups, fitText, PROTO_WIDTH, type Group, type Piece, type TerminalLayout } from './terminal-layout';

const RED = '\x1b[31m';
const CYAN = '\x1b[36m';
const DIM = '\x1b[2m';
const BOLD = '\x1b[1m';
const RESET = '\x1b[0m';
const STACK_INDENT = '    ';

/** Bound on the functions' names kept (locations without their offsets): far more than a session meets. */
const FUNCTION_NAMES = 4096;

// The piped line's columns' widths, in characters (UTF-16 code units, as padEnd counts them).
const REASON_WIDTH = 22;
const LOCATION_WIDTH = 32;
const FLOW_WIDTH = 44;

function utf8(text: string): Uint8Array {
  // A plain Uint8Array like every cached fragment (not a Buffer): one shape keeps the copy loop fast.
  return Uint8Array.from(Buffer.from(text, 'utf8'));
}

const SPACE = 0x20;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const NEWLINE = 0x0a;
const DIM_BYTES = utf8(DIM);
const RESET_BYTES = utf8(RESET);
const NULL_TEXT = utf8('null');
const UNKNOWN_ADDRESS = utf8('?');
const ARROW = utf8(' > ');
const ICMP_TYPE = utf8('type ');
const ICMP_CODE = utf8(' code ');
/** `[SYN|ACK] ` by the flags' byte. */
const TCP_FLAGS = TCP_FLAG_TEXT.map((text) => utf8(`[${text}] `));
const LEN = utf8(' len ');
const SOCK = utf8('sock ');
const UID = utf8('uid ');
const RCVBUF = utf8(' rcvbuf ');
const QUEUED = utf8(' queued ');

/** Small writes at a time (a fragment, a line for line()) need no megabyte. */
const SCRATCH_BYTES = 4096;
/** Bound on each byte cache's entries: far more than a storm repeats, little memory. */
const CACHE_LIMIT = 4096;

/** An address's text, for the terminal's strings, and its bytes as an endpoint starts: `10.0.0.1`, and `10.0.0.1:` or `[::1]:` before a port. */
interface AddressText {
  text: string;
  bare: Uint8Array;
  withPort: Uint8Array;
}

/** ` reason location proto ` with their padding (and colours), for one (location, reason, l4Proto, protocol). */
interface Head {
  hi: number;
  reason: number | null;
  l4Proto: number | null;
  protocol: number;
  color: boolean;
  bytes: Uint8Array;
}

/** ` comm[pid]` for one task. */
interface TaskPart {
  comm: string;
  bytes: Uint8Array;
}

/** A number as a template string writes it (`null` for null), for fields the kernel may leave unknown. */
function writeNumber(out: LineBuffer, value: number | null): void {
  if (value === null) out.raw(NULL_TEXT);
  else out.uint(value);
}

/**
 * Writes drops as text. One per session: it owns the caches of the text it repeats (addresses, the
 * time to the second, the piped line's parts as bytes, functions' names) and, on a terminal, the layout.
 */
export class TextWriter {
  private readonly addresses = new AddressCache<AddressText>((text, family) => ({
    text,
    bare: utf8(text),
    withPort: utf8(family === 6 ? `[${text}]:` : `${text}:`),
  }));
  private readonly functionNames = new Map<string, string>();
  /** Heads by the location's low half, then searched by the rest: the same few combinations recur through a storm. */
  private readonly heads = new FragmentCache<Head>(CACHE_LIMIT);
  /** `netns 4026531840 if 2 (veth0)`, as interfaceText names the interface. */
  private readonly interfaceParts = new InterfaceParts(CACHE_LIMIT, (netns, ifindex, name) => utf8(`netns ${netns ?? '-'} ${interfaceNamed(ifindex, name)}`));
  /** By pid: a storm's drops happen in the context of few tasks. */
  private readonly taskParts = new FragmentCache<TaskPart>(CACHE_LIMIT);
  /** `pod default/web-1` by the pod object (the resolver makes one per pod, name and container). */
  private readonly podParts = new Map<Pod, Uint8Array>();
  /** ` container 0123456789ab` by the container's id. */
  private readonly containerParts = new Map<string, Uint8Array>();
  // Date formatting is slow; the part up to the second changes once a second.
  private localSecond = -1;
  private localPrefix = '';
  /** localPrefix and its dot, as bytes. */
  private localPrefixBytes: Uint8Array = new Uint8Array(0);
  private readonly lineScratch = new LineBuffer('utf8', SCRATCH_BYTES);
  /** The header is printed before the next drop: at the first, and after the width changed. */
  private headerDue: boolean;

  /**
   * context.stacks is read at each drop: --stack sets it once the tracer is open. layout: a
   * terminal's (null: piped or into a file, one full line per drop).
   */
  constructor(
    private readonly context: FormatContext,
    private layout: TerminalLayout | null = null,
  ) {
    this.headerDue = layout !== null;
  }

  /** The terminal's width changed: its new layout, under a new header. */
  relayout(layout: TerminalLayout): void {
    this.layout = layout;
    this.headerDue = true;
  }

  /** A drop's lines: the full line, or on a terminal the layout's lines (after the header when it is due). */
  lines(event: DropEvent): string[] {
    const layout = this.layout;
    if (layout === null) return [this.line(event)];
    const lines = this.terminalLines(event, layout);
    if (!this.headerDue) return lines;
    this.headerDue = false;
    return [...layout.header.map((line) => this.paint(BOLD, line)), ...lines];
  }

  /** Adds a drop's lines to out: piped, the one full line, as bytes (no string in between: this runs for every drop). */
  write(out: LineBuffer, event: DropEvent): void {
    if (this.layout === null) this.writeDrop(out, event);
    else for (const line of this.lines(event)) out.add(line);
  }

  /** Adds a line that is not a drop's (a hint, a frame, a rule): on a terminal, wrapped to its width. */
  writeLine(out: LineBuffer, line: string): void {
    if (this.layout === null) out.add(line);
    else for (const fitted of this.fitted(line)) out.add(fitted);
  }

  /** A line that is not a drop's, as writeLine adds it. */
  fitted(line: string): string[] {
    return this.layout === null ? [line] : fitText(line, this.layout.width);
  }

  /** The piped line as a string, without its newline (the lines of a drop piped, tests): write's bytes. */
  line(event: DropEvent): string {
    const scratch = this.lineScratch;
    try {
      this.writeDrop(scratch, event);
    } catch (error) {
      scratch.take(); // nothing half-written is left to start the next line
      throw error;
    }
    const bytes = scratch.take();
    return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length - 1).toString('utf8');
  }

  /**
   * One aligned line and its newline: time reason location proto src > dst details, then the
   * socket and the pod when known. Padded to the columns' widths in characters, which are bytes
   * where it pads: the reason, the protocol and the flow are ASCII, and the location is padded
   * as text, in its cached head.
   */
  private writeDrop(out: LineBuffer, event: DropEvent): void {
    const context = this.context;
    const color = context.color;
    // The owner first: a process can be gone by the time the first drop's symbols are loaded.
    const socket = event.socket === null ? null : resolveSocket(event.socket, context.sockets);
    // Before anything is written: a symbol lookup that throws leaves no half line behind.
    const head = this.head(event, color);
    this.writeTime(out, event.tsNs + context.monotonicToUnixNs);
    out.raw(head);
    const flowStart = out.position;
    if (event.family !== null) {
      this.writeEndpoint(out, event.saddr, event.family, event.sport);
      out.raw(ARROW);
      this.writeEndpoint(out, event.daddr, event.family, event.dport);
    }
    out.padTo(flowStart, FLOW_WIDTH);
    out.byte(SPACE);
    // The details: `type 3 code 3 [SYN] netns 4026531840 if 2 (veth0) len 60 node[42]`.
    if (color) out.raw(DIM_BYTES);
    if (event.icmpType !== null) {
      out.raw(ICMP_TYPE);
      out.uint(event.icmpType);
      out.raw(ICMP_CODE);
      writeNumber(out, event.icmpCode);
      out.byte(SPACE);
    }
    if (event.tcpFlags !== null) out.raw(TCP_FLAGS[event.tcpFlags & 0xff]);
    out.raw(this.interfaceParts.get(event.netns, event.ifindex, event.ifindex === 0 ? null : context.interfaces.name(event.netns, event.ifindex)));
    out.raw(LEN);
    out.uint(event.len);
    // The socket's owner, when known, is whose packet it was; the task the drop interrupted is not.
    if (socket === null || socket.owner === null) out.raw(this.taskPart(event));
    if (color) out.raw(RESET_BYTES);
    // `sock dnsmasq[812] 10.94.0.2:53 rcvbuf 212992 queued 213760`; `sock uid 0 ...` when no process holds it.
    if (event.socket !== null && socket !== null) this.writeSocket(out, event.socket, socket, color);
    // `pod default/web-1`: the socket's pod, else its namespace's.
    const pod = context.pods === undefined ? null : podOf(event.netns, socket, context.pods);
    if (pod !== null) {
      out.byte(SPACE);
      if (color) out.raw(DIM_BYTES);
      out.raw(this.podPart(pod));
      if (color) out.raw(RESET_BYTES);
    }
    out.byte(NEWLINE);
  }

  /** ` NO_SOCKET  __udp4_lib_rcv+0x437  udp   `: after the time, before the flow, padded and painted. */
  private head(event: DropEvent, color: boolean): Uint8Array {
    const { location, reason, l4Proto, protocol } = event;
    const candidates = this.heads.under(location.lo);
    if (candidates !== undefined) {
      for (const h of candidates) {
        if (h.hi === location.hi && h.reason === reason && h.l4Proto === l4Proto && h.protocol === protocol && h.color === color) return h.bytes;
      }
    }
    const { reasons, symbols } = this.context;
    const reasonName = reason === null ? '-' : reasons.decode(reason).name;
    const locationText = symbols.symbolize(location) ?? formatKernelAddress(location);
    const proto = protocolName(l4Proto, protocol) ?? '-';
    const bytes = utf8(` ${painted(color, RED, reasonName.padEnd(REASON_WIDTH))} ${painted(color, CYAN, locationText.padEnd(LOCATION_WIDTH))} ${proto.padEnd(PROTO_WIDTH)} `);
    this.heads.add(location.lo, { hi: location.hi, reason, l4Proto, protocol, color, bytes });
    return bytes;
  }

  /** `10.0.0.1:53`, `[::1]:53`, the address alone without a port, `?` without an address. */
  private writeEndpoint(out: LineBuffer, address: Uint8Array | null, family: Family, port: number | null): void {
    const text = this.addresses.get(address, family);
    if (text === null) {
      out.raw(UNKNOWN_ADDRESS);
    } else if (port === null) {
      out.raw(text.bare);
    } else {
      out.raw(text.withPort);
      out.uint(port);
    }
  }

  /** ` node[4242]`: the task the drop interrupted. */
  private taskPart(event: DropEvent): Uint8Array {
    const { pid, comm } = event;
    const candidates = this.taskParts.under(pid);
    if (candidates !== undefined) {
      for (const part of candidates) {
        if (part.comm === comm) return part.bytes;
      }
    }
    const bytes = utf8(` ${comm}[${pid}]`);
    this.taskParts.add(pid, { comm, bytes });
    return bytes;
  }

  /** ` sock dnsmasq[812] 10.94.0.2:53 rcvbuf 212992 queued 0 container 0123456789ab`: socketName's words, and the queue. */
  private writeSocket(out: LineBuffer, socket: DropSocket, resolved: ResolvedSocket, color: boolean): void {
    out.byte(SPACE);
    if (color) out.raw(DIM_BYTES);
    out.raw(SOCK);
    const owner = resolved.owner;
    if (owner === null) {
      out.raw(UID);
      out.uint(socket.uid);
    } else {
      out.utf8(owner.comm);
      out.byte(OPEN_BRACKET);
      out.uint(owner.pid);
      out.byte(CLOSE_BRACKET);
    }
    // localEndpoint's `10.94.0.2:53`, `[::1]:53`: an inet socket's port is always written.
    const local = socket.family === null ? null : this.addresses.get(socket.localAddr, socket.family);
    if (local !== null) {
      out.byte(SPACE);
      out.raw(local.withPort);
      writeNumber(out, socket.localPort);
    }
    out.raw(RCVBUF);
    out.uint(socket.rcvbuf);
    out.raw(QUEUED);
    out.uint(socket.queued);
    const id = resolved.cgroup?.container?.id;
    if (id) out.raw(this.containerPart(id));
    if (color) out.raw(RESET_BYTES);
  }

  /** containerText's ` container 0123456789ab`. */
  private containerPart(id: string): Uint8Array {
    let bytes = this.containerParts.get(id);
    if (bytes === undefined) {
      if (this.containerParts.size >= CACHE_LIMIT) this.containerParts.clear();
      bytes = utf8(` container ${id.slice(0, 12)}`);
      this.containerParts.set(id, bytes);
    }
    return bytes;
  }

  /** `pod default/web-1`. */
  private podPart(pod: Pod): Uint8Array {
    let bytes = this.podParts.get(pod);
    if (bytes === undefined) {
      if (this.podParts.size >= CACHE_LIMIT) this.podParts.clear();
      bytes = utf8(`pod ${podName(pod)}`);
      this.podParts.set(pod, bytes);
    }
    return bytes;
  }

  /**
   * The layout's lines: time, reason and location in their columns; the protocol and flow beside
   * them on a wide terminal, on the next line on a narrow one; then the details, the socket and the
   * pod, each group on the line it fits on, else on a line of its own.
   */
  private terminalLines(event: DropEvent, layout: TerminalLayout): string[] {
    const context = this.context;
    const socket = event.socket === null ? null : resolveSocket(event.socket, context.sockets);
    const reason = event.reason === null ? '-' : context.reasons.decode(event.reason).name;
    const symbol = context.symbols.symbolize(event.location);
    const location = symbol === null ? formatKernelAddress(event.location) : layout.offsets ? symbol : this.functionName(symbol);
    const columns: Piece[] = [
      { text: this.localTime(event.tsNs + context.monotonicToUnixNs, layout.fractionDigits), pad: 0, color: '' },
      { text: reason, pad: layout.reasonWidth, color: RED },
      { text: location, pad: layout.locationWidth, color: CYAN },
    ];
    // The flow in three pieces, so that a line may break between its endpoints, never inside an address.
    const flow: Piece[] = [{ text: protocolName(event.l4Proto, event.protocol) ?? '-', pad: PROTO_WIDTH, color: '' }];
    if (event.family !== null) {
      const source = this.endpoint(event, event.saddr, event.sport);
      flow.push(plain(source), plain('>'), { text: this.endpoint(event, event.daddr, event.dport), pad: (layout.flowWidth ?? 0) - source.length - 3, color: '' });
    }
    if (event.icmpType !== null) flow.push(dim(`type ${event.icmpType} code ${event.icmpCode}`));
    if (event.tcpFlags !== null) flow.push(dim(`[${tcpFlagsText(event.tcpFlags)}]`));
    const details: Piece[] = [];
    if (layout.netns) details.push(dim(`netns ${event.netns ?? '-'}`));
    if (event.ifindex !== 0) details.push(dim(`if ${context.interfaces.name(event.netns, event.ifindex) ?? event.ifindex}`));
    details.push(dim(`len ${event.len}`));
    const groups: Group[] =
      layout.flowWidth === null
        ? [
            { pieces: columns, ownLine: false },
            { pieces: details, ownLine: false },
            { pieces: flow, ownLine: true },
          ]
        : [
            { pieces: [...columns, ...flow], ownLine: false },
            { pieces: details, ownLine: false },
          ];
    // The task the drop interrupted is not whose packet it was: labelled so, and left out when the socket's owner is known.
    if (socket === null || socket.owner === null) groups.push({ pieces: [dim(`(interrupted ${event.comm}[${event.pid}])`)], ownLine: false });
    const owner = this.ownerPieces(event, socket);
    if (owner.length > 0) groups.push({ pieces: owner, ownLine: false });
    return fitGroups(groups, layout.width, (color, text) => this.paint(color, text));
  }

  /** `sock dnsmasq[812] 10.94.0.2:53 rcvbuf 212992 queued 0` and `pod default/web-1`, when known. */
  private ownerPieces(event: DropEvent, socket: ResolvedSocket | null): Piece[] {
    const pieces: Piece[] = [];
    if (event.socket !== null && socket !== null) {
      // In pieces: a line too narrow for it breaks between them.
      const local = localEndpoint(event.socket);
      pieces.push(dim(`sock ${socketHolder(event.socket, socket)}`));
      if (local !== null) pieces.push(dim(local));
      pieces.push(dim(`rcvbuf ${event.socket.rcvbuf}`), dim(`queued ${event.socket.queued}`));
      const container = containerText(socket);
      if (container !== '') pieces.push(dim(container.trimStart()));
    }
    const pod = this.context.pods === undefined ? null : podOf(event.netns, socket, this.context.pods);
    if (pod !== null) pieces.push(dim('pod'), dim(podName(pod)));
    return pieces;
  }

  /** `udp_queue_rcv_one_skb` of `udp_queue_rcv_one_skb+0x437`. */
  private functionName(symbol: string): string {
    let name = this.functionNames.get(symbol);
    if (name === undefined) {
      if (this.functionNames.size >= FUNCTION_NAMES) this.functionNames.clear();
      const plus = symbol.indexOf('+');
      name = plus > 0 ? symbol.slice(0, plus) : symbol;
      this.functionNames.set(symbol, name);
    }
    return name;
  }

  /** With --stack, the lines under a drop's line: its frames, innermost first; none without --stack. */
  stackLines(event: DropEvent): string[] {
    const stacks = this.context.stacks;
    if (!stacks) return [];
    const frames = event.stackId === null ? null : stacks.get(event.stackId);
    return frames === null ? [`${STACK_INDENT}(no stack recorded)`] : frames.map((frame) => STACK_INDENT + frame);
  }

  /** The line under a NETFILTER_DROP that names its rule. */
  ruleLine(rule: NftRule | null): string {
    return rule === null ? '  rule: not found in the nftables trace' : `  rule: ${ruleName(rule)}`;
  }

  private paint(code: string, text: string): string {
    return painted(this.context.color, code, text);
  }

  private endpoint(event: DropEvent, address: Uint8Array | null, port: number | null): string {
    const text = this.addresses.get(address, event.family)?.text ?? null;
    if (text === null) return '?';
    if (port === null) return text;
    return event.family === 6 ? `[${text}]:${port}` : `${text}:${port}`;
  }

  /** `03:04:05.123456`; `03:04:05.123` with 3 fractionDigits. */
  private localTime(unixNs: number, fractionDigits = 6): string {
    const second = this.toSecond(unixNs);
    const micros = String(Math.floor(nsInSecond(unixNs, second) / 1e3)).padStart(6, '0');
    return `${this.localPrefix}.${fractionDigits === 6 ? micros : micros.slice(0, fractionDigits)}`;
  }

  /** localTime's `03:04:05.123456`, as bytes. */
  private writeTime(out: LineBuffer, unixNs: number): void {
    const second = this.toSecond(unixNs);
    out.raw(this.localPrefixBytes);
    out.padded(Math.floor(nsInSecond(unixNs, second) / 1e3), 6);
  }

  /** The time's second, its `03:04:05` made when it changed. */
  private toSecond(unixNs: number): number {
    const second = Math.floor(unixNs / 1e9);
    if (second !== this.localSecond) {
      this.localSecond = second;
      const date = new Date(second * 1000);
      const two = (n: number) => String(n).padStart(2, '0');
      this.localPrefix = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
      this.localPrefixBytes = utf8(`${this.localPrefix}.`);
    }
    return second;
  }
}

function painted(color: boolean, code: string, text: string): string {
  return color ? `${code}${text}${RESET}` : text;
}

const plain = (text: string): Piece => ({ text, pad: 0, color: '' });
const dim = (text: string): Piece => ({ text, pad: 0, color: DIM });

/** `if 2 (veth0)`, `if 2` while its name is unknown, `if -` without an interface. */
export function interfaceText(event: DropEvent, interfaces: InterfaceResolver): string {
  return interfaceNamed(event.ifindex, event.ifindex === 0 ? null : interfaces.name(event.netns, event.ifindex));
}

function interfaceNamed(ifindex: number, name: string | null): string {
  if (ifindex === 0) return 'if -';
  return name === null ? `if ${ifindex}` : `if ${ifindex} (${name})`;
}

/** A rule as the text output names it: `inet fw input handle 4: udp dport 123 counter drop`, `inet fw input policy drop`. */
export function ruleName(rule: NftRule): string {
  const where = `${rule.family} ${rule.table} ${rule.chain}`;
  return rule.handle === null ? `${where} ${rule.text}` : `${where} handle ${rule.handle}: ${rule.text}`;
}
