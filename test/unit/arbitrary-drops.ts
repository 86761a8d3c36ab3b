// Varied drops and the contexts that name their parts, for the writers' property
// tests (text-bytes, format): names that pad and encode differently, sockets,
// owners, containers, pods, every optional field null or not.
import fc from 'fast-check';
import type { DropEvent, DropSocket, KernelAddress } from '../../src/events/decode';
import type { CgroupInfo } from '../../src/kernel/cgroups';
import type { Pod } from '../../src/kernel/pods';
import type { SocketOwner } from '../../src/kernel/socket-owners';
import type { FormatContext } from '../../src/output/format';
import { recordedKallsyms, recordedReasons } from './fixtures';

// Names that pad and encode differently: longer than their column, two bytes a character, two code units a character.
export const LOCATIONS: Array<[KernelAddress, string | null]> = [
  [{ hi: 0xffffffff, lo: 0x81000010 }, 'short+0x1'],
  [{ hi: 0xffffffff, lo: 0x81000020 }, 'a_function_name_longer_than_its_column+0x4a7'],
  [{ hi: 0xffffffff, lo: 0x81000030 }, 'fünf_ünïcödé+0x2'],
  [{ hi: 0xffffffff, lo: 0x81000040 }, 'emoji_😀_fn+0x3'],
  [{ hi: 0xffffffff, lo: 0x81000050 }, null],
  [{ hi: 0xffffffff, lo: 0x81000060 }, 'x'.repeat(32)],
];
const COMMS = ['node', 'swapper/1', 'nöde', '日本語のプロセス', 'a b', '', '😀😀😀😀😀😀😀'];
const INTERFACE_NAMES = new Map<string, string>([
  ['7/1', 'lo'],
  ['7/2', 'eth0'],
  ['8/2', 'vé-b'],
  ['8/3', '网卡0'],
]);
const OWNERS = new Map<number, SocketOwner>([
  [10, { pid: 812, comm: 'dnsmasq' }],
  [11, { pid: 9, comm: 'sérveur' }],
]);
const CONTAINER_ID = 'c'.repeat(12) + '0123456789abcdef'.repeat(3);
const CGROUPS = new Map<number, CgroupInfo>([
  [20, { path: '/system.slice/x.service', container: null }],
  [21, { path: '/kubepods/pod1/abc', container: { runtime: 'containerd', id: CONTAINER_ID, pod: 'p1' } }],
  [22, { path: '/docker/short', container: { runtime: 'docker', id: 'short', pod: null } }],
]);
const PODS: Pod[] = [
  { namespace: 'shop', name: 'cart-6f9', uid: 'u-1', container: null },
  { namespace: null, name: null, uid: '1b2c3d4e-5f60-4718-9a0b-c1d2e3f40516', container: null },
  { namespace: 'café', name: 'wëb-0', uid: 'u-3', container: CONTAINER_ID },
];

export function contextOf(color: boolean, withPods: boolean): FormatContext {
  const kallsyms = recordedKallsyms();
  const named = new Map(LOCATIONS.map(([address, name]) => [address.lo, name]));
  return {
    reasons: recordedReasons(),
    symbols: { symbolize: (address) => (named.has(address.lo) ? named.get(address.lo)! : kallsyms.symbolize(address)) },
    sockets: { owner: (inode) => OWNERS.get(inode) ?? null, cgroup: (id) => CGROUPS.get(id) ?? null },
    interfaces: { name: (netns, ifindex) => INTERFACE_NAMES.get(`${netns}/${ifindex}`) ?? null },
    pods: withPods
      ? { ofNetns: (netns) => (netns === 7 ? PODS[0] : netns === 8 ? PODS[1] : null), ofContainer: (container) => (container.id === CONTAINER_ID ? PODS[2] : null) }
      : undefined,
    // 2026-01-02T03:04:05Z at monotonic 0
    monotonicToUnixNs: Date.UTC(2026, 0, 2, 3, 4, 5) * 1e6,
    color,
  };
}

const nullable = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: null });
const address = fc.uint8Array({ minLength: 16, maxLength: 16 });
const port = fc.oneof(fc.constantFrom(0, 9, 53, 65535), fc.nat(65535));
const socketArbitrary: fc.Arbitrary<DropSocket> = fc.record({
  cookie: nullable(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n })),
  inode: nullable(fc.constantFrom(1, 10, 11)),
  cgroupId: nullable(fc.constantFrom(2, 20, 21, 22)),
  uid: fc.constantFrom(0, 1000, 4294967295),
  family: nullable(fc.constantFrom(4 as const, 6 as const)),
  localAddr: nullable(address),
  localPort: nullable(port),
  rcvbuf: fc.nat(),
  queued: fc.nat(),
  drops: fc.nat(),
});
export const dropArbitrary: fc.Arbitrary<DropEvent> = fc.record({
  // Whole and fractional nanoseconds, within a second and across days.
  tsNs: fc.oneof(fc.nat(2_000_000_000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.double({ min: 0, max: 1e15, noNaN: true })),
  location: fc.oneof(fc.constantFrom(...LOCATIONS.map(([location]) => location)), fc.record({ hi: fc.constantFrom(0xffffffff, 0), lo: fc.nat(0xffffffff) })),
  skb: fc.constant({ hi: 0xffff8881, lo: 0x2345678 }),
  reason: nullable(fc.oneof(fc.constantFrom(2, 3, 5), fc.nat(600))),
  netns: nullable(fc.constantFrom(7, 8, 4026531833)),
  ifindex: fc.integer({ min: 0, max: 3 }),
  pid: fc.constantFrom(0, 1, 4242, 4294967295),
  tid: fc.constantFrom(0, 1, 4242),
  comm: fc.constantFrom(...COMMS),
  len: fc.oneof(fc.nat(65535), fc.constant(4294967295)),
  protocol: fc.constantFrom(0x0800, 0x86dd, 0x0806, 0, 0x1234),
  family: nullable(fc.constantFrom(4 as const, 6 as const)),
  saddr: nullable(address),
  daddr: nullable(address),
  l4Proto: nullable(fc.constantFrom(1, 6, 17, 58, 132, 253)),
  ttl: nullable(fc.nat(255)),
  sport: nullable(port),
  dport: nullable(port),
  icmpType: nullable(fc.nat(255)),
  icmpCode: nullable(fc.nat(255)),
  tcpFlags: nullable(fc.nat(255)),
  rxSocket: fc.boolean(),
  socket: nullable(socketArbitrary),
  stackId: fc.constant(null),
  packet: fc.constant(null),
});
