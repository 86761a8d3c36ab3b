// Turns a batch of raw struct drop_event records (bpf/event.h) into objects.
import { COMM_LEN, EVENT, EVENT_FLAG, EVENT_SIZE, PACKET, PACKET_LINK, PACKET_SIZE, SOCKET } from './layout';
import type { Family } from './address';

/** A kernel address, kept as two 32-bit halves: a double cannot hold 64 bits exactly. */
export interface KernelAddress {
  hi: number;
  lo: number;
}

/** The socket the drop happened at (struct drop_socket): the receiving one, else the skb's owner. */
export interface DropSocket {
  /** skc_cookie (64 bits), null until something asked the kernel for it (ss -e, SO_COOKIE, a BPF program). */
  cookie: bigint | null;
  /** As in /proc/PID/fd's "socket:[INODE]"; null for a socket without a file. */
  inode: number | null;
  /** The cgroup v2 id (inode of the cgroup's directory) the socket was created in; null unknown. */
  cgroupId: number | null;
  uid: number;
  /** 4 or 6 for an inet socket (then localAddr and localPort are set), else null. */
  family: Family | null;
  localAddr: Uint8Array | null; // 16 bytes, IPv4 in the first 4
  localPort: number | null;
  rcvbuf: number;
  queued: number;
  drops: number;
}

/** The packet's first bytes (struct drop_packet and what follows it), with -w. */
export interface DropPacket {
  /** Which header bytes starts at: the Ethernet header, or the network header (raw IP). */
  link: 'ethernet' | 'rawIp';
  /** The packet's length from that header; bytes holds at most snaplen of it. */
  wireLength: number;
  bytes: Uint8Array;
}

export interface DropEvent {
  tsNs: number; // CLOCK_MONOTONIC
  location: KernelAddress;
  skb: KernelAddress;
  reason: number | null; // null when the kernel's tracepoint has no reason
  netns: number | null;
  ifindex: number;
  pid: number;
  tid: number;
  comm: string;
  len: number;
  protocol: number; // ethertype
  family: Family | null;
  saddr: Uint8Array | null; // 16 bytes, IPv4 in the first 4
  daddr: Uint8Array | null;
  l4Proto: number | null;
  ttl: number | null;
  sport: number | null;
  dport: number | null;
  icmpType: number | null;
  icmpCode: number | null;
  tcpFlags: number | null;
  rxSocket: boolean;
  socket: DropSocket | null;
  /** The kernel stack's id in the stacks map (--stack); null when none was recorded. */
  stackId: number | null;
  /** null unless the session asked for packets and the kernel could read this one's. */
  packet: DropPacket | null;
}

/**
 * Bytes the kernel could not have written: a batch that is not whole records (of events, or of counts in
 * counts.ts), a packet flag in a record without room for the packet, or a packet longer than its record.
 * Decoding any bytes throws nothing else (test/unit/decode-properties.test.ts).
 */
export class DecodeError extends Error {}

/** A view on batch, once it is known to hold whole records (the event ring's, or the count maps' in counts.ts). */
export function checkBatch(batch: Uint8Array, recordBytes: number): DataView {
  if (batch.byteLength % recordBytes !== 0) {
    throw new DecodeError(`batch of ${batch.byteLength} bytes is not a whole number of ${recordBytes}-byte records`);
  }
  return new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
}

function blankEvent(): DropEvent {
  return {
    tsNs: 0,
    location: { hi: 0, lo: 0 },
    skb: { hi: 0, lo: 0 },
    reason: null,
    netns: null,
    ifindex: 0,
    pid: 0,
    tid: 0,
    comm: '',
    len: 0,
    protocol: 0,
    family: null,
    saddr: null,
    daddr: null,
    l4Proto: null,
    ttl: null,
    sport: null,
    dport: null,
    icmpType: null,
    icmpCode: null,
    tcpFlags: null,
    rxSocket: false,
    socket: null,
    stackId: null,
    packet: null,
  };
}

/**
 * Decodes every event of a batch into objects of their own (tests, one-off
 * reads). recordBytes: the session's record size (layout.ts recordSize()),
 * larger than an event with -w.
 */
export function decodeBatch(batch: Uint8Array, recordBytes: number = EVENT_SIZE): DropEvent[] {
  const view = checkBatch(batch, recordBytes);
  const comms = new CommNames();
  const events: DropEvent[] = [];
  for (let base = 0; base < batch.byteLength; base += recordBytes) {
    const event = decodeInto(blankEvent(), new AddressWords(), new AddressWords(), comms, view, batch, base, base + recordBytes);
    if (event.packet) event.packet.bytes = Uint8Array.from(event.packet.bytes);
    events.push(event);
  }
  return events;
}

/**
 * A session's decoder: the records' size, and the command names it has read
 * (a storm of drops comes from few tasks).
 */
export class Decoder {
  private readonly comms = new CommNames();

  /** recordBytes: the session's record size (layout.ts recordSize()), larger than an event with -w. */
  constructor(private readonly recordBytes: number = EVENT_SIZE) {}

  /**
   * Visits every event of a batch through one reused object, allocating nothing
   * per event: the hot path of a drop storm. visit must not keep the event; it
   * returns false to stop early.
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: visitors that never stop early return nothing
  forEachEvent(batch: Uint8Array, visit: (event: DropEvent) => boolean | void): void {
    const recordBytes = this.recordBytes;
    const view = checkBatch(batch, recordBytes);
    const event = blankEvent();
    const saddr = new AddressWords();
    const daddr = new AddressWords();
    for (let base = 0; base < batch.byteLength; base += recordBytes) {
      if (visit(decodeInto(event, saddr, daddr, this.comms, view, batch, base, base + recordBytes)) === false) return;
    }
  }
}

/**
 * 16 bytes that receive an address, copied as four 32-bit words: a byte loop
 * cost more than the rest of the decode. The words are read and stored in the
 * host's byte order, as every field of the record is (little-endian, as
 * everywhere in this file), so the bytes come out as the kernel wrote them.
 */
class AddressWords {
  readonly bytes = new Uint8Array(16);
  private readonly words = new Uint32Array(this.bytes.buffer);

  copy(view: DataView, offset: number): Uint8Array {
    const words = this.words;
    words[0] = view.getUint32(offset, true);
    words[1] = view.getUint32(offset + 4, true);
    words[2] = view.getUint32(offset + 8, true);
    words[3] = view.getUint32(offset + 12, true);
    return this.bytes;
  }
}

/** Fills event from the record from base to end; saddr and daddr receive copies of the addresses. */
function decodeInto(event: DropEvent, saddr: AddressWords, daddr: AddressWords, comms: CommNames, view: DataView, bytes: Uint8Array, base: number, end: number): DropEvent {
  const flags = view.getUint16(base + EVENT.flags, true);
  const l3 = (flags & EVENT_FLAG.HAS_L3) !== 0;
  const ports = (flags & EVENT_FLAG.HAS_PORTS) !== 0;
  const icmp = (flags & EVENT_FLAG.HAS_ICMP) !== 0;
  const family = view.getUint8(base + EVENT.family);
  event.tsNs = view.getUint32(base + EVENT.ts_ns + 4, true) * 2 ** 32 + view.getUint32(base + EVENT.ts_ns, true);
  readAddress(view, base + EVENT.location, event.location);
  readAddress(view, base + EVENT.skb_addr, event.skb);
  event.reason = flags & EVENT_FLAG.HAS_REASON ? view.getUint32(base + EVENT.reason, true) : null;
  event.netns = flags & EVENT_FLAG.HAS_NETNS ? view.getUint32(base + EVENT.netns, true) : null;
  event.ifindex = view.getUint32(base + EVENT.ifindex, true);
  event.pid = view.getUint32(base + EVENT.pid, true);
  event.tid = view.getUint32(base + EVENT.tid, true);
  event.comm = comms.read(view, bytes, base + EVENT.comm);
  event.len = view.getUint32(base + EVENT.len, true);
  event.protocol = view.getUint16(base + EVENT.protocol, true);
  event.family = l3 && (family === 4 || family === 6) ? family : null;
  event.saddr = l3 ? saddr.copy(view, base + EVENT.saddr) : null;
  event.daddr = l3 ? daddr.copy(view, base + EVENT.daddr) : null;
  event.l4Proto = l3 && flags & EVENT_FLAG.HAS_L4_PROTO ? view.getUint8(base + EVENT.l4_proto) : null;
  event.ttl = l3 ? view.getUint8(base + EVENT.ttl) : null;
  event.sport = ports ? view.getUint16(base + EVENT.sport, true) : null;
  event.dport = ports ? view.getUint16(base + EVENT.dport, true) : null;
  event.icmpType = icmp ? view.getUint8(base + EVENT.icmp_type) : null;
  event.icmpCode = icmp ? view.getUint8(base + EVENT.icmp_code) : null;
  event.tcpFlags = flags & EVENT_FLAG.HAS_TCP_FLAGS ? view.getUint8(base + EVENT.tcp_flags) : null;
  event.rxSocket = (flags & EVENT_FLAG.HAS_RX_SK) !== 0;
  event.socket = flags & EVENT_FLAG.HAS_SOCKET ? decodeSocket(view, bytes, base + EVENT.socket) : null;
  event.stackId = flags & EVENT_FLAG.HAS_STACK ? view.getInt32(base + EVENT.stack_id, true) : null;
  event.packet = flags & EVENT_FLAG.HAS_PACKET ? decodePacket(view, bytes, base + EVENT_SIZE, end) : null;
  return event;
}

/** A view into the batch, valid while the batch is; base to end is the record's room after the event. */
function decodePacket(view: DataView, bytes: Uint8Array, base: number, end: number): DropPacket {
  const start = base + PACKET_SIZE;
  // Not the batch's end: a packet that overran its record would swallow the next event.
  if (start > end) throw new DecodeError('a packet flag in a record without room for a packet');
  const captured = view.getUint32(base + PACKET.captured, true);
  if (start + captured > end) throw new DecodeError(`a packet of ${captured} bytes overruns its record`);
  return {
    link: view.getUint8(base + PACKET.link) === PACKET_LINK.ethernet ? 'ethernet' : 'rawIp',
    wireLength: view.getUint32(base + PACKET.wire_len, true),
    bytes: bytes.subarray(start, start + captured),
  };
}

function readU64(view: DataView, offset: number): number {
  return view.getUint32(offset + 4, true) * 2 ** 32 + view.getUint32(offset, true);
}

/** A new object per event (sockets are rare beside the drops without one, and kept by the owner lookup's callers). */
export function decodeSocket(view: DataView, bytes: Uint8Array, base: number): DropSocket {
  const family = view.getUint8(base + SOCKET.local_family);
  const inet = family === 4 || family === 6;
  const cookie = view.getBigUint64(base + SOCKET.cookie, true);
  const inode = readU64(view, base + SOCKET.inode);
  const cgroupId = readU64(view, base + SOCKET.cgroup);
  return {
    cookie: cookie === 0n ? null : cookie,
    inode: inode === 0 ? null : inode,
    cgroupId: cgroupId === 0 ? null : cgroupId,
    uid: view.getUint32(base + SOCKET.uid, true),
    family: inet ? family : null,
    // A copy: the batch's memory is reused once it has been handled.
    localAddr: inet ? Uint8Array.from(bytes.subarray(base + SOCKET.local_addr, base + SOCKET.local_addr + 16)) : null,
    localPort: inet ? view.getUint16(base + SOCKET.local_port, true) : null,
    rcvbuf: view.getUint32(base + SOCKET.rcvbuf, true),
    queued: view.getUint32(base + SOCKET.queued, true),
    drops: view.getUint32(base + SOCKET.drops, true),
  };
}

function readAddress(view: DataView, offset: number, into: KernelAddress): void {
  into.hi = view.getUint32(offset + 4, true);
  into.lo = view.getUint32(offset, true);
}

/** The comm is compared as this many 32-bit words read into locals (below): COMM_LEN's 16 bytes. */
const COMM_WORDS = 4;
if (COMM_LEN !== COMM_WORDS * 4) throw new Error(`decode.ts compares the comm as ${COMM_WORDS} words; COMM_LEN is ${COMM_LEN} bytes`);
const COMM_NAMES = 16;

/**
 * The last few command names read, by their raw bytes: a storm of drops comes
 * from few tasks, so a string is built per new name instead of per event.
 */
class CommNames {
  private readonly names: Array<{ w0: number; w1: number; w2: number; w3: number; text: string }> = [];
  private next = 0;

  read(view: DataView, bytes: Uint8Array, offset: number): string {
    // The comm's bytes as four words, compared without allocating (this runs for every event).
    const w0 = view.getUint32(offset, true);
    const w1 = view.getUint32(offset + 4, true);
    const w2 = view.getUint32(offset + 8, true);
    const w3 = view.getUint32(offset + 12, true);
    for (const name of this.names) {
      if (name.w0 === w0 && name.w1 === w1 && name.w2 === w2 && name.w3 === w3) return name.text;
    }
    let end = offset;
    while (end < offset + COMM_LEN && bytes[end] !== 0) end++;
    const text = Buffer.from(bytes.buffer, bytes.byteOffset + offset, end - offset).toString('utf8');
    this.names[this.next] = { w0, w1, w2, w3, text };
    this.next = (this.next + 1) % COMM_NAMES;
    return text;
  }
}

const HEX_BYTES = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

function hex32(value: number): string {
  return HEX_BYTES[value >>> 24] + HEX_BYTES[(value >>> 16) & 0xff] + HEX_BYTES[(value >>> 8) & 0xff] + HEX_BYTES[value & 0xff];
}

export function formatKernelAddress(address: KernelAddress): string {
  return '0x' + hex32(address.hi) + hex32(address.lo);
}
