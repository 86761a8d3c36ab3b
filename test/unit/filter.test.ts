// The agreement test: matches() (user space, on decoded events) and the BPF
// program's filter (on struct drop_event, configured by lowerFilter()) must give
// the same verdict for every drop. The BPF side is modelled below from
// bpf/dropwhy.bpf.c, reading only the raw config and event bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatAddress, parseAddressPrefix, type AddressPrefix, type Family } from '../../src/events/address';
import { decodeBatch } from '../../src/events/decode';
import { lowerFilter, matches, type DropFilter, type ProtocolName } from '../../src/events/filter';
import { CONFIG, CONFIG_SIZE, EVENT, EVENT_FLAG, EVENT_SIZE, MAX_REASONS, MODE } from '../../src/events/layout';
import { encodeEvent, type EventSpec } from './helpers';

// ---------------------------------------------------------------------------
// The model of bpf/dropwhy.bpf.c's filter
// ---------------------------------------------------------------------------

const DROP_FAMILY_NONE = 0;

/** bpf_htonl on a little-endian machine (BPF targets here are x86-64/arm64 LE). */
function htonl(value: number): number {
  return (((value & 0xff) << 24) | ((value & 0xff00) << 8) | ((value >>> 8) & 0xff00) | (value >>> 24)) >>> 0;
}

/** reason_listed(): the reason is one of the count words at listAt. */
function reasonListed(cfg: Buffer, listAt: number, count: number, reason: number): boolean {
  for (let i = 0; i < MAX_REASONS; i++) {
    if (i >= count) break;
    if (cfg.readUInt32LE(listAt + 4 * i) === reason) return true;
  }
  return false;
}

/** reason_matches(): one of cfg.reasons (when reason_count > 0), and none of cfg.excluded_reasons. */
function reasonMatches(cfg: Buffer, reason: number): boolean {
  const count = cfg.readUInt8(CONFIG.reason_count);
  if (count && !reasonListed(cfg, CONFIG.reasons, count, reason)) return false;
  return !reasonListed(cfg, CONFIG.excluded_reasons, cfg.readUInt8(CONFIG.excluded_reason_count), reason);
}

/** prefix_matches(): the first prefix_len bits, 32 at a time, as little-endian words with a network-order mask. */
function prefixMatches(ev: Buffer, addrOffset: number, cfg: Buffer, wantOffset: number, prefixLen: number): boolean {
  for (let word = 0; word < 4; word++) {
    const bits = prefixLen - word * 32;
    if (bits <= 0) break;
    const mask = bits >= 32 ? 0xffffffff : htonl((0xffffffff << (32 - bits)) >>> 0);
    const a = ev.readUInt32LE(addrOffset + 4 * word);
    const w = cfg.readUInt32LE(wantOffset + 4 * word);
    if (((a ^ w) & mask) >>> 0 !== 0) return false;
  }
  return true;
}

/** addr_matches(): no family in the config passes; else the event's family byte must equal it. */
function addrMatches(ev: Buffer, family: number, addrOffset: number, cfg: Buffer, wantOffset: number, prefixLen: number): boolean {
  if (family === DROP_FAMILY_NONE) return true;
  if (ev.readUInt8(EVENT.family) !== family) return false;
  return prefixMatches(ev, addrOffset, cfg, wantOffset, prefixLen);
}

/** packet_matches(). */
function packetMatches(cfg: Buffer, ev: Buffer): boolean {
  const flags = ev.readUInt16LE(EVENT.flags);
  const l4Proto = cfg.readUInt8(CONFIG.l4_proto);
  if (l4Proto && (!(flags & EVENT_FLAG.HAS_L4_PROTO) || ev.readUInt8(EVENT.l4_proto) !== l4Proto)) return false;
  const port = cfg.readUInt16LE(CONFIG.port);
  if (port && (!(flags & EVENT_FLAG.HAS_PORTS) || (ev.readUInt16LE(EVENT.sport) !== port && ev.readUInt16LE(EVENT.dport) !== port))) {
    return false;
  }
  if (!addrMatches(ev, cfg.readUInt8(CONFIG.saddr_family), EVENT.saddr, cfg, CONFIG.saddr, cfg.readUInt8(CONFIG.saddr_prefix))) {
    return false;
  }
  return addrMatches(ev, cfg.readUInt8(CONFIG.daddr_family), EVENT.daddr, cfg, CONFIG.daddr, cfg.readUInt8(CONFIG.daddr_prefix));
}

/**
 * on_kfree_skb()'s verdict: reason first (ev.reason is 0 when the tracepoint has
 * none: the event starts zeroed), then the netns (0 when unknown) and, only
 * inside a netns filter, the ifindex; then the packet.
 */
function bpfAccepts(cfg: Buffer, ev: Buffer): boolean {
  assert.equal(cfg.length, CONFIG_SIZE);
  assert.equal(ev.length, EVENT_SIZE);
  if (!reasonMatches(cfg, ev.readUInt32LE(EVENT.reason))) return false;
  const netns = cfg.readUInt32LE(CONFIG.netns);
  if (netns) {
    if (ev.readUInt32LE(EVENT.netns) !== netns) return false;
    const ifindex = cfg.readUInt32LE(CONFIG.ifindex);
    if (ifindex && ev.readUInt32LE(EVENT.ifindex) !== ifindex) return false;
  }
  return packetMatches(cfg, ev);
}

// ---------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------

const NETNS_A = 4026531840;
const NETNS_B = 4026532500;
const NO_SOCKET = 3;
const NETFILTER_DROP = 12;
const TCP_CSUM = 10;
const IFINDEX_1 = 1;
const IFINDEX_2 = 2;
const IFINDEX_3 = 7;

const V4_ADDRESSES = ['10.0.0.1', '10.0.0.2', '10.0.0.3', '10.1.0.1', '11.0.0.1', '127.0.0.1', '128.0.0.1', '192.168.1.1', '0.0.0.0', '255.255.255.255'];
const V6_ADDRESSES = [
  'fd00::1',
  'fd00::2',
  'fd00::3',
  'fd00::1:0:0:1',
  'fd00:0:0:1::1',
  'fd01::1',
  '2001:db8::1',
  '::1',
  '8000::1',
  'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff',
  '::ffff:10.0.0.1',
];

function buildCorpus(): Array<{ spec: EventSpec; bytes: Buffer }> {
  const specs: EventSpec[] = [];
  const reasons: Array<number | null> = [null, 0, NO_SOCKET, NETFILTER_DROP, 0x20001];
  const netnses = [undefined, NETNS_A, NETNS_B];
  // 0: no device (and no skb_iif); the same ifindexes in both namespaces, as interfaces are numbered per namespace.
  const ifindexes = [0, IFINDEX_1, IFINDEX_2, IFINDEX_3];
  // No IP header at all (ARP, a truncated skb, …).
  for (const reason of reasons) {
    for (const netns of netnses) for (const ifindex of ifindexes) specs.push({ reason, netns, ifindex, protocol: 0x0806 });
  }

  const l4: EventSpec[] = [
    {},
    { l4Proto: 'tcp', sport: 53, dport: 40000, tcpFlags: 0x12 },
    { l4Proto: 'tcp', sport: 40000, dport: 54, tcpFlags: 0x02 },
    { l4Proto: 'udp', sport: 40000, dport: 53 },
    { l4Proto: 'udp', sport: 5353, dport: 5353 },
    { l4Proto: 'udp', sport: 54, dport: 53 },
    { l4Proto: 'tcp', sport: 65535, dport: 1, tcpFlags: 0x04 },
    { l4Proto: 'udp', fragment: true },
    { l4Proto: 'tcp', fragment: true },
    { l4Proto: 47 }, // GRE: no ports
  ];
  const v4l4: EventSpec[] = [...l4, { l4Proto: 'icmp', icmpType: 3, icmpCode: 3 }];
  const v6l4: EventSpec[] = [...l4, { l4Proto: 'icmp6', icmpType: 1, icmpCode: 4 }];

  let i = 0;
  for (const saddr of V4_ADDRESSES) {
    for (const daddr of V4_ADDRESSES) {
      for (const proto of v4l4) {
        // Spread reasons and namespaces over the packets rather than multiplying them.
        const ifindex = ifindexes[Math.floor(i / 3) % ifindexes.length];
        specs.push({ ...proto, saddr, daddr, reason: reasons[i % reasons.length], netns: netnses[i % netnses.length], ifindex });
        i++;
      }
    }
  }
  for (const saddr of V6_ADDRESSES) {
    for (const daddr of V6_ADDRESSES) {
      for (const proto of v6l4) {
        const ifindex = ifindexes[Math.floor(i / 3) % ifindexes.length];
        specs.push({ ...proto, saddr, daddr, reason: reasons[i % reasons.length], netns: netnses[(i + 1) % netnses.length], ifindex });
        i++;
      }
    }
  }
  return specs.map((spec) => ({ spec, bytes: encodeEvent(spec) }));
}

function prefix(text: string): AddressPrefix {
  const parsed = parseAddressPrefix(text);
  assert.ok(parsed, text);
  return parsed;
}

const ADDRESS_PREFIXES = [
  '0.0.0.0/0',
  '0.0.0.0/1',
  '128.0.0.0/1',
  '10.0.0.0/8',
  '10.0.0.0/16',
  '10.0.0.0/31', // 10.0.0.0 and 10.0.0.1
  '10.0.0.2/31', // 10.0.0.2 and 10.0.0.3
  '10.0.0.1/32',
  '10.0.0.2/32',
  '10.0.0.99/24', // host bits set: the mask ignores them
  '::/0',
  '::/1',
  '8000::/1',
  'fd00::/8',
  'fd00::/16',
  'fd00::/64',
  'fd00::/96',
  'fd00::/127', // fd00:: and fd00::1
  'fd00::2/127', // fd00::2 and fd00::3
  'fd00::1/128',
  'fd00::3/128',
  '::ffff:0:0/96', // IPv4-mapped: an IPv6 prefix never matches an IPv4 event
];

function buildFilters(): Array<{ name: string; filter: DropFilter }> {
  const filters: Array<{ name: string; filter: DropFilter }> = [{ name: 'none', filter: {} }];
  for (const proto of ['tcp', 'udp', 'icmp', 'icmp6'] as const) filters.push({ name: `proto ${proto}`, filter: { proto } });
  for (const port of [53, 54, 5353, 40000, 1, 65535]) filters.push({ name: `port ${port}`, filter: { port } });
  for (const netns of [NETNS_A, NETNS_B, 12345]) filters.push({ name: `netns ${netns}`, filter: { netns } });
  for (const reasons of [[NO_SOCKET], [NETFILTER_DROP, NO_SOCKET], [0], [0x20001], [TCP_CSUM], []]) {
    filters.push({ name: `reasons ${reasons.join(',')}`, filter: { reasons } });
  }
  for (const excludedReasons of [[NO_SOCKET], [NETFILTER_DROP, NO_SOCKET], [0], [0x20001], [TCP_CSUM]]) {
    filters.push({ name: `excluded reasons ${excludedReasons.join(',')}`, filter: { excludedReasons } });
  }
  for (const netns of [NETNS_A, NETNS_B]) {
    for (const ifindex of [IFINDEX_1, IFINDEX_2, IFINDEX_3, 99]) filters.push({ name: `netns ${netns} ifindex ${ifindex}`, filter: { netns, ifindex } });
  }
  for (const text of ADDRESS_PREFIXES) {
    filters.push({ name: `src ${text}`, filter: { srcAddr: prefix(text) } });
    filters.push({ name: `dst ${text}`, filter: { dstAddr: prefix(text) } });
  }
  const combinations: Array<[string, DropFilter]> = [
    ['udp port 53', { proto: 'udp', port: 53 }],
    ['tcp port 53', { proto: 'tcp', port: 53 }],
    ['icmp port 53', { proto: 'icmp', port: 53 }],
    ['udp 5353 netns A', { proto: 'udp', port: 5353, netns: NETNS_A }],
    ['src 10/8 dst 10.0.0.2/31', { srcAddr: prefix('10.0.0.0/8'), dstAddr: prefix('10.0.0.2/31') }],
    ['src v4 dst v6', { srcAddr: prefix('10.0.0.0/8'), dstAddr: prefix('fd00::/8') }],
    ['src fd00::/64 dst fd00::2/127 udp', { srcAddr: prefix('fd00::/64'), dstAddr: prefix('fd00::2/127'), proto: 'udp' }],
    ['reason NO_SOCKET udp 53', { reasons: [NO_SOCKET], proto: 'udp', port: 53 }],
    ['reason NETFILTER_DROP netns B dst /0', { reasons: [NETFILTER_DROP], netns: NETNS_B, dstAddr: prefix('0.0.0.0/0') }],
    [
      'everything',
      {
        reasons: [NO_SOCKET, NETFILTER_DROP, 0],
        netns: NETNS_A,
        proto: 'udp',
        port: 53,
        srcAddr: prefix('10.0.0.0/30'),
        dstAddr: prefix('10.0.0.0/30'),
      },
    ],
    ['sixteen reasons', { reasons: [...Array.from({ length: 15 }, (_, i) => 100 + i), NO_SOCKET] }],
    ['sixteen excluded reasons', { excludedReasons: [...Array.from({ length: 15 }, (_, i) => 100 + i), NO_SOCKET] }],
    // An exclusion wins over an inclusion: only NETFILTER_DROP is left.
    ['reasons NO_SOCKET,NETFILTER_DROP excluded NO_SOCKET', { reasons: [NO_SOCKET, NETFILTER_DROP], excludedReasons: [NO_SOCKET] }],
    ['reasons NO_SOCKET excluded NO_SOCKET', { reasons: [NO_SOCKET], excludedReasons: [NO_SOCKET] }],
    ['reasons NO_SOCKET excluded 0', { reasons: [NO_SOCKET], excludedReasons: [0] }],
    ['netns A ifindex 2 udp excluded NETFILTER_DROP', { netns: NETNS_A, ifindex: IFINDEX_2, proto: 'udp', excludedReasons: [NETFILTER_DROP] }],
  ];
  for (const [name, filter] of combinations) filters.push({ name, filter });
  return filters;
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

test('the model reads the encoder the way the decoder does (sanity of the fixture)', () => {
  const event = encodeEvent({ reason: NO_SOCKET, netns: NETNS_A, saddr: '10.0.0.1', daddr: '10.0.0.2', l4Proto: 'udp', sport: 1, dport: 53 });
  const [decoded] = decodeBatch(event);
  assert.equal(decoded.reason, NO_SOCKET);
  assert.equal(decoded.netns, NETNS_A);
  assert.equal(decoded.family, 4);
  assert.equal(decoded.l4Proto, 17);
  assert.equal(decoded.sport, 1);
  assert.equal(decoded.dport, 53);
  assert.equal(event.readUInt16LE(EVENT.flags), EVENT_FLAG.HAS_REASON | EVENT_FLAG.HAS_NETNS | EVENT_FLAG.HAS_L3 | EVENT_FLAG.HAS_L4_PROTO | EVENT_FLAG.HAS_PORTS);
});

test('the model: masks and prefixes at the word boundaries', () => {
  assert.equal(htonl(0xffffff00), 0x00ffffff);
  assert.equal(htonl(0x80000000), 0x00000080);
  assert.equal(htonl(0x12345678), 0x78563412);
  const cfg = lowerFilter({ dstAddr: prefix('fd00::/127') }, 0);
  assert.equal(bpfAccepts(cfg, encodeEvent({ daddr: 'fd00::1' })), true);
  assert.equal(bpfAccepts(cfg, encodeEvent({ daddr: 'fd00::2' })), false);
  const cfg31 = lowerFilter({ dstAddr: prefix('10.0.0.2/31') }, 0);
  assert.equal(bpfAccepts(cfg31, encodeEvent({ daddr: '10.0.0.3' })), true);
  assert.equal(bpfAccepts(cfg31, encodeEvent({ daddr: '10.0.0.1' })), false);
  const cfg1 = lowerFilter({ srcAddr: prefix('128.0.0.0/1') }, 0);
  assert.equal(bpfAccepts(cfg1, encodeEvent({ saddr: '128.0.0.1' })), true);
  assert.equal(bpfAccepts(cfg1, encodeEvent({ saddr: '127.255.255.255' })), false);
});

/** Filters that no drop in the corpus passes: a namespace, reason or combination that does not occur. */
const SELECTS_NOTHING = new Set([
  'netns 12345',
  'icmp port 53',
  `reasons ${TCP_CSUM}`,
  'src v4 dst v6',
  `netns ${NETNS_A} ifindex 99`,
  `netns ${NETNS_B} ifindex 99`,
  'reasons NO_SOCKET excluded NO_SOCKET',
]);

test('matches() and the BPF filter agree on every (filter, event) pair', () => {
  const corpus = buildCorpus();
  const filters = buildFilters();
  let accepted = 0;
  let rejected = 0;
  const disagreements: string[] = [];
  for (const { name, filter } of filters) {
    const config = lowerFilter(filter, 65536);
    let filterAccepted = 0;
    for (const { spec, bytes } of corpus) {
      const [event] = decodeBatch(bytes);
      const user = matches(filter, event);
      const kernel = bpfAccepts(config, bytes);
      if (user !== kernel) {
        disagreements.push(`${name}: matches()=${user} bpf=${kernel} for ${JSON.stringify(spec)}`);
      }
      if (kernel) {
        accepted++;
        filterAccepted++;
      } else {
        rejected++;
      }
    }
    // Every filter in the list selects something from the corpus and (but the empty one) leaves something out.
    if (SELECTS_NOTHING.has(name)) assert.equal(filterAccepted, 0, `${name} accepts something`);
    else assert.ok(filterAccepted > 0, `${name} accepts nothing`);
    if (name !== 'none' && name !== 'reasons ' && name !== `excluded reasons ${TCP_CSUM}` && !/\/0$/.test(name)) {
      assert.ok(filterAccepted < corpus.length, `${name} accepts everything`);
    }
  }
  assert.deepEqual(disagreements.slice(0, 20), [], `${disagreements.length} disagreements`);
  assert.ok(corpus.length > 1000, `corpus of ${corpus.length} events`);
  assert.ok(accepted > 1000, `${accepted} accepted pairs`);
  assert.ok(rejected > 1000, `${rejected} rejected pairs`);
});

test('verdicts on hand-picked pairs (the model and matches() are not both trivially true)', () => {
  const cases: Array<[DropFilter, EventSpec, boolean]> = [
    [{ port: 53 }, { saddr: '10.0.0.1', l4Proto: 'udp', sport: 40000, dport: 53 }, true],
    [{ port: 53 }, { saddr: '10.0.0.1', l4Proto: 'udp', sport: 53, dport: 40000 }, true],
    [{ port: 53 }, { saddr: '10.0.0.1', l4Proto: 'udp', sport: 54, dport: 5353 }, false],
    [{ port: 53 }, { saddr: '10.0.0.1', l4Proto: 'icmp' }, false],
    [{ port: 53 }, { saddr: '10.0.0.1', l4Proto: 'udp', fragment: true }, false],
    [{ proto: 'udp' }, { saddr: '10.0.0.1', l4Proto: 'udp', fragment: true }, true],
    [{ proto: 'udp' }, { reason: NO_SOCKET }, false],
    [{ proto: 'icmp' }, { saddr: 'fd00::1', l4Proto: 'icmp6' }, false],
    [{ proto: 'icmp6' }, { saddr: 'fd00::1', l4Proto: 'icmp6' }, true],
    [{ netns: NETNS_A }, { netns: NETNS_A }, true],
    [{ netns: NETNS_A }, { netns: NETNS_B }, false],
    [{ netns: NETNS_A }, {}, false],
    [{ reasons: [NO_SOCKET] }, { reason: NO_SOCKET }, true],
    [{ reasons: [NO_SOCKET] }, { reason: NETFILTER_DROP }, false],
    [{ reasons: [NO_SOCKET] }, { reason: null }, false],
    [{ reasons: [0] }, { reason: null }, true], // no reason field: ev.reason stays 0 in the kernel
    [{ excludedReasons: [NO_SOCKET] }, { reason: NO_SOCKET }, false],
    [{ excludedReasons: [NO_SOCKET] }, { reason: NETFILTER_DROP }, true],
    [{ excludedReasons: [NO_SOCKET, NETFILTER_DROP] }, { reason: NETFILTER_DROP }, false],
    [{ excludedReasons: [0] }, { reason: null }, false],
    [{ reasons: [NO_SOCKET, NETFILTER_DROP], excludedReasons: [NETFILTER_DROP] }, { reason: NETFILTER_DROP }, false],
    [{ reasons: [NO_SOCKET, NETFILTER_DROP], excludedReasons: [NETFILTER_DROP] }, { reason: NO_SOCKET }, true],
    [{ reasons: [NO_SOCKET], excludedReasons: [NETFILTER_DROP] }, { reason: TCP_CSUM }, false],
    [{ netns: NETNS_A, ifindex: IFINDEX_2 }, { netns: NETNS_A, ifindex: IFINDEX_2 }, true],
    [{ netns: NETNS_A, ifindex: IFINDEX_2 }, { netns: NETNS_A, ifindex: IFINDEX_3 }, false],
    [{ netns: NETNS_A, ifindex: IFINDEX_2 }, { netns: NETNS_A }, false],
    [{ netns: NETNS_A, ifindex: IFINDEX_2 }, { netns: NETNS_B, ifindex: IFINDEX_2 }, false],
    [{ netns: NETNS_A, ifindex: IFINDEX_2 }, { ifindex: IFINDEX_2 }, false], // the namespace unknown
    [{ srcAddr: prefix('0.0.0.0/0') }, { saddr: '1.2.3.4' }, true],
    [{ srcAddr: prefix('0.0.0.0/0') }, { saddr: 'fd00::1' }, false],
    [{ srcAddr: prefix('0.0.0.0/0') }, {}, false],
    [{ srcAddr: prefix('::/0') }, { saddr: 'fd00::1' }, true],
    [{ dstAddr: prefix('fd00::/64') }, { daddr: 'fd00::ffff:1' }, true],
    [{ dstAddr: prefix('fd00::/64') }, { daddr: 'fd00:0:0:1::1' }, false],
    [{ dstAddr: prefix('10.0.0.1/32') }, { daddr: '10.0.0.1' }, true],
    [{ dstAddr: prefix('10.0.0.1/32') }, { saddr: '10.0.0.1', daddr: '10.0.0.2' }, false],
  ];
  for (const [filter, spec, expected] of cases) {
    const bytes = encodeEvent(spec);
    const label = `${JSON.stringify(filter, (_k, v: unknown) => (v instanceof Uint8Array ? [...v].join('.') : v))} on ${JSON.stringify(spec)}`;
    assert.equal(bpfAccepts(lowerFilter(filter, 0), bytes), expected, `bpf: ${label}`);
    assert.equal(matches(filter, decodeBatch(bytes)[0]), expected, `matches: ${label}`);
  }
});

// ---------------------------------------------------------------------------
// lowerFilter's bytes
// ---------------------------------------------------------------------------

test('lowerFilter: an empty filter is all zeros but the wakeup threshold', () => {
  const config = lowerFilter({}, 65536);
  assert.equal(config.length, CONFIG_SIZE);
  assert.equal(config.readUInt32LE(CONFIG.wakeup_bytes), 65536);
  const rest = Buffer.from(config);
  rest.writeUInt32LE(0, CONFIG.wakeup_bytes);
  assert.ok(
    rest.every((byte) => byte === 0),
    'only wakeup_bytes is set',
  );
});

test('lowerFilter: every field at its offset, little-endian', () => {
  const config = lowerFilter(
    {
      proto: 'udp',
      port: 0x1234,
      srcAddr: prefix('10.20.30.40/24'),
      dstAddr: prefix('fd00::abcd/127'),
      netns: 0xf0000001,
      ifindex: 0x01020304,
      reasons: [3, 0x20001, 12],
      excludedReasons: [0x30002, 7],
    },
    0x10000,
  );
  assert.equal(config.length, CONFIG_SIZE);
  assert.deepEqual([...config.subarray(CONFIG.saddr, CONFIG.saddr + 16)], [10, 20, 30, 40, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...config.subarray(CONFIG.daddr, CONFIG.daddr + 16)], [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xab, 0xcd]);
  assert.equal(config.readUInt8(CONFIG.saddr_family), 4);
  assert.equal(config.readUInt8(CONFIG.saddr_prefix), 24);
  assert.equal(config.readUInt8(CONFIG.daddr_family), 6);
  assert.equal(config.readUInt8(CONFIG.daddr_prefix), 127);
  assert.equal(config[CONFIG.port], 0x34, 'port low byte first');
  assert.equal(config[CONFIG.port + 1], 0x12);
  assert.equal(config.readUInt8(CONFIG.l4_proto), 17);
  assert.deepEqual([...config.subarray(CONFIG.netns, CONFIG.netns + 4)], [0x01, 0, 0, 0xf0]);
  assert.equal(config.readUInt32LE(CONFIG.wakeup_bytes), 0x10000);
  assert.equal(config.readUInt8(CONFIG.reason_count), 3);
  assert.deepEqual([...config.subarray(CONFIG.reasons, CONFIG.reasons + 12)], [3, 0, 0, 0, 1, 0, 2, 0, 12, 0, 0, 0]);
  assert.ok(config.subarray(CONFIG.reasons + 12, CONFIG.reasons + 4 * MAX_REASONS).every((byte) => byte === 0));
  assert.deepEqual([...config.subarray(CONFIG.ifindex, CONFIG.ifindex + 4)], [4, 3, 2, 1]);
  assert.equal(config.readUInt8(CONFIG.excluded_reason_count), 2);
  assert.deepEqual([...config.subarray(CONFIG.excluded_reasons, CONFIG.excluded_reasons + 8)], [2, 0, 3, 0, 7, 0, 0, 0]);
  assert.ok(config.subarray(CONFIG.excluded_reasons + 8, CONFIG.excluded_reasons + 4 * MAX_REASONS).every((byte) => byte === 0));
});

test('lowerFilter: an ifindex only with its namespace (ifindexes are per namespace)', () => {
  assert.throws(() => lowerFilter({ ifindex: 2 }, 0), /an ifindex filter needs a netns filter/);
  assert.equal(lowerFilter({ netns: NETNS_A, ifindex: 2 }, 0).readUInt32LE(CONFIG.ifindex), 2);
});

test('lowerFilter: protocol numbers', () => {
  for (const [proto, number] of [
    ['tcp', 6],
    ['udp', 17],
    ['icmp', 1],
    ['icmp6', 58],
  ] as const) {
    assert.equal(lowerFilter({ proto }, 0).readUInt8(CONFIG.l4_proto), number);
  }
});

test('lowerFilter: 16 reasons fit, 17 throw; as many excluded ones', () => {
  const sixteen = Array.from({ length: MAX_REASONS }, (_, i) => i + 1);
  const config = lowerFilter({ reasons: sixteen }, 0);
  assert.equal(config.readUInt8(CONFIG.reason_count), 16);
  assert.equal(config.readUInt32LE(CONFIG.reasons + 4 * 15), 16);
  assert.throws(() => lowerFilter({ reasons: [...sixteen, 17] }, 0), RangeError);
  assert.throws(() => lowerFilter({ reasons: [...sixteen, 17] }, 0), /at most 16 reasons/);
  const excluded = lowerFilter({ excludedReasons: sixteen }, 0);
  assert.equal(excluded.readUInt8(CONFIG.excluded_reason_count), 16);
  assert.equal(excluded.readUInt32LE(CONFIG.excluded_reasons + 4 * 15), 16);
  assert.throws(() => lowerFilter({ excludedReasons: [...sixteen, 17] }, 0), /at most 16 excluded reasons/);
});

test('lowerFilter: stream mode by default, count mode on request; the filter bytes are the same', () => {
  const filter: DropFilter = { proto: 'tcp', port: 443, reasons: [NO_SOCKET] };
  const stream = lowerFilter(filter, 4096);
  const count = lowerFilter(filter, 4096, 'count');
  assert.equal(stream.readUInt8(CONFIG.mode), MODE.stream);
  assert.equal(count.readUInt8(CONFIG.mode), MODE.count);
  assert.equal(MODE.count, 1);
  // Counting happens after packet_matches(): the mode changes nothing else.
  count.writeUInt8(MODE.stream, CONFIG.mode);
  assert.deepEqual(count, stream);
});

// ---------------------------------------------------------------------------
// Property: random filters × random events
// ---------------------------------------------------------------------------

// Values drawn from small pools, so that random filters and events often meet, and from anywhere.
const anyU32 = fc.integer({ min: 0, max: 0xffffffff });
const reasonCode = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(0, NO_SOCKET, NETFILTER_DROP, TCP_CSUM, 0x20001) }, { weight: 1, arbitrary: anyU32 });
const netnsInode = fc.oneof(fc.constantFrom(NETNS_A, NETNS_B), fc.integer({ min: 1, max: 0xffffffff }));
const interfaceIndex = fc.oneof(fc.constantFrom(IFINDEX_1, IFINDEX_2, IFINDEX_3), fc.integer({ min: 1, max: 0xffffffff }));
const portNumber = fc.oneof(fc.constantFrom(1, 53, 65535), fc.integer({ min: 1, max: 65535 }));
const BASE_ADDRESSES = { 4: ['10.0.0.1', '128.0.0.1', '0.0.0.0', '255.255.255.255'], 6: ['fd00::1', '::ffff:10.0.0.1', '::', '8000::1'] } as const;
const addressLength = (family: Family) => (family === 4 ? 32 : 128);

/** A base address, with one bit flipped about half the time: a prefix's edge is where lowerings go wrong. */
function addressOf(family: Family): fc.Arbitrary<Uint8Array> {
  return fc.tuple(fc.constantFrom(...BASE_ADDRESSES[family]), fc.option(fc.integer({ min: 0, max: addressLength(family) - 1 }))).map(([text, bit]) => {
    const bytes = Uint8Array.from(parseAddressPrefix(text)!.bytes);
    if (bit !== null) bytes[bit >> 3] ^= 0x80 >> (bit & 7);
    return bytes;
  });
}

const family = fc.constantFrom<Family>(4, 6);
const addressPrefix: fc.Arbitrary<AddressPrefix> = family.chain((f) =>
  fc.record({ family: fc.constant(f), bytes: addressOf(f), prefixLength: fc.integer({ min: 0, max: addressLength(f) }) }),
);

/** Mostly absent: a filter with every field set rarely passes anything. */
const sometimes = <T>(arbitrary: fc.Arbitrary<T>) => fc.oneof({ weight: 3, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary });

/** Filters as the CLI builds them: ports from 1, an ifindex only with a netns, at most MAX_REASONS codes each. */
const randomFilter: fc.Arbitrary<DropFilter> = fc
  .record({
    proto: sometimes(fc.constantFrom<ProtocolName>('tcp', 'udp', 'icmp', 'icmp6')),
    port: sometimes(portNumber),
    srcAddr: sometimes(addressPrefix),
    dstAddr: sometimes(addressPrefix),
    netns: sometimes(netnsInode),
    ifindex: sometimes(interfaceIndex),
    reasons: sometimes(fc.array(reasonCode, { maxLength: MAX_REASONS })),
    excludedReasons: sometimes(fc.array(reasonCode, { maxLength: MAX_REASONS })),
  })
  .map((fields) => {
    const filter: DropFilter = {};
    for (const [key, value] of Object.entries(fields)) if (value !== undefined) Object.assign(filter, { [key]: value });
    if (filter.netns === undefined) delete filter.ifindex;
    return filter;
  });

/** Events as the BPF program writes them (encodeEvent sets its flags): L4 fields only after an L3 header. */
const randomEvent: fc.Arbitrary<EventSpec> = fc
  .record({
    reason: fc.option(reasonCode),
    netns: fc.option(netnsInode),
    ifindex: fc.oneof(fc.constant(0), interfaceIndex),
    l3: fc.option(
      family.chain((f) =>
        fc.record({
          family: fc.constant(f),
          saddr: addressOf(f),
          daddr: addressOf(f),
          l4Proto: fc.option(fc.constantFrom<EventSpec['l4Proto']>('tcp', 'udp', 'icmp', 'icmp6', 47, 0)),
          fragment: fc.boolean(),
          sport: portNumber,
          dport: fc.oneof(portNumber, fc.constant(0)),
        }),
      ),
    ),
  })
  .map(({ reason, netns, ifindex, l3 }): EventSpec => {
    const spec: EventSpec = { reason, ifindex, ...(netns === null ? {} : { netns }) };
    if (l3 === null) return spec;
    const { family: f, saddr, daddr, l4Proto, ...l4 } = l3;
    return { ...spec, family: f, saddr: formatAddress(saddr, f), daddr: formatAddress(daddr, f), ...(l4Proto === null ? {} : { l4Proto, ...l4 }) };
  });

test('property: matches() and the BPF filter agree on random filters × random events', () => {
  let accepted = 0;
  fc.assert(
    fc.property(randomFilter, fc.array(randomEvent, { minLength: 1, maxLength: 8 }), (filter, specs) => {
      const config = lowerFilter(filter, 65536);
      for (const spec of specs) {
        const bytes = encodeEvent(spec);
        const kernel = bpfAccepts(config, bytes);
        assert.equal(matches(filter, decodeBatch(bytes)[0]), kernel, `bpf says ${kernel} for ${JSON.stringify(spec)}`);
        if (kernel) accepted++;
      }
    }),
    { numRuns: 1000, includeErrorInReport: true },
  );
  // Both verdicts occur: a generator whose filters reject everything would agree trivially.
  assert.ok(accepted > 200, `${accepted} accepted pairs`);
});
