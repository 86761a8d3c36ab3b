// Byte offsets of struct drop_event and struct dropwhy_config in bpf/event.h.
// test/unit/layout.test.ts parses the header and checks every number here.

export const EVENT_SIZE = 184;
export const EVENT = {
  ts_ns: 0,
  location: 8,
  skb_addr: 16,
  saddr: 24,
  daddr: 40,
  reason: 56,
  netns: 60,
  ifindex: 64,
  pid: 68,
  tid: 72,
  len: 76,
  stack_id: 80,
  protocol: 84,
  sport: 86,
  dport: 88,
  flags: 90,
  family: 92,
  l4_proto: 93,
  icmp_type: 94,
  icmp_code: 95,
  ttl: 96,
  tcp_flags: 97,
  comm: 104,
  socket: 120,
} as const;
export const COMM_LEN = 16;

/** struct drop_socket, at EVENT.socket. */
export const SOCKET = {
  cookie: 0,
  inode: 8,
  cgroup: 16,
  local_addr: 24,
  uid: 40,
  rcvbuf: 44,
  queued: 48,
  drops: 52,
  local_port: 56,
  local_family: 58,
} as const;
export const SOCKET_SIZE = 64;

export const EVENT_FLAG = {
  HAS_REASON: 1 << 0,
  HAS_L3: 1 << 1,
  HAS_PORTS: 1 << 2,
  HAS_ICMP: 1 << 3,
  HAS_TCP_FLAGS: 1 << 4,
  HAS_NETNS: 1 << 5,
  HAS_RX_SK: 1 << 6,
  HAS_L4_PROTO: 1 << 7,
  HAS_SOCKET: 1 << 8,
  HAS_STACK: 1 << 9,
  HAS_PACKET: 1 << 10,
} as const;

/** Frames per kernel stack in the stacks map (DROPWHY_STACK_DEPTH): what the addon's stackFrames returns per id. */
export const STACK_DEPTH = 64;

/** dropwhy_config.features bits. */
export const FEATURE = { SOCKET: 1 << 0, STACK: 1 << 1, PACKET: 1 << 2 } as const;

/** struct drop_packet: with FEATURE.PACKET, right after the event, then the packet's bytes. */
export const PACKET = { captured: 0, wire_len: 4, link: 8 } as const;
export const PACKET_SIZE = 16;
export const PACKET_LINK = { ethernet: 1, rawIp: 2 } as const;
export const MAX_SNAPLEN = 65535;

/** dropwhy_record_size(): the size of every ring record of a session. */
export function recordSize(features: number, snaplen: number): number {
  if (!(features & FEATURE.PACKET)) return EVENT_SIZE;
  return EVENT_SIZE + PACKET_SIZE + Math.ceil(snaplen / 8) * 8;
}

export const MAX_FILTER_INSNS = 128;
export const CONFIG_SIZE = 208 + 8 * MAX_FILTER_INSNS;
export const CONFIG = {
  saddr: 0,
  daddr: 16,
  reasons: 32,
  excluded_reasons: 96,
  netns: 160,
  ifindex: 164,
  wakeup_bytes: 168,
  port: 172,
  l4_proto: 174,
  saddr_family: 175,
  daddr_family: 176,
  saddr_prefix: 177,
  daddr_prefix: 178,
  reason_count: 179,
  excluded_reason_count: 180,
  mode: 181,
  filter_len: 182,
  filter_insns: 184,
  features: 184 + 8 * MAX_FILTER_INSNS,
  command_cgroup: 192 + 8 * MAX_FILTER_INSNS,
  snaplen: 200 + 8 * MAX_FILTER_INSNS,
} as const;
export const MODE = { stream: 0, count: 1 } as const;
export const MAX_REASONS = 16;

/** Count mode's map (summary, exporter): struct drop_key, then one __u64 count (summed over CPUs by the addon). */
export const DROP_KEY_SIZE = 24;
export const COUNT_RECORD_SIZE = DROP_KEY_SIZE + 8;
export const COUNT_RECORD = { location: 0, reason: 8, netns: 12, stack_id: 16, family: 20, l4_proto: 21, has_l4_proto: 22, count: DROP_KEY_SIZE } as const;

/** Summary's per-socket counts: struct socket_key, then struct socket_count (a drop_socket and a __u64 count). */
export const SOCKET_KEY_SIZE = 16;
export const SOCKET_COUNT_RECORD_SIZE = SOCKET_KEY_SIZE + SOCKET_SIZE + 8;
export const SOCKET_COUNT_RECORD = { inode: 0, reason: 8, socket: SOCKET_KEY_SIZE, count: SOCKET_KEY_SIZE + SOCKET_SIZE } as const;
export const MAX_SOCKET_COUNTS = 1024;
