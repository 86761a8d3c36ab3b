// One drop as text, for people: time, reason, location, protocol, flow and
// details; in Kubernetes its pod; with --stack its frames under it, with
// --nft-trace the rule that dropped it. Piped or into a file: one stable,
// aligned line per drop. On a terminal: the lines of a layout that fits its
// width (terminal-layout.ts), under a header naming the columns.
import { formatKernelAddress, type DropEvent } from '../events/decode';
import { protocolName, tcpFlagsText } from '../events/protocols';
import type { NftRule } from '../nft/trace-parse';
import { AddressCache } from './caches';
import type { LineBuffer } from './writer';
import type { FormatContext, InterfaceResolver } from './format';
import { podName, podOf } from './pod';
import { containerText, localEndpoint, resolveSocket, socketHolder, socketName, type ResolvedSocket } from './socket';
import { fitGroups, fitText, PROTO_WIDTH, type Group, type Piece, type TerminalLayout } from './terminal-layout';

const RED = '\x1b[31m';
const CYAN = '\x1b[36m';
const DIM = '\x1b[2m';
const BOLD = '\x1b[1m';
const RESET = '\x1b[0m';
const STACK_INDENT = '    ';

/** Bound on the functions' names kept (locations without their offsets): far more than a session meets. */
const FUNCTION_NAMES = 4096;

/**
 * Writes drops as text. One per session: it owns the caches of the text it repeats (addresses, the
 * time to the second, functions' names) and, on a terminal, the layout.
 */
export class TextWriter {
  private readonly addresses = new AddressCache<string>((text) => text);
  private readonly functionNames = new Map<string, string>();
  // Date formatting is slow; the part up to the second changes once a second.
  private localSecond = -1;
  private localPrefix = '';
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

  /** Adds a drop's lines to out: piped, the one full line (no array in between: this runs for every drop). */
  write(out: LineBuffer, event: DropEvent): void {
    if (this.layout === null) out.add(this.line(event));
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

  /** One aligned line: time reason location proto src > dst details. */
  line(event: DropEvent): string {
    const context = this.context;
    // The owner first: a process can be gone by the time the first drop's symbols are loaded.
    const socket = event.socket === null ? null : resolveSocket(event.socket, context.sockets);
    const reason = event.reason === null ? null : context.reasons.decode(event.reason).name;
    const location = context.symbols.symbolize(event.location) ?? formatKernelAddress(event.location);
    let flow = '';
    if (event.family !== null) {
      flow = `${this.endpoint(event, event.saddr, event.sport)} > ${this.endpoint(event, event.daddr, event.dport)}`;
    }
    const details: string[] = [];
    if (event.icmpType !== null) details.push(`type ${event.icmpType} code ${event.icmpCode}`);
    if (event.tcpFlags !== null) details.push(`[${tcpFlagsText(event.tcpFlags)}]`);
    details.push(`netns ${event.netns ?? '-'}`, interfaceText(event, context.interfaces), `len ${event.len}`);
    const parts = [
      this.localTime(event.tsNs + context.monotonicToUnixNs),
      this.paint(RED, (reason ?? '-').padEnd(22)),
      this.paint(CYAN, location.padEnd(32)),
      (protocolName(event.l4Proto, event.protocol) ?? '-').padEnd(5),
      flow.padEnd(44),
    ];
    // The socket's owner, when known, is whose packet it was; the task the drop interrupted is not.
    if (socket === null || socket.owner === null) details.push(`${event.comm}[${event.pid}]`);
    parts.push(this.paint(DIM, details.join(' ')));
    // `sock dnsmasq[812] 10.94.0.2:53 rcvbuf 212992 queued 213760`; `sock uid 0 ...` when no process holds it.
    if (event.socket !== null && socket !== null) {
      parts.push(this.paint(DIM, `sock ${socketName(event.socket, socket)} queued ${event.socket.queued}${containerText(socket)}`));
    }
    // `pod default/web-1`: the socket's pod, else its namespace's.
    const pod = context.pods === undefined ? null : podOf(event.netns, socket, context.pods);
    if (pod !== null) parts.push(this.paint(DIM, `pod ${podName(pod)}`));
    return parts.join(' ');
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
    return this.context.color ? `${code}${text}${RESET}` : text;
  }

  private endpoint(event: DropEvent, address: Uint8Array | null, port: number | null): string {
    const text = this.addresses.get(address, event.family);
    if (text === null) return '?';
    if (port === null) return text;
    return event.family === 6 ? `[${text}]:${port}` : `${text}:${port}`;
  }

  /** `03:04:05.123456`; `03:04:05.123` with 3 fractionDigits. */
  private localTime(unixNs: number, fractionDigits = 6): string {
    const second = Math.floor(unixNs / 1e9);
    if (second !== this.localSecond) {
      this.localSecond = second;
      const date = new Date(second * 1000);
      const two = (n: number) => String(n).padStart(2, '0');
      this.localPrefix = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
    }
    const micros = String(Math.floor((unixNs % 1e9) / 1e3)).padStart(6, '0');
    return `${this.localPrefix}.${fractionDigits === 6 ? micros : micros.slice(0, fractionDigits)}`;
  }
}

const plain = (text: string): Piece => ({ text, pad: 0, color: '' });
const dim = (text: string): Piece => ({ text, pad: 0, color: DIM });

/** `if 2 (veth0)`, `if 2` while its name is unknown, `if -` without an interface. */
export function interfaceText(event: DropEvent, interfaces: InterfaceResolver): string {
  if (event.ifindex === 0) return 'if -';
  const name = interfaces.name(event.netns, event.ifindex);
  return name === null ? `if ${event.ifindex}` : `if ${event.ifindex} (${name})`;
}

/** A rule as the text output names it: `inet fw input handle 4: udp dport 123 counter drop`, `inet fw input policy drop`. */
export function ruleName(rule: NftRule): string {
  const where = `${rule.family} ${rule.table} ${rule.chain}`;
  return rule.handle === null ? `${where} ${rule.text}` : `${where} handle ${rule.handle}: ${rule.text}`;
}
