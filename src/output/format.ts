// One drop as a line of text or an NDJSON object. Pure: everything that
// depends on the machine comes in through FormatContext.
import { familyName, formatAddress } from '../events/address';
import { formatKernelAddress, type DropEvent, type DropSocket } from '../events/decode';
import type { CgroupInfo } from '../kernel/cgroups';
import type { SocketOwner } from '../kernel/socket-owners';
import type { Container } from '../knowledge/container';
import { protocolName, TCP_FLAG_TEXT, tcpFlagsText } from '../events/protocols';
import type { ReasonTable } from '../events/reasons';
import type { NftRule } from '../nft/trace-parse';
import { containerText, resolveSocket, SOCKET_FIELDS, socketName, type ResolvedSocket, type SocketValue } from './socket';
import { LineBuffer } from './writer';

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

// Address strings repeat across a storm of drops: a fixed table of the last
// ones seen, looked up by the address's 32-bit words without allocating.
const ADDRESS_SLOTS = 4096;
const slotWords = new Uint32Array(ADDRESS_SLOTS * 5); // family, then four words
const slotText: Array<string | undefined> = new Array(ADDRESS_SLOTS);
/** The same address as JSON, with its key: `,"saddr":"10.0.0.1"` and `,"daddr":"10.0.0.1"`. */
const slotSaddrJson: Array<Uint8Array | undefined> = new Array(ADDRESS_SLOTS);
const slotDaddrJson: Array<Uint8Array | undefined> = new Array(ADDRESS_SLOTS);

function word(address: Uint8Array, i: number): number {
  return ((address[i] << 24) | (address[i + 1] << 16) | (address[i + 2] << 8) | address[i + 3]) >>> 0;
}

/** The address's slot in the table, filled; -1 for no address. */
function addressSlot(event: DropEvent, address: Uint8Array | null): number {
  const family = event.family;
  if (address === null || family === null) return -1;
  const w0 = word(address, 0);
  const w1 = family === 6 ? word(address, 4) : 0;
  const w2 = family === 6 ? word(address, 8) : 0;
  const w3 = family === 6 ? word(address, 12) : 0;
  const slot = (Math.imul(w0 ^ Math.imul(w1, 31) ^ Math.imul(w2, 961) ^ Math.imul(w3, 29791), 0x9e3779b1) >>> 20) % ADDRESS_SLOTS;
  const at = slot * 5;
  if (
    slotText[slot] !== undefined &&
    slotWords[at] === family &&
    slotWords[at + 1] === w0 &&
    slotWords[at + 2] === w1 &&
    slotWords[at + 3] === w2 &&
    slotWords[at + 4] === w3
  ) {
    return slot;
  }
  const formatted = formatAddress(address, family);
  slotWords.set([family, w0, w1, w2, w3], at);
  slotText[slot] = formatted;
  slotSaddrJson[slot] = ascii(`,"saddr":"${formatted}"`);
  slotDaddrJson[slot] = ascii(`,"daddr":"${formatted}"`);
  return slot;
}

function addressText(event: DropEvent, address: Uint8Array | null): string | null {
  const slot = addressSlot(event, address);
  return slot < 0 ? null : slotText[slot]!;
}

function writeAddresses(out: LineBuffer, event: DropEvent): void {
  const source = addressSlot(event, event.saddr);
  out.raw(source < 0 ? NULL_FIELD.saddr : slotSaddrJson[source]!);
  const destination = addressSlot(event, event.daddr);
  out.raw(destination < 0 ? NULL_FIELD.daddr : slotDaddrJson[destination]!);
}

const TCP_FLAG_JSON = TCP_FLAG_TEXT.map((text) => ascii(`"${text}"`));

// A JSON line is written as bytes straight into the output buffer (a string
// per line, built from ~30 pieces, cost more to flatten and encode than the
// rest of the path): constant parts are byte fragments built once, values
// that repeat through a storm (names, addresses, heads) are cached as bytes.
function ascii(text: string): Uint8Array {
  // A plain Uint8Array like every cached fragment (not a Buffer): one shape keeps the copy loop fast.
  return Uint8Array.from(Buffer.from(text, 'latin1'));
}

const NULL = ascii('null');

/** `,"name":` (and with suffix, e.g. `,"name":null`) for each name, built once. */
function keys<Name extends string>(names: readonly Name[], suffix = ''): Record<Name, Uint8Array> {
  return Object.fromEntries(names.map((name) => [name, ascii(`,"${name}":${suffix}`)])) as Record<Name, Uint8Array>;
}

const KEY_NAMES = [
  'reason_code',
  'subsystem',
  'location',
  'family',
  'proto',
  'saddr',
  'daddr',
  'sport',
  'dport',
  'icmp_type',
  'icmp_code',
  'ttl',
  'tcp_flags',
  'netns',
  'ifindex',
  'ifname',
  'len',
  'pid',
  'tid',
  'comm',
  'rule',
  'socket',
  'stack',
  'id',
  'pod',
  'table',
  'chain',
  'handle',
  'text',
  'verdict',
] as const;
const KEY = keys(KEY_NAMES);
/** `,"name":null`: one write for a key and its null, the common case of many fields. */
const NULL_FIELD = keys(KEY_NAMES, 'null');
/** The end of a line without rule, socket or stack, the common case, as one write. */
const NULL_TAIL = ascii(',"rule":null,"socket":null,"stack":null}\n');
/** The head starts by closing the time before it: one write fewer per line. */
const OPEN_REASON = ascii('Z","reason":');
const OPEN_ADDRESS = ascii(',"address":"0x');
const OPEN_SKB = ascii(',"skb":"0x');
const OPEN_CONTAINER = ascii('{"runtime":');
const OPEN_RULE = ascii('{"family":');
/** Each socket field's key; the first opens the object. */
const SOCKET_KEYS = SOCKET_FIELDS.map(({ name }, i) => ascii(i === 0 ? `{"${name}":` : `,"${name}":`));
const SOCKET_VALUES: ReadonlyArray<(socket: DropSocket, resolved: ResolvedSocket) => SocketValue> = SOCKET_FIELDS.map(({ value }) => value);
const QUOTE = 0x22;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const NEWLINE = 0x0a;

/** Small writes at a time (a fragment, a stack) need no megabyte. */
const SCRATCH_BYTES = 4096;
const fragmentScratch = new LineBuffer('latin1', SCRATCH_BYTES);

/** What write puts in a buffer, as bytes of its own (a fragment to cache). */
function bytesOf(write: (out: LineBuffer) => void): Uint8Array {
  return Uint8Array.from(written(fragmentScratch, write));
}

/** What write put in a scratch buffer; when it throws (a symbol lookup that failed), its half is dropped, not left to start the next one. */
function written(scratch: LineBuffer, write: (out: LineBuffer) => void): Uint8Array {
  try {
    write(scratch);
  } catch (error) {
    scratch.take();
    throw error;
  }
  return scratch.take();
}

const JSON_CACHE_LIMIT = 4096;
const jsonCache = new Map<string, Uint8Array>();

/**
 * A JSON string literal's bytes, all ASCII (non-ASCII escaped as \uXXXX).
 * Command and interface names are the only free-form text, and few.
 */
function jsonString(text: string): Uint8Array {
  let quoted = jsonCache.get(text);
  if (quoted === undefined) {
    if (jsonCache.size >= JSON_CACHE_LIMIT) jsonCache.clear();
    quoted = ascii(JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
    jsonCache.set(text, quoted);
  }
  return quoted;
}

function writeString(out: LineBuffer, value: string | null): void {
  out.raw(value === null ? NULL : jsonString(value));
}

function writeNumber(out: LineBuffer, value: number | null): void {
  if (value === null) out.raw(NULL);
  else out.uint(value);
}

/** `,"name":value` for a number that may be null (key: KEY.name, nullField: NULL_FIELD.name). */
function writeNumberField(out: LineBuffer, key: Uint8Array, nullField: Uint8Array, value: number | null): void {
  if (value === null) {
    out.raw(nullField);
  } else {
    out.raw(key);
    out.uint(value);
  }
}

function writeKernelAddress(out: LineBuffer, opening: Uint8Array, address: DropEvent['location']): void {
  out.raw(opening);
  out.hex32(address.hi);
  out.hex32(address.lo);
  out.byte(QUOTE);
}

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
  bytes: Uint8Array;
}
const HEADS_LIMIT = 4096;
/** Per context: the heads depend on its reason table and symbols. */
const headCaches = new WeakMap<FormatContext, Map<number, Head[]>>();

function jsonHead(event: DropEvent, context: FormatContext): Uint8Array {
  const { location, reason, family, l4Proto, protocol } = event;
  let heads = headCaches.get(context);
  if (!heads || heads.size >= HEADS_LIMIT) headCaches.set(context, (heads = new Map()));
  let candidates = heads.get(location.lo);
  if (candidates) {
    for (const h of candidates) {
      if (h.hi === location.hi && h.reason === reason && h.family === family && h.l4Proto === l4Proto && h.protocol === protocol) return h.bytes;
    }
  } else {
    heads.set(location.lo, (candidates = []));
  }
  const decoded = reason === null ? null : context.reasons.decode(reason);
  const bytes = bytesOf((out) => {
    out.raw(OPEN_REASON);
    writeString(out, decoded ? decoded.name : null);
    out.raw(KEY.reason_code);
    writeNumber(out, decoded ? decoded.code : null);
    out.raw(KEY.subsystem);
    writeString(out, decoded ? decoded.subsystem : null);
    out.raw(KEY.location);
    writeString(out, context.symbols.symbolize(location));
    writeKernelAddress(out, OPEN_ADDRESS, location);
    out.raw(KEY.family);
    writeString(out, familyName(family));
    out.raw(KEY.proto);
    writeString(out, protocolName(l4Proto, protocol));
  });
  candidates.push({ hi: location.hi, reason, family, l4Proto, protocol, bytes });
  return bytes;
}

/** `,"netns":…,"ifindex":…,"ifname":…`, by netns then ifindex: the same few interfaces drop a storm's packets. */
const INTERFACES_LIMIT = 4096;
let interfaceJsons = new Map<number | null, Map<number, { name: string | null; bytes: Uint8Array }>>();
let interfaceJsonCount = 0;

function interfaceJson(event: DropEvent, name: string | null): Uint8Array {
  const { netns, ifindex } = event;
  let inNetns = interfaceJsons.get(netns);
  const cached = inNetns?.get(ifindex);
  if (cached !== undefined && cached.name === name) return cached.bytes;
  if (interfaceJsonCount >= INTERFACES_LIMIT) {
    interfaceJsons = new Map();
    interfaceJsonCount = 0;
    inNetns = undefined;
  }
  if (inNetns === undefined) interfaceJsons.set(netns, (inNetns = new Map()));
  const bytes = bytesOf((out) => {
    writeNumberField(out, KEY.netns, NULL_FIELD.netns, netns);
    writeNumberField(out, KEY.ifindex, NULL_FIELD.ifindex, ifindex === 0 ? null : ifindex);
    out.raw(KEY.ifname);
    writeString(out, name);
  });
  if (!inNetns.has(ifindex)) interfaceJsonCount++;
  inNetns.set(ifindex, { name, bytes });
  return bytes;
}

/** `,"pid":…,"tid":…,"comm":…` by thread: a storm's drops happen in the context of few tasks. */
const TASKS_LIMIT = 4096;
let taskJsons = new Map<number, { pid: number; comm: string; bytes: Uint8Array }>();

function taskJson(event: DropEvent): Uint8Array {
  const { pid, tid, comm } = event;
  const cached = taskJsons.get(tid);
  if (cached !== undefined && cached.pid === pid && cached.comm === comm) return cached.bytes;
  if (taskJsons.size >= TASKS_LIMIT) taskJsons = new Map();
  const bytes = bytesOf((out) => {
    out.raw(KEY.pid);
    out.uint(pid);
    out.raw(KEY.tid);
    out.uint(tid);
    out.raw(KEY.comm);
    out.raw(jsonString(comm));
  });
  taskJsons.set(tid, { pid, comm, bytes });
  return bytes;
}

/**
 * Writes the NDJSON record and its newline; every key always present, in the
 * order of docs/json-schema.md. This is the hot path.
 */
export function writeJson(out: LineBuffer, event: DropEvent, context: FormatContext, rule: NftRule | null = null): void {
  // The owner first: a process can be gone by the time the first drop's symbols are loaded.
  const socket = event.socket === null ? null : resolveSocket(event.socket, context.sockets);
  writeIsoTime(out, event.tsNs + context.monotonicToUnixNs);
  out.raw(jsonHead(event, context));
  writeAddresses(out, event);
  writeNumberField(out, KEY.sport, NULL_FIELD.sport, event.sport);
  writeNumberField(out, KEY.dport, NULL_FIELD.dport, event.dport);
  writeNumberField(out, KEY.icmp_type, NULL_FIELD.icmp_type, event.icmpType);
  writeNumberField(out, KEY.icmp_code, NULL_FIELD.icmp_code, event.icmpCode);
  writeNumberField(out, KEY.ttl, NULL_FIELD.ttl, event.ttl);
  if (event.tcpFlags === null) {
    out.raw(NULL_FIELD.tcp_flags);
  } else {
    out.raw(KEY.tcp_flags);
    out.raw(TCP_FLAG_JSON[event.tcpFlags & 0xff]);
  }
  out.raw(interfaceJson(event, context.interfaces.name(event.netns, event.ifindex)));
  out.raw(KEY.len);
  out.uint(event.len);
  out.raw(taskJson(event));
  writeKernelAddress(out, OPEN_SKB, event.skb);
  const stack = stackJson(event, context);
  if (rule === null && socket === null && stack === NULL) {
    out.raw(NULL_TAIL);
    return;
  }
  out.raw(KEY.rule);
  if (rule === null) out.raw(NULL);
  else writeRule(out, rule);
  out.raw(KEY.socket);
  if (event.socket === null || socket === null) out.raw(NULL);
  else writeSocket(out, event.socket, socket);
  out.raw(KEY.stack);
  out.raw(stack);
  out.byte(CLOSE_OBJECT);
  out.byte(NEWLINE);
}

const lineScratch = new LineBuffer('latin1', SCRATCH_BYTES);

/** The NDJSON record as a string (tests, one-off lines): writeJson's bytes. */
export function formatJson(event: DropEvent, context: FormatContext, rule: NftRule | null = null): string {
  const line = written(lineScratch, (out) => writeJson(out, event, context, rule));
  return Buffer.from(line.buffer, line.byteOffset, line.length - 1).toString('latin1');
}

/** Per context: a stack's JSON array, built once per id. */
const stackJsonCaches = new WeakMap<FormatContext, Map<number, Uint8Array>>();

function stackJson(event: DropEvent, context: FormatContext): Uint8Array {
  if (event.stackId === null || !context.stacks) return NULL;
  let cache = stackJsonCaches.get(context);
  if (!cache) stackJsonCaches.set(context, (cache = new Map()));
  let bytes = cache.get(event.stackId);
  if (bytes === undefined) {
    const frames = context.stacks.get(event.stackId);
    bytes =
      frames === null
        ? NULL
        : bytesOf((out) => {
            out.byte(OPEN_ARRAY);
            frames.forEach((frame, i) => {
              if (i > 0) out.byte(COMMA);
              out.raw(jsonString(frame));
            });
            out.byte(CLOSE_ARRAY);
          });
    cache.set(event.stackId, bytes);
  }
  return bytes;
}

const STACK_INDENT = '    ';

/** With --stack, the lines under a drop's text line: its frames, innermost first. */
export function formatStackText(event: DropEvent, context: FormatContext): string[] {
  if (!context.stacks) return [];
  const frames = event.stackId === null ? null : context.stacks.get(event.stackId);
  return frames === null ? [`${STACK_INDENT}(no stack recorded)`] : frames.map((frame) => STACK_INDENT + frame);
}

function writeContainer(out: LineBuffer, container: Container): void {
  out.raw(OPEN_CONTAINER);
  writeString(out, container.runtime);
  out.raw(KEY.id);
  writeString(out, container.id);
  out.raw(KEY.pod);
  writeString(out, container.pod);
  out.byte(CLOSE_OBJECT);
}

/** The "socket" object: SOCKET_FIELDS, as bytes. */
function writeSocket(out: LineBuffer, socket: DropSocket, resolved: ResolvedSocket): void {
  for (let i = 0; i < SOCKET_KEYS.length; i++) {
    out.raw(SOCKET_KEYS[i]);
    const value = SOCKET_VALUES[i](socket, resolved);
    if (value === null) out.raw(NULL);
    else if (typeof value === 'number') out.uint(value);
    else if (typeof value === 'string') out.raw(jsonString(value));
    else writeContainer(out, value);
  }
  out.byte(CLOSE_OBJECT);
}

function writeRule(out: LineBuffer, rule: NftRule): void {
  out.raw(OPEN_RULE);
  writeString(out, rule.family);
  out.raw(KEY.table);
  writeString(out, rule.table);
  out.raw(KEY.chain);
  writeString(out, rule.chain);
  out.raw(KEY.handle);
  writeNumber(out, rule.handle);
  out.raw(KEY.text);
  writeString(out, rule.text);
  out.raw(KEY.verdict);
  writeString(out, rule.verdict);
  out.byte(CLOSE_OBJECT);
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

// Date formatting is slow; the part up to the second changes once a second.
let isoSecond = -1;
let isoPrefix: Uint8Array = new Uint8Array(0); // `{"ts":"` and the time to the second
let localSecond = -1;
let localPrefix = '';

/** `{"ts":"2026-01-02T03:04:05.123456Z",` */
function writeIsoTime(out: LineBuffer, unixNs: number): void {
  const second = Math.floor(unixNs / 1e9);
  if (second !== isoSecond) {
    isoSecond = second;
    isoPrefix = ascii(`{"ts":"${new Date(second * 1000).toISOString().slice(0, 19)}.`);
  }
  out.raw(isoPrefix);
  out.padded(Math.floor(nsInSecond(unixNs, second) / 1e3), 6);
}

/**
 * unixNs % 1e9 without double %, a slow call: second * 1e9 is a multiple of
 * 512 whose other factor is below 2^53, so exact, and so is the difference.
 */
function nsInSecond(unixNs: number, second: number): number {
  const ns = unixNs - second * 1e9; // second may be off by one where the division rounded
  return ns < 0 ? ns + 1e9 : ns >= 1e9 ? ns - 1e9 : ns;
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
