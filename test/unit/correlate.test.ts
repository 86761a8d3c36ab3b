// The kernel's counters beside the traced drops: which counters each traced
// group feeds, the verdict per counter, and the lines printed for humans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { correlate, formatCorrelation, unseenCounted, verdict, type CounterCheck, type TracedCount, type Unseen } from '../../src/knowledge/correlate';
import type { CounterDelta } from '../../src/kernel/counters';

const NOTHING_LOST: Unseen = { count: 0, noun: 'lost' };
const WHOLE_HOST_NOTE = "(the counters are dropwhy's own network namespace's, the drops were traced in all: use --filter-netns for an exact comparison)";

test('correlate: SOCKET_RCVBUFF over UDP/IPv4 feeds Udp RcvbufErrors and Udp InErrors', () => {
  const checks = correlate(
    [{ reason: 'SOCKET_RCVBUFF', proto: 'udp', family: 4, count: 12 }],
    [
      { name: 'Udp RcvbufErrors', delta: 12 },
      { name: 'Udp InErrors', delta: 12 },
      { name: 'Udp InDatagrams', delta: 400 },
    ],
  );
  assert.deepEqual(checks, [
    { counter: 'Udp RcvbufErrors', delta: 12, traced: 12, reasons: ['SOCKET_RCVBUFF'] },
    { counter: 'Udp InErrors', delta: 12, traced: 12, reasons: ['SOCKET_RCVBUFF'] },
  ]);
});

test('correlate: IPv6 groups feed the Udp6 counters, not the Udp ones', () => {
  const checks = correlate(
    [{ reason: 'NO_SOCKET', proto: 'udp', family: 6, count: 4 }],
    [
      { name: 'Udp NoPorts', delta: 9 },
      { name: 'Udp6 NoPorts', delta: 4 },
    ],
  );
  assert.deepEqual(checks, [{ counter: 'Udp6 NoPorts', delta: 4, traced: 4, reasons: ['NO_SOCKET'] }]);
});

test('correlate: two reasons feeding one counter (Udp InErrors) are summed and both named', () => {
  const traced: TracedCount[] = [
    { reason: 'SOCKET_RCVBUFF', proto: 'udp', family: 4, count: 5 },
    { reason: 'UDP_CSUM', proto: 'udp', family: 4, count: 2 },
  ];
  const checks = correlate(traced, [
    { name: 'Udp RcvbufErrors', delta: 5 },
    { name: 'Udp InCsumErrors', delta: 2 },
    { name: 'Udp InErrors', delta: 7 },
  ]);
  const byCounter = new Map(checks.map((c) => [c.counter, c]));
  assert.deepEqual(byCounter.get('Udp InErrors'), { counter: 'Udp InErrors', delta: 7, traced: 7, reasons: ['SOCKET_RCVBUFF', 'UDP_CSUM'] });
  assert.deepEqual(byCounter.get('Udp RcvbufErrors'), { counter: 'Udp RcvbufErrors', delta: 5, traced: 5, reasons: ['SOCKET_RCVBUFF'] });
  assert.deepEqual(byCounter.get('Udp InCsumErrors'), { counter: 'Udp InCsumErrors', delta: 2, traced: 2, reasons: ['UDP_CSUM'] });
  assert.equal(checks.length, 3, 'one check per counter, not per reason');
});

test('correlate: the same reason in several groups (e.g. two locations) is summed and named once', () => {
  const checks = correlate(
    [
      { reason: 'NO_SOCKET', proto: 'udp', family: 4, count: 3 },
      { reason: 'NO_SOCKET', proto: 'udp', family: 4, count: 4 },
    ],
    [{ name: 'Udp NoPorts', delta: 7 }],
  );
  assert.deepEqual(checks, [{ counter: 'Udp NoPorts', delta: 7, traced: 7, reasons: ['NO_SOCKET'] }]);
});

test('correlate: a linked counter that did not move has delta 0; reasons without links give no check', () => {
  const checks = correlate(
    [
      { reason: 'NO_SOCKET', proto: 'udp', family: 4, count: 2 },
      { reason: 'NETFILTER_DROP', proto: 'tcp', family: 4, count: 8 },
      { reason: 'NO_SOCKET', proto: 'tcp', family: 4, count: 1 }, // TCP has no NoPorts counter
    ],
    [],
  );
  assert.deepEqual(checks, [{ counter: 'Udp NoPorts', delta: 0, traced: 2, reasons: ['NO_SOCKET'] }]);
  assert.deepEqual(correlate([], [{ name: 'Udp NoPorts', delta: 3 }]), []);
});

test('verdict: agree, the counter higher, or more traced', () => {
  const check = (delta: number, traced: number): CounterCheck => ({ counter: 'Udp NoPorts', delta, traced, reasons: ['NO_SOCKET'] });
  assert.equal(verdict(check(5, 5)), 'agree');
  assert.equal(verdict(check(0, 0)), 'agree');
  assert.equal(verdict(check(7, 5)), 'differ by 2 (the counter is higher)');
  assert.equal(verdict(check(3, 5)), 'differ by 2 (more were traced)');
  assert.equal(verdict(check(0, 1)), 'differ by 1 (more were traced)');
});

test('verdict with unseen drops: a counter higher by 1..unseen agrees; by more, by 0 or lower it is judged as before', () => {
  const check = (delta: number, traced: number): CounterCheck => ({ counter: 'Udp NoPorts', delta, traced, reasons: ['NO_SOCKET'] });
  const lost = 4094419;
  assert.equal(verdict(check(105921 + lost, 105921), lost), 'agree', 'higher by all the lost');
  assert.equal(verdict(check(4200337, 105921), lost), 'agree', 'higher by fewer than the lost (the case from issue 9)');
  assert.equal(verdict(check(6, 5), 1), 'agree', 'higher by 1, 1 lost');
  assert.equal(verdict(check(5, 5), 3), 'agree');
  assert.equal(verdict(check(9, 5), 3), 'differ by 4 (the counter is higher)', 'higher by one more than the lost');
  assert.equal(verdict(check(4, 5), 3), 'differ by 1 (more were traced)', 'lost drops cannot make the counter lower');
  assert.equal(verdict(check(6, 5), 0), 'differ by 1 (the counter is higher)', 'nothing lost');

  assert.equal(unseenCounted(check(8, 5), 3), 3);
  assert.equal(unseenCounted(check(6, 5), 3), 1);
  assert.equal(unseenCounted(check(5, 5), 3), 0, 'an exact match counts none');
  assert.equal(unseenCounted(check(9, 5), 3), 0, 'a difference the unseen cannot explain counts none');
  assert.equal(unseenCounted(check(4, 5), 3), 0);
  assert.equal(unseenCounted(check(5, 5), 0), 0);
});

test('formatCorrelation with unseen drops: "agree, counting N lost", "… K of N uncounted", and no whole-host note for them', () => {
  const deltas: CounterDelta[] = [{ name: 'Udp NoPorts', delta: 4200337 }];
  const noPorts = (delta: number, traced: number): CounterCheck[] => [{ counter: 'Udp NoPorts', delta, traced, reasons: ['NO_SOCKET'] }];
  const lost = (count: number): Unseen => ({ count, noun: 'lost' });
  assert.deepEqual(formatCorrelation(noPorts(4200337, 105918), deltas, true, lost(4094419)), [
    'Udp NoPorts +4200337 vs 105918 NO_SOCKET traced: agree, counting 4094419 lost',
  ]);
  assert.deepEqual(formatCorrelation(noPorts(4200337, 105921), deltas, true, lost(4094419)), [
    'Udp NoPorts +4200337 vs 105921 NO_SOCKET traced: agree, counting 4094416 of 4094419 lost',
  ]);
  assert.deepEqual(formatCorrelation(noPorts(4200337, 105921), deltas, false, { count: 4094416, noun: 'uncounted' }), [
    'Udp NoPorts +4200337 vs 105921 NO_SOCKET traced: agree, counting 4094416 uncounted',
  ]);
  assert.deepEqual(formatCorrelation(noPorts(4200337, 105921), deltas, true, lost(4094415)), [
    'Udp NoPorts +4200337 vs 105921 NO_SOCKET traced: differ by 4094416 (the counter is higher)',
    WHOLE_HOST_NOTE,
  ]);
  assert.deepEqual(formatCorrelation(noPorts(4200337, 4200337), deltas, false, lost(7)), ['Udp NoPorts +4200337 vs 4200337 NO_SOCKET traced: agree']);
});

test('formatCorrelation: a line per check with the verdict', () => {
  const checks: CounterCheck[] = [
    { counter: 'Udp RcvbufErrors', delta: 5, traced: 5, reasons: ['SOCKET_RCVBUFF'] },
    { counter: 'Udp InErrors', delta: 9, traced: 7, reasons: ['SOCKET_RCVBUFF', 'UDP_CSUM'] },
  ];
  const deltas: CounterDelta[] = [
    { name: 'Udp RcvbufErrors', delta: 5 },
    { name: 'Udp InErrors', delta: 9 },
  ];
  assert.deepEqual(formatCorrelation(checks, deltas, false, NOTHING_LOST), [
    'Udp RcvbufErrors +5 vs 5 SOCKET_RCVBUFF traced: agree',
    'Udp InErrors +9 vs 7 SOCKET_RCVBUFF+UDP_CSUM traced: differ by 2 (the counter is higher)',
  ]);
});

test('formatCorrelation: the whole-host note only when tracing the whole host and something differs', () => {
  const agree: CounterCheck[] = [{ counter: 'Udp NoPorts', delta: 2, traced: 2, reasons: ['NO_SOCKET'] }];
  const differ: CounterCheck[] = [...agree, { counter: 'Udp RcvbufErrors', delta: 0, traced: 3, reasons: ['SOCKET_RCVBUFF'] }];
  const deltas: CounterDelta[] = [{ name: 'Udp NoPorts', delta: 2 }];

  assert.deepEqual(formatCorrelation(agree, deltas, true, NOTHING_LOST), ['Udp NoPorts +2 vs 2 NO_SOCKET traced: agree']);
  assert.deepEqual(formatCorrelation(differ, deltas, true, NOTHING_LOST), [
    'Udp NoPorts +2 vs 2 NO_SOCKET traced: agree',
    'Udp RcvbufErrors +0 vs 3 SOCKET_RCVBUFF traced: differ by 3 (more were traced)',
    WHOLE_HOST_NOTE,
  ]);
  assert.ok(!formatCorrelation(differ, deltas, false, NOTHING_LOST).includes(WHOLE_HOST_NOTE), 'one namespace: the comparison is exact');
});

test('formatCorrelation: the filter note only when filters were given and a counter is higher than the traced drops', () => {
  const higher: CounterCheck[] = [{ counter: 'Udp NoPorts', delta: 5, traced: 2, reasons: ['NO_SOCKET'] }];
  const lower: CounterCheck[] = [{ counter: 'Udp NoPorts', delta: 0, traced: 2, reasons: ['NO_SOCKET'] }];
  const agree: CounterCheck[] = [{ counter: 'Udp NoPorts', delta: 2, traced: 2, reasons: ['NO_SOCKET'] }];
  const deltas: CounterDelta[] = [{ name: 'Udp NoPorts', delta: 5 }];
  const note = (filters: string) => `(the counters count every drop of the namespace, the traced drops are those ${filters} let through: a higher counter is expected)`;
  assert.equal(formatCorrelation(higher, deltas, false, NOTHING_LOST, ['--filter-port']).at(-1), note('--filter-port'));
  assert.equal(
    formatCorrelation(higher, deltas, false, NOTHING_LOST, ['--filter-proto', '--filter-port', 'the expression']).at(-1),
    note('--filter-proto, --filter-port and the expression'),
  );
  assert.equal(formatCorrelation(higher, deltas, false, NOTHING_LOST).length, 1, 'no filters: no note');
  assert.equal(formatCorrelation(lower, deltas, false, NOTHING_LOST, ['--filter-port']).length, 1, 'more traced: a filter does not explain it');
  assert.equal(formatCorrelation(agree, deltas, false, NOTHING_LOST, ['--filter-port']).length, 1);
});

test('formatCorrelation: "other counters" lists trouble counters that moved, not traffic or linked ones', () => {
  const checks: CounterCheck[] = [{ counter: 'Udp RcvbufErrors', delta: 5, traced: 5, reasons: ['SOCKET_RCVBUFF'] }];
  const deltas: CounterDelta[] = [
    { name: 'Ip InReceives', delta: 1000 },
    { name: 'Ip InDelivers', delta: 990 },
    { name: 'Udp InDatagrams', delta: 900 },
    { name: 'Udp RcvbufErrors', delta: 5 }, // linked: already on its own line
    { name: 'Udp NoPorts', delta: 3 },
    { name: 'Ip InDiscards', delta: -1 },
    { name: 'TcpExt ListenOverflows', delta: 2 },
    { name: 'dev eth0 rx_dropped', delta: 4 },
    { name: 'dev eth0 rx_fifo', delta: 1 },
    { name: 'Tcp OutSegs', delta: 50 },
  ];
  const lines = formatCorrelation(checks, deltas, true, NOTHING_LOST);
  assert.deepEqual(lines, [
    'Udp RcvbufErrors +5 vs 5 SOCKET_RCVBUFF traced: agree',
    'other counters: Udp NoPorts +3, Ip InDiscards -1, TcpExt ListenOverflows +2, dev eth0 rx_dropped +4, dev eth0 rx_fifo +1',
  ]);
  assert.ok(!lines.join('\n').includes('InReceives'));
});

test('formatCorrelation: nothing checked and only traffic moved: no lines at all', () => {
  assert.deepEqual(
    formatCorrelation(
      [],
      [
        { name: 'Ip InReceives', delta: 10 },
        { name: 'Udp OutDatagrams', delta: 3 },
      ],
      true,
      NOTHING_LOST,
    ),
    [],
  );
  assert.deepEqual(formatCorrelation([], [{ name: 'Udp6 NoPorts', delta: 1 }], true, NOTHING_LOST), ['other counters: Udp6 NoPorts +1']);
});
