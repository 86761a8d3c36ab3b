// dropwhy selftest's verdicts: judge() compares the events dropwhy printed
// with the drops the selftest caused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXPECTED, judge, type SelftestEvent } from '../../src/commands/selftest';

const ADDRESS = '0xffffffff820490cc';
const udp = (dport: number, reason: string | null, location: string | null): SelftestEvent => ({ reason, location, address: ADDRESS, proto: 'udp', dport });
const closed = (): SelftestEvent => udp(9, 'NO_SOCKET', '__udp4_lib_rcv+0x4bc');
const firewalled = (): SelftestEvent => udp(7777, 'NETFILTER_DROP', 'nft_do_chain+0x3e8');
const times = (n: number, make: () => SelftestEvent) => Array.from({ length: n }, make);
/** Exactly what the selftest causes: 3 closed-port and 2 firewalled datagrams. */
const exact = () => [...times(3, closed), ...times(2, firewalled)];

const passes = (events: SelftestEvent[]) => judge(events).map((v) => v.pass);

test('EXPECTED: 3 × NO_SOCKET at __udp4_lib_rcv on port 9, 2 × NETFILTER_DROP at nft_do_chain or nf_hook_slow on port 7777', () => {
  assert.deepEqual(
    EXPECTED.map((e) => [e.dport, e.reason, e.locations, e.count]),
    [
      [9, 'NO_SOCKET', ['__udp4_lib_rcv'], 3],
      [7777, 'NETFILTER_DROP', ['nft_do_chain', 'nf_hook_slow'], 2],
    ],
  );
});

test('judge: exactly the caused drops -> every verdict PASS, with what was seen', () => {
  const verdicts = judge(exact());
  assert.deepEqual(verdicts, [
    { pass: true, line: 'UDP to a closed port: expected 3 × NO_SOCKET at __udp4_lib_rcv, saw 3 (NO_SOCKET at __udp4_lib_rcv+0x4bc)' },
    { pass: true, line: 'nft drop rule: expected 2 × NETFILTER_DROP at nft_do_chain or nf_hook_slow, saw 2 (NETFILTER_DROP at nft_do_chain+0x3e8)' },
    { pass: true, line: 'nothing else dropped in the test namespace: none' },
  ]);
  // the order of the events does not matter
  assert.deepEqual(passes(exact().reverse()), [true, true, true]);
});

test('judge: an nft drop freed in nf_hook_slow (6.1) passes like one in nft_do_chain', () => {
  const verdicts = judge([...times(3, closed), ...times(2, () => udp(7777, 'NETFILTER_DROP', 'nf_hook_slow+0x9b'))]);
  assert.deepEqual(
    verdicts.map((v) => v.pass),
    [true, true, true],
  );
  assert.equal(verdicts[1].line, 'nft drop rule: expected 2 × NETFILTER_DROP at nft_do_chain or nf_hook_slow, saw 2 (NETFILTER_DROP at nf_hook_slow+0x9b)');
});

test('judge: one drop missing -> that expectation FAILs, saying how many were seen', () => {
  const verdicts = judge([...times(2, closed), ...times(2, firewalled)]);
  assert.deepEqual(
    verdicts.map((v) => v.pass),
    [false, true, true],
  );
  assert.equal(verdicts[0].line, 'UDP to a closed port: expected 3 × NO_SOCKET at __udp4_lib_rcv, saw 2 (NO_SOCKET at __udp4_lib_rcv+0x4bc)');
});

test('judge: nothing seen at all -> both expectations FAIL, "saw 0"', () => {
  const verdicts = judge([]);
  assert.deepEqual(
    verdicts.map((v) => v.pass),
    [false, false, true],
  );
  assert.equal(verdicts[1].line, 'nft drop rule: expected 2 × NETFILTER_DROP at nft_do_chain or nf_hook_slow, saw 0');
});

test('judge: one drop too many -> FAIL', () => {
  const verdicts = judge([...exact(), firewalled()]);
  assert.deepEqual(
    verdicts.map((v) => v.pass),
    [true, false, true],
  );
  assert.match(verdicts[1].line, /saw 3 \(NETFILTER_DROP at nft_do_chain\+0x3e8\)$/);
});

test('judge: a wrong reason -> FAIL, the line lists both reasons seen', () => {
  const events = exact();
  events[1] = udp(9, 'IP_INNOROUTES', '__udp4_lib_rcv+0x4bc');
  const verdicts = judge(events);
  assert.deepEqual(
    verdicts.map((v) => v.pass),
    [false, true, true],
  );
  assert.equal(
    verdicts[0].line,
    'UDP to a closed port: expected 3 × NO_SOCKET at __udp4_lib_rcv, saw 3 (NO_SOCKET at __udp4_lib_rcv+0x4bc, IP_INNOROUTES at __udp4_lib_rcv+0x4bc)',
  );
});

test('judge: a wrong location -> FAIL (another function, a longer name with the same start, a raw address, none)', () => {
  // [wrong location for the closed-port drop, wrong location for the firewalled one]
  const wrong: Array<[string | null, string | null]> = [
    ['__udp6_lib_rcv+0x4bc', 'nf_tables_core+0x8c'], // another function
    ['__udp4_lib_rcv_extra+0x10', 'nft_do_chain_extra+0x10'], // same start, longer name
    ['__udp4_lib_rcv', 'nft_do_chain'], // no offset
    ['0xffffffff820490cc', '0xffffffff8212a3e8'], // not symbolized
    [null, null],
  ];
  for (const [udpLocation, nftLocation] of wrong) {
    const events = exact();
    events[0] = udp(9, 'NO_SOCKET', udpLocation);
    events[4] = udp(7777, 'NETFILTER_DROP', nftLocation);
    const verdicts = judge(events);
    assert.deepEqual(
      verdicts.map((v) => v.pass),
      [false, false, true],
      `${udpLocation}, ${nftLocation}: ${JSON.stringify(verdicts)}`,
    );
  }
  const verdicts = judge([udp(9, 'NO_SOCKET', null), ...times(2, closed), ...times(2, firewalled)]);
  assert.match(verdicts[0].line, new RegExp(`NO_SOCKET at ${ADDRESS}`), 'no symbol: the address');
});

test('judge: where /proc/kallsyms hides addresses, no location is checked (every one is null), and the line says so', () => {
  const hidden = [...times(3, () => udp(9, 'NO_SOCKET', null)), ...times(2, () => udp(7777, 'NETFILTER_DROP', null))];
  const verdicts = judge(hidden, EXPECTED, { locations: false, reasons: true });
  assert.deepEqual(
    verdicts.map((v) => v.pass),
    [true, true, true],
  );
  assert.equal(verdicts[0].line, `UDP to a closed port: expected 3 × NO_SOCKET (location not checked: /proc/kallsyms hides addresses), saw 3 (NO_SOCKET at ${ADDRESS})`);
  // counts and reasons still count; a symbol where none can be is wrong too
  assert.deepEqual(
    judge(hidden.slice(1), EXPECTED, { locations: false, reasons: true }).map((v) => v.pass),
    [false, true, true],
  );
  assert.deepEqual(
    judge([...hidden.slice(0, 4), udp(7777, 'NO_SOCKET', null)], EXPECTED, { locations: false, reasons: true }).map((v) => v.pass),
    [true, false, true],
  );
  assert.deepEqual(
    judge(exact(), EXPECTED, { locations: false, reasons: true }).map((v) => v.pass),
    [false, false, true],
  );
});

test('judge: an unrelated drop in the namespace (TCP, other port, no port) -> "nothing else" FAILs', () => {
  const tcp: SelftestEvent = { reason: 'NO_SOCKET', location: 'tcp_v4_rcv+0x1a2', address: ADDRESS, proto: 'tcp', dport: 9 };
  let verdicts = judge([...exact(), tcp]);
  // TCP to port 9 does not count as one of the UDP drops
  assert.deepEqual(
    verdicts.map((v) => v.pass),
    [true, true, false],
  );
  assert.equal(verdicts[2].line, 'nothing else dropped in the test namespace: NO_SOCKET tcp/9');

  verdicts = judge([...exact(), udp(53, 'NO_SOCKET', '__udp4_lib_rcv+0x4bc')]);
  assert.deepEqual(
    verdicts.map((v) => v.pass),
    [true, true, false],
  );
  assert.equal(verdicts[2].line, 'nothing else dropped in the test namespace: NO_SOCKET udp/53');

  const mld: SelftestEvent = { reason: 'NOT_SPECIFIED', location: 'ip6_mc_input+0x15e', address: ADDRESS, proto: 'icmp6', dport: null };
  verdicts = judge([...exact(), mld, tcp]);
  assert.deepEqual(
    verdicts.map((v) => v.pass),
    [true, true, false],
  );
  assert.match(verdicts[2].line, /^nothing else dropped in the test namespace: NOT_SPECIFIED icmp6\S*, NO_SOCKET tcp\/9$/);
});

const BEFORE_5_17 = { locations: true, reasons: false };

test('judge: no reason (kernel before 5.17) with the right location -> PASS', () => {
  const events = [...times(3, () => udp(9, null, '__udp4_lib_rcv+0x3f0')), ...times(2, () => udp(7777, null, 'nft_do_chain+0x2a1'))];
  const verdicts = judge(events, EXPECTED, BEFORE_5_17);
  assert.deepEqual(
    verdicts.map((v) => v.pass),
    [true, true, true],
  );
  assert.equal(verdicts[0].line, 'UDP to a closed port: expected 3 × NO_SOCKET at __udp4_lib_rcv, saw 3 (no reason at __udp4_lib_rcv+0x3f0)');
});

test('judge: no reason with the wrong location -> FAIL', () => {
  const events = [...times(3, () => udp(9, null, 'ip_rcv_finish+0x12')), ...times(2, () => udp(7777, null, 'nft_do_chain+0x2a1'))];
  assert.deepEqual(
    judge(events, EXPECTED, BEFORE_5_17).map((v) => v.pass),
    [false, true, true],
  );
});

test('judge: a null reason where the kernel reports reasons -> FAIL; a reason where it reports none -> FAIL', () => {
  const reasonless = [...times(3, () => udp(9, null, '__udp4_lib_rcv+0x3f0')), ...times(2, () => udp(7777, null, 'nft_do_chain+0x2a1'))];
  assert.deepEqual(passes(reasonless), [false, false, true], 'dropwhy lost the reasons this kernel reports');
  assert.deepEqual(
    judge(exact(), EXPECTED, BEFORE_5_17).map((v) => v.pass),
    [false, false, true],
    'a reason the tracepoint cannot carry',
  );
});

test('judge: custom expectations', () => {
  const expected = [{ what: 'udp/53', dport: 53, reason: 'SOCKET_RCVBUFF', locations: ['udp_queue_rcv_one_skb'], count: 1 }];
  assert.deepEqual(
    judge([udp(53, 'SOCKET_RCVBUFF', 'udp_queue_rcv_one_skb+0x437')], expected).map((v) => v.pass),
    [true, true],
  );
  // against these expectations, the default selftest drops are unrelated
  assert.deepEqual(
    judge(exact(), expected).map((v) => v.pass),
    [false, false],
  );
});
