// Summary and exporter mode: the kernel's per-key drop counts (struct drop_key
// + __u64 count, summed over CPUs by the addon), decoded. The addon hands over
// whole records only: a partial one means its layout and layout.ts disagree, a DecodeError.
import type { Family } from './address';
import { checkBatch, decodeSocket, type DropSocket, type KernelAddress } from './decode';
import { COUNT_RECORD, COUNT_RECORD_SIZE, DROP_KEY_SIZE, SOCKET_COUNT_RECORD, SOCKET_COUNT_RECORD_SIZE } from './layout';

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
