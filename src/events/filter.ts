// The drop filter: defined once here as a predicate over decoded events, and
// lowered to the BPF program's config so non-matching drops stay in the kernel.
// test/unit/filter.test.ts checks that both agree.
import { prefixMatches, type AddressPrefix } from './address';
import type { DropEvent } from './decode';
import { INSN_BYTES } from './expression';
import { CONFIG, CONFIG_SIZE, FEATURE, MAX_FILTER_INSNS, MAX_REASONS, MODE } from './layout';

export const PROTOCOLS = { tcp: 6, udp: 17, icmp: 1, icmp6: 58 } as const;
export type ProtocolName = keyof typeof PROTOCOLS;

export interface DropFilter {
  proto?: ProtocolName;
  port?: number;
  srcAddr?: AddressPrefix;
  dstAddr?: AddressPrefix;
  netns?: number;
  /** Only with netns: an ifindex names an interface only inside its namespace. */
  ifindex?: number;
  reasons?: number[]; // raw codes; any of them
  excludedReasons?: number[]; // raw codes; none of them, also when listed in reasons
  /** A filter expression's classic BPF program (src/events/expression.ts): run on the packet's bytes, in the kernel only. */
  program?: Buffer;
  /**
   * -- CMD: the cgroup v2 id the command runs in. The kernel alone applies it: a drop at one of the
   * command's sockets, or of a flow the command sent, which the BPF program records at the cgroup's egress.
   */
  commandCgroup?: number;
}

/**
 * The filter on a decoded event. An expression (on the packet's bytes, which events do not carry) and
 * the command filter (on flows the kernel recorded) are the kernel's alone.
 */
export function matches(filter: DropFilter, event: DropEvent): boolean {
  const reason = event.reason ?? 0;
  if (filter.reasons && filter.reasons.length > 0 && !filter.reasons.includes(reason)) return false;
  if (filter.excludedReasons?.includes(reason)) return false;
  if (filter.netns !== undefined && event.netns !== filter.netns) return false;
  if (filter.ifindex !== undefined && event.ifindex !== filter.ifindex) return false;
  if (filter.proto !== undefined && event.l4Proto !== PROTOCOLS[filter.proto]) return false;
  if (filter.port !== undefined && event.sport !== filter.port && event.dport !== filter.port) return false;
  return addressMatches(filter.srcAddr, event, event.saddr) && addressMatches(filter.dstAddr, event, event.daddr);
}

function addressMatches(want: AddressPrefix | undefined, event: DropEvent, address: Uint8Array | null): boolean {
  if (!want) return true;
  return address !== null && event.family === want.family && prefixMatches(address, want);
}

function writeReasons(config: Buffer, codes: number[], listAt: number, countAt: number, what: string): void {
  if (codes.length > MAX_REASONS) throw new RangeError(`at most ${MAX_REASONS} ${what} can be filtered on`);
  codes.forEach((code, i) => config.writeUInt32LE(code, listAt + 4 * i));
  config.writeUInt8(codes.length, countAt);
}

/** What a streamed event carries beyond the packet: each part costs the BPF program reads. */
export interface EventFeatures {
  /** The socket the drop happened at (struct drop_socket). */
  socket?: boolean;
  /** The kernel stack's id (stacks map); in count mode, part of the key. */
  stack?: boolean;
  /** The packet's first bytes, at most this many (-w --snaplen); none when absent. */
  snaplen?: number;
}

/**
 * Bytes of struct dropwhy_config for this filter. wakeupBytes: pending data that wakes the reader;
 * mode: stream every matching drop, or count them per (reason, location) in the kernel.
 */
export function lowerFilter(filter: DropFilter, wakeupBytes: number, mode: keyof typeof MODE = 'stream', features: EventFeatures = {}): Buffer {
  // The BPF program checks the ifindex only beside the namespace.
  if (filter.ifindex !== undefined && filter.netns === undefined) throw new RangeError('an ifindex filter needs a netns filter');
  const config = Buffer.alloc(CONFIG_SIZE);
  if (filter.srcAddr) {
    config.set(filter.srcAddr.bytes, CONFIG.saddr);
    config.writeUInt8(filter.srcAddr.family, CONFIG.saddr_family);
    config.writeUInt8(filter.srcAddr.prefixLength, CONFIG.saddr_prefix);
  }
  if (filter.dstAddr) {
    config.set(filter.dstAddr.bytes, CONFIG.daddr);
    config.writeUInt8(filter.dstAddr.family, CONFIG.daddr_family);
    config.writeUInt8(filter.dstAddr.prefixLength, CONFIG.daddr_prefix);
  }
  writeReasons(config, filter.reasons ?? [], CONFIG.reasons, CONFIG.reason_count, 'reasons');
  writeReasons(config, filter.excludedReasons ?? [], CONFIG.excluded_reasons, CONFIG.excluded_reason_count, 'excluded reasons');
  config.writeUInt32LE(filter.netns ?? 0, CONFIG.netns);
  config.writeUInt32LE(filter.ifindex ?? 0, CONFIG.ifindex);
  config.writeUInt32LE(wakeupBytes, CONFIG.wakeup_bytes);
  config.writeUInt16LE(filter.port ?? 0, CONFIG.port);
  config.writeUInt8(filter.proto ? PROTOCOLS[filter.proto] : 0, CONFIG.l4_proto);
  config.writeUInt8(MODE[mode], CONFIG.mode);
  const packet = features.snaplen !== undefined ? FEATURE.PACKET : 0;
  config.writeUInt32LE((features.socket ? FEATURE.SOCKET : 0) | (features.stack ? FEATURE.STACK : 0) | packet, CONFIG.features);
  config.writeUInt32LE(features.snaplen ?? 0, CONFIG.snaplen);
  config.writeBigUInt64LE(BigInt(filter.commandCgroup ?? 0), CONFIG.command_cgroup);
  if (filter.program) {
    if (filter.program.length > MAX_FILTER_INSNS * INSN_BYTES) throw new RangeError(`a filter expression runs at most ${MAX_FILTER_INSNS} instructions`);
    config.writeUInt16LE(filter.program.length / INSN_BYTES, CONFIG.filter_len);
    config.set(filter.program, CONFIG.filter_insns);
  }
  return config;
}
