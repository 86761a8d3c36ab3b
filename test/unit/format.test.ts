import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBatch, type DropEvent } from '../../src/events/decode';
import type { FormatContext } from '../../src/output/format';
import { JsonWriter } from '../../src/output/json-writer';
import { TextWriter } from '../../src/output/text-writer';
import { protocolName, tcpFlagsText } from '../../src/events/protocols';
import { ReasonTable } from '../../src/events/reasons';
import { fixtureBytes, recordedKallsyms, recordedReasons } from './fixtures';
import { UNRESOLVED_SOCKETS, UNNAMED_INTERFACES } from './helpers';
import { JSON_KEYS } from '../json-keys';
import { contextOf, dropArbitrary } from './arbitrary-drops';
import fc from 'fast-check';

const [udp4, udp6, tcpSyn] = decodeBatch(fixtureBytes('loopback-drops.bin'));
const context: FormatContext = {
  reasons: recordedReasons(),
  symbols: recordedKallsyms(),
  sockets: UNRESOLVED_SOCKETS,
  interfaces: UNNAMED_INTERFACES,
  // 2026-01-02T03:04:05.000000Z at monotonic 0
  monotonicToUnixNs: Date.UTC(2026, 0, 2, 3, 4, 5) * 1e6,
  color: false,
};
const at = (event: DropEvent, tsNs: number): DropEvent => ({ ...event, tsNs });
// One writer of each kind per context, as a session has: their caches carry over from line to line.
const writers = new WeakMap<FormatContext, { json: JsonWriter; text: TextWriter }>();
function writersFor(ctx: FormatContext) {
  let made = writers.get(ctx);
  if (!made) writers.set(ctx, (made = { json: new JsonWriter(ctx), text: new TextWriter(ctx) }));
  return made;
}
const formatJson = (event: DropEvent, ctx: FormatContext) => writersFor(ctx).json.line(event);
const formatText = (event: DropEvent, ctx: FormatContext) => writersFor(ctx).text.line(event);
const toJsonRecord = (event: DropEvent, ctx: FormatContext) => JSON.parse(formatJson(event, ctx));

test('JSON: one object with every key, in the documented order', () => {
  const record = JSON.parse(formatJson(at(udp4, 1_234_567_891), context));
  assert.deepEqual(Object.keys(record), JSON_KEYS);
  assert.equal(record.ts, '2026-01-02T03:04:06.234567Z');
  assert.equal(record.reason, 'NO_SOCKET');
  assert.equal(record.subsystem, 'CORE');
  assert.match(record.location, /^__udp4_lib_rcv\+0x[0-9a-f]+$/);
  assert.match(record.address, /^0xffffffff[0-9a-f]{8}$/);
  assert.equal(record.family, 'ipv4');
  assert.equal(record.proto, 'udp');
  assert.equal(record.saddr, '127.0.0.1');
  assert.equal(record.dport, 9);
  assert.equal(record.tcp_flags, null);
  assert.equal(record.icmp_type, null);
  assert.equal(record.comm, 'node');
  assert.ok(!formatJson(udp4, context).includes('\n'), 'one line per drop');
});

test('JSON: unknown parts are null, never missing', () => {
  const bare: DropEvent = {
    ...udp4,
    reason: null,
    netns: null,
    family: null,
    saddr: null,
    daddr: null,
    l4Proto: null,
    ttl: null,
    sport: null,
    dport: null,
    ifindex: 0,
    protocol: 0x0806,
  };
  const record = toJsonRecord(bare, { ...context, symbols: { symbolize: () => null } });
  assert.deepEqual(Object.keys(record), JSON_KEYS);
  for (const key of ['reason', 'reason_code', 'subsystem', 'location', 'family', 'saddr', 'daddr', 'sport', 'dport', 'netns', 'ifindex', 'ifname'] as const) {
    assert.equal(record[key], null, key);
  }
  assert.equal(record.proto, 'arp');
});

test('JSON: IPv6 addresses in canonical form, TCP flags by name', () => {
  assert.equal(toJsonRecord(udp6, context).daddr, '::1');
  assert.equal(toJsonRecord(udp6, context).family, 'ipv6');
  assert.equal(toJsonRecord(tcpSyn, context).tcp_flags, 'SYN');
  assert.equal(tcpFlagsText(0x12), 'SYN|ACK');
  assert.equal(tcpFlagsText(0), 'none');
});

test('JSON: a reason the table does not know keeps its number', () => {
  const record = toJsonRecord({ ...udp4, reason: 500 }, { ...context, reasons: new ReasonTable([], []) });
  assert.equal(record.reason, 'UNKNOWN_500');
  assert.equal(record.reason_code, 500);
});

test('text: time, reason, location, protocol, flow and details on one line', () => {
  const line = formatText(at(udp4, 0), context);
  assert.ok(!line.includes('\n'));
  assert.match(line, /^\d\d:\d\d:05\.000000 NO_SOCKET +__udp4_lib_rcv\+0x[0-9a-f]+ +udp +127\.0\.0\.1:\d+ > 127\.0\.0\.1:9 +netns \d+ if 1 len 15 node\[\d+\]$/);
  assert.match(formatText(udp6, context), / \[::1\]:\d+ > \[::1\]:9 /);
  assert.match(formatText(tcpSyn, context), /tcp +127\.0\.0\.1:\d+ > 127\.0\.0\.1:19 +\[SYN\] /);
});

test('text: columns line up across drops', () => {
  const a = formatText(udp4, context);
  const b = formatText(tcpSyn, context);
  assert.equal(a.indexOf(' udp '), b.indexOf(' tcp '));
});

test('text: colors only when asked for', () => {
  assert.ok(!formatText(udp4, context).includes('\x1b['));
  assert.ok(formatText(udp4, { ...context, color: true }).includes('\x1b[31mNO_SOCKET'));
});

test('text: raw address when the location has no symbol, - when no reason', () => {
  const line = formatText({ ...udp4, reason: null }, { ...context, symbols: { symbolize: () => null } });
  assert.match(line, /^\S+ - +0xffffffff[0-9a-f]{8} /);
});

test('protocol names', () => {
  assert.equal(protocolName(58, 0x86dd), 'icmp6');
  assert.equal(protocolName(253, 0x0800), 'ip-proto-253');
  assert.equal(protocolName(null, 0x1234), '0x1234');
  assert.equal(protocolName(null, 0), null);
  // An IP packet whose protocol could not be read: unknown, not its ethertype.
  assert.equal(protocolName(null, 0x0800), null);
  assert.equal(protocolName(null, 0x86dd), null);
});

/** Names what the recorded loopback drops came in on, in their namespace only. */
const loopbackNamed = (event: DropEvent): FormatContext => ({
  ...context,
  interfaces: { name: (netns, ifindex) => (netns === event.netns && ifindex === event.ifindex ? 'lo' : null) },
});

test('JSON: ifname after ifindex, the name of (netns, ifindex), null while unknown', () => {
  assert.equal(toJsonRecord(udp4, loopbackNamed(udp4)).ifname, 'lo');
  assert.equal(toJsonRecord({ ...udp4, netns: udp4.netns! + 1 }, loopbackNamed(udp4)).ifname, null);
  assert.equal(toJsonRecord(udp4, context).ifname, null);
});

test('text: "if 1 (lo)" with a name, "if 1" without, "if -" without an interface', () => {
  assert.match(formatText(udp4, loopbackNamed(udp4)), / netns \d+ if 1 \(lo\) len 15 /);
  assert.match(formatText(udp4, context), / netns \d+ if 1 len 15 /);
  assert.match(formatText({ ...udp4, ifindex: 0 }, loopbackNamed(udp4)), / netns \d+ if - len 15 /);
});

test('JSON: cached fragments (addresses, interfaces, tasks, null runs) never carry one drop’s values into another’s line', () => {
  // Few distinct values, so that the caches are hit, missed and refilled in one run.
  const v4 = (last: number) => Uint8Array.from([10, 0, 0, last, ...new Array(12).fill(0)]);
  const names = new Map<string, string>([
    ['7/1', 'lo'],
    ['7/2', 'eth0'],
    ['8/2', 'veth-b'],
  ]);
  const named: FormatContext = { ...context, interfaces: { name: (netns, ifindex) => names.get(`${netns}/${ifindex}`) ?? null } };
  const nullable = <T>(value: fc.Arbitrary<T>) => fc.option(value, { nil: null });
  const drop = fc.record({
    netns: nullable(fc.constantFrom(7, 8, 4026531833)),
    ifindex: fc.integer({ min: 0, max: 3 }),
    saddr: nullable(fc.integer({ min: 1, max: 3 })),
    daddr: nullable(fc.integer({ min: 1, max: 3 })),
    sport: nullable(fc.constantFrom(0, 9, 53, 65535)),
    dport: nullable(fc.constantFrom(0, 9, 53, 65535)),
    icmpType: nullable(fc.nat(255)),
    icmpCode: nullable(fc.nat(255)),
    ttl: nullable(fc.nat(255)),
    tcpFlags: nullable(fc.constantFrom(0x02, 0x12, 0x04)),
    pid: fc.constantFrom(0, 1, 4242),
    tid: fc.constantFrom(0, 1, 4242, 4243),
    comm: fc.constantFrom('node', 'dig', 'swapper/1'),
  });
  fc.assert(
    fc.property(fc.array(drop, { minLength: 1, maxLength: 20 }), (drops) => {
      for (const d of drops) {
        const event: DropEvent = { ...udp4, ...d, saddr: d.saddr === null ? null : v4(d.saddr), daddr: d.daddr === null ? null : v4(d.daddr) };
        const record = toJsonRecord(event, named);
        assert.deepEqual(Object.keys(record), JSON_KEYS);
        assert.deepEqual(
          [record.saddr, record.daddr, record.sport, record.dport, record.icmp_type, record.icmp_code, record.ttl, record.tcp_flags],
          [d.saddr && `10.0.0.${d.saddr}`, d.daddr && `10.0.0.${d.daddr}`, d.sport, d.dport, d.icmpType, d.icmpCode, d.ttl, d.tcpFlags && tcpFlagsText(d.tcpFlags)],
        );
        assert.deepEqual(
          [record.netns, record.ifindex, record.ifname, record.pid, record.tid, record.comm],
          [d.netns, d.ifindex || null, names.get(`${d.netns}/${d.ifindex}`) ?? null, d.pid, d.tid, d.comm],
        );
        assert.deepEqual([record.rule, record.socket, record.stack], [null, null, null]);
      }
    }),
  );
});

test('JSON: a symbol lookup that throws leaves nothing half-written for the next line', () => {
  let readable = false;
  const kallsyms = recordedKallsyms();
  const failing: FormatContext = {
    ...context,
    symbols: {
      symbolize: (address) => {
        if (!readable) throw new Error('kallsyms unreadable');
        return kallsyms.symbolize(address);
      },
    },
  };
  // A location no earlier line has cached, so the lookup runs while the line is being written.
  const unseen: DropEvent = { ...udp4, location: { hi: 0xffffffff, lo: 0x8badf00d } };
  assert.throws(() => formatJson(unseen, failing), /kallsyms unreadable/);
  // The same writer's next line: its scratch buffers start empty again.
  readable = true;
  assert.deepEqual(Object.keys(toJsonRecord(unseen, failing)), JSON_KEYS);
  assert.match(formatJson(unseen, failing), /^\{"ts":"[^"]+","reason":"NO_SOCKET"/);
});

test('JSON: two writers in one process share no cache: each line is what its own context makes of the drop', () => {
  const stacksOf = (frame: string) => ({ get: (id: number) => [`${frame}+0x${id.toString(16)}`], load: () => {} });
  const first: FormatContext = { ...context, interfaces: { name: () => 'lo' }, stacks: stacksOf('first_frame') };
  // Another session: other reasons, symbols, names, stacks, and a clock a day apart.
  const second: FormatContext = {
    reasons: new ReasonTable([], []),
    symbols: { symbolize: () => 'second_symbol+0x0' },
    sockets: UNRESOLVED_SOCKETS,
    interfaces: { name: () => 'eth9' },
    stacks: stacksOf('second_frame'),
    monotonicToUnixNs: context.monotonicToUnixNs + 86_400e9,
    color: false,
  };
  const writers = [new JsonWriter(first), new JsonWriter(second)];
  const drops = [udp4, udp6, tcpSyn].flatMap((event) => [event, { ...event, stackId: 3 }, { ...event, tsNs: event.tsNs + 1e9, stackId: 3 }]);
  for (const event of drops) {
    // Interleaved, as two sessions' batches would be; a writer made for this one line has no cache to share.
    const lines = writers.map((writer) => writer.line(event));
    assert.deepEqual(lines, [new JsonWriter(first).line(event), new JsonWriter(second).line(event)]);
    assert.notEqual(lines[0], lines[1]);
  }
  const [one, other] = writers.map((writer) => JSON.parse(writer.line({ ...udp4, stackId: 3 })));
  assert.deepEqual([one.reason, one.ifname, one.stack], ['NO_SOCKET', 'lo', ['first_frame+0x3']]);
  assert.deepEqual([other.reason, other.location, other.ifname, other.stack], [`UNKNOWN_${udp4.reason}`, 'second_symbol+0x0', 'eth9', ['second_frame+0x3']]);
  assert.equal(Date.parse(other.ts) - Date.parse(one.ts), 86_400_000);
});

test('JSON: a writer warm from any drops writes each drop as a writer that saw none does', () => {
  // The writer's caches (heads with their address pairs, interface parts with their neighbours' keys,
  // tasks, pods) make most of a line: whatever came before, the line must be the one a cold writer makes.
  const contexts = [contextOf(false, false), contextOf(false, true)];
  const warm = contexts.map((ctx) => new JsonWriter(ctx));
  fc.assert(
    fc.property(fc.array(dropArbitrary, { minLength: 1, maxLength: 40 }), fc.nat(contexts.length - 1), (drops, which) => {
      for (const event of drops) {
        const line = warm[which].line(event);
        assert.equal(line, new JsonWriter(contexts[which]).line(event));
        assert.deepEqual(Object.keys(JSON.parse(line)), JSON_KEYS);
      }
    }),
    { numRuns: 300 },
  );
});
