// bpf/event.h under the names the TypeScript code uses. Every number comes from
// layout.generated.ts, which scripts/gen-layout.js writes from the header's BTF
// at build time; nothing here restates an offset, a size or a constant.
import {
  drop_counters,
  drop_event,
  drop_event_flag,
  drop_key,
  drop_packet,
  drop_packet_link,
  drop_socket,
  dropwhy_config,
  dropwhy_feature,
  dropwhy_limit,
  dropwhy_mode,
  dropwhy_packet_limit,
  dropwhy_stack,
  socket_count,
  socket_key,
} from './layout.generated';

/** Bytes of a __u64: the count after each drop_key the addon appends. */
const U64_BYTES = 8;

export const EVENT_SIZE = drop_event.size;
export const EVENT = drop_event.offsets;
export const COMM_LEN = dropwhy_limit.DROPWHY_COMM_LEN;

/** struct drop_socket, at EVENT.socket. */
export const SOCKET = drop_socket.offsets;
export const SOCKET_SIZE = drop_socket.size;

export const EVENT_FLAG = {
  HAS_REASON: drop_event_flag.DROP_HAS_REASON,
  HAS_L3: drop_event_flag.DROP_HAS_L3,
  HAS_PORTS: drop_event_flag.DROP_HAS_PORTS,
  HAS_ICMP: drop_event_flag.DROP_HAS_ICMP,
  HAS_TCP_FLAGS: drop_event_flag.DROP_HAS_TCP_FLAGS,
  HAS_NETNS: drop_event_flag.DROP_HAS_NETNS,
  HAS_RX_SK: drop_event_flag.DROP_HAS_RX_SK,
  HAS_L4_PROTO: drop_event_flag.DROP_HAS_L4_PROTO,
  HAS_SOCKET: drop_event_flag.DROP_HAS_SOCKET,
  HAS_STACK: drop_event_flag.DROP_HAS_STACK,
  HAS_PACKET: drop_event_flag.DROP_HAS_PACKET,
} as const;

/** Frames per kernel stack in the stacks map (DROPWHY_STACK_DEPTH): what the addon's stackFrames returns per id. */
export const STACK_DEPTH = dropwhy_stack.DROPWHY_STACK_DEPTH;

/** dropwhy_config.features bits. */
export const FEATURE = {
  SOCKET: dropwhy_feature.DROPWHY_FEATURE_SOCKET,
  STACK: dropwhy_feature.DROPWHY_FEATURE_STACK,
  PACKET: dropwhy_feature.DROPWHY_FEATURE_PACKET,
} as const;

/** struct drop_packet: with FEATURE.PACKET, right after the event, then the packet's bytes. */
export const PACKET = drop_packet.offsets;
export const PACKET_SIZE = drop_packet.size;
export const PACKET_LINK = { ethernet: drop_packet_link.DROP_PACKET_LINK_ETHERNET, rawIp: drop_packet_link.DROP_PACKET_LINK_RAW_IP } as const;
export const MAX_SNAPLEN = dropwhy_packet_limit.DROPWHY_MAX_SNAPLEN;
const RECORD_ALIGN = dropwhy_packet_limit.DROPWHY_RECORD_ALIGN;

/** dropwhy_record_size(): the size of every ring record of a session. */
export function recordSize(features: number, snaplen: number): number {
  if (!(features & FEATURE.PACKET)) return EVENT_SIZE;
  return EVENT_SIZE + PACKET_SIZE + Math.ceil(snaplen / RECORD_ALIGN) * RECORD_ALIGN;
}

export const MAX_FILTER_INSNS = dropwhy_limit.DROPWHY_MAX_FILTER_INSNS;
export const CONFIG_SIZE = dropwhy_config.size;
export const CONFIG = dropwhy_config.offsets;
export const MODE = { stream: dropwhy_mode.DROPWHY_MODE_STREAM, count: dropwhy_mode.DROPWHY_MODE_COUNT } as const;
export const MAX_REASONS = dropwhy_limit.DROPWHY_MAX_REASONS;

/** Count mode's map (summary, exporter): struct drop_key, then one __u64 count (summed over CPUs by the addon). */
export const DROP_KEY_SIZE = drop_key.size;
export const COUNT_RECORD_SIZE = DROP_KEY_SIZE + U64_BYTES;
export const COUNT_RECORD = { ...drop_key.offsets, count: DROP_KEY_SIZE } as const;

/** Summary's per-socket counts: struct socket_key, then struct socket_count (a drop_socket and a __u64 count). */
export const SOCKET_KEY_SIZE = socket_key.size;
export const SOCKET_COUNT_RECORD_SIZE = SOCKET_KEY_SIZE + socket_count.size;
export const SOCKET_COUNT_RECORD = {
  inode: socket_key.offsets.inode,
  reason: socket_key.offsets.reason,
  socket: SOCKET_KEY_SIZE + socket_count.offsets.socket,
  count: SOCKET_KEY_SIZE + socket_count.offsets.count,
} as const;
export const MAX_SOCKET_COUNTS = dropwhy_limit.DROPWHY_MAX_SOCKET_COUNTS;

/** struct drop_counters: the tracer's counters, one per CPU as the addon's counters() and stop() return them. */
export const COUNTERS = drop_counters.offsets;
export const COUNTERS_SIZE = drop_counters.size;

/** The struct sizes an addon must have been compiled with (src/kernel/binding.ts checks them at load). */
export const STRUCT_SIZES = {
  drop_event: drop_event.size,
  drop_packet: drop_packet.size,
  drop_counters: drop_counters.size,
  drop_key: drop_key.size,
  socket_key: socket_key.size,
  socket_count: socket_count.size,
  dropwhy_config: dropwhy_config.size,
} as const;
