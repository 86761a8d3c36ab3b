// The piped text line is written as bytes from cached fragments (text-writer.ts
// writeDrop). Here many varied drops go through it and through the string
// the line was built as before (referenceLine, kept below as it was), and the
// bytes must be the same: padding, colours, sockets, pods, non-ASCII names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatKernelAddress, type DropEvent, type DropSocket, type KernelAddress } from '../../src/events/decode';
import { protocolName, tcpFlagsText } from '../../src/events/protocols';
import type { CgroupInfo } from '../../src/kernel/cgroups';
import type { Pod } from '../../src/kernel/pods';
import type { SocketOwner } from '../../src/kernel/socket-owners';
import type { FormatContext } from '../../src/output/format';
import { podName, podOf } from '../../src/output/pod';
import { containerText, resolveSocket, socketName } from '../../src/output/socket';
import { interfaceText, TextWriter } from '../../src/output/text-writer';
import { AddressCache } from '../../src/output/caches';
import { LineBuffer } from '../../src/output/writer';
import { recordedKallsyms, recordedReasons } from './fixtures';

const RED = '\x1b[31m';
const CYAN = '\x1b[36m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/** The piped line as TextWriter.line built it as a string, before it was written as bytes. */
function referenceLine(event: DropEvent, context: FormatContext): string {
  const paint = (code: string, text: string) => (context.color ? `${code}${text}${RESET}` : text);
  const addresses = new AddressCache<string>((text) => text);
  const endpoint = (address: Uint8Array | null, port: number | null) => {
    const text = addresses.get(address, event.family);
    if (text === null) return '?';
    if (port === null) return text;
    return event.family === 6 ? `[${text}]:${port}` : `${text}:${port}`;
  };
  const localTime = (unixNs: number) => {
    const date = new Date(Math.floor(unixNs / 1e9) * 1000);
    const two = (n: number) => String(n).padStart(2, '0');
    const micros = String(Math.floor((unixNs % 1e9) / 1e3)).padStart(6, '0');
    return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${micros}`;
  };
  const socket = event.socket === null ? null : resolveSocket(event.socket, context.sockets);
  const reason = event.reason === null ? null : context.reasons.decode(event.reason).name;
  const location = context.symbols.symbolize(event.location) ?? formatKernelAddress(event.location);
  let flow = '';
  if (event.family !== null) flow = `${endpoint(event.saddr, event.sport)} > ${endpoint(event.daddr, event.dport)}`;
  const details: string[] = [];
  if (event.icmpType !== null) details.push(`type ${event.icmpType} code ${event.icmpCode}`);
  if (event.tcpFlags !== null) details.push(`[${tcpFlagsText(event.tcpFlags)}]`);
  details.push(`netns ${event.netns ?? '-'}`, interfaceText(event, context.interfaces), `len ${event.len}`);
  const parts = [
    localTime(event.tsNs + context.monotonicToUnixNs),
    paint(RED, (reason ?? '-').padEnd(22)),
    paint(CYAN, location.padEnd(32)),
    (protocolName(event.l4Proto, event.protocol) ?? '-').padEnd(5),
    flow.padEnd(44),
  ];
  if (socket === null || socket.owner === null) details.push(`${event.comm}[${event.pid}]`);
  parts.push(paint(DIM, details.join(' ')));
  if (event.socket !== null && socket !== null) {
    parts.push(paint(DIM, `sock ${socketName(event.socket, socket)} queued ${event.socket.queued}${containerText(socket)}`));
  }
  const pod = context.pods === undefined ? null : podOf(event.netns, socket, context.pods);
  if (pod !== null) parts.push(paint(DIM, `pod ${podName(pod)}`));
  return parts.join(' ');
}

// Names that pad and encode differently: longer than their column, two bytes a character, two code units a character.
const LOCATIONS: Array<[KernelAddress, string | null]> = [
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

function contextOf(color: boolean, withPods: boolean): FormatContext {
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
const dropArbitrary: fc.Arbitrary<DropEvent> = fc.record({
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

/** Bytes as the string path made them: the lines added to a UTF-8 buffer. */
function stringBytes(lines: string[]): Buffer {
  const out = new LineBuffer('utf8');
  for (const line of lines) out.add(line);
  return Buffer.from(out.take());
}

test('text: the piped line as bytes is the string line, byte for byte, for any drop', () => {
  // One writer per context, as a session has: its caches carry over from run to run.
  const contexts = [contextOf(false, false), contextOf(true, false), contextOf(false, true), contextOf(true, true)];
  const writers = contexts.map((context) => new TextWriter(context));
  fc.assert(
    fc.property(fc.array(dropArbitrary, { minLength: 1, maxLength: 30 }), fc.nat(contexts.length - 1), (drops, which) => {
      const context = contexts[which];
      const writer = writers[which];
      const out = new LineBuffer('utf8');
      const expected: string[] = [];
      drops.forEach((event, i) => {
        writer.write(out, event);
        expected.push(referenceLine(event, context));
        // A line that is not a drop's between them, as a hint or a frame is: added as a string.
        if (i % 7 === 3) {
          writer.writeLine(out, '    frame_ünï+0x1');
          expected.push('    frame_ünï+0x1');
        }
      });
      assert.deepEqual(Buffer.from(out.take()), stringBytes(expected));
      assert.equal(writer.line(drops[0]), referenceLine(drops[0], context), 'line() is the same line, as a string');
    }),
    { numRuns: 300 },
  );
});

test('text: the bytes carry no cached part of one drop into another drop’s line', () => {
  const context = contextOf(true, true);
  const writer = new TextWriter(context);
  const base: DropEvent = {
    tsNs: 1_999_999_999.5,
    location: LOCATIONS[2][0],
    skb: { hi: 0, lo: 0 },
    reason: 2,
    netns: 8,
    ifindex: 3,
    pid: 7,
    tid: 7,
    comm: 'nöde',
    len: 60,
    protocol: 0x86dd,
    family: 6,
    saddr: Uint8Array.from({ length: 16 }, (_, i) => i),
    daddr: Uint8Array.from({ length: 16 }, () => 0xff),
    l4Proto: 6,
    ttl: 64,
    sport: 1234,
    dport: 443,
    icmpType: null,
    icmpCode: null,
    tcpFlags: 0x12,
    rxSocket: false,
    socket: { cookie: 1n, inode: 11, cgroupId: 21, uid: 0, family: 6, localAddr: new Uint8Array(16), localPort: 443, rcvbuf: 4608, queued: 5000, drops: 1 },
    stackId: null,
    packet: null,
  };
  // Each variant changes one part the writer caches; each line is its own.
  const variants: DropEvent[] = [
    base,
    { ...base, comm: 'node', socket: null },
    { ...base, pid: 8, socket: null },
    { ...base, ifindex: 2 },
    { ...base, netns: 7, socket: null },
    { ...base, reason: 3 },
    { ...base, l4Proto: 17, tcpFlags: null },
    { ...base, family: 4, socket: { ...base.socket!, family: 4, cgroupId: 22 } },
    { ...base, tsNs: base.tsNs + 1e9 },
    base,
  ];
  for (const event of variants) assert.equal(writer.line(event), referenceLine(event, context));
  const lines = variants.map((event) => writer.line(event));
  assert.equal(new Set(lines).size, variants.length - 1, 'only the repeated drop repeats its line');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ANSI escapes are what is tested
  assert.match(lines[0], / \x1b\[2msock sérveur\[9\] \[::\]:443 rcvbuf 4608 queued 5000 container cccccccccccc\x1b\[0m \x1b\[2mpod café\/wëb-0\x1b\[0m$/);
});

test('text: an interface named after its first drops is named in the bytes from then on', () => {
  const names = new Map<string, string>();
  const context: FormatContext = { ...contextOf(false, false), interfaces: { name: (netns, ifindex) => names.get(`${netns}/${ifindex}`) ?? null } };
  const writer = new TextWriter(context);
  const event: DropEvent = { ...fc.sample(dropArbitrary, { numRuns: 1, seed: 1 })[0], netns: 8, ifindex: 3 };
  assert.match(writer.line(event), / if 3 len /);
  names.set('8/3', 'veth-ü');
  assert.equal(writer.line(event), referenceLine(event, context));
  assert.match(writer.line(event), / if 3 \(veth-ü\) len /);
});
