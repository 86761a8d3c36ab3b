// Turns a batch of raw struct drop_event records (bpf/event.h) into objects.
import { COMM_LEN, EVENT, EVENT_FLAG, EVENT_SIZE } from './layout';
import type { Family } from './address';

/** A kernel address, kept as two 32-bit halves: a double cannot hold 64 bits exactly. */
export interface KernelAddress {
  hi: number;
  lo: number;
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
}

export class DecodeError extends Error {}

/** Decodes every event in a batch. The returned addresses are views into `batch`. */
export function decodeBatch(batch: Uint8Array): DropEvent[] {
  if (batch.byteLength % EVENT_SIZE !== 0) {
    throw new DecodeError(`batch of ${batch.byteLength} bytes is not a whole number of ${EVENT_SIZE}-byte events`);
  }
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  const events: DropEvent[] = new Array(batch.byteLength / EVENT_SIZE);
  for (let i = 0; i < events.length; i++) events[i] = decodeEvent(view, batch, i * EVENT_SIZE);
  return events;
}

export function decodeEvent(view: DataView, bytes: Uint8Array, base: number): DropEvent {
  const flags = view.getUint16(base + EVENT.flags, true);
  const has = (flag: number) => (flags & flag) !== 0;
  const l3 = has(EVENT_FLAG.HAS_L3);
  const ports = has(EVENT_FLAG.HAS_PORTS);
  const icmp = has(EVENT_FLAG.HAS_ICMP);
  const family = view.getUint8(base + EVENT.family);
  return {
    tsNs: view.getUint32(base + EVENT.ts_ns + 4, true) * 2 ** 32 + view.getUint32(base + EVENT.ts_ns, true),
    location: readAddress(view, base + EVENT.location),
    skb: readAddress(view, base + EVENT.skb_addr),
    reason: has(EVENT_FLAG.HAS_REASON) ? view.getUint32(base + EVENT.reason, true) : null,
    netns: has(EVENT_FLAG.HAS_NETNS) ? view.getUint32(base + EVENT.netns, true) : null,
    ifindex: view.getUint32(base + EVENT.ifindex, true),
    pid: view.getUint32(base + EVENT.pid, true),
    tid: view.getUint32(base + EVENT.tid, true),
    comm: readCString(bytes, base + EVENT.comm, COMM_LEN),
    len: view.getUint32(base + EVENT.len, true),
    protocol: view.getUint16(base + EVENT.protocol, true),
    family: l3 && (family === 4 || family === 6) ? family : null,
    saddr: l3 ? bytes.subarray(base + EVENT.saddr, base + EVENT.saddr + 16) : null,
    daddr: l3 ? bytes.subarray(base + EVENT.daddr, base + EVENT.daddr + 16) : null,
    l4Proto: l3 ? view.getUint8(base + EVENT.l4_proto) : null,
    ttl: l3 ? view.getUint8(base + EVENT.ttl) : null,
    sport: ports ? view.getUint16(base + EVENT.sport, true) : null,
    dport: ports ? view.getUint16(base + EVENT.dport, true) : null,
    icmpType: icmp ? view.getUint8(base + EVENT.icmp_type) : null,
    icmpCode: icmp ? view.getUint8(base + EVENT.icmp_code) : null,
    tcpFlags: has(EVENT_FLAG.HAS_TCP_FLAGS) ? view.getUint8(base + EVENT.tcp_flags) : null,
    rxSocket: has(EVENT_FLAG.HAS_RX_SK),
  };
}

function readAddress(view: DataView, offset: number): KernelAddress {
  return { hi: view.getUint32(offset + 4, true), lo: view.getUint32(offset, true) };
}

function readCString(bytes: Uint8Array, offset: number, maxLength: number): string {
  let end = offset;
  while (end < offset + maxLength && bytes[end] !== 0) end++;
  return String.fromCharCode(...bytes.subarray(offset, end));
}

export function formatKernelAddress(address: KernelAddress): string {
  return `0x${address.hi.toString(16).padStart(8, '0')}${address.lo.toString(16).padStart(8, '0')}`;
}
