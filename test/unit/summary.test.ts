// Summary mode's pure parts: decoding the kernel's count records, per-interval
// deltas from cumulative counts, and the JSON and text renderings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explain } from '../../src/knowledge/advice';
import type { CounterCheck } from '../../src/knowledge/correlate';
import type { FormatContext, Symbolizer } from '../../src/output/format';
import { COUNT_RECORD, COUNT_RECORD_SIZE, DROP_KEY_SIZE, SOCKET_COUNT_RECORD_SIZE } from '../../src/events/layout';
import { decodeCounts, decodeSocketCounts, recordKey, type DropCount } from '../../src/events/counts';
import { intervalJson, intervalRows, intervalText, liveTable, totalJson, totalText, type SocketRow, type SummaryRow } from '../../src/output/summary';
import { DecodeError, type DropSocket } from '../../src/events/decode';
import { encodeCountRecords, loadReasonTable, reasonCode, UNRESOLVED_SOCKETS, UNNAMED_INTERFACES } from './helpers';
import { RuleTally } from '../../src/nft/rule-tally';

const NO_SOCKET = reasonCode('NO_SOCKET');
const SOCKET_RCVBUFF = reasonCode('SOCKET_RCVBUFF');
const NETFILTER_DROP = reasonCode('NETFILTER_DROP');
const UDP_CSUM = reasonCode('UDP_CSUM');

const UDP_RCV = { hi: 0xffffffff, lo: 0x81a0b0c0 };
const NF_HOOK = { hi: 0xffffffff, lo: 0x81c0ffee };
const NO_SYMBOL = { hi: 0xffffffff, lo: 0xdead };

/** Symbolizes every address but lo 0xdead; records what it was asked. */
function stubSymbols(): Symbolizer & { asked: number } {
  const symbols = {
    asked: 0,
    symbolize: (address: { hi: number; lo: number }) => {
      symbols.asked++;
      return address.lo === 0xdead ? null : `fn_${address.lo.toString(16)}+0x10`;
    },
  };
  return symbols;
}

function context(symbols: Symbolizer = stubSymbols()): FormatContext {
  return { reasons: loadReasonTable(), symbols, sockets: UNRESOLVED_SOCKETS, interfaces: UNNAMED_INTERFACES, monotonicToUnixNs: 0, color: false };
}

function count(spec: Partial<DropCount> & { count: number }): DropCount {
  return { location: UDP_RCV, reason: SOCKET_RCVBUFF, netns: null, family: 4, l4Proto: 17, stackId: null, ...spec };
}

function row(spec: Partial<SummaryRow>): SummaryRow {
  return {
    reason: 'SOCKET_RCVBUFF',
    reasonCode: SOCKET_RCVBUFF,
    subsystem: 'CORE',
    proto: 'udp',
    family: 4,
    location: 'udp_queue_rcv_one_skb+0x10',
    address: '0xffffffff81a0b0c0',
    count: 0,
    total: 0,
    paths: null,
    ...spec,
  };
}

// ---------------------------------------------------------------------------
// decodeCounts
// ---------------------------------------------------------------------------

test('decodeCounts: every field of a record with a reason', () => {
  const records = encodeCountRecords([
    { location: UDP_RCV, reason: SOCKET_RCVBUFF, netns: 4026531840, family: 4, l4Proto: 'udp', count: 7 },
    { location: NF_HOOK, reason: NETFILTER_DROP, family: 6, l4Proto: 'tcp', count: 1 },
  ]);
  assert.equal(records.length, 2 * COUNT_RECORD_SIZE);
  assert.deepEqual(decodeCounts(records, true), [
    { location: UDP_RCV, reason: SOCKET_RCVBUFF, netns: 4026531840, family: 4, l4Proto: 17, stackId: null, count: 7 },
    { location: NF_HOOK, reason: NETFILTER_DROP, netns: null, family: 6, l4Proto: 6, stackId: null, count: 1 },
  ]);
});

test('recordKey: the key bytes of each record, in decodeCounts order', () => {
  const records = encodeCountRecords([
    { reason: SOCKET_RCVBUFF, netns: 7, family: 4, l4Proto: 'udp', count: 7 },
    { reason: NETFILTER_DROP, netns: 9, family: 6, l4Proto: 'tcp', count: 1 },
  ]);
  const second = recordKey(records, 1);
  assert.equal(second.length, DROP_KEY_SIZE);
  assert.deepEqual(Buffer.from(second), records.subarray(COUNT_RECORD_SIZE, COUNT_RECORD_SIZE + DROP_KEY_SIZE));
  assert.equal(Buffer.from(second).readUInt32LE(COUNT_RECORD.netns), 9);
});

test('decodeCounts: without a reason field the reason is null whatever the bytes say', () => {
  const records = encodeCountRecords([{ reason: 99, family: 4, l4Proto: 'udp', count: 3 }]);
  const [decoded] = decodeCounts(records, false);
  assert.equal(decoded.reason, null);
  assert.equal(decoded.family, 4);
  assert.equal(decoded.l4Proto, 17);
  assert.equal(decoded.count, 3);
});

test('decodeCounts: family 0 (no IP header) has neither family nor protocol', () => {
  const records = encodeCountRecords([{ reason: NO_SOCKET, family: 0, l4Proto: 17, count: 2 }]);
  const [decoded] = decodeCounts(records, true);
  assert.equal(decoded.family, null);
  assert.equal(decoded.l4Proto, null, 'a stray l4_proto byte is not trusted without an L3 header');
  assert.equal(decoded.reason, NO_SOCKET);
});

test('decodeCounts: an unexpected family byte is treated like 0', () => {
  const records = encodeCountRecords([{ family: 4, l4Proto: 'udp', count: 1 }]);
  records.writeUInt8(5, COUNT_RECORD.family);
  const [decoded] = decodeCounts(records, true);
  assert.equal(decoded.family, null);
  assert.equal(decoded.l4Proto, null);
});

test('decodeCounts: a key without a known L4 protocol has none', () => {
  const [known, unknown] = decodeCounts(
    encodeCountRecords([
      { family: 6, l4Proto: 'udp', count: 1 },
      { family: 6, count: 2 },
    ]),
    true,
  );
  assert.equal(known.l4Proto, 17);
  assert.equal(unknown.family, 6);
  assert.equal(unknown.l4Proto, null);
});

test('decodeCounts: counts above 2^32 keep their high word', () => {
  const big = 2 ** 32 + 5;
  const bigger = 3 * 2 ** 40 + 2 ** 31 + 1; // still below 2^53: exact as a number
  const decoded = decodeCounts(
    encodeCountRecords([
      { family: 4, l4Proto: 'udp', count: big },
      { family: 4, l4Proto: 'udp', count: BigInt(bigger) },
      { family: 4, l4Proto: 'udp', count: 0xffffffff },
    ]),
    true,
  );
  assert.deepEqual(
    decoded.map((c) => c.count),
    [big, bigger, 0xffffffff],
  );
});

test('decodeCounts: reads from a view at an offset', () => {
  const records = encodeCountRecords([
    { location: UDP_RCV, reason: NO_SOCKET, family: 4, l4Proto: 'udp', count: 11 },
    { location: NF_HOOK, reason: NETFILTER_DROP, family: 6, l4Proto: 'icmp6', count: 12 },
  ]);
  const padded = Buffer.alloc(8 + records.length + 10, 0xaa);
  records.copy(padded, 8);
  const view = padded.subarray(8, 8 + records.length); // byteOffset 8, stray bytes either side
  const decoded = decodeCounts(view, true);
  assert.equal(decoded.length, 2);
  assert.deepEqual(decoded[0], { location: UDP_RCV, reason: NO_SOCKET, netns: null, family: 4, l4Proto: 17, stackId: null, count: 11 });
  assert.deepEqual(decoded[1], { location: NF_HOOK, reason: NETFILTER_DROP, netns: null, family: 6, l4Proto: 58, stackId: null, count: 12 });
  assert.deepEqual(decodeCounts(Buffer.alloc(0), true), []);
});

/** DecodeError with the message checkBatch gives for byteLength bytes of recordBytes-byte records. */
const partialRecord = (byteLength: number, recordBytes: number) => (error: unknown) =>
  error instanceof DecodeError && error.message === `batch of ${byteLength} bytes is not a whole number of ${recordBytes}-byte records`;

test('decodeCounts: a partial record at the end is a DecodeError, not dropped', () => {
  const odd = Buffer.concat([encodeCountRecords([{ family: 4, l4Proto: 'udp', count: 1 }]), Buffer.alloc(10)]);
  assert.throws(() => decodeCounts(odd, true), partialRecord(COUNT_RECORD_SIZE + 10, COUNT_RECORD_SIZE));
  assert.throws(() => decodeCounts(Buffer.alloc(COUNT_RECORD_SIZE - 1), true), partialRecord(COUNT_RECORD_SIZE - 1, COUNT_RECORD_SIZE));
});

test('decodeSocketCounts: a partial record is a DecodeError', () => {
  assert.deepEqual(decodeSocketCounts(Buffer.alloc(0), true), []);
  assert.throws(() => decodeSocketCounts(Buffer.alloc(SOCKET_COUNT_RECORD_SIZE + 1), true), partialRecord(SOCKET_COUNT_RECORD_SIZE + 1, SOCKET_COUNT_RECORD_SIZE));
});

// ---------------------------------------------------------------------------
// intervalRows
// ---------------------------------------------------------------------------

test('intervalRows: names, subsystem, protocol, family, location and address of each key', () => {
  const symbols = stubSymbols();
  const rows = intervalRows(
    [
      count({ location: UDP_RCV, reason: SOCKET_RCVBUFF, family: 4, l4Proto: 17, count: 5 }),
      count({ location: NO_SYMBOL, reason: null, family: null, l4Proto: null, count: 4 }),
      count({ location: NF_HOOK, reason: (2 << 16) | 5, family: 6, l4Proto: 6, count: 3 }),
      count({ location: NF_HOOK, reason: 60000, family: 6, l4Proto: 132, count: 2 }),
    ],
    new Map(),
    context(symbols),
  );
  assert.deepEqual(rows, [
    {
      reason: 'SOCKET_RCVBUFF',
      reasonCode: SOCKET_RCVBUFF,
      subsystem: 'CORE',
      proto: 'udp',
      family: 4,
      location: 'fn_81a0b0c0+0x10',
      address: '0xffffffff81a0b0c0',
      count: 5,
      total: 5,
      paths: null,
    },
    {
      reason: null,
      reasonCode: null,
      subsystem: null,
      proto: null,
      family: null,
      location: null,
      address: '0xffffffff0000dead',
      count: 4,
      total: 4,
      paths: null,
    },
    {
      reason: 'OPENVSWITCH:0x5',
      reasonCode: (2 << 16) | 5,
      subsystem: 'OPENVSWITCH',
      proto: 'tcp',
      family: 6,
      location: 'fn_81c0ffee+0x10',
      address: '0xffffffff81c0ffee',
      count: 3,
      total: 3,
      paths: null,
    },
    {
      reason: 'UNKNOWN_60000',
      reasonCode: 60000,
      subsystem: 'CORE',
      proto: 'sctp',
      family: 6,
      location: 'fn_81c0ffee+0x10',
      address: '0xffffffff81c0ffee',
      count: 2,
      total: 2,
      paths: null,
    },
  ]);
  assert.equal(symbols.asked, 4);
});

test('intervalRows: one row for a key counted in several namespaces, their counts added', () => {
  const previous = new Map<string, number>();
  const rows = intervalRows([count({ netns: 11, count: 4 }), count({ netns: 12, count: 5 }), count({ reason: NO_SOCKET, netns: 11, count: 1 })], previous, context());
  assert.deepEqual(
    rows.map((r) => [r.reason, r.count, r.total]),
    [
      ['SOCKET_RCVBUFF', 9, 9],
      ['NO_SOCKET', 1, 1],
    ],
  );
  const next = intervalRows([count({ netns: 11, count: 6 }), count({ netns: 12, count: 5 }), count({ reason: NO_SOCKET, netns: 11, count: 1 })], previous, context());
  assert.deepEqual(
    next.map((r) => r.count),
    [2, 0],
  );
});

test('intervalRows: per-interval deltas from cumulative counts, across calls sharing `previous`', () => {
  const previous = new Map<string, number>();
  const ctx = context();
  const a = { location: UDP_RCV, reason: SOCKET_RCVBUFF, netns: null, family: 4 as const, l4Proto: 17, stackId: null };
  const b = { location: NF_HOOK, reason: NETFILTER_DROP, netns: null, family: 4 as const, l4Proto: 6, stackId: null };
  const c = { location: UDP_RCV, reason: NO_SOCKET, netns: null, family: 6 as const, l4Proto: 17, stackId: null };

  const first = intervalRows(
    [
      { ...a, count: 5 },
      { ...b, count: 3 },
    ],
    previous,
    ctx,
  );
  assert.deepEqual(
    first.map((r) => [r.reason, r.count, r.total]),
    [
      ['SOCKET_RCVBUFF', 5, 5],
      ['NETFILTER_DROP', 3, 3],
    ],
  );
  assert.equal(previous.size, 2);

  const second = intervalRows(
    [
      { ...a, count: 7 },
      { ...b, count: 10 },
      { ...c, count: 1 },
    ],
    previous,
    ctx,
  );
  assert.deepEqual(
    second.map((r) => [r.reason, r.count, r.total]),
    [
      ['NETFILTER_DROP', 7, 10],
      ['SOCKET_RCVBUFF', 2, 7],
      ['NO_SOCKET', 1, 1],
    ],
  );

  const third = intervalRows(
    [
      { ...a, count: 7 },
      { ...b, count: 10 },
      { ...c, count: 1 },
    ],
    previous,
    ctx,
  );
  assert.deepEqual(
    third.map((r) => r.count),
    [0, 0, 0],
    'nothing new: every delta is 0',
  );
  assert.deepEqual(
    third.map((r) => r.reason),
    ['NETFILTER_DROP', 'SOCKET_RCVBUFF', 'NO_SOCKET'],
    'equal counts: the larger total first',
  );
});

test('intervalRows: keys differing only in family, protocol or location are kept apart', () => {
  const previous = new Map<string, number>();
  const ctx = context();
  intervalRows(
    [
      count({ family: 4, l4Proto: 17, count: 1 }),
      count({ family: 6, l4Proto: 17, count: 1 }),
      count({ family: 4, l4Proto: 6, count: 1 }),
      count({ location: NF_HOOK, count: 1 }),
    ],
    previous,
    ctx,
  );
  assert.equal(previous.size, 4);
  const rows = intervalRows(
    [
      count({ family: 4, l4Proto: 17, count: 4 }),
      count({ family: 6, l4Proto: 17, count: 3 }),
      count({ family: 4, l4Proto: 6, count: 2 }),
      count({ location: NF_HOOK, count: 1 }),
    ],
    previous,
    ctx,
  );
  assert.deepEqual(
    rows.map((r) => [r.family, r.proto, r.address, r.count]),
    [
      [4, 'udp', '0xffffffff81a0b0c0', 3],
      [6, 'udp', '0xffffffff81a0b0c0', 2],
      [4, 'tcp', '0xffffffff81a0b0c0', 1],
      [4, 'udp', '0xffffffff81c0ffee', 0],
    ],
  );
});

test('intervalRows: equal interval counts sort by total, largest first', () => {
  const previous = new Map<string, number>([[`${UDP_RCV.hi}:${UDP_RCV.lo}/${NO_SOCKET}/4/17`, 100]]);
  const rows = intervalRows(
    [
      count({ reason: SOCKET_RCVBUFF, count: 4 }), // 4 new, total 4
      count({ reason: NO_SOCKET, count: 104 }), // 4 new, total 104
      count({ reason: UDP_CSUM, count: 9 }), // 9 new
    ],
    previous,
    context(),
  );
  assert.deepEqual(
    rows.map((r) => [r.reason, r.count, r.total]),
    [
      ['UDP_CSUM', 9, 9],
      ['NO_SOCKET', 4, 104],
      ['SOCKET_RCVBUFF', 4, 4],
    ],
  );
});

// ---------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------

test('intervalJson: type "interval", timestamp, interval, and only the keys that moved', () => {
  const at = new Date('2024-05-06T07:08:09.123Z');
  const json = intervalJson(
    [
      row({ count: 5, total: 12 }),
      row({ reason: 'NO_SOCKET', reasonCode: NO_SOCKET, count: 0, total: 30 }),
      row({ reason: null, reasonCode: null, subsystem: null, proto: null, family: null, location: null, address: '0xffffffff0000dead', count: 2, total: 2 }),
      row({ reason: 'NETFILTER_DROP', reasonCode: NETFILTER_DROP, proto: 'tcp', family: 6, count: 1, total: 1 }),
    ],
    0.5,
    at,
  );
  assert.deepEqual(json, {
    type: 'interval',
    ts: '2024-05-06T07:08:09.123Z',
    interval_s: 0.5,
    drops: [
      {
        reason: 'SOCKET_RCVBUFF',
        reason_code: SOCKET_RCVBUFF,
        subsystem: 'CORE',
        proto: 'udp',
        family: 'ipv4',
        location: 'udp_queue_rcv_one_skb+0x10',
        address: '0xffffffff81a0b0c0',
        count: 5,
      },
      { reason: null, reason_code: null, subsystem: null, proto: null, family: null, location: null, address: '0xffffffff0000dead', count: 2 },
      {
        reason: 'NETFILTER_DROP',
        reason_code: NETFILTER_DROP,
        subsystem: 'CORE',
        proto: 'tcp',
        family: 'ipv6',
        location: 'udp_queue_rcv_one_skb+0x10',
        address: '0xffffffff81a0b0c0',
        count: 1,
      },
    ],
  });
  for (const drop of json.drops) {
    assert.deepEqual(Object.keys(drop), ['reason', 'reason_code', 'subsystem', 'proto', 'family', 'location', 'address', 'count']);
  }
  assert.deepEqual(intervalJson([row({ count: 0, total: 9 })], 1, at).drops, [], 'a quiet interval has no drops');
});

test('totalJson: type "total", drops by total, counters, and the correlation with verdicts', () => {
  const checks: CounterCheck[] = [
    { counter: 'Udp RcvbufErrors', delta: 12, traced: 12, reasons: ['SOCKET_RCVBUFF'] },
    { counter: 'Udp InErrors', delta: 15, traced: 12, reasons: ['SOCKET_RCVBUFF'] },
    { counter: 'Udp NoPorts', delta: 1, traced: 3, reasons: ['NO_SOCKET'] },
    { counter: 'Ip InHdrErrors', delta: 7, traced: 5, reasons: ['IP_INHDR'] },
  ];
  const json = totalJson(
    [
      row({ count: 5, total: 12 }),
      row({ reason: 'NO_SOCKET', reasonCode: NO_SOCKET, count: 0, total: 30 }),
      row({ reason: 'NETFILTER_DROP', reasonCode: NETFILTER_DROP, count: 1, total: 1 }),
    ],
    2.5,
    { seen: 100, matched: 43, lost: 0, overflow: 2 },
    [
      { name: 'Udp RcvbufErrors', delta: 12 },
      { name: 'Ip InReceives', delta: 250 },
    ],
    checks,
  );
  assert.equal(json.type, 'total');
  assert.equal(json.duration_s, 2.5);
  assert.equal(json.seen, 100);
  assert.equal(json.matched, 43);
  assert.equal(json.overflow, 2);
  assert.deepEqual(
    json.drops.map((d) => [d.reason, d.count]),
    [
      ['NO_SOCKET', 30],
      ['SOCKET_RCVBUFF', 12],
      ['NETFILTER_DROP', 1],
    ],
    'sorted by total; count is the total',
  );
  assert.deepEqual(Object.keys(json.drops[0]), ['reason', 'reason_code', 'subsystem', 'proto', 'family', 'location', 'address', 'count', 'stacks']);
  assert.equal(json.drops[0].stacks, null, 'no call paths without --stack');
  assert.deepEqual(json.counters, [
    { name: 'Udp RcvbufErrors', delta: 12 },
    { name: 'Ip InReceives', delta: 250 },
  ]);
  // 2 drops overflowed: a counter higher by up to 2 agrees, counting them (`uncounted`).
  assert.deepEqual(json.correlation, [
    { counter: 'Udp RcvbufErrors', delta: 12, traced: 12, reasons: ['SOCKET_RCVBUFF'], uncounted: 0, verdict: 'agree' },
    { counter: 'Udp InErrors', delta: 15, traced: 12, reasons: ['SOCKET_RCVBUFF'], uncounted: 0, verdict: 'differ by 3 (the counter is higher)' },
    { counter: 'Udp NoPorts', delta: 1, traced: 3, reasons: ['NO_SOCKET'], uncounted: 0, verdict: 'differ by 2 (more were traced)' },
    { counter: 'Ip InHdrErrors', delta: 7, traced: 5, reasons: ['IP_INHDR'], uncounted: 2, verdict: 'agree' },
  ]);
  // Round trip through JSON: nothing is lost or undefined.
  assert.deepEqual(JSON.parse(JSON.stringify(json)), json);
});

test('totalJson: unreadable counters are null, with no correlation', () => {
  const json = totalJson([row({ count: 1, total: 1 })], 1, { seen: 1, matched: 1, lost: 0, overflow: 0 }, null, []);
  assert.equal(json.counters, null);
  assert.deepEqual(json.correlation, []);
});

// ---------------------------------------------------------------------------
// Text
// ---------------------------------------------------------------------------

test('intervalText: a heading with the total, then `N drops  REASON  proto  location (address)` rows', () => {
  const at = new Date(2024, 4, 6, 7, 8, 9);
  const text = intervalText(
    [
      row({ count: 1234, total: 5000 }),
      row({ reason: 'NO_SOCKET', reasonCode: NO_SOCKET, count: 0, total: 7 }),
      row({ reason: null, proto: null, location: null, address: '0xffffffff0000dead', count: 3, total: 3 }),
    ],
    at,
    null,
  );
  assert.equal(
    text,
    '--- 07:08:09: 1237 drops ---\n' +
      '     1234 drops  SOCKET_RCVBUFF         udp   udp_queue_rcv_one_skb+0x10 (0xffffffff81a0b0c0)\n' +
      '        3 drops  -                      -     0xffffffff0000dead\n',
  );
  assert.ok(!text.includes('NO_SOCKET'), 'keys that did not move this interval are left out');
  assert.ok(!text.includes('hint:'), 'no hints when hinted is null');
});

test('intervalText: a hint after the first row of each reason, once per reason across intervals', () => {
  const hinted = new Set<string>();
  const at = new Date();
  const rows = [
    row({ count: 5, total: 5 }),
    row({ location: 'other_fn+0x4', address: '0xffffffff81000004', count: 2, total: 2 }), // same reason, another place
    row({ reason: 'NO_SOCKET', reasonCode: NO_SOCKET, count: 1, total: 1 }),
  ];
  const first = intervalText(rows, at, hinted).split('\n');
  const rcvbufHint = `  hint: SOCKET_RCVBUFF: ${explain('SOCKET_RCVBUFF').advice.summary} (dropwhy explain SOCKET_RCVBUFF)`;
  const noSocketHint = `  hint: NO_SOCKET: ${explain('NO_SOCKET').advice.summary} (dropwhy explain NO_SOCKET)`;
  assert.equal(first.filter((l) => l === rcvbufHint).length, 1);
  assert.equal(first.filter((l) => l === noSocketHint).length, 1);
  assert.equal(first.indexOf(rcvbufHint), 2, 'right after the first SOCKET_RCVBUFF row');
  assert.equal(first[first.indexOf(noSocketHint) - 1].includes('NO_SOCKET'), true);
  assert.deepEqual([...hinted].sort(), ['NO_SOCKET', 'SOCKET_RCVBUFF']);

  const second = intervalText(rows, at, hinted);
  assert.ok(!second.includes('hint:'), `hinted again: ${second}`);
  assert.equal(second.split('\n').filter((l) => /^ +\d+ drops? +[A-Z]/.test(l)).length, 3);
});

test('intervalText: rows without a reason get no hint', () => {
  const hinted = new Set<string>();
  const text = intervalText([row({ reason: null, count: 1, total: 1 })], new Date(), hinted);
  assert.ok(!text.includes('hint:'));
  assert.equal(hinted.size, 0);
});

test('liveTable: clears the screen, a header, and a rate per second of each key', () => {
  const text = liveTable(
    [row({ count: 50, total: 500 }), row({ reason: 'NO_SOCKET', reasonCode: NO_SOCKET, location: null, address: '0xffffffff0000dead', count: 0, total: 7 })],
    3.4,
    0.5,
    507,
  );
  assert.ok(text.startsWith('\x1b[H\x1b[2J'), JSON.stringify(text.slice(0, 10)));
  const lines = text.slice('\x1b[H\x1b[2J'.length).split('\n');
  assert.equal(lines[0], 'dropwhy summary: 3s, 507 drops matched   (Ctrl-C to stop)');
  assert.equal(lines[1], '');
  assert.match(lines[2], /^\s+RATE\/s\s+TOTAL  REASON\s+PROTO LOCATION$/);
  assert.match(lines[3], /^\s+100\s+500  SOCKET_RCVBUFF\s+udp\s+udp_queue_rcv_one_skb\+0x10$/, 'rate = 50 drops / 0.5 s');
  assert.match(lines[4], /^\s+0\s+7  NO_SOCKET\s+udp\s+0xffffffff0000dead$/, 'keys without a symbol show the address');
  assert.equal(lines[5], '');
  assert.equal(lines.length, 6);
  // Columns line up: the header's TOTAL ends where the totals end.
  assert.equal(lines[2].indexOf('TOTAL') + 'TOTAL'.length, lines[3].indexOf('500') + '500'.length);
});

test('liveTable: the rate follows the interval length', () => {
  const oneSecond = liveTable([row({ count: 30, total: 30 })], 1, 1, 30);
  const twoSeconds = liveTable([row({ count: 30, total: 30 })], 2, 2, 30);
  assert.match(oneSecond.split('\n')[3], /^\s+30\s+30 /);
  assert.match(twoSeconds.split('\n')[3], /^\s+15\s+30 /);
});

test('totalText: totals by size, the correlation lines, and per reason its advice', () => {
  const rows = [
    row({ count: 1, total: 12 }),
    row({ reason: 'NO_SOCKET', reasonCode: NO_SOCKET, count: 0, total: 30 }),
    row({ location: 'other_fn+0x4', address: '0xffffffff81000004', count: 0, total: 3 }),
  ];
  const checks: CounterCheck[] = [
    { counter: 'Udp RcvbufErrors', delta: 15, traced: 15, reasons: ['SOCKET_RCVBUFF'] },
    { counter: 'Udp NoPorts', delta: 31, traced: 30, reasons: ['NO_SOCKET'] },
  ];
  const deltas = [
    { name: 'Udp RcvbufErrors', delta: 15 },
    { name: 'Udp NoPorts', delta: 31 },
    { name: 'Ip InDiscards', delta: 4 },
  ];
  const lines = totalText(rows, 2.25, deltas, checks, false, 0).split('\n');
  assert.equal(lines[0], '=== total over 2.3s: 45 drops ===');
  assert.match(lines[1], /^\s+30 drops  NO_SOCKET\s+udp\s+udp_queue_rcv_one_skb\+0x10 \(0xffffffff81a0b0c0\)$/);
  assert.match(lines[2], /^\s+12 drops  SOCKET_RCVBUFF /);
  assert.match(lines[3], /^\s+3 drops  SOCKET_RCVBUFF\s+udp\s+other_fn\+0x4 \(0xffffffff81000004\)$/);
  assert.equal(lines[4], '  Udp RcvbufErrors +15 vs 15 SOCKET_RCVBUFF traced: agree');
  assert.equal(lines[5], '  Udp NoPorts +31 vs 30 NO_SOCKET traced: differ by 1 (the counter is higher)');
  assert.equal(lines[6], '  other counters: Ip InDiscards +4');
  const noSocket = explain('NO_SOCKET').advice;
  const rcvbuf = explain('SOCKET_RCVBUFF').advice;
  assert.deepEqual(lines.slice(7), [
    `  NO_SOCKET: ${noSocket.summary}`,
    `    try: ${noSocket.checks[0]}`,
    `  SOCKET_RCVBUFF: ${rcvbuf.summary}`,
    `    try: ${rcvbuf.checks[0]}`,
    '',
  ]);
  assert.equal(lines.filter((l) => l.startsWith('  SOCKET_RCVBUFF:')).length, 1, 'advice once per reason');
});

test('totalText: the whole-host note only when traced everywhere and something differs', () => {
  const rows = [row({ reason: 'NO_SOCKET', reasonCode: NO_SOCKET, count: 0, total: 2 })];
  const differs: CounterCheck[] = [{ counter: 'Udp NoPorts', delta: 1, traced: 2, reasons: ['NO_SOCKET'] }];
  const deltas = [{ name: 'Udp NoPorts', delta: 1 }];
  assert.match(totalText(rows, 1, deltas, differs, true, 0), /--filter-netns for an exact comparison/);
  assert.doesNotMatch(totalText(rows, 1, deltas, differs, false, 0), /--filter-netns/);
});

test('totalText: a counter higher by no more than the overflow agrees, counting the uncounted drops', () => {
  const rows = [row({ count: 0, total: 5 })];
  const checks: CounterCheck[] = [
    { counter: 'Udp RcvbufErrors', delta: 5, traced: 5, reasons: ['SOCKET_RCVBUFF'] },
    { counter: 'Udp InErrors', delta: 8, traced: 5, reasons: ['SOCKET_RCVBUFF'] },
  ];
  const deltas = [
    { name: 'Udp RcvbufErrors', delta: 5 },
    { name: 'Udp InErrors', delta: 8 },
    { name: 'Udp InCsumErrors', delta: 3 },
  ];
  const correlation = (overflow: number) =>
    totalText(rows, 1, deltas, checks, true, overflow)
      .split('\n')
      .filter((l) => l.includes('traced:') || l.includes('--filter-netns'));
  assert.deepEqual(correlation(3), ['  Udp RcvbufErrors +5 vs 5 SOCKET_RCVBUFF traced: agree', '  Udp InErrors +8 vs 5 SOCKET_RCVBUFF traced: agree, counting 3 uncounted']);
  assert.deepEqual(correlation(4), [
    '  Udp RcvbufErrors +5 vs 5 SOCKET_RCVBUFF traced: agree',
    '  Udp InErrors +8 vs 5 SOCKET_RCVBUFF traced: agree, counting 3 of 4 uncounted',
  ]);
  assert.deepEqual(correlation(2), [
    '  Udp RcvbufErrors +5 vs 5 SOCKET_RCVBUFF traced: agree',
    '  Udp InErrors +8 vs 5 SOCKET_RCVBUFF traced: differ by 3 (the counter is higher)',
    "  (the counters are dropwhy's own network namespace's, the drops were traced in all: use --filter-netns for an exact comparison)",
  ]);
});

test('totalText: without counters there is no correlation, and reason-less rows get no advice', () => {
  const text = totalText([row({ reason: null, proto: null, count: 0, total: 9 })], 1, null, [], true, 0);
  assert.deepEqual(text.split('\n'), [
    '=== total over 1.0s: 9 drops ===',
    '        9 drops  -                      -     udp_queue_rcv_one_skb+0x10 (0xffffffff81a0b0c0)',
    '',
  ]);
  assert.equal(totalText([], 0.04, null, [], true, 0), '=== total over 0.0s: 0 drops ===\n');
});

test('totals with --nft-trace: NETFILTER_DROP per rule, most first, in JSON and text; null and nothing without it', () => {
  const tally = new RuleTally();
  const rule = (handle: number | null, text: string) => ({ id: 'x', packet: null, rule: { family: 'inet', table: 'fw', chain: 'input', handle, text, verdict: 'drop' } });
  tally.add(rule(3, 'udp dport 123 counter drop'));
  tally.add(rule(null, 'policy drop'));
  tally.add(rule(null, 'policy drop'));
  const rows = [row({ reason: 'NETFILTER_DROP', reasonCode: NETFILTER_DROP, count: 3, total: 3 })];
  const counters = { seen: 3, matched: 3, lost: 0, overflow: 0, unrecordedFlows: 0, packetUnread: 0 };
  assert.deepEqual(totalJson(rows, 1, counters, null, [], tally.rows).rules, [
    { family: 'inet', table: 'fw', chain: 'input', handle: null, text: 'policy drop', verdict: 'drop', count: 2 },
    { family: 'inet', table: 'fw', chain: 'input', handle: 3, text: 'udp dport 123 counter drop', verdict: 'drop', count: 1 },
  ]);
  assert.equal(totalJson(rows, 1, counters, null, []).rules, null);
  const lines = totalText(rows, 1, null, [], false, 0, tally.rows).split('\n');
  assert.deepEqual(lines.slice(2, 5), [
    '  NETFILTER_DROP by rule (nftables trace):',
    '        2 drops  inet fw input policy drop',
    '        1 drop   inet fw input handle 3: udp dport 123 counter drop',
  ]);
  assert.equal(totalText(rows, 1, null, [], false, 0).includes('by rule'), false);
});

test('totalText: sockets at a reason not about their buffer are named without buffer advice, in JSON too', () => {
  const socket: DropSocket = {
    cookie: null,
    inode: 41,
    cgroupId: null,
    uid: 0,
    family: 4,
    localAddr: new Uint8Array([198, 18, 1, 1, ...new Array(12).fill(0)]),
    localPort: 40100,
    rcvbuf: 131072,
    queued: 0,
    drops: 0,
  };
  const sockets: SocketRow[] = [{ reason: 'NETFILTER_DROP', count: 2, socket, resolved: { owner: { pid: 90, comm: 'curl' }, cgroup: null }, pod: null }];
  const rows = [row({ reason: 'NETFILTER_DROP', reasonCode: NETFILTER_DROP, count: 2, total: 2 })];
  const lines = totalText(rows, 1, null, [], true, 0, null, sockets).split('\n');
  const advice = lines.indexOf(`  NETFILTER_DROP: ${explain('NETFILTER_DROP').advice.summary}`);
  assert.equal(lines[advice + 1], '    at curl[90] 198.18.1.1:40100 rcvbuf 131072, queued 0: 2 drops', lines.join('\n'));
  assert.equal(totalJson(rows, 1, { seen: 2, matched: 2, lost: 0, overflow: 0 }, null, [], null, sockets).sockets[0].advice, null);
});
