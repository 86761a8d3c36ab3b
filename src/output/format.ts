// One drop as a line of text or an NDJSON object. Pure: everything that
// depends on the machine comes in through FormatContext.
import { familyName, formatAddress } from '../events/address';
import { formatKernelAddress, type DropEvent, type DropSocket } from '../events/decode';
import type { CgroupInfo } from '../kernel/cgroups';
import type { SocketOwner } from '../kernel/socket-owners';
import type { Container } from '../knowledge/container';
import { PROTOCOLS } from '../events/filter';
import type { ReasonTable } from '../events/reasons';
import type { NftRule } from '../nft/trace-parse';

export interface Symbolizer {
  symbolize(address: DropEvent['location']): string | null;
}

/** Who holds a socket and where its cgroup is: answered from /proc and the cgroup2 mount, cached. */
export interface SocketResolver {
  owner(inode: number): SocketOwner | null;
  cgroup(id: number): CgroupInfo | null;
}

/** Interface names by (netns inode, ifindex); null while unknown. A lookup never waits. */
export interface InterfaceResolver {
  name(netns: number | null, ifindex: number): string | null;
}

/** Symbolized kernel stacks by id (src/kernel/stacks.ts): `symbol+0xoff` frames, innermost first. */
export interface StackFrames {
  get(id: number): string[] | null;
  /** Reads these ids' frames at once, ahead of get(). */
  load(ids: Iterable<number>): void;
}

export interface FormatContext {
  reasons: ReasonTable;
  symbols: Symbolizer;
  sockets: SocketResolver;
  interfaces: InterfaceResolver;
  /** With --stack, once the tracer is open. */
  stacks?: StackFrames;
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
/** An IP packet whose L4 protocol could not be read (a header cut short) has no protocol name. */
const IP_ETHERTYPES = new Set([0x0800, 0x86dd]);
const TCP_FLAG_NAMES = ['FIN', 'SYN', 'RST', 'PSH', 'ACK', 'URG', 'ECE', 'CWR'];

/** The L4 protocol's name, else the ethertype's for packets that are not IP, else null (unknown). */
export function protocolName(l4Proto: number | null, ethertype: number): string | null {
  if (l4Proto !== null) return PROTOCOL_NAMES.get(l4Proto) ?? `ip-proto-${l4Proto}`;
  if (ethertype === 0 || IP_ETHERTYPES.has(ethertype)) return null;
  return ETHERTYPE_NAMES.get(ethertype) ?? `0x${ethertype.toString(16).padStart(4, '0')}`;
}

// Address strings repeat across a storm of drops: a fixed table of the last
// ones seen, looked up by the address's 32-bit words without allocating.
const ADDRESS_SLOTS = 4096;
const slotWords = new Uint32Array(ADDRESS_SLOTS * 5); // family, then four words
const slotText: Array<string | undefined> = new Array(ADDRESS_SLOTS);

function word(address: Uint8Array, i: number): number {
  return ((address[i] << 24) | (address[i + 1] << 16) | (address[i + 2] << 8) | address[i + 3]) >>> 0;
}

function addressText(event: DropEvent, address: Uint8Array | null): string | null {
  const family = event.family;
  if (address === null || family === null) return null;
  const w0 = word(address, 0);
  const w1 = family === 6 ? word(address, 4) : 0;
  const w2 = family === 6 ? word(address, 8) : 0;
  const w3 = family === 6 ? word(address, 12) : 0;
  const slot = (Math.imul(w0 ^ Math.imul(w1, 31) ^ Math.imul(w2, 961) ^ Math.imul(w3, 29791), 0x9e3779b1) >>> 20) % ADDRESS_SLOTS;
  const at = slot * 5;
  const text = slotText[slot];
  if (text !== undefined && slotWords[at] === family && slotWords[at + 1] === w0 && slotWords[at + 2] === w1 && slotWords[at + 3] === w2 && slotWords[at + 4] === w3) {
    return text;
  }
  const formatted = formatAddress(address, family);
  slotWords.set([family, w0, w1, w2, w3], at);
  slotText[slot] = formatted;
  return formatted;
}

const TCP_FLAG_TEXT = Array.from({ length: 256 }, (_, flags) => TCP_FLAG_NAMES.filter((_, bit) => flags & (1 << bit)).join('|') || 'none');

export function tcpFlagsText(flags: number): string {
  return TCP_FLAG_TEXT[flags & 0xff];
}

const JSON_CACHE_LIMIT = 4096;
const jsonCache = new Map<string, string>();

/**
 * A JSON string literal, all ASCII (non-ASCII escaped as \uXXXX) so a JSON line
 * can be written byte for byte. Command names are the only free-form text, and few.
 */
function jsonString(text: string): string {
  let quoted = jsonCache.get(text);
  if (quoted === undefined) {
    if (jsonCache.size >= JSON_CACHE_LIMIT) jsonCache.clear();
    quoted = JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
    jsonCache.set(text, quoted);
  }
  return quoted;
}

const json = (value: string | null) => (value === null ? 'null' : jsonString(value));
const jsonNumber = (value: number | null) => (value === null ? 'null' : String(value));

/**
 * "reason" to "proto": the same few combinations recur through a storm, so each
 * is built once. Keyed by the location's low half, then searched by the rest.
 */
interface Head {
  hi: number;
  reason: number | null;
  family: number | null;
  l4Proto: number | null;
  protocol: number;
  text: string;
}
const HEADS_LIMIT = 4096;
/** Per context: the heads depend on its reason table and symbols. */
const headCaches = new WeakMap<FormatContext, Map<number, Head[]>>();

function jsonHead(event: DropEvent, context: FormatContext): string {
  const { location, reason, family, l4Proto, protocol } = event;
  let heads = headCaches.get(context);
  if (!heads || heads.size >= HEADS_LIMIT) headCaches.set(context, (heads = new Map()));
  let candidates = heads.get(location.lo);
  if (candidates) {
    for (const h of candidates) {
      if (h.hi === location.hi && h.reason === reason && h.family === family && h.l4Proto === l4Proto && h.protocol === protocol) return h.text;
    }
  } else {
    heads.set(location.lo, (candidates = []));
  }
  const decoded = reason === null ? null : context.reasons.decode(reason);
  const text =
    `"reason":${decoded ? json(decoded.name) : 'null'},"reason_code":${decoded ? decoded.code : 'null'}` +
    `,"subsystem":${decoded ? json(decoded.subsystem) : 'null'}` +
    `,"location":${json(context.symbols.symbolize(location))},"address":"${formatKernelAddress(location)}"` +
    `,"family":${json(familyName(family))},"proto":${json(protocolName(l4Proto, protocol))}`;
  candidates.push({ hi: location.hi, reason, family, l4Proto, protocol, text });
  return text;
}

/**
 * The NDJSON record; every key always present, in the order of docs/json-schema.md.
 * Written as a template rather than JSON.stringify of an object: this is the hot path.
 */
export function formatJson(event: DropEvent, context: FormatContext, rule: NftRule | null = null): string {
  // The owner first: a process can be gone by the time the first drop's symbols are loaded.
  const socket = event.socket === null ? 'null' : socketJson(event.socket, context.sockets);
  return (
    `{"ts":"${isoTime(event.tsNs + context.monotonicToUnixNs)}",${jsonHead(event, context)}` +
    `,"saddr":${json(addressText(event, event.saddr))},"daddr":${json(addressText(event, event.daddr))}` +
    `,"sport":${jsonNumber(event.sport)},"dport":${jsonNumber(event.dport)}` +
    `,"icmp_type":${jsonNumber(event.icmpType)},"icmp_code":${jsonNumber(event.icmpCode)},"ttl":${jsonNumber(event.ttl)}` +
    `,"tcp_flags":${event.tcpFlags === null ? 'null' : `"${tcpFlagsText(event.tcpFlags)}"`}` +
    `,"netns":${jsonNumber(event.netns)},"ifindex":${event.ifindex === 0 ? 'null' : event.ifindex}` +
    `,"ifname":${json(context.interfaces.name(event.netns, event.ifindex))}` +
    `,"len":${event.len},"pid":${event.pid},"tid":${event.tid},"comm":${jsonString(event.comm)}` +
    `,"skb":"${formatKernelAddress(event.skb)}","rule":${rule === null ? 'null' : ruleJson(rule)}` +
    `,"socket":${socket},"stack":${stackJson(event, context)}}`
  );
}

/** Per context: a stack's JSON array, built once per id. */
const stackJsonCaches = new WeakMap<FormatContext, Map<number, string>>();

function stackJson(event: DropEvent, context: FormatContext): string {
  if (event.stackId === null || !context.stacks) return 'null';
  let cache = stackJsonCaches.get(context);
  if (!cache) stackJsonCaches.set(context, (cache = new Map()));
  let text = cache.get(event.stackId);
  if (text === undefined) {
    const frames = context.stacks.get(event.stackId);
    text = frames === null ? 'null' : `[${frames.map(jsonString).join(',')}]`;
    cache.set(event.stackId, text);
  }
  return text;
}

const STACK_INDENT = '    ';

/** With --stack, the lines under a drop's text line: its frames, innermost first. */
export function formatStackText(event: DropEvent, context: FormatContext): string[] {
  if (!context.stacks) return [];
  const frames = event.stackId === null ? null : context.stacks.get(event.stackId);
  return frames === null ? [`${STACK_INDENT}(no stack recorded)`] : frames.map((frame) => STACK_INDENT + frame);
}

const fitsDouble = (cookie: bigint) => cookie <= BigInt(Number.MAX_SAFE_INTEGER);

/** A 64-bit cookie: a number while a double holds it exactly, else a string. */
function cookieJson(cookie: bigint | null): string {
  if (cookie === null) return 'null';
  return fitsDouble(cookie) ? cookie.toString() : `"${cookie}"`;
}

function containerJson(container: Container | null): string {
  if (container === null) return 'null';
  return `{"runtime":${json(container.runtime)},"id":${json(container.id)},"pod":${json(container.pod)}}`;
}

/** What user space found for a socket: the process holding it, its cgroup (and container). */
export interface ResolvedSocket {
  owner: SocketOwner | null;
  cgroup: CgroupInfo | null;
}

export function resolveSocket(socket: DropSocket, sockets: SocketResolver): ResolvedSocket {
  return {
    owner: socket.inode === null ? null : sockets.owner(socket.inode),
    cgroup: socket.cgroupId === null ? null : sockets.cgroup(socket.cgroupId),
  };
}

/**
 * The JSON "socket" object for summary's totals, which are built as objects;
 * tracing writes the same keys through socketJson's template (the hot path).
 */
export function socketRecord(socket: DropSocket, { owner, cgroup }: ResolvedSocket) {
  return {
    inode: socket.inode,
    cookie: socket.cookie === null ? null : fitsDouble(socket.cookie) ? Number(socket.cookie) : socket.cookie.toString(),
    uid: socket.uid,
    local: localEndpoint(socket),
    pid: owner?.pid ?? null,
    comm: owner?.comm ?? null,
    cgroup: cgroup?.path ?? null,
    container: cgroup?.container ?? null,
    rcvbuf: socket.rcvbuf,
    queued: socket.queued,
    drops: socket.drops,
  };
}

function socketJson(socket: DropSocket, sockets: SocketResolver): string {
  const { owner, cgroup } = resolveSocket(socket, sockets);
  return (
    `{"inode":${jsonNumber(socket.inode)},"cookie":${cookieJson(socket.cookie)},"uid":${socket.uid}` +
    `,"local":${json(localEndpoint(socket))},"pid":${jsonNumber(owner?.pid ?? null)},"comm":${json(owner?.comm ?? null)}` +
    `,"cgroup":${json(cgroup?.path ?? null)},"container":${containerJson(cgroup?.container ?? null)}` +
    `,"rcvbuf":${socket.rcvbuf},"queued":${socket.queued},"drops":${socket.drops}}`
  );
}

/** The socket's local address and port, as `ss` prints them; null for a socket that is not inet. */
export function localEndpoint(socket: DropSocket): string | null {
  if (socket.family === null || socket.localAddr === null) return null;
  const address = formatAddress(socket.localAddr, socket.family);
  return socket.family === 6 ? `[${address}]:${socket.localPort}` : `${address}:${socket.localPort}`;
}

function ruleJson(rule: NftRule): string {
  return (
    `{"family":${jsonString(rule.family)},"table":${jsonString(rule.table)},"chain":${jsonString(rule.chain)}` +
    `,"handle":${jsonNumber(rule.handle)},"text":${jsonString(rule.text)},"verdict":${jsonString(rule.verdict)}}`
  );
}

/** A rule as the text output names it: `inet fw input handle 4: udp dport 123 counter drop`, `inet fw input policy drop`. */
export function ruleName(rule: NftRule): string {
  const where = `${rule.family} ${rule.table} ${rule.chain}`;
  return rule.handle === null ? `${where} ${rule.text}` : `${where} handle ${rule.handle}: ${rule.text}`;
}

/** The line under a NETFILTER_DROP that names its rule. */
export function formatRuleText(rule: NftRule | null): string {
  return rule === null ? '  rule: not found in the nftables trace' : `  rule: ${ruleName(rule)}`;
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
  // The owner first: a process can be gone by the time the first drop's symbols are loaded.
  const socket = event.socket === null ? null : socketText(event.socket, context.sockets);
  const reason = event.reason === null ? null : context.reasons.decode(event.reason).name;
  const location = context.symbols.symbolize(event.location) ?? formatKernelAddress(event.location);
  let flow = '';
  if (event.family !== null) {
    flow = `${endpoint(event, event.saddr, event.sport)} > ${endpoint(event, event.daddr, event.dport)}`;
  }
  const details: string[] = [];
  if (event.icmpType !== null) details.push(`type ${event.icmpType} code ${event.icmpCode}`);
  if (event.tcpFlags !== null) details.push(`[${tcpFlagsText(event.tcpFlags)}]`);
  details.push(`netns ${event.netns ?? '-'}`, interfaceText(event, context.interfaces), `len ${event.len}`);
  const parts = [
    localTime(event.tsNs + context.monotonicToUnixNs),
    paint(RED, (reason ?? '-').padEnd(22)),
    paint(CYAN, location.padEnd(32)),
    (protocolName(event.l4Proto, event.protocol) ?? '-').padEnd(5),
    flow.padEnd(44),
  ];
  // The socket's owner, when known, is whose packet it was; the task the drop interrupted is not.
  if (socket === null || !socket.owned) details.push(`${event.comm}[${event.pid}]`);
  parts.push(paint(DIM, details.join(' ')));
  if (socket !== null) parts.push(paint(DIM, socket.text));
  return parts.join(' ');
}

/** `if 2 (veth0)`, `if 2` while its name is unknown, `if -` without an interface. */
export function interfaceText(event: DropEvent, interfaces: InterfaceResolver): string {
  if (event.ifindex === 0) return 'if -';
  const name = interfaces.name(event.netns, event.ifindex);
  return name === null ? `if ${event.ifindex}` : `if ${event.ifindex} (${name})`;
}

/** `sock dnsmasq[812] 10.94.0.2:53 rcvbuf 212992 queued 213760`; `sock uid 0 ...` when no process holds it. */
function socketText(socket: DropSocket, sockets: SocketResolver): { text: string; owned: boolean } {
  const resolved = resolveSocket(socket, sockets);
  return { text: `sock ${socketName(socket, resolved)} queued ${socket.queued}${containerText(resolved)}`, owned: resolved.owner !== null };
}

/** `dnsmasq[812] 10.94.0.2:53 rcvbuf 212992`: who holds the socket, where, and its buffer. */
export function socketName(socket: DropSocket, resolved: ResolvedSocket): string {
  const local = localEndpoint(socket);
  return `${socketHolder(socket, resolved)}${local === null ? '' : ` ${local}`} rcvbuf ${socket.rcvbuf}`;
}

/** `dnsmasq[812]`: the process holding the socket; `uid 0` when none was found. */
export function socketHolder(socket: DropSocket, { owner }: ResolvedSocket): string {
  return owner === null ? `uid ${socket.uid}` : `${owner.comm}[${owner.pid}]`;
}

export function containerText({ cgroup }: ResolvedSocket): string {
  const id = cgroup?.container?.id;
  return id ? ` container ${id.slice(0, 12)}` : '';
}

// Date formatting is slow; the part up to the second changes once a second.
let isoSecond = -1;
let isoPrefix = '';
let localSecond = -1;
let localPrefix = '';

function isoTime(unixNs: number): string {
  const second = Math.floor(unixNs / 1e9);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = new Date(second * 1000).toISOString().slice(0, 19);
  }
  return `${isoPrefix}.${String(Math.floor((unixNs % 1e9) / 1e3)).padStart(6, '0')}Z`;
}

function localTime(unixNs: number): string {
  const second = Math.floor(unixNs / 1e9);
  if (second !== localSecond) {
    localSecond = second;
    const date = new Date(second * 1000);
    const two = (n: number) => String(n).padStart(2, '0');
    localPrefix = `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
  }
  return `${localPrefix}.${String(Math.floor((unixNs % 1e9) / 1e3)).padStart(6, '0')}`;
}
