// Shared helpers for the unit tests: the recorded reason table, an encoder for
// struct drop_event (bpf/event.h) that sets the flags as the BPF program does,
// and a fake NativeBinding that lets a test drive the tracer's callbacks.
import { EventEmitter } from 'node:events';
import os from 'node:os';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import pino from 'pino';
import { parseAddressPrefix } from '../../src/events/address';
import type { BtfEntries, Counters, NativeBinding, NativeTracer, TracerOptions } from '../../src/kernel/binding';
import { loadNativeBinding } from '../../src/kernel/binding';
import { run, type CliIo } from '../../src/cli';
import { PROTOCOLS, type ProtocolName } from '../../src/events/filter';
import type { InterfaceResolver, SocketResolver, Symbolizer } from '../../src/output/format';
import { InterfaceNames } from '../../src/kernel/interfaces';
import type { ProcessFacts } from '../../src/kernel/facts';
import type { Pods, PodSettings } from '../../src/kernel/pods';
import {
  COMM_LEN,
  COUNT_RECORD,
  COUNT_RECORD_SIZE,
  DROP_KEY_SIZE,
  EVENT,
  EVENT_FLAG,
  EVENT_SIZE,
  FEATURE,
  PACKET,
  PACKET_LINK,
  PACKET_SIZE,
  recordSize,
  SOCKET,
  SOCKET_COUNT_RECORD,
  SOCKET_COUNT_RECORD_SIZE,
  SOCKET_SIZE,
  STACK_DEPTH,
} from '../../src/events/layout';
import type { CounterSnapshot, HostState } from '../../src/kernel/counters';
import { ReasonTable } from '../../src/events/reasons';
import type { CommandExit, TracedCommand } from '../../src/commands/traced-command';

export interface KernelReasonsFixture {
  kernel: string;
  reasons: Array<[string, number]>;
  subsystems: Array<[string, number]>;
}

/** dist/test/unit/ → the repository root. */
export const REPO_ROOT = resolve(__dirname, '../../..');

export function loadReasonFixture(): KernelReasonsFixture {
  return JSON.parse(readFileSync(resolve(REPO_ROOT, 'test/fixtures/kernel-reasons.json'), 'utf8')) as KernelReasonsFixture;
}

/** The ReasonTable of the kernel the fixture was recorded on. */
export function loadReasonTable(): ReasonTable {
  const fixture = loadReasonFixture();
  return new ReasonTable(fixture.reasons, fixture.subsystems);
}

/** Raw code of a reason in the fixture, by its bare name (e.g. NO_SOCKET). */
export function reasonCode(name: string): number {
  const code = loadReasonTable().codeOf(name);
  if (code === undefined) throw new Error(`reason ${name} is not in test/fixtures/kernel-reasons.json`);
  return code;
}

export interface EventSpec {
  tsNs?: number;
  location?: { hi: number; lo: number };
  skb?: { hi: number; lo: number };
  /** A number: the tracepoint reported this reason (HAS_REASON). Absent/null: a kernel without reasons. */
  reason?: number | null;
  /** Non-zero: HAS_NETNS (the BPF program sets it only for a non-zero inode). */
  netns?: number;
  ifindex?: number;
  pid?: number;
  tid?: number;
  len?: number;
  /** Ethertype, host order; defaults from the family (0x0800 / 0x86dd) or 0. */
  protocol?: number;
  /** 4 or 6; defaults from saddr/daddr. Any of family/saddr/daddr makes the event HAS_L3. */
  family?: 4 | 6;
  saddr?: string;
  daddr?: string;
  /** IPPROTO_* number or protocol name; needs L3, as in the BPF program. */
  l4Proto?: number | ProtocolName;
  ttl?: number;
  /** A non-first fragment: l4Proto is known but the L4 header (ports, ICMP, TCP flags) is not parsed. */
  fragment?: boolean;
  sport?: number;
  dport?: number;
  icmpType?: number;
  icmpCode?: number;
  tcpFlags?: number;
  /** The tracepoint passed the receiving socket (HAS_RX_SK). */
  rxSocket?: boolean;
  comm?: string;
  /** A full socket's section (HAS_SOCKET); absent fields are 0, as the BPF program leaves what it cannot read. */
  socket?: SocketSpec;
  /** A recorded kernel stack's id (HAS_STACK); absent: none (DROPWHY_NO_STACK). */
  stackId?: number;
  /** Replaces the computed flags entirely (for events the BPF program would not produce). */
  flags?: number;
}

export interface SocketSpec {
  cookie?: bigint;
  inode?: number;
  cgroup?: number;
  /** An IPv4 or IPv6 address: the socket is inet (with localPort); absent: another family. */
  localAddr?: string;
  localPort?: number;
  uid?: number;
  rcvbuf?: number;
  queued?: number;
  drops?: number;
}

function encodeSocket(buffer: Buffer, spec: SocketSpec): void {
  const at = EVENT.socket;
  buffer.writeBigUInt64LE(spec.cookie ?? 0n, at + SOCKET.cookie);
  buffer.writeBigUInt64LE(BigInt(spec.inode ?? 0), at + SOCKET.inode);
  buffer.writeBigUInt64LE(BigInt(spec.cgroup ?? 0), at + SOCKET.cgroup);
  if (spec.localAddr !== undefined) {
    const family = familyOf(spec.localAddr);
    buffer.set(addressBytes(spec.localAddr, family), at + SOCKET.local_addr);
    buffer.writeUInt8(family, at + SOCKET.local_family);
    buffer.writeUInt16LE(spec.localPort ?? 0, at + SOCKET.local_port);
  }
  buffer.writeUInt32LE(spec.uid ?? 0, at + SOCKET.uid);
  buffer.writeUInt32LE(spec.rcvbuf ?? 0, at + SOCKET.rcvbuf);
  buffer.writeUInt32LE(spec.queued ?? 0, at + SOCKET.queued);
  buffer.writeUInt32LE(spec.drops ?? 0, at + SOCKET.drops);
}

function writeU64(buffer: Buffer, offset: number, value: { hi: number; lo: number }): void {
  buffer.writeUInt32LE(value.lo >>> 0, offset);
  buffer.writeUInt32LE(value.hi >>> 0, offset + 4);
}

function addressBytes(text: string, family: 4 | 6): Uint8Array {
  const prefix = parseAddressPrefix(text);
  if (!prefix || text.includes('/')) throw new Error(`encodeEvent: not an address: ${text}`);
  if (prefix.family !== family) throw new Error(`encodeEvent: ${text} is not an IPv${family} address`);
  return prefix.bytes;
}

function familyOf(text: string): 4 | 6 {
  const prefix = parseAddressPrefix(text);
  if (!prefix) throw new Error(`encodeEvent: not an address: ${text}`);
  return prefix.family;
}

/** One struct drop_event with the flags the BPF program would set for this description. */
export function encodeEvent(spec: EventSpec = {}): Buffer {
  const buffer = Buffer.alloc(EVENT_SIZE);
  let flags = 0;

  buffer.writeUInt32LE(Math.floor((spec.tsNs ?? 0) / 2 ** 32), EVENT.ts_ns + 4);
  buffer.writeUInt32LE((spec.tsNs ?? 0) % 2 ** 32, EVENT.ts_ns);
  writeU64(buffer, EVENT.location, spec.location ?? { hi: 0xffffffff, lo: 0x81000000 });
  writeU64(buffer, EVENT.skb_addr, spec.skb ?? { hi: 0xffff8880, lo: 0x12345678 });

  if (typeof spec.reason === 'number') {
    buffer.writeUInt32LE(spec.reason, EVENT.reason);
    flags |= EVENT_FLAG.HAS_REASON;
  }
  if (spec.netns) {
    buffer.writeUInt32LE(spec.netns, EVENT.netns);
    flags |= EVENT_FLAG.HAS_NETNS;
  }
  if (spec.rxSocket) flags |= EVENT_FLAG.HAS_RX_SK;
  if (spec.socket) {
    encodeSocket(buffer, spec.socket);
    flags |= EVENT_FLAG.HAS_SOCKET;
  }
  buffer.writeInt32LE(spec.stackId ?? -1, EVENT.stack_id);
  if (spec.stackId !== undefined) flags |= EVENT_FLAG.HAS_STACK;
  buffer.writeUInt32LE(spec.ifindex ?? 0, EVENT.ifindex);
  buffer.writeUInt32LE(spec.pid ?? 0, EVENT.pid);
  buffer.writeUInt32LE(spec.tid ?? spec.pid ?? 0, EVENT.tid);
  buffer.writeUInt32LE(spec.len ?? 0, EVENT.len);

  const family = spec.family ?? (spec.saddr ? familyOf(spec.saddr) : spec.daddr ? familyOf(spec.daddr) : undefined);
  buffer.writeUInt16LE(spec.protocol ?? (family === 4 ? 0x0800 : family === 6 ? 0x86dd : 0), EVENT.protocol);

  if (family !== undefined) {
    flags |= EVENT_FLAG.HAS_L3;
    buffer.writeUInt8(family, EVENT.family);
    buffer.set(addressBytes(spec.saddr ?? (family === 4 ? '0.0.0.0' : '::'), family), EVENT.saddr);
    buffer.set(addressBytes(spec.daddr ?? (family === 4 ? '0.0.0.0' : '::'), family), EVENT.daddr);
    buffer.writeUInt8(spec.ttl ?? 64, EVENT.ttl);
    const l4 = typeof spec.l4Proto === 'string' ? PROTOCOLS[spec.l4Proto] : spec.l4Proto;
    if (l4 !== undefined) {
      flags |= EVENT_FLAG.HAS_L4_PROTO;
      buffer.writeUInt8(l4, EVENT.l4_proto);
      if (!spec.fragment) {
        // parse_l4(): TCP gets flags and ports, UDP ports, ICMP/ICMPv6 type and code.
        if (l4 === PROTOCOLS.tcp) {
          buffer.writeUInt8(spec.tcpFlags ?? 0, EVENT.tcp_flags);
          flags |= EVENT_FLAG.HAS_TCP_FLAGS;
        }
        if (l4 === PROTOCOLS.tcp || l4 === PROTOCOLS.udp) {
          buffer.writeUInt16LE(spec.sport ?? 0, EVENT.sport);
          buffer.writeUInt16LE(spec.dport ?? 0, EVENT.dport);
          flags |= EVENT_FLAG.HAS_PORTS;
        }
        if (l4 === PROTOCOLS.icmp || l4 === PROTOCOLS.icmp6) {
          buffer.writeUInt8(spec.icmpType ?? 0, EVENT.icmp_type);
          buffer.writeUInt8(spec.icmpCode ?? 0, EVENT.icmp_code);
          flags |= EVENT_FLAG.HAS_ICMP;
        }
      }
    }
  } else if (spec.l4Proto !== undefined || spec.sport !== undefined || spec.dport !== undefined) {
    throw new Error('encodeEvent: the BPF program only parses L4 after an IPv4/IPv6 header: give saddr/daddr/family');
  }

  const comm = Buffer.from(spec.comm ?? 'swapper/0', 'latin1').subarray(0, COMM_LEN - 1);
  buffer.set(comm, EVENT.comm);
  buffer.writeUInt16LE(spec.flags ?? flags, EVENT.flags);
  return buffer;
}

/** -w: an event followed by its packet section and snaplen bytes, as the BPF program reserves them. */
export function encodePacketRecord(spec: EventSpec, packet: { link: keyof typeof PACKET_LINK; wireLength: number; bytes: Uint8Array } | null, snaplen: number): Buffer {
  const event = encodeEvent(spec);
  const section = Buffer.alloc(recordSize(FEATURE.PACKET, snaplen) - EVENT_SIZE);
  if (packet !== null) {
    if (packet.bytes.length > snaplen) throw new Error('encodePacketRecord: more bytes than snaplen');
    event.writeUInt16LE(event.readUInt16LE(EVENT.flags) | EVENT_FLAG.HAS_PACKET, EVENT.flags);
    section.writeUInt32LE(packet.bytes.length, PACKET.captured);
    section.writeUInt32LE(packet.wireLength, PACKET.wire_len);
    section.writeUInt8(PACKET_LINK[packet.link], PACKET.link);
    section.set(packet.bytes, PACKET_SIZE);
  }
  return Buffer.concat([event, section]);
}

/** Several events as one batch, as the addon delivers them. */
export function encodeBatch(specs: EventSpec[]): Buffer {
  return Buffer.concat(specs.map((spec) => encodeEvent(spec)));
}

/** BTF of the skb:kfree_skb tracepoint record on a kernel with reasons (5.17+). */
export const TRACEPOINT_FIELDS_WITH_REASON = ['ent', 'skbaddr', 'location', 'protocol', 'reason', 'rx_sk', '__data'];
/** … and before 5.17. */
export const TRACEPOINT_FIELDS_WITHOUT_REASON = ['ent', 'skbaddr', 'location', 'protocol', '__data'];

export interface FakeBindingOptions {
  /** false: a kernel without enum skb_drop_reason (btfMembers returns null for both enums). */
  reasons?: boolean;
  /** A kernel with only these of the fixture's reasons (an older one). */
  reasonNames?: string[];
  /** The tracepoint struct's members; null: the struct is absent. Defaults to a 6.11+ kernel's. */
  tracepointFields?: string[] | null;
  /** What counters() and stop() return (missing fields are 0). */
  counters?: Partial<Counters>;
  /**
   * What dropCounts() returns (summary mode's packed COUNT_RECORDs): a fixed buffer, or a function
   * called on every dropCounts() (with how many calls came before) for counts that grow over time.
   */
  dropCounts?: Buffer | ((call: number) => Buffer);
  /** What socketCounts() returns: packed SOCKET_COUNT_RECORDs (see encodeSocketCounts). */
  socketCounts?: Buffer;
  /** What stackFrames() returns per stack id: its frames' addresses, innermost first (unknown ids: none). */
  stacks?: Record<number, Array<{ hi: number; lo: number }>>;
  /** openTracer throws this. */
  openError?: Error;
  /** Called on every btfMembers query, before it is answered (e.g. to send a signal during the BTF read). */
  onBtfQuery?: (kind: 'enum' | 'struct', name: string) => void;
  /** Called inside openTracer, after the options are recorded (e.g. to push events at once). */
  onOpen?: (binding: FakeBinding) => void;
  /** Delivered through onBatch when stop() is called, like the addon's final drain. */
  finalBatch?: Buffer;
}

/** A NativeBinding without the kernel: records what was opened and lets the test play the poll thread. */
export class FakeBinding implements NativeBinding {
  readonly addonPath = '/fake/prebuilds/linux-x64/dropwhy.node';
  /** Every TracerOptions openTracer received. */
  readonly opened: TracerOptions[] = [];
  readonly btfQueries: Array<[string, string]> = [];
  stopCalls = 0;
  /** How many times the tracer's dropCounts() was called. */
  dropCountsCalls = 0;
  /** Every buffer of keys the tracer's deleteDropCounts() was given. */
  readonly deletedKeys: Buffer[] = [];
  counters: Counters;
  private readonly settings: FakeBindingOptions;
  private openedWaiters: Array<(options: TracerOptions) => void> = [];
  private stoppedWaiters: Array<() => void> = [];

  constructor(settings: FakeBindingOptions = {}) {
    this.settings = settings;
    this.counters = { seen: 0, matched: 0, lost: 0, overflow: 0, unrecordedFlows: 0, stackMissed: 0, packetUnread: 0, ...settings.counters };
  }

  /** The options of the (last) opened tracer; throws when none was opened. */
  get options(): TracerOptions {
    const last = this.opened[this.opened.length - 1];
    if (!last) throw new Error('FakeBinding: no tracer was opened');
    return last;
  }

  get stopped(): boolean {
    return this.stopCalls > 0;
  }

  readonly libbpfVersion = 'v1.1';

  probeRingbuf(): number {
    return 0;
  }

  /** The pipes growPipe was asked to grow, as [fd, bytes]. */
  readonly pipeGrowths: Array<[number, number]> = [];

  /** Standard output is no pipe here: EBADF. */
  growPipe(fd: number, bytes: number): number {
    this.pipeGrowths.push([fd, bytes]);
    return -9;
  }

  /** libpcap's own compiler, from the built addon (it needs no privileges). */
  compileFilter(expression: string, snaplen: number): Buffer {
    return loadNativeBinding().compileFilter(expression, snaplen);
  }

  btfMembers(kind: 'enum' | 'struct', name: string): BtfEntries | null {
    this.btfQueries.push([kind, name]);
    this.settings.onBtfQuery?.(kind, name);
    if (kind === 'enum') {
      if (this.settings.reasons === false) return null;
      const fixture = loadReasonFixture();
      const only = this.settings.reasonNames;
      if (name === 'skb_drop_reason') return only ? fixture.reasons.filter(([full]) => only.includes(full.replace(/^SKB_DROP_REASON_/, ''))) : fixture.reasons;
      if (name === 'skb_drop_reason_subsys') return fixture.subsystems;
      return null;
    }
    if (name === 'trace_event_raw_kfree_skb') {
      const fields =
        this.settings.tracepointFields !== undefined
          ? this.settings.tracepointFields
          : this.settings.reasons === false
            ? TRACEPOINT_FIELDS_WITHOUT_REASON
            : TRACEPOINT_FIELDS_WITH_REASON;
      return fields === null ? null : fields.map((field, i) => [field, i * 64]);
    }
    return null;
  }

  openTracer(options: TracerOptions): NativeTracer {
    if (this.settings.openError) throw this.settings.openError;
    this.opened.push(options);
    const waiters = this.openedWaiters;
    this.openedWaiters = [];
    for (const resolve of waiters) resolve(options);
    this.settings.onOpen?.(this);
    return {
      counters: () => ({ ...this.counters }),
      dropCounts: () => {
        const source = this.settings.dropCounts;
        const call = this.dropCountsCalls++;
        return Buffer.from(typeof source === 'function' ? source(call) : (source ?? Buffer.alloc(0)));
      },
      socketCounts: () => Buffer.from(this.settings.socketCounts ?? Buffer.alloc(0)),
      stackFrames: (ids) => encodeStackFrames([...ids].map((id) => this.settings.stacks?.[id] ?? [])),
      deleteDropCounts: (keys) => {
        this.deletedKeys.push(Buffer.from(keys));
        return keys.length / DROP_KEY_SIZE;
      },
      stop: async () => {
        this.stopCalls++;
        if (this.settings.finalBatch) options.onBatch(this.settings.finalBatch);
        const waiters = this.stoppedWaiters;
        this.stoppedWaiters = [];
        for (const resolve of waiters) resolve();
        return { ...this.counters };
      },
    };
  }

  /** Resolves with the tracer's options once openTracer has been called. */
  whenOpened(): Promise<TracerOptions> {
    if (this.opened.length > 0) return Promise.resolve(this.options);
    return new Promise((resolve) => this.openedWaiters.push(resolve));
  }

  /** Resolves once stop() has been called. */
  whenStopped(): Promise<void> {
    if (this.stopCalls > 0) return Promise.resolve();
    return new Promise((resolve) => this.stoppedWaiters.push(resolve));
  }

  /** Delivers one batch (Buffers are concatenated) as the poll thread would. */
  push(...batches: Buffer[]): void {
    this.options.onBatch(Buffer.concat(batches));
  }

  /** Ends the poll thread with an error. */
  fail(error: Error): void {
    this.options.onError(error);
  }

  /** Sends a libbpf log line. */
  log(level: 'warn' | 'info' | 'debug', message: string): void {
    this.options.onLog(level, message);
  }
}

// ---------------------------------------------------------------------------
// Summary mode's count map records
// ---------------------------------------------------------------------------

export interface CountSpec {
  location?: { hi: number; lo: number };
  /** Raw reason code written to the key (read back only when the tracepoint has a reason). */
  reason?: number;
  /** Network namespace inode (0: unknown). */
  netns?: number;
  /** 0 (no L3 header parsed), 4 or 6. */
  family?: 0 | 4 | 6;
  /** IPPROTO_* number or protocol name; known only with a family, as in the BPF program. */
  l4Proto?: number | ProtocolName;
  /** The stack id in the key (summary --stack); absent: none recorded (DROPWHY_NO_STACK). */
  stackId?: number;
  /** The cumulative count (a u64 in the kernel). */
  count: number | bigint;
}

/** Packed records of src/events/layout.ts COUNT_RECORD (struct drop_key + __u64 count), as the addon's dropCounts() returns them. */
export function encodeCountRecords(specs: CountSpec[]): Buffer {
  const buffer = Buffer.alloc(specs.length * COUNT_RECORD_SIZE);
  specs.forEach((spec, i) => {
    const base = i * COUNT_RECORD_SIZE;
    writeU64(buffer, base + COUNT_RECORD.location, spec.location ?? { hi: 0xffffffff, lo: 0x81000000 });
    buffer.writeUInt32LE(spec.reason ?? 0, base + COUNT_RECORD.reason);
    buffer.writeUInt32LE(spec.netns ?? 0, base + COUNT_RECORD.netns);
    buffer.writeInt32LE(spec.stackId ?? -1, base + COUNT_RECORD.stack_id);
    buffer.writeUInt8(spec.family ?? 0, base + COUNT_RECORD.family);
    const l4 = typeof spec.l4Proto === 'string' ? PROTOCOLS[spec.l4Proto] : (spec.l4Proto ?? 0);
    buffer.writeUInt8(l4, base + COUNT_RECORD.l4_proto);
    buffer.writeUInt8(spec.family && spec.l4Proto !== undefined ? 1 : 0, base + COUNT_RECORD.has_l4_proto);
    buffer.writeBigUInt64LE(BigInt(spec.count), base + COUNT_RECORD.count);
  });
  return buffer;
}

/** What the addon's stackFrames() returns: STACK_DEPTH u64 addresses per stack, zero after its last frame. */
export function encodeStackFrames(stacks: Array<Array<{ hi: number; lo: number }>>): Buffer {
  const buffer = Buffer.alloc(stacks.length * STACK_DEPTH * 8);
  stacks.forEach((frames, i) => frames.slice(0, STACK_DEPTH).forEach((frame, j) => writeU64(buffer, (i * STACK_DEPTH + j) * 8, frame)));
  return buffer;
}

// ---------------------------------------------------------------------------
// The CLI run in-process with a fake CliIo
// ---------------------------------------------------------------------------

/** Root with its full capability set (CapEff of a root shell on 6.x: bits 0..40). */
/** A machine where no process holds the socket and no cgroup is found. */
export const UNRESOLVED_SOCKETS: SocketResolver = { owner: () => null, cgroup: () => null };
/** A machine where no interface name is known. */
export const UNNAMED_INTERFACES: InterfaceResolver = { name: () => null };

export const ROOT_FACTS: ProcessFacts = { euid: 0, capEff: (1n << 41n) - 1n, btfPresent: true };

export interface CliHarness {
  io: CliIo;
  binding: FakeBinding;
  out: string[];
  err: string[];
  logs: string[];
  /** The level of every createLogger call. */
  loggerLevels: string[];
  /** The format of every createLogger call. */
  loggerFormats: string[];
  signals: EventEmitter;
  /** Emits 'resize' with the terminal's new width: io.onResize's listeners hear it. */
  resize: EventEmitter;
  bindingCalls: number;
  /** How many times io.symbols() was called (kallsyms loads). */
  symbolsLoads: number;
  /** Each io.symbols() call, as the number of tracers opened before it. */
  symbolsLoadsAfterOpens: number[];
  /** The path of every statInode call. */
  statCalls: string[];
  /** Every interfaceIndex call, as NETNS/IFNAME. */
  interfaceLookups: string[];
  /** The netns argument of every readCounters call. */
  counterReads: Array<number | null>;
  /** All of stdout as one string. */
  stdout(): string;
  /** stdout as NDJSON records. */
  records(): Array<Record<string, unknown>>;
  /** Sends SIGINT: for t.after(), so a failed assertion does not leave a run (and its timers) going. */
  stop(): void;
}

/** A traced command (-- CMD) without a process: the test ends it with exit(); signals and closes are recorded. */
export class FakeCommand implements TracedCommand {
  argv: readonly string[] = [];
  readonly cgroup = { path: '/fake/cgroup/dropwhy-1', id: 4242 };
  readonly signals: NodeJS.Signals[] = [];
  starts = 0;
  closes = 0;
  /** exit() once started: how start() resolves. */
  private ended: (exit: CommandExit) => void = () => {
    throw new Error('FakeCommand: exit() before start()');
  };
  /** Every signal ends the command, with 128 + its number, unless it is listed here. */
  constructor(private readonly ignores: NodeJS.Signals[] = []) {}

  start(): Promise<CommandExit> {
    this.starts++;
    return new Promise((resolve) => (this.ended = resolve));
  }

  exit(status: number): void {
    this.ended({ status, signal: null });
  }

  signal(signal: NodeJS.Signals): void {
    this.signals.push(signal);
    if (!this.ignores.includes(signal)) this.ended({ status: 128 + os.constants.signals[signal], signal });
  }

  close(): string | null {
    this.closes++;
    return null;
  }
}

export interface CliHarnessOptions {
  /** The command -- CMD runs; without one, -- CMD fails as a machine without cgroup2 would. */
  command?: FakeCommand;
  binding?: FakeBindingOptions;
  facts?: Partial<ProcessFacts>;
  /** io.binding() throws this (e.g. the addon is not built). */
  bindingError?: Error;
  /** io.symbols() throws this (e.g. /proc/kallsyms cannot be read). */
  symbolsError?: Error;
  /** Socket owners and cgroups; default: none known. */
  sockets?: SocketResolver;
  /** The pods of drops, given the session's --kubernetes and --pod-logs; default: none (not Kubernetes). */
  pods?: (settings: PodSettings) => Pods | null;
  stdoutIsTty?: boolean;
  /** A stop signal that came before the command listened (io.earlySignal()); default: none. */
  earlySignal?: NodeJS.Signals;
  /** Whether stderr is a terminal; default: false. */
  stderrIsTty?: boolean;
  /** The terminal's width (stdout a terminal); default: null, not a terminal. */
  columns?: number;
  /** The environment dropwhy sees (NO_COLOR); default: empty. */
  env?: NodeJS.ProcessEnv;
  inodes?: Record<string, number>;
  /** Paths that enter namespaces, by inode (findNetns); default: the inodes of `inodes`, at their path. */
  netnsPaths?: Record<number, string>;
  /** ifindexes by NETNS/IFNAME (the namespace's inode); others are missing. */
  interfaces?: Record<string, number>;
  /** The kernel's counters: successive snapshots, the last one repeated; absent: unreadable. */
  counterSnapshots?: CounterSnapshot[];
  /** The namespace's devices, qdiscs, settings and listeners the snapshot after a run reads; default: none. */
  hostState?: HostState;
  /** Replaces counterSnapshots as io.readCounters (the call is still recorded in counterReads). */
  readCounters?: CliIo['readCounters'];
  /** Called with each stdout write (as text) before it is recorded; a throw stands for a failed write and records nothing. */
  writeOut?: (chunk: string) => void;
}

/** A namespace with nothing to tell: no devices, qdiscs, settings or listeners. */
export function emptyHostState(): HostState {
  return { devices: [], qdiscs: [], rings: new Map(), settings: new Map(), listeners: [] };
}

/**
 * A CliIo without the machine: the fake binding, stdout/stderr captured, signals from an emitter.
 * Locations symbolize as kfree_skb_reason+0x<lo>, except lo 0xdead, which has no symbol.
 */
export function cliHarness(options: CliHarnessOptions = {}): CliHarness {
  const binding = new FakeBinding(options.binding);
  const signals = new EventEmitter();
  const h: CliHarness = {
    binding,
    out: [],
    err: [],
    logs: [],
    loggerLevels: [],
    loggerFormats: [],
    signals,
    resize: new EventEmitter(),
    bindingCalls: 0,
    symbolsLoads: 0,
    symbolsLoadsAfterOpens: [],
    statCalls: [],
    interfaceLookups: [],
    counterReads: [],
    stdout: () => h.out.join(''),
    records: () =>
      h
        .stdout()
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stop: () => void signals.emit('SIGINT'),
    io: {
      binding: () => {
        h.bindingCalls++;
        if (options.bindingError) throw options.bindingError;
        return binding;
      },
      processFacts: () => ({ ...ROOT_FACTS, ...options.facts }),
      writeOut: (chunk) => {
        // Byte chunks are only valid during the call: copy them as text.
        const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString();
        options.writeOut?.(text);
        h.out.push(text);
      },
      writeErr: (line) => void h.err.push(line),
      statusLine: () => {},
      sockets: () => options.sockets ?? UNRESOLVED_SOCKETS,
      pods: (settings) => options.pods?.(settings) ?? null,
      // The names are those of options.interfaces, listed per namespace.
      interfaces: () =>
        new InterfaceNames(async (netns) => {
          const prefix = `${netns}/`;
          const listed = Object.entries(options.interfaces ?? {}).filter(([key]) => key.startsWith(prefix));
          return new Map(listed.map(([key, ifindex]) => [ifindex, key.slice(prefix.length)]));
        }),
      symbols: (): Symbolizer => {
        h.symbolsLoads++;
        h.symbolsLoadsAfterOpens.push(h.binding.opened.length);
        if (options.symbolsError) throw options.symbolsError;
        return { symbolize: (address) => (address.lo === 0xdead ? null : `kfree_skb_reason+0x${address.lo.toString(16)}`) };
      },
      statInode: (path) => {
        h.statCalls.push(path);
        return options.inodes?.[path] ?? null;
      },
      findNetns: async (inode) => {
        const byInode = options.netnsPaths ?? Object.fromEntries(Object.entries(options.inodes ?? {}).map(([path, ino]) => [ino, path]));
        return byInode[inode] ?? null;
      },
      interfaceIndex: async (ifname, netns) => {
        h.interfaceLookups.push(`${netns}/${ifname}`);
        return options.interfaces?.[`${netns}/${ifname}`] ?? null;
      },
      signals,
      earlySignal: () => options.earlySignal ?? null,
      stdoutIsTty: options.stdoutIsTty ?? false,
      columns: options.columns ?? null,
      onResize: (listener) => {
        h.resize.on('resize', listener);
        return () => void h.resize.off('resize', listener);
      },
      stderrIsTty: options.stderrIsTty ?? false,
      env: options.env ?? {},
      readCounters: async (netns, withState) => {
        h.counterReads.push(netns);
        if (options.readCounters) return options.readCounters(netns, withState);
        const snapshots = options.counterSnapshots;
        if (!snapshots || snapshots.length === 0) throw new Error('no kernel counters in unit tests');
        const counters = new Map(snapshots[Math.min(h.counterReads.length - 1, snapshots.length - 1)]);
        return { counters, state: withState ? (options.hostState ?? emptyHostState()) : null, unread: [] };
      },
      createLogger: (level, format) => {
        h.loggerLevels.push(level);
        h.loggerFormats.push(format);
        return pino({ level }, { write: (line: string) => void h.logs.push(line) });
      },
      selftest: async () => true,
      traceCommand: (argv) => {
        if (!options.command) throw new Error('-- COMMAND needs the cgroup2 filesystem, which is not mounted here');
        options.command.argv = argv;
        return options.command;
      },
    },
  };
  return h;
}

/**
 * Starts run(argv) and waits until the tracer is open, failing (instead of hanging) if the run ends first.
 * Returns the run's exit code promise wrapped, so awaiting this does not wait for the run to end.
 */
export async function runUntilOpened(argv: string[], h: CliHarness): Promise<{ done: Promise<number> }> {
  const done = run(argv, h.io);
  await Promise.race([
    h.binding.whenOpened(),
    done.then((code) => {
      throw new Error(`run ended with exit ${code} before opening the tracer: ${h.err.join(' | ')}`);
    }),
  ]);
  return { done };
}

/** run() for cases that must end before tracing; should the tracer open after all, a SIGINT ends it. */
export function runNoTrace(argv: string[], h: CliHarness): Promise<number> {
  void h.binding.whenOpened().then(() => h.signals.emit('SIGINT'));
  return run(argv, h.io);
}

/** Polls until the condition holds; throws after timeoutMs. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Packed SOCKET_COUNT_RECORDs (struct socket_key + struct socket_count), as the addon's socketCounts() returns them. */
export function encodeSocketCounts(specs: Array<{ reason: number; count: number; socket: SocketSpec }>): Buffer {
  return Buffer.concat(
    specs.map(({ reason, count, socket }) => {
      const record = Buffer.alloc(SOCKET_COUNT_RECORD_SIZE);
      const event = encodeEvent({ socket });
      event.copy(record, SOCKET_COUNT_RECORD.socket, EVENT.socket, EVENT.socket + SOCKET_SIZE);
      record.writeBigUInt64LE(BigInt(socket.inode ?? 0), SOCKET_COUNT_RECORD.inode);
      record.writeUInt32LE(reason, SOCKET_COUNT_RECORD.reason);
      record.writeBigUInt64LE(BigInt(count), SOCKET_COUNT_RECORD.count);
      return record;
    }),
  );
}
