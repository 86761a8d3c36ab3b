// One drop as a line of text or an NDJSON object. Pure: everything that
// depends on the machine comes in through FormatContext.
import { formatAddress } from './address';
import { formatKernelAddress, type DropEvent } from './decode';
import { PROTOCOLS } from './filter';
import type { ReasonTable } from './reasons';

export interface Symbolizer {
  symbolize(address: DropEvent['location']): string | null;
}

export interface FormatContext {
  reasons: ReasonTable;
  symbols: Symbolizer;
  /** Add to a CLOCK_MONOTONIC timestamp (ns) to get Unix time (ns). */
  monotonicToUnixNs: number;
  color: boolean;
}

const PROTOCOL_NAMES = new Map<number, string>([
  ...Object.entries(PROTOCOLS).map(([name, number]) => [number, name] as [number, string]),
  [2, 'igmp'],
  [47, 'gre'],
  [50, 'esp'],
  [51, 'ah'],
  [89, 'ospf'],
  [132, 'sctp'],
]);
const ETHERTYPE_NAMES = new Map<number, string>([
  [0x0806, 'arp'],
  [0x8100, 'vlan'],
  [0x88cc, 'lldp'],
  [0x8847, 'mpls'],
]);
const TCP_FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];

/** The L4 protocol's name, else the ethertype's for packets without an IP header, else null. */
export function protocolName(l4Proto: number | null, ethertype: number): string | null {
  if (l4Proto !== null) return PROTOCOL_NAMES.get(l4Proto) ?? `ip-proto-${l4Proto}`;
  if (ethertype === 0) return null;
  return ETHERTYPE_NAMES.get(ethertype) ?? `0x${ethertype.toString(16).padStart(4, '0')}`;
}

export function tcpFlagsText(flags: number): string {
  return TCP_FLAG_NAMES.filter((_, bit) => flags & (1 << bit)).join('|') || 'none';
}

function addressText(event: DropEvent, address: Uint8Array | null): string | null {
  return address && event.family ? formatAddress(address, event.family) : null;
}

function reasonFields(event: DropEvent, reasons: ReasonTable) {
  if (event.reason === null) return { reason: null, reason_code: null, subsystem: null };
  const decoded = reasons.decode(event.reason);
  return { reason: decoded.name, reason_code: decoded.code, subsystem: decoded.subsystem };
}

/** The NDJSON record; every key is always present (docs/json-schema.md). */
export function toJsonRecord(event: DropEvent, context: FormatContext) {
  return {
    ts: isoTime(event.tsNs + context.monotonicToUnixNs),
    ...reasonFields(event, context.reasons),
    location: context.symbols.symbolize(event.location),
    address: formatKernelAddress(event.location),
    family: event.family === null ? null : event.family === 4 ? 'ipv4' : 'ipv6',
    proto: protocolName(event.l4Proto, event.protocol),
    saddr: addressText(event, event.saddr),
    daddr: addressText(event, event.daddr),
    sport: event.sport,
    dport: event.dport,
    icmp_type: event.icmpType,
    icmp_code: event.icmpCode,
    ttl: event.ttl,
    tcp_flags: event.tcpFlags === null ? null : tcpFlagsText(event.tcpFlags),
    netns: event.netns,
    ifindex: event.ifindex === 0 ? null : event.ifindex,
    len: event.len,
    pid: event.pid,
    tid: event.tid,
    comm: event.comm,
    skb: formatKernelAddress(event.skb),
  };
}

export function formatJson(event: DropEvent, context: FormatContext): string {
  return JSON.stringify(toJsonRecord(event, context));
}

const RED = '\x1b[31m';
const CYAN = '\x1b[36m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

function endpoint(event: DropEvent, address: Uint8Array | null, port: number | null): string {
  const text = addressText(event, address);
  if (text === null) return '?';
  if (port === null) return text;
  return event.family === 6 ? `[${text}]:${port}` : `${text}:${port}`;
}

/** One aligned line: time reason location proto src > dst details. */
export function formatText(event: DropEvent, context: FormatContext): string {
  const paint = (code: string, text: string) => (context.color ? `${code}${text}${RESET}` : text);
  const { reason } = reasonFields(event, context.reasons);
  const location = context.symbols.symbolize(event.location) ?? formatKernelAddress(event.location);
  let flow = '';
  if (event.family !== null) {
    flow = `${endpoint(event, event.saddr, event.sport)} > ${endpoint(event, event.daddr, event.dport)}`;
  }
  const details: string[] = [];
  if (event.icmpType !== null) details.push(`type ${event.icmpType} code ${event.icmpCode}`);
  if (event.tcpFlags !== null) details.push(`[${tcpFlagsText(event.tcpFlags)}]`);
  details.push(`netns ${event.netns ?? '-'}`, `if ${event.ifindex || '-'}`, `len ${event.len}`);
  details.push(`${event.comm}[${event.pid}]`);
  return [
    localTime(event.tsNs + context.monotonicToUnixNs),
    paint(RED, (reason ?? '-').padEnd(22)),
    paint(CYAN, location.padEnd(32)),
    (protocolName(event.l4Proto, event.protocol) ?? '-').padEnd(5),
    flow.padEnd(44),
    paint(DIM, details.join(' ')),
  ].join(' ');
}

function isoTime(unixNs: number): string {
  const ms = Math.floor(unixNs / 1e6);
  const micros = Math.floor((unixNs % 1e6) / 1e3);
  return `${new Date(ms).toISOString().slice(0, -1)}${String(micros).padStart(3, '0')}Z`;
}

function localTime(unixNs: number): string {
  const date = new Date(Math.floor(unixNs / 1e6));
  const two = (n: number) => String(n).padStart(2, '0');
  const micros = String(Math.floor((unixNs % 1e9) / 1e3)).padStart(6, '0');
  return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${micros}`;
}
