// One drop as an aligned line of text, for people: time, reason, location,
// protocol, flow and details; in Kubernetes its pod; with --stack its frames
// under it, with --nft-trace the rule that dropped it.
import { formatKernelAddress, type DropEvent } from '../events/decode';
import { protocolName, tcpFlagsText } from '../events/protocols';
import type { NftRule } from '../nft/trace-parse';
import { AddressCache } from './caches';
import type { FormatContext, InterfaceResolver } from './format';
import { podName, podOf } from './pod';
import { containerText, resolveSocket, socketName } from './socket';

const RED = '\x1b[31m';
const CYAN = '\x1b[36m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';
const STACK_INDENT = '    ';

/** Writes drops as text lines. One per session: it owns the caches of the text it repeats (addresses, the time to the second). */
export class TextWriter {
  private readonly addresses = new AddressCache<string>((text) => text);
  // Date formatting is slow; the part up to the second changes once a second.
  private localSecond = -1;
  private localPrefix = '';

  /** context.stacks is read at each drop: --stack sets it once the tracer is open. */
  constructor(private readonly context: FormatContext) {}

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

  private localTime(unixNs: number): string {
    const second = Math.floor(unixNs / 1e9);
    if (second !== this.localSecond) {
      this.localSecond = second;
      const date = new Date(second * 1000);
      const two = (n: number) => String(n).padStart(2, '0');
      this.localPrefix = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
    }
    return `${this.localPrefix}.${String(Math.floor((unixNs % 1e9) / 1e3)).padStart(6, '0')}`;
  }
}

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
