import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { decodeBatch, type DropEvent } from '../../src/events/decode';
import { parseAddressPrefix } from '../../src/events/address';
import type { FormatContext } from '../../src/output/format';
import { JsonWriter } from '../../src/output/json-writer';
import { TextWriter } from '../../src/output/text-writer';
import { HOLD_MS, MATCH_WINDOW_NS, RuleAttacher, VerdictPool, type AttachClock } from '../../src/nft/attach';
import { netlinkTraceSockets, traceRuleset, traceTablePids } from '../../src/nft/table';
import { parsePacket, TraceParser, type NftRule, type TraceDrop } from '../../src/nft/trace-parse';
import { encodeEvent, REPO_ROOT, reasonCode, UNRESOLVED_SOCKETS, UNNAMED_INTERFACES } from './helpers';
import { recordedKallsyms, recordedReasons } from './fixtures';

/** `nft -a monitor trace` output recorded on this project's test machine (nftables 1.0.6, Linux 6.18). */
const recorded = (name: string) => readFileSync(resolve(REPO_ROOT, 'test/fixtures/nft-trace', name), 'utf8').split('\n');
const dropsOf = (lines: string[]) => {
  const parser = new TraceParser();
  return lines.map((line) => parser.line(line)).filter((d): d is TraceDrop => d !== null);
};

test('parser: an nft rule drop, with the packet of its trace id and the rule without counter values', () => {
  assert.deepEqual(dropsOf(recorded('nft-rule-drop.txt')), [
    {
      id: '58fbd663',
      packet: { family: 4, saddr: '198.18.250.1', daddr: '198.18.250.2', l4Proto: 17, sport: 40001, dport: 123, ipId: 39354 },
      rule: { family: 'inet', table: 'fw', chain: 'input', handle: 3, text: 'udp dport 123 counter drop', verdict: 'drop' },
    },
  ]);
});

test('parser: iptables-nft DROP shows as its nft rule in table ip filter', () => {
  const [drop, ...rest] = dropsOf(recorded('iptables-nft-drop.txt'));
  assert.equal(rest.length, 0, 'accepted neighbour discovery traces give no drop');
  assert.deepEqual(drop.rule, { family: 'ip', table: 'filter', chain: 'INPUT', handle: 2, text: 'udp dport 7777 counter drop', verdict: 'drop' });
  assert.deepEqual(drop.packet, { family: 4, saddr: '198.18.250.1', daddr: '198.18.250.2', l4Proto: 17, sport: 40003, dport: 7777, ipId: 42413 });
});

test('parser: a chain policy drop names the chain; the ip table\'s packet line has no "ip protocol"', () => {
  const drops = dropsOf(recorded('policy-drop.txt'));
  assert.deepEqual(
    drops.map((d) => [d.id, d.rule, d.packet?.l4Proto, d.packet?.dport]),
    [
      ['be0504e8', { family: 'ip', table: 'pol', chain: 'input', handle: null, text: 'policy drop', verdict: 'drop' }, 17, 5353],
      ['f6ea1a96', { family: 'ip', table: 'pol', chain: 'input', handle: null, text: 'policy drop', verdict: 'drop' }, 6, 80],
    ],
  );
});

test('parser: IPv6 packets, ICMPv6 without ports, and lines that are not trace lines', () => {
  const line = recorded('policy-drop.txt').find((l) => l.includes('ip6 saddr fd00:dd:fa::1 ip6 daddr fd00:dd:fa::2'))!;
  assert.deepEqual(parsePacket(line.slice(line.indexOf('packet: ') + 8)), {
    family: 6,
    saddr: 'fd00:dd:fa::1',
    daddr: 'fd00:dd:fa::2',
    l4Proto: 17,
    sport: 38741,
    dport: 5353,
    ipId: null,
  });
  assert.deepEqual(parsePacket('iif "vb" ip6 saddr fe80::1 ip6 daddr ff02::2 ip6 nexthdr ipv6-icmp icmpv6 type nd-router-solicit'), {
    family: 6,
    saddr: 'fe80::1',
    daddr: 'ff02::2',
    l4Proto: 58,
    sport: null,
    dport: null,
    ipId: null,
  });
  assert.equal(parsePacket('iif "vb" ether saddr 02:00:00:00:00:01 arp operation request'), null);
  const parser = new TraceParser();
  assert.equal(parser.line(''), null);
  assert.equal(parser.line('trace id 1 inet t c rule ip saddr 1.2.3.4 accept # handle 2 (verdict accept)'), null);
  assert.deepEqual(parser.line('trace id 2 inet t c rule reject # handle 9 (verdict drop)')?.packet, null, 'no packet line: no packet');
});

const context: FormatContext = {
  reasons: recordedReasons(),
  symbols: recordedKallsyms(),
  sockets: UNRESOLVED_SOCKETS,
  interfaces: UNNAMED_INTERFACES,
  monotonicToUnixNs: 0,
  color: false,
};
const NETFILTER_DROP = reasonCode('NETFILTER_DROP');

function drop(spec: { tsNs: number; sport?: number; dport?: number; saddr?: string; reason?: number }): DropEvent {
  const [event] = decodeBatch(encodeEvent({ reason: NETFILTER_DROP, saddr: '198.18.250.1', daddr: '198.18.250.2', l4Proto: 'udp', sport: 40001, dport: 123, ...spec }));
  return event;
}

function verdict(rule: Partial<NftRule>, packet: { sport?: number; dport?: number } = {}): TraceDrop {
  return {
    id: 'x',
    packet: { family: 4, saddr: '198.18.250.1', daddr: '198.18.250.2', l4Proto: 17, sport: 40001, dport: 123, ipId: 1, ...packet },
    rule: { family: 'inet', table: 'fw', chain: 'input', handle: 3, text: 'udp dport 123 counter drop', verdict: 'drop', ...rule },
  };
}

test('pool: the verdict of the same packet, arrived after the drop and within the window', () => {
  const BASE = 10 * MATCH_WINDOW_NS; // timestamps are monotonic nanoseconds since boot
  const pool = new VerdictPool();
  pool.add(verdict({ handle: 3 }), BASE + 1_000);
  assert.deepEqual(pool.take(drop({ tsNs: BASE + 900 }), BASE + 1_000)?.handle, 3);
  assert.equal(pool.take(drop({ tsNs: BASE + 900 }), BASE + 1_000), undefined, 'a verdict is given once');
  pool.add(verdict({ handle: 4 }), BASE + 1_000);
  assert.equal(pool.take(drop({ tsNs: BASE + 1_001 }), BASE + 2_000), undefined, 'a verdict that came before the drop is not its');
  assert.equal(pool.take(drop({ tsNs: BASE + 1_000 - MATCH_WINDOW_NS - 1 }), BASE + 2_000), undefined, 'nor one long after');
  assert.equal(pool.take(drop({ tsNs: BASE + 900, dport: 124 }), BASE + 2_000), undefined, 'nor one of another port');
  assert.equal(pool.take(drop({ tsNs: BASE + 900, saddr: '198.18.250.9' }), BASE + 2_000), undefined, 'nor one of another address');
  assert.equal(pool.take(drop({ tsNs: BASE + 900 }), BASE + 2_000)?.handle, 4);
});

test('pool: verdicts of one flow naming different rules give the drop no rule', () => {
  const pool = new VerdictPool();
  pool.add(verdict({ handle: 3 }), 1_000);
  pool.add(verdict({ handle: 5 }), 1_100);
  assert.equal(pool.take(drop({ tsNs: 900 }), 1_200), null);
  assert.equal(pool.take(drop({ tsNs: 900 }), 1_200)?.handle, 5, 'the other one is then alone');
  pool.add(verdict({ handle: 3 }), 2_000);
  pool.add(verdict({ handle: 3 }), 2_100);
  assert.equal(pool.take(drop({ tsNs: 1_900 }), 2_200)?.handle, 3, 'agreeing verdicts are not ambiguous');
  assert.equal(pool.size, 1);
});

/** A clock the test moves; timers fire when it passes them. */
class TestClock implements AttachClock {
  ms = 0;
  private timers: Array<{ at: number; callback: () => void; live: boolean }> = [];
  nowNs = () => this.ms * 1e6;
  nowMs = () => this.ms;
  setTimer(callback: () => void, ms: number) {
    const timer = { at: this.ms + ms, callback, live: true };
    this.timers.push(timer);
    return { cancel: () => (timer.live = false) };
  }
  advance(ms: number): void {
    this.ms += ms;
    const due = this.timers.filter((t) => t.live && t.at <= this.ms);
    this.timers = this.timers.filter((t) => t.live && t.at > this.ms);
    for (const t of due) t.callback();
  }
}

function attacher(clock: TestClock) {
  const out: Array<[number | null, number | null | string]> = [];
  const rules = new RuleAttacher(
    new VerdictPool(),
    (e) => e.reason === NETFILTER_DROP,
    (e, rule) => out.push([e.dport, rule === null ? null : (rule.handle ?? rule.text)]),
    clock,
  );
  return { rules, out };
}

test('attacher: a NETFILTER_DROP waits for its verdict; what came after it waits behind it, in order', () => {
  const clock = new TestClock();
  const { rules, out } = attacher(clock);
  rules.add(drop({ tsNs: 0, dport: 123 }));
  rules.add(drop({ tsNs: 1, dport: 9, reason: reasonCode('NO_SOCKET') }));
  assert.deepEqual(out, [], 'held');
  clock.advance(5);
  rules.verdict(verdict({ handle: 3 }, { dport: 123 }));
  assert.deepEqual(out, [
    [123, 3],
    [9, null],
  ]);
  rules.add(drop({ tsNs: 10e6, dport: 9, reason: reasonCode('NO_SOCKET') }));
  assert.deepEqual(out.at(-1), [9, null], 'nothing held: printed at once');
});

test('attacher: without its verdict a drop goes out with no rule after HOLD_MS; a verdict first is used at once', async () => {
  const clock = new TestClock();
  const { rules, out } = attacher(clock);
  rules.add(drop({ tsNs: 0, dport: 123 }));
  const drained = rules.drain();
  clock.advance(HOLD_MS - 1);
  assert.deepEqual(out, []);
  clock.advance(1);
  assert.deepEqual(out, [[123, null]]);
  await drained;
  rules.verdict(verdict({ handle: null, text: 'policy drop' }, { dport: 5353 }));
  rules.add(drop({ tsNs: clock.nowNs() - 1, dport: 5353 }));
  assert.deepEqual(out.at(-1), [5353, 'policy drop']);
});

test('format: JSON "rule" object or null; the text line names family, table, chain and handle', () => {
  const event = drop({ tsNs: 0 });
  const rule = verdict({}).rule;
  const json = new JsonWriter(context);
  const text = new TextWriter(context);
  assert.deepEqual(JSON.parse(json.line(event, rule)).rule, {
    family: 'inet',
    table: 'fw',
    chain: 'input',
    handle: 3,
    text: 'udp dport 123 counter drop',
    verdict: 'drop',
  });
  assert.equal(JSON.parse(json.line(event)).rule, null);
  assert.equal(text.ruleLine(rule), '  rule: inet fw input handle 3: udp dport 123 counter drop');
  assert.equal(text.ruleLine({ ...rule, table: 'pol', handle: null, text: 'policy drop' }), '  rule: inet pol input policy drop');
});

test('table: chains at -350 on prerouting and output, narrowed by the filter', () => {
  const all = traceRuleset(42, {});
  assert.match(all, /^table inet dropwhy_trace_42 \{/);
  assert.match(all, /chain prerouting \{\n\s+type filter hook prerouting priority -350; policy accept;\n\s+meta nftrace set 1\n/);
  assert.match(all, /chain output \{\n\s+type filter hook output priority -350; policy accept;\n\s+meta nftrace set 1\n/);
  const narrow = traceRuleset(42, { proto: 'udp', port: 53, dstAddr: parseAddressPrefix('fd00::/8')! });
  assert.equal((narrow.match(/meta l4proto 17 ip6 daddr fd00::\/8 th sport 53 meta nftrace set 1/g) ?? []).length, 2);
  assert.equal((narrow.match(/meta l4proto 17 ip6 daddr fd00::\/8 th dport 53 meta nftrace set 1/g) ?? []).length, 2);
  assert.match(traceRuleset(1, { port: 80 }), /meta l4proto \{ tcp, udp \} th dport 80 meta nftrace set 1/);
});

test('table: pids of dropwhy tables in `nft list tables`; trace sockets in /proc/net/netlink', () => {
  assert.deepEqual(traceTablePids('table ip filter\ntable inet dropwhy_trace_123\ntable inet dropwhy_trace_x\ntable inet dropwhy_trace_9\n'), [123, 9]);
  const netlink = [
    'sk               Eth Pid        Groups   Rmem     Wmem     Dump  Locks    Drops    Inode',
    '00000000925563c4 12  0          00000000 0        0        0     2        0        523747  ',
    '00000000a331050c 12  4437       00000100 0        0        0     2        0        525418  ',
    '00000000a331050d 0   4438       00000100 0        0        0     2        0        525419  ',
  ].join('\n');
  assert.deepEqual(netlinkTraceSockets(netlink), ['525418']);
});
