// One drop as an NDJSON line, written as bytes straight into the output buffer:
// a string per line, built from ~30 pieces, cost more to flatten and encode
// than the rest of the path. Constant parts are byte fragments built once;
// values that repeat through a storm (heads, addresses, interfaces, tasks,
// names, stacks) are cached as bytes by the writer, one per session.
import { familyName } from '../events/address';
import type { DropEvent, DropSocket, KernelAddress } from '../events/decode';
import { protocolName, TCP_FLAG_TEXT } from '../events/protocols';
import type { Container } from '../kernel/container';
import type { Pod } from '../kernel/pods';
import type { NftRule } from '../nft/trace-parse';
import { AddressCache, FragmentCache, InterfaceParts } from './caches';
import type { FormatContext } from './format';
import { podOf } from './pod';
import { resolveSocket, SOCKET_FIELDS, type ResolvedSocket, type SocketValue } from './socket';
import { LineBuffer, nsInSecond } from './writer';

function ascii(text: string): Uint8Array {
  // A plain Uint8Array like every cached fragment (not a Buffer): one shape keeps the copy loop fast.
  return Uint8Array.from(Buffer.from(text, 'latin1'));
}

/** A key's bytes, `,"name":`, and the same key with a null value, `,"name":null`: one write for the common case of many fields. */
interface Field {
  key: Uint8Array;
  orNull: Uint8Array;
}

const FIELD_NAMES = [
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
  'name',
  'uid',
  'container',
  'table',
  'chain',
  'handle',
  'text',
  'verdict',
] as const;
type FieldName = (typeof FIELD_NAMES)[number];
const FIELD = Object.fromEntries(FIELD_NAMES.map((name) => [name, { key: ascii(`,"${name}":`), orNull: ascii(`,"${name}":null`) }])) as Record<FieldName, Field>;

const NULL = ascii('null');
/** A drop that is not ICMP: its two nulls and the TTL's key, or its null, as one write. */
const NO_ICMP_TTL = ascii(',"icmp_type":null,"icmp_code":null,"ttl":');
const NO_ICMP_NO_TTL = ascii(',"icmp_type":null,"icmp_code":null,"ttl":null');
/** The end of a line without rule, socket, pod or stack, the common case, as one write; it closes the skb's address. */
const NULL_TAIL = ascii('","rule":null,"socket":null,"pod":null,"stack":null}\n');
/** The same around a pod: a storm in a pod's namespace is as common in Kubernetes. */
const POD_TAIL_OPENING = ascii('","rule":null,"socket":null,"pod":');
const POD_TAIL_CLOSING = ascii(',"stack":null}\n');
/** The head starts by closing the time before it: one write fewer per line. */
const OPEN_REASON = ascii('Z","reason":');
const OPEN_ADDRESS = ascii(',"address":"0x');
const OPEN_SKB = ascii(',"skb":"0x');
const OPEN_CONTAINER = ascii('{"runtime":');
const OPEN_POD = ascii('{"namespace":');
const OPEN_RULE = ascii('{"family":');
/** Each socket field's key; the first opens the object. */
const SOCKET_KEYS = SOCKET_FIELDS.map(({ name }, i) => ascii(i === 0 ? `{"${name}":` : `,"${name}":`));
const SOCKET_VALUES: ReadonlyArray<(socket: DropSocket, resolved: ResolvedSocket) => SocketValue> = SOCKET_FIELDS.map(({ value }) => value);
const TCP_FLAG_JSON = TCP_FLAG_TEXT.map((text) => ascii(`"${text}"`));
const QUOTE = 0x22;
const COMMA = 0x2c;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;
const CLOSE_OBJECT = 0x7d;
const NEWLINE = 0x0a;

/** Small writes at a time (a fragment, a stack, a one-off line) need no megabyte. */
const SCRATCH_BYTES = 4096;
/** Bound on each cache's entries: far more than a storm repeats, little memory. */
const CACHE_LIMIT = 4096;
/** Bound on the address pairs kept with each head. */
const PAIRS_PER_HEAD = 16;
/** A number key as a small integer (31 bits), which a Map hashes faster than a larger number. */
const SMALL_KEY = 0x3fffffff;

/** `,"name":value` for a number that may be null. */
function writeNumberField(out: LineBuffer, field: Field, value: number | null): void {
  if (value === null) {
    out.raw(field.orNull);
  } else {
    out.raw(field.key);
    out.uint(value);
  }
}

function writeNumber(out: LineBuffer, value: number | null): void {
  if (value === null) out.raw(NULL);
  else out.uint(value);
}

function writeKernelAddress(out: LineBuffer, opening: Uint8Array, address: KernelAddress): void {
  out.raw(opening);
  out.hex32(address.hi);
  out.hex32(address.lo);
  out.byte(QUOTE);
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

/**
 * JSON string literals' bytes, all ASCII (non-ASCII escaped as \uXXXX).
 * Command, interface and symbol names are the only free-form text, and few.
 */
class JsonStrings {
  private readonly quoted = new Map<string, Uint8Array>();

  get(text: string): Uint8Array {
    let quoted = this.quoted.get(text);
    if (quoted === undefined) {
      if (this.quoted.size >= CACHE_LIMIT) this.quoted.clear();
      quoted = ascii(JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`));
      this.quoted.set(text, quoted);
    }
    return quoted;
  }
}

/** "reason" to "proto", for one (location, reason, family, l4Proto, protocol). */
interface Head {
  hi: number;
  reason: number | null;
  family: number | null;
  l4Proto: number | null;
  protocol: number;
  bytes: Uint8Array;
  /** The head with the addresses after it, by their parts: a storm's drops are between few addresses. */
  withAddresses: HeadWithAddresses[];
}

interface HeadWithAddresses {
  source: AddressPart | null;
  destination: AddressPart | null;
  bytes: Uint8Array;
}

/** `,"pid":…,"tid":…,"comm":…,"skb":"0x` for one thread. */
interface TaskPart {
  pid: number;
  comm: string;
  bytes: Uint8Array;
}

/** A pod's JSON object, and the end of a line without rule, socket or stack with it. */
interface PodPart {
  bytes: Uint8Array;
  tail: Uint8Array;
}

/** An address with its key, `,"saddr":"10.0.0.1"` and `,"daddr":"10.0.0.1"`. */
interface AddressPart {
  saddr: Uint8Array;
  daddr: Uint8Array;
}

/**
 * Writes drops as NDJSON records: every key always present, in the order of
 * docs/json-schema.md. One per session: its caches hold what the session's
 * context (reasons, symbols, interface names, stacks) made of the drops so far.
 */
export class JsonWriter {
  private readonly strings = new JsonStrings();
  /** Heads by the location's low half, then searched by the rest: the same few combinations recur through a storm. */
  private readonly heads = new FragmentCache<Head>(CACHE_LIMIT);
  /** `,"netns":…,"ifindex":…,"ifname":…,"len":`, after TCP flags. */
  private readonly interfaceParts = new InterfaceParts(CACHE_LIMIT, (netns, ifindex, name) => this.interfacePart(null, netns, ifindex, name));
  /** The same after `,"tcp_flags":null`, which most drops have. */
  private readonly interfacePartsNoFlags = new InterfaceParts(CACHE_LIMIT, (netns, ifindex, name) => this.interfacePart(FIELD.tcp_flags.orNull, netns, ifindex, name));
  /** By thread: a storm's drops happen in the context of few tasks. */
  private readonly taskParts = new FragmentCache<TaskPart>(CACHE_LIMIT);
  private readonly addresses = new AddressCache<AddressPart>((text) => ({ saddr: ascii(`,"saddr":"${text}"`), daddr: ascii(`,"daddr":"${text}"`) }));
  /** By the pod object (the resolver makes one per pod, name and container): a storm's drops are in few pods. */
  private readonly pods = new Map<Pod, PodPart>();
  /** A stack's JSON array by id (an id keeps naming the stack it was first given to). */
  private readonly stacks = new Map<number, Uint8Array>();
  // Date formatting is slow; the part up to the second changes once a second.
  private isoSecond = -1;
  /** `{"ts":"` and the time to the second. */
  private isoPrefix: Uint8Array = new Uint8Array(0);
  private readonly fragmentScratch = new LineBuffer('latin1', SCRATCH_BYTES);
  private readonly lineScratch = new LineBuffer('latin1', SCRATCH_BYTES);

  /** context.stacks is read at each line: --stack sets it once the tracer is open. */
  constructor(private readonly context: FormatContext) {}

  /** Writes the record and its newline into out. This is the hot path. */
  write(out: LineBuffer, event: DropEvent, rule: NftRule | null = null): void {
    const context = this.context;
    // The owner first: a process can be gone by the time the first drop's symbols are loaded.
    const socket = event.socket === null ? null : resolveSocket(event.socket, context.sockets);
    this.writeTime(out, event.tsNs + context.monotonicToUnixNs);
    out.raw(this.headWithAddresses(event));
    writeNumberField(out, FIELD.sport, event.sport);
    writeNumberField(out, FIELD.dport, event.dport);
    if (event.icmpType === null && event.icmpCode === null) {
      if (event.ttl === null) {
        out.raw(NO_ICMP_NO_TTL);
      } else {
        out.raw(NO_ICMP_TTL);
        out.uint(event.ttl);
      }
    } else {
      writeNumberField(out, FIELD.icmp_type, event.icmpType);
      writeNumberField(out, FIELD.icmp_code, event.icmpCode);
      writeNumberField(out, FIELD.ttl, event.ttl);
    }
    const name = context.interfaces.name(event.netns, event.ifindex);
    if (event.tcpFlags === null) {
      out.raw(this.interfacePartsNoFlags.get(event.netns, event.ifindex, name));
    } else {
      out.raw(FIELD.tcp_flags.key);
      out.raw(TCP_FLAG_JSON[event.tcpFlags & 0xff]);
      out.raw(this.interfaceParts.get(event.netns, event.ifindex, name));
    }
    out.uint(event.len);
    out.raw(this.taskPart(event));
    out.hex32(event.skb.hi);
    out.hex32(event.skb.lo);
    const pod = context.pods === undefined ? null : this.podPart(podOf(event.netns, socket, context.pods));
    const stack = this.stack(event);
    if (rule === null && socket === null && stack === NULL) {
      out.raw(pod === null ? NULL_TAIL : pod.tail);
      return;
    }
    out.byte(QUOTE);
    out.raw(FIELD.rule.key);
    if (rule === null) out.raw(NULL);
    else this.writeRule(out, rule);
    out.raw(FIELD.socket.key);
    if (event.socket === null || socket === null) out.raw(NULL);
    else this.writeSocket(out, event.socket, socket);
    out.raw(FIELD.pod.key);
    out.raw(pod === null ? NULL : pod.bytes);
    out.raw(FIELD.stack.key);
    out.raw(stack);
    out.byte(CLOSE_OBJECT);
    out.byte(NEWLINE);
  }

  /** The record as a string, without its newline (tests, one-off lines): write's bytes. */
  line(event: DropEvent, rule: NftRule | null = null): string {
    const line = written(this.lineScratch, (out) => this.write(out, event, rule));
    return Buffer.from(line.buffer, line.byteOffset, line.length - 1).toString('latin1');
  }

  /** What write puts in a buffer, as bytes of its own (a fragment to cache). */
  private bytesOf(write: (out: LineBuffer) => void): Uint8Array {
    return Uint8Array.from(written(this.fragmentScratch, write));
  }

  private writeString(out: LineBuffer, value: string | null): void {
    out.raw(value === null ? NULL : this.strings.get(value));
  }

  /** `{"ts":"2026-01-02T03:04:05.123456Z`; the head closes it. */
  private writeTime(out: LineBuffer, unixNs: number): void {
    const second = Math.floor(unixNs / 1e9);
    if (second !== this.isoSecond) {
      this.isoSecond = second;
      this.isoPrefix = ascii(`{"ts":"${new Date(second * 1000).toISOString().slice(0, 19)}.`);
    }
    out.raw(this.isoPrefix);
    out.padded(Math.floor(nsInSecond(unixNs, second) / 1e3), 6);
  }

  /** From "reason" to "daddr": the head, then the addresses, as one write. */
  private headWithAddresses(event: DropEvent): Uint8Array {
    const head = this.head(event);
    const source = this.addresses.get(event.saddr, event.family);
    const destination = this.addresses.get(event.daddr, event.family);
    const pairs = head.withAddresses;
    for (const pair of pairs) {
      if (pair.source === source && pair.destination === destination) return pair.bytes;
    }
    const bytes = this.bytesOf((out) => {
      out.raw(head.bytes);
      out.raw(source === null ? FIELD.saddr.orNull : source.saddr);
      out.raw(destination === null ? FIELD.daddr.orNull : destination.daddr);
    });
    if (pairs.length >= PAIRS_PER_HEAD) pairs.length = 0;
    pairs.push({ source, destination, bytes });
    return bytes;
  }

  private head(event: DropEvent): Head {
    const { location, reason, family, l4Proto, protocol } = event;
    const candidates = this.heads.under(location.lo & SMALL_KEY);
    if (candidates !== undefined) {
      for (const h of candidates) {
        if (h.hi === location.hi && h.reason === reason && h.family === family && h.l4Proto === l4Proto && h.protocol === protocol) return h;
      }
    }
    const { reasons, symbols } = this.context;
    const decoded = reason === null ? null : reasons.decode(reason);
    const bytes = this.bytesOf((out) => {
      out.raw(OPEN_REASON);
      this.writeString(out, decoded ? decoded.name : null);
      out.raw(FIELD.reason_code.key);
      writeNumber(out, decoded ? decoded.code : null);
      out.raw(FIELD.subsystem.key);
      this.writeString(out, decoded ? decoded.subsystem : null);
      out.raw(FIELD.location.key);
      this.writeString(out, symbols.symbolize(location));
      writeKernelAddress(out, OPEN_ADDRESS, location);
      out.raw(FIELD.family.key);
      this.writeString(out, familyName(family));
      out.raw(FIELD.proto.key);
      this.writeString(out, protocolName(l4Proto, protocol));
    });
    const head: Head = { hi: location.hi, reason, family, l4Proto, protocol, bytes, withAddresses: [] };
    this.heads.add(location.lo & SMALL_KEY, head);
    return head;
  }

  /** `[tcpFlagsNull],"netns":…,"ifindex":…,"ifname":…,"len":`: the interface part with its neighbours' keys. */
  private interfacePart(opening: Uint8Array | null, netns: number | null, ifindex: number, name: string | null): Uint8Array {
    return this.bytesOf((out) => {
      if (opening !== null) out.raw(opening);
      writeNumberField(out, FIELD.netns, netns);
      writeNumberField(out, FIELD.ifindex, ifindex === 0 ? null : ifindex);
      out.raw(FIELD.ifname.key);
      this.writeString(out, name);
      out.raw(FIELD.len.key);
    });
  }

  private taskPart(event: DropEvent): Uint8Array {
    const { pid, tid, comm } = event;
    const candidates = this.taskParts.under(tid);
    if (candidates !== undefined) {
      for (const part of candidates) {
        if (part.pid === pid && part.comm === comm) return part.bytes;
      }
    }
    const bytes = this.bytesOf((out) => {
      out.raw(FIELD.pid.key);
      out.uint(pid);
      out.raw(FIELD.tid.key);
      out.uint(tid);
      out.raw(FIELD.comm.key);
      out.raw(this.strings.get(comm));
      out.raw(OPEN_SKB); // always next: the skb's address follows the task
    });
    this.taskParts.add(tid, { pid, comm, bytes });
    return bytes;
  }

  /** The pod's JSON object, and the line's end with it; null without a pod. */
  private podPart(pod: Pod | null): PodPart | null {
    if (pod === null) return null;
    let part = this.pods.get(pod);
    if (part === undefined) {
      if (this.pods.size >= CACHE_LIMIT) this.pods.clear();
      const bytes = this.bytesOf((out) => {
        out.raw(OPEN_POD);
        this.writeString(out, pod.namespace);
        out.raw(FIELD.name.key);
        this.writeString(out, pod.name);
        out.raw(FIELD.uid.key);
        this.writeString(out, pod.uid);
        out.raw(FIELD.container.key);
        this.writeString(out, pod.container);
        out.byte(CLOSE_OBJECT);
      });
      const tail = this.bytesOf((out) => {
        out.raw(POD_TAIL_OPENING);
        out.raw(bytes);
        out.raw(POD_TAIL_CLOSING);
      });
      this.pods.set(pod, (part = { bytes, tail }));
    }
    return part;
  }

  /** The stack's frames as a JSON array; NULL without --stack or without a recorded stack. */
  private stack(event: DropEvent): Uint8Array {
    const frames = this.context.stacks;
    if (event.stackId === null || !frames) return NULL;
    let bytes = this.stacks.get(event.stackId);
    if (bytes === undefined) {
      const stack = frames.get(event.stackId);
      bytes =
        stack === null
          ? NULL
          : this.bytesOf((out) => {
              out.byte(OPEN_ARRAY);
              stack.forEach((frame, i) => {
                if (i > 0) out.byte(COMMA);
                out.raw(this.strings.get(frame));
              });
              out.byte(CLOSE_ARRAY);
            });
      this.stacks.set(event.stackId, bytes);
    }
    return bytes;
  }

  private writeSocket(out: LineBuffer, socket: DropSocket, resolved: ResolvedSocket): void {
    for (let i = 0; i < SOCKET_KEYS.length; i++) {
      out.raw(SOCKET_KEYS[i]);
      const value = SOCKET_VALUES[i](socket, resolved);
      if (value === null) out.raw(NULL);
      else if (typeof value === 'number') out.uint(value);
      else if (typeof value === 'string') out.raw(this.strings.get(value));
      else this.writeContainer(out, value);
    }
    out.byte(CLOSE_OBJECT);
  }

  private writeContainer(out: LineBuffer, container: Container): void {
    out.raw(OPEN_CONTAINER);
    this.writeString(out, container.runtime);
    out.raw(FIELD.id.key);
    this.writeString(out, container.id);
    out.raw(FIELD.pod.key);
    this.writeString(out, container.pod);
    out.byte(CLOSE_OBJECT);
  }

  private writeRule(out: LineBuffer, rule: NftRule): void {
    out.raw(OPEN_RULE);
    this.writeString(out, rule.family);
    out.raw(FIELD.table.key);
    this.writeString(out, rule.table);
    out.raw(FIELD.chain.key);
    this.writeString(out, rule.chain);
    out.raw(FIELD.handle.key);
    writeNumber(out, rule.handle);
    out.raw(FIELD.text.key);
    this.writeString(out, rule.text);
    out.raw(FIELD.verdict.key);
    this.writeString(out, rule.verdict);
    out.byte(CLOSE_OBJECT);
  }
}
