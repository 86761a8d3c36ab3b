// What the kernel counted, decoded: the tracer's counters (struct drop_counters
// per CPU, summed here), and in summary and exporter mode the per-key drop counts
// (struct drop_key + __u64 count, summed over CPUs by the addon). The addon hands
// over whole records only: a partial one means its layout and layout.ts disagree, a DecodeError.
import type { Family } from './address';
import { checkBatch, decodeSocket, type DropSocket, type KernelAddress } from './decode';
import { COUNT_RECORD, COUNT_RECORD_SIZE, COUNTERS, COUNTERS_SIZE, DROP_KEY_SIZE, SOCKET_COUNT_RECORD, SOCKET_COUNT_RECORD_SIZE } from './layout';

/** The user's name of each counter of struct drop_counters (unwoken_bytes is the BPF program's own bookkeeping). */
const COUNTER_FIELDS = {
  seen: 'seen', // every kfree_skb the program ran for
  matched: 'matched', // passed the filter
  lost: 'lost', // the ring buffer was full
  overflow: 'overflow', // summary mode: the count map was full
  unrecordedFlows: 'unrecorded_flows', // -- CMD: flows of the command the kernel's map had no room for
  stackMissed: 'stack_missed', // --stack: a stack the stacks map could not take (full, or a bucket collision)
  packetUnread: 'packet_unread', // -w: events sent without their packet's bytes
} as const satisfies Record<string, keyof typeof COUNTERS>;

export type Counters = Record<keyof typeof COUNTER_FIELDS, number>;

const COUNTER_NAMES = Object.keys(COUNTER_FIELDS) as Array<keyof typeof COUNTER_FIELDS>;

/** The counters summed over CPUs, from the addon's per-CPU struct drop_counters; none (no CPU) is all zero. */
export function decodeCounters(perCpu: Uint8Array): Counters {
  const view = checkBatch(perCpu, COUNTERS_SIZE);
  const counters = zeroCounters();
  for (let base = 0; base < perCpu.byteLength; base += COUNTERS_SIZE) {
    for (const name of COUNTER_NAMES) {
      const at = base + COUNTERS[COUNTER_FIELDS[name]];
      counters[name] += view.getUint32(at + 4, true) * 2 ** 32 + view.getUint32(at, true);
    }
  }
  return counters;
}

export function zeroCounters(): Counters {
  return Object.fromEntries(COUNTER_NAMES.map((name) => [name, 0])) as Counters;
}

export interface DropCount {
  location: KernelAddress;
  reason: number | null;
  /** Inode of the network namespace, null when the kernel gave none. */
  netns: number | null;
  family: Family | null;
  l4Proto: number | null;
  /** The kernel stack's id (summary --stack); null without one. */
  stackId: number | null;
  count: number;
}

export function decodeCounts(records: Uint8Array, hasReason: boolean): DropCount[] {
  const view = checkBatch(records, COUNT_RECORD_SIZE);
  const counts: DropCount[] = [];
  for (let base = 0; base < records.byteLength; base += COUNT_RECORD_SIZE) {
    const family = view.getUint8(base + COUNT_RECORD.family);
    const netns = view.getUint32(base + COUNT_RECORD.netns, true);
    const stackId = view.getInt32(base + COUNT_RECORD.stack_id, true);
    counts.push({
      location: { hi: view.getUint32(base + COUNT_RECORD.location + 4, true), lo: view.getUint32(base + COUNT_RECORD.location, true) },
      reason: hasReason ? view.getUint32(base + COUNT_RECORD.reason, true) : null,
      netns: netns === 0 ? null : netns,
      family: family === 4 || family === 6 ? family : null,
      l4Proto: (family === 4 || family === 6) && view.getUint8(base + COUNT_RECORD.has_l4_proto) ? view.getUint8(base + COUNT_RECORD.l4_proto) : null,
      stackId: stackId < 0 ? null : stackId,
      count: view.getUint32(base + COUNT_RECORD.count + 4, true) * 2 ** 32 + view.getUint32(base + COUNT_RECORD.count, true),
    });
  }
  return counts;
}

/** The key bytes of the index-th record, as the kernel map holds them (decodeCounts keeps the records' order). */
export function recordKey(records: Uint8Array, index: number): Uint8Array {
  const base = index * COUNT_RECORD_SIZE;
  return records.subarray(base, base + DROP_KEY_SIZE);
}

/** Drops at one socket for one reason, with the socket as its latest drop found it. */
export interface SocketCount {
  reason: number | null;
  socket: DropSocket;
  count: number;
}

export function decodeSocketCounts(records: Uint8Array, hasReason: boolean): SocketCount[] {
  const view = checkBatch(records, SOCKET_COUNT_RECORD_SIZE);
  const counts: SocketCount[] = [];
  for (let base = 0; base < records.byteLength; base += SOCKET_COUNT_RECORD_SIZE) {
    counts.push({
      reason: hasReason ? view.getUint32(base + SOCKET_COUNT_RECORD.reason, true) : null,
      socket: decodeSocket(view, records, base + SOCKET_COUNT_RECORD.socket),
      count: Number(view.getBigUint64(base + SOCKET_COUNT_RECORD.count, true)),
    });
  }
  return counts;
}
