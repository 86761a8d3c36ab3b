// check(): raw flag values → validated options or a UsageError naming the flag;
// resolveFilter(): netns and reason names → numbers, against the machine.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors';
import { EVENT_SIZE, PACKET_SIZE } from '../../src/events/layout';
import {
  check,
  DEFAULT_RING_BYTES,
  OWN_NETNS_PATH,
  resolveFilter,
  resolveInterface,
  type FilterSpec,
  type InterfaceIndex,
  type RawArgs,
  type StatInode,
} from '../../src/commands/options';
import { ReasonTable } from '../../src/events/reasons';
import { loadReasonTable, reasonCode } from './helpers';

/** Asserts check(raw) throws a UsageError whose message starts with `--flag: expected`. */
function assertUsage(raw: RawArgs, flag: string, alsoMatches?: RegExp): UsageError {
  let caught: unknown;
  try {
    check(raw);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof UsageError, `expected a UsageError for ${JSON.stringify(raw)}, got ${String(caught)}`);
  assert.match(caught.message, new RegExp(`^--${flag}: expected `), caught.message);
  if (alsoMatches) assert.match(caught.message, alsoMatches);
  return caught;
}

function bytesOf(...values: number[]): Uint8Array {
  const bytes = new Uint8Array(16);
  bytes.set(values);
  return bytes;
}

// ---------------------------------------------------------------------------
// check(): valid input
// ---------------------------------------------------------------------------

test('check: no flags gives the defaults', () => {
  assert.deepEqual(check({}), {
    filter: {
      proto: undefined,
      port: undefined,
      srcAddr: undefined,
      dstAddr: undefined,
      netns: undefined,
      ifname: undefined,
      reasonNames: [],
      excludedReasonNames: [],
      expression: undefined,
    },
    output: 'text',
    count: null,
    durationMs: null,
    readyFile: null,
    ringBytes: DEFAULT_RING_BYTES,
    logLevel: 'warn',
    hints: true,
    nftTrace: false,
    socket: true,
    pcap: null,
    command: null,
    stack: false,
  });
  assert.equal(DEFAULT_RING_BYTES, 8 * 1024 * 1024);
});

test('check: yargs defaults (output text, ring-size 8M, log-level warn) give the same options', () => {
  assert.deepEqual(check({ output: 'text', 'ring-size': '8M', 'log-level': 'warn' }), check({}));
});

test('check: every flag at once', () => {
  const options = check({
    'filter-proto': 'udp',
    'filter-port': '53',
    'filter-src-ip': '10.0.0.0/8',
    'filter-dst-ip': 'fd00::1',
    'filter-netns': 'myns',
    'filter-ifname': 'eth0',
    'filter-reason': ['NO_SOCKET', 'netfilter_drop'],
    'exclude-reason': ['TCP_CSUM,udp_csum'],
    expression: ['tcp[13] & 2', '!= 0 and', 'port', '53'],
    output: 'json',
    count: '10',
    duration: '2.5',
    'ready-file': '/tmp/ready',
    'ring-size': '16M',
    'log-level': 'debug',
    hints: false,
    'nft-trace': true,
    socket: false,
    write: '/tmp/drops.pcapng',
    snaplen: '1500',
    command: ['dig', '@10.0.0.2'],
    stack: true,
  });
  assert.deepEqual(options, {
    filter: {
      proto: 'udp',
      port: 53,
      srcAddr: { family: 4, bytes: bytesOf(10, 0, 0, 0), prefixLength: 8 },
      dstAddr: { family: 6, bytes: bytesOf(0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), prefixLength: 128 },
      netns: 'myns',
      ifname: 'eth0',
      reasonNames: ['NO_SOCKET', 'netfilter_drop'],
      excludedReasonNames: ['TCP_CSUM', 'udp_csum'],
      expression: 'tcp[13] & 2 != 0 and port 53',
    },
    output: 'json',
    count: 10,
    durationMs: 2500,
    readyFile: '/tmp/ready',
    ringBytes: 16 << 20,
    logLevel: 'debug',
    hints: false,
    nftTrace: true,
    socket: false,
    pcap: { path: '/tmp/drops.pcapng', snaplen: 1500 },
    command: ['dig', '@10.0.0.2'],
    stack: true,
  });
});

test('check -w: text output without -w, none with it unless -o asks; --snaplen 256 by default', () => {
  assert.equal(check({}).output, 'text');
  assert.deepEqual(check({ write: 'x.pcapng' }).pcap, { path: 'x.pcapng', snaplen: 256 });
  assert.equal(check({ write: 'x.pcapng' }).output, null);
  assert.equal(check({ write: 'x.pcapng', output: 'json' }).output, 'json');
  assert.equal(check({ write: '-' }).output, null);
  assert.equal(check({ write: '-', snaplen: '65535' }).pcap?.snaplen, 65535);
  // The most that 4 records (each with the ring's 8-byte header) of a 4K ring hold: 1024 bytes a record.
  const fits = 1024 - 8 - EVENT_SIZE - PACKET_SIZE;
  assert.equal(check({ write: 'x', snaplen: String(fits), 'ring-size': '4K' }).pcap?.snaplen, fits);
  assert.throws(() => check({ write: 'x', snaplen: String(fits + 1), 'ring-size': '4K' }), UsageError);
});

test('check -w: bad values are one-line usage errors', () => {
  const cases: Array<[RawArgs, RegExp]> = [
    [{ write: 'x', snaplen: '0' }, /^--snaplen: expected a whole number of bytes from 1 to 65535, got "0"$/],
    [{ write: 'x', snaplen: '65536' }, /^--snaplen: expected a whole number of bytes from 1 to 65535, got "65536"$/],
    [{ write: 'x', snaplen: '12k' }, /^--snaplen: expected/],
    [{ snaplen: '100' }, /^--snaplen: only with -w FILE$/],
    [{ write: '' }, /^--write: expected a file path, or - for stdout, got ""$/],
    [{ write: '-', output: 'json' }, /^-w -: stdout carries only the pcapng file/],
    // 4 records of 8 + 184 + 16 + 1024 bytes: more than a 4K ring
    [{ write: 'x', snaplen: '1024', 'ring-size': '4K' }, /^--snaplen 1024: a --ring-size of 4096 bytes holds fewer than 4 such records/],
  ];
  for (const [raw, message] of cases)
    assert.throws(
      () => check(raw),
      (error: Error) => error instanceof UsageError && message.test(error.message),
      JSON.stringify(raw),
    );
});

test('check: every protocol name is accepted, in any case', () => {
  for (const proto of ['tcp', 'udp', 'icmp', 'icmp6'] as const) {
    assert.equal(check({ 'filter-proto': proto }).filter.proto, proto);
    assert.equal(check({ 'filter-proto': proto.toUpperCase() }).filter.proto, proto);
  }
  assert.equal(check({ 'filter-proto': 'Udp' }).filter.proto, 'udp');
  assert.equal(check({ 'filter-proto': 'ICMP6' }).filter.proto, 'icmp6');
});

test('check: interface names as the kernel allows them', () => {
  for (const name of ['eth0', 'lo', 'veth-1.100', 'a'.repeat(15), 'br_0@x', '-x', '0']) {
    assert.equal(check({ 'filter-ifname': name }).filter.ifname, name);
  }
});

test('check: port boundaries 1 and 65535', () => {
  assert.equal(check({ 'filter-port': '1' }).filter.port, 1);
  assert.equal(check({ 'filter-port': '65535' }).filter.port, 65535);
});

test('check: an address without /LEN is a host prefix (/32, /128)', () => {
  assert.deepEqual(check({ 'filter-src-ip': '192.168.1.7' }).filter.srcAddr, {
    family: 4,
    bytes: bytesOf(192, 168, 1, 7),
    prefixLength: 32,
  });
  assert.equal(check({ 'filter-dst-ip': '2001:db8::42' }).filter.dstAddr?.prefixLength, 128);
});

test('check: /LEN prefixes at the boundaries', () => {
  for (const [text, family, length] of [
    ['0.0.0.0/0', 4, 0],
    ['128.0.0.0/1', 4, 1],
    ['10.1.2.3/31', 4, 31],
    ['10.1.2.3/32', 4, 32],
    ['::/0', 6, 0],
    ['2001:db8::/64', 6, 64],
    ['2001:db8::1/127', 6, 127],
    ['2001:db8::1/128', 6, 128],
  ] as const) {
    const prefix = check({ 'filter-dst-ip': text }).filter.dstAddr;
    assert.equal(prefix?.family, family, text);
    assert.equal(prefix?.prefixLength, length, text);
  }
});

test('check: IPv6 forms: compressed, full, embedded IPv4', () => {
  assert.deepEqual(check({ 'filter-src-ip': '2001:db8:0:0:0:0:0:1' }).filter.srcAddr?.bytes, bytesOf(0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1));
  assert.deepEqual(check({ 'filter-src-ip': '::ffff:192.0.2.1/96' }).filter.srcAddr, {
    family: 6,
    bytes: bytesOf(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1),
    prefixLength: 96,
  });
  assert.deepEqual(check({ 'filter-src-ip': 'fe80::/10' }).filter.srcAddr?.bytes, bytesOf(0xfe, 0x80));
});

test('check: ring-size suffixes K, M, G in either case, and plain bytes', () => {
  assert.equal(check({ 'ring-size': '4K' }).ringBytes, 4096);
  assert.equal(check({ 'ring-size': '4k' }).ringBytes, 4096);
  assert.equal(check({ 'ring-size': '64k' }).ringBytes, 64 << 10);
  assert.equal(check({ 'ring-size': '1m' }).ringBytes, 1 << 20);
  assert.equal(check({ 'ring-size': '32M' }).ringBytes, 32 << 20);
  assert.equal(check({ 'ring-size': '1G' }).ringBytes, 1 << 30);
  assert.equal(check({ 'ring-size': '1g' }).ringBytes, 1 << 30);
  assert.equal(check({ 'ring-size': '8192' }).ringBytes, 8192);
});

const REASON_FLAGS = [
  ['filter-reason', 'reasonNames'],
  ['exclude-reason', 'excludedReasonNames'],
] as const;

test('check: --filter-reason and --exclude-reason are repeatable and take comma lists', () => {
  for (const [flag, field] of REASON_FLAGS) {
    assert.deepEqual(check({ [flag]: ['NO_SOCKET'] }).filter[field], ['NO_SOCKET'], flag);
    assert.deepEqual(check({ [flag]: ['NO_SOCKET,TCP_CSUM', 'udp_csum'] }).filter[field], ['NO_SOCKET', 'TCP_CSUM', 'udp_csum'], flag);
    assert.deepEqual(check({ [flag]: ['NO_SOCKET, TCP_CSUM'] }).filter[field], ['NO_SOCKET', 'TCP_CSUM'], flag);
    assert.deepEqual(check({ [flag]: ['SKB_DROP_REASON_NO_SOCKET'] }).filter[field], ['SKB_DROP_REASON_NO_SOCKET'], flag);
  }
  const both = check({ 'filter-reason': ['NO_SOCKET'], 'exclude-reason': ['TCP_CSUM'] }).filter;
  assert.deepEqual([both.reasonNames, both.excludedReasonNames], [['NO_SOCKET'], ['TCP_CSUM']]);
});

test('check: exactly 16 reasons is allowed, in each list', () => {
  const names = Array.from({ length: 16 }, (_, i) => `R${i}`).join(',');
  const filter = check({ 'filter-reason': [names], 'exclude-reason': [names] }).filter;
  assert.equal(filter.reasonNames.length, 16);
  assert.equal(filter.excludedReasonNames.length, 16);
});

test('check: output json and text, every log level', () => {
  assert.equal(check({ output: 'json' }).output, 'json');
  assert.equal(check({ output: 'text' }).output, 'text');
  for (const level of ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const) {
    assert.equal(check({ 'log-level': level }).logLevel, level);
  }
});

test('check: count and duration', () => {
  assert.equal(check({ count: '1' }).count, 1);
  assert.equal(check({ count: '1000000' }).count, 1000000);
  assert.equal(check({ duration: '0.2' }).durationMs, 200);
  assert.equal(check({ duration: '30' }).durationMs, 30000);
});

test('check: a repeated single-valued flag keeps the last value', () => {
  const raw = { 'filter-port': ['53', '80'], output: ['text', 'json'] } as unknown as RawArgs;
  const options = check(raw);
  assert.equal(options.filter.port, 80);
  assert.equal(options.output, 'json');
});

test('check: netns text is kept for resolveFilter', () => {
  assert.equal(check({ 'filter-netns': '4026531840' }).filter.netns, '4026531840');
  assert.equal(check({ 'filter-netns': '/proc/1/ns/net' }).filter.netns, '/proc/1/ns/net');
});

// ---------------------------------------------------------------------------
// check(): every error path
// ---------------------------------------------------------------------------

test('check: bad --filter-proto lists the accepted protocols', () => {
  for (const bad of ['sctp', 'TCPX', '', '6', 'udp ']) {
    assertUsage({ 'filter-proto': bad }, 'filter-proto', /tcp, udp, icmp, icmp6/);
  }
});

// `proto in PROTOCOLS` would also see Object.prototype: --filter-proto toString would
// lower to l4_proto 0 (every drop sent up) while matches() printed none.
test('check: names from Object.prototype are not protocols', () => {
  for (const bad of ['toString', '__proto__', 'constructor', 'valueOf', 'hasOwnProperty']) {
    assertUsage({ 'filter-proto': bad }, 'filter-proto', /tcp, udp, icmp, icmp6/);
  }
});

test('check: bad --filter-port', () => {
  for (const bad of ['0', '70000', '65536', 'abc', '-1', '5.3', '', ' 53', '0x35', '1e3']) {
    assertUsage({ 'filter-port': bad }, 'filter-port', /from 1 to 65535/);
  }
  const error = assertUsage({ 'filter-port': '70000' }, 'filter-port');
  assert.match(error.message, /got "70000"$/);
});

test('check: bad --filter-src-ip / --filter-dst-ip', () => {
  const bad = [
    '10.0.0.256',
    '10.0.0',
    'example.com',
    '',
    '10.0.0.0/33',
    '10.0.0.0/',
    '10.0.0.0/-1',
    '10.0.0.0/8/8',
    '10.0.0.0/abc',
    '::1/129',
    'fd00::/1000',
    '2001:db8:::1',
    'fd00::g',
  ];
  for (const text of bad) {
    assertUsage({ 'filter-src-ip': text }, 'filter-src-ip', /IPv4 or IPv6/);
    assertUsage({ 'filter-dst-ip': text }, 'filter-dst-ip', /IPv4 or IPv6/);
  }
});

test('check: /32 is the longest IPv4 prefix and /128 the longest IPv6 one', () => {
  assert.equal(check({ 'filter-src-ip': '10.0.0.0/32' }).filter.srcAddr?.prefixLength, 32);
  assertUsage({ 'filter-src-ip': '10.0.0.0/33' }, 'filter-src-ip');
  assert.equal(check({ 'filter-src-ip': '::/128' }).filter.srcAddr?.prefixLength, 128);
  assertUsage({ 'filter-src-ip': '::/129' }, 'filter-src-ip');
});

test('check: empty --filter-netns', () => {
  assertUsage({ 'filter-netns': '' }, 'filter-netns');
  assertUsage({ 'filter-netns': '   ' }, 'filter-netns');
});

test('check: bad --output', () => {
  for (const bad of ['yaml', 'JSON', 'ndjson', '']) assertUsage({ output: bad }, 'output', /text or json/);
});

test('check: bad --count', () => {
  for (const bad of ['0', '-1', '1.5', 'abc', '', '99999999999999999999']) {
    assertUsage({ count: bad }, 'count', /positive whole number/);
  }
});

test('check: bad --duration', () => {
  for (const bad of ['0', '0.0', 'abc', '-1', '', '1s', '1e3', '40000000']) {
    assertUsage({ duration: bad }, 'duration', /positive number of seconds/);
  }
});

test('check: bad --log-level', () => {
  for (const bad of ['verbose', 'WARN', '']) assertUsage({ 'log-level': bad }, 'log-level', /fatal, error, warn/);
});

test('check: empty --ready-file', () => {
  assertUsage({ 'ready-file': '' }, 'ready-file');
});

test('check: bad --ring-size', () => {
  for (const bad of ['3M', '6K', '12288', '1000', '2K', '0', '2048', '2G', '4T', 'big', '', '-8M', '8MB', '1.5M']) {
    assertUsage({ 'ring-size': bad }, 'ring-size', /power of two from 4K to 1G/);
  }
});

test('check: more than 16 reasons', () => {
  const names = Array.from({ length: 17 }, (_, i) => `R${i}`);
  for (const [flag] of REASON_FLAGS) {
    assertUsage({ [flag]: [names.join(',')] }, flag, /at most 16 reasons, got 17/);
    assertUsage({ [flag]: names }, flag, /at most 16/);
  }
});

test('check: a bare --filter-reason or --exclude-reason is an error, not "no filter"', () => {
  for (const [flag] of REASON_FLAGS) assertUsage({ [flag]: [] }, flag, /a drop reason name/);
});

test('check: bad interface names', () => {
  for (const bad of ['', 'a'.repeat(16), 'eth0/1', 'eth0:1', 'eth 0', 'eth\t0', '.', '..', 'ééééééééé']) {
    assertUsage({ 'filter-ifname': bad }, 'filter-ifname', /an interface name such as eth0/);
  }
});

test('check: an IPv6 zone cannot be filtered on', () => {
  assertUsage({ 'filter-dst-ip': 'fe80::1%eth0' }, 'filter-dst-ip');
});

test('check: bad reason syntax', () => {
  for (const bad of ['NO-SOCKET', 'NO SOCKET', '', 'NO_SOCKET,', ',', 'NO_SOCKET;TCP', 'ünïcode']) {
    for (const [flag] of REASON_FLAGS) assertUsage({ [flag]: [bad] }, flag, /drop reason name such as NO_SOCKET/);
  }
});

// ---------------------------------------------------------------------------
// resolveFilter()
// ---------------------------------------------------------------------------

const spec = (overrides: Partial<FilterSpec> = {}): FilterSpec => ({ reasonNames: [], excludedReasonNames: [], ...overrides });

/** A statInode that knows a few paths and records every lookup. */
function fakeStat(known: Record<string, number>): StatInode & { calls: string[] } {
  const calls: string[] = [];
  const stat = ((path: string) => {
    calls.push(path);
    return Object.hasOwn(known, path) ? known[path] : null;
  }) as StatInode & { calls: string[] };
  stat.calls = calls;
  return stat;
}

const noStat: StatInode = (path) => assert.fail(`statInode(${path}) should not be called`);

function assertResolveUsage(fn: () => unknown, pattern: RegExp): UsageError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof UsageError, `expected a UsageError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  return caught;
}

test('resolveFilter: packet fields pass through, no netns and no reasons when not asked', () => {
  const srcAddr = { family: 4 as const, bytes: bytesOf(10), prefixLength: 8 };
  const filter = resolveFilter(spec({ proto: 'tcp', port: 443, srcAddr }), loadReasonTable(), noStat);
  assert.deepEqual(filter, { proto: 'tcp', port: 443, srcAddr, dstAddr: undefined });
  assert.equal('netns' in filter, false);
  assert.equal('reasons' in filter, false);
});

test('resolveFilter: netns as an inode number needs no lookup', () => {
  assert.equal(resolveFilter(spec({ netns: '4026531840' }), loadReasonTable(), noStat).netns, 4026531840);
  assert.equal(resolveFilter(spec({ netns: '4294967295' }), loadReasonTable(), noStat).netns, 0xffffffff);
});

test('resolveFilter: netns as /proc/PID/ns/net is stat-ed', () => {
  const stat = fakeStat({ '/proc/1234/ns/net': 4026532100 });
  assert.equal(resolveFilter(spec({ netns: '/proc/1234/ns/net' }), loadReasonTable(), stat).netns, 4026532100);
  assert.deepEqual(stat.calls, ['/proc/1234/ns/net']);
});

test('resolveFilter: netns as /run/netns/NAME and as NAME resolve to the same file', () => {
  const stat = fakeStat({ '/run/netns/blue': 4026532200 });
  assert.equal(resolveFilter(spec({ netns: '/run/netns/blue' }), loadReasonTable(), stat).netns, 4026532200);
  assert.equal(resolveFilter(spec({ netns: 'blue' }), loadReasonTable(), stat).netns, 4026532200);
  assert.deepEqual(stat.calls, ['/run/netns/blue', '/run/netns/blue']);
});

test('resolveFilter: a missing namespace is a UsageError naming the path', () => {
  const stat = fakeStat({});
  const byName = assertResolveUsage(
    () => resolveFilter(spec({ netns: 'nosuch' }), loadReasonTable(), stat),
    /^--filter-netns: expected a network namespace \(\/run\/netns\/nosuch is not one\), got "nosuch"$/,
  );
  assert.ok(byName);
  assertResolveUsage(() => resolveFilter(spec({ netns: '/proc/999999/ns/net' }), loadReasonTable(), stat), /^--filter-netns: .*\/proc\/999999\/ns\/net is not one/);
});

test('resolveFilter: a relative path is not a namespace name', () => {
  assertResolveUsage(() => resolveFilter(spec({ netns: 'proc/1/ns/net' }), loadReasonTable(), noStat), /^--filter-netns: expected /);
});

// src/commands/options.ts resolveNetns() turns NAME into /run/netns/NAME without checking NAME:
// "." and ".." stat /run/netns and /run, directories, whose inodes then filter out every drop.
test('resolveFilter: "." and ".." are not namespace names', () => {
  const stat = fakeStat({ '/run/netns/.': 1001, '/run/netns/..': 1002 });
  for (const name of ['.', '..']) {
    assertResolveUsage(() => resolveFilter(spec({ netns: name }), loadReasonTable(), stat), /^--filter-netns: expected /);
  }
});

test('resolveFilter: inode 0 is not an inode, so it is looked up as a name', () => {
  const stat = fakeStat({});
  assertResolveUsage(() => resolveFilter(spec({ netns: '0' }), loadReasonTable(), stat), /^--filter-netns: /);
  assert.deepEqual(stat.calls, ['/run/netns/0']);
});

test('resolveFilter: reason names become the kernel codes from the fixture', () => {
  const table = loadReasonTable();
  const noSocket = reasonCode('NO_SOCKET');
  const netfilter = reasonCode('NETFILTER_DROP');
  assert.equal(noSocket, 3); // as recorded in test/fixtures/kernel-reasons.json
  assert.equal(netfilter, 12);
  const filter = resolveFilter(spec({ reasonNames: ['NO_SOCKET', 'NETFILTER_DROP'] }), table, noStat);
  assert.deepEqual(filter.reasons, [noSocket, netfilter]);
});

test('resolveFilter: reason names are case-insensitive and may carry SKB_DROP_REASON_', () => {
  const table = loadReasonTable();
  for (const name of ['NO_SOCKET', 'no_socket', 'No_Socket', 'SKB_DROP_REASON_NO_SOCKET', 'skb_drop_reason_no_socket']) {
    assert.deepEqual(resolveFilter(spec({ reasonNames: [name] }), table, noStat).reasons, [3], name);
  }
});

test('resolveFilter: an unknown reason is a UsageError that suggests real names', () => {
  const table = loadReasonTable();
  const error = assertResolveUsage(() => resolveFilter(spec({ reasonNames: ['NO_SOCKT'] }), table, noStat), /^--filter-reason: expected a drop reason of this kernel/);
  assert.match(error.message, /NO_SOCKET/);
  assert.match(error.message, /got "NO_SOCKT"$/);
  const suggestions = /e\.g\. (.*), got/.exec(error.message)?.[1].split(', ') ?? [];
  assert.equal(suggestions.length, 3);
  for (const name of suggestions) assert.notEqual(table.codeOf(name), undefined, `${name} is not a reason`);

  const netfilter = assertResolveUsage(() => resolveFilter(spec({ reasonNames: ['netfilter'] }), table, noStat), /NETFILTER_DROP/);
  assert.ok(netfilter);
});

test('resolveFilter: the markers MAX and SUBSYS_MASK are not reasons', () => {
  const table = loadReasonTable();
  assertResolveUsage(() => resolveFilter(spec({ reasonNames: ['MAX'] }), table, noStat), /^--filter-reason: /);
});

test('resolveFilter: reasons on a kernel without drop reasons', () => {
  const error = assertResolveUsage(
    () => resolveFilter(spec({ reasonNames: ['NO_SOCKET'] }), new ReasonTable(null, null), noStat),
    /^--filter-reason: this kernel reports no drop reasons/,
  );
  assert.match(error.message, /5\.17/);
  // Without --filter-reason the same kernel is fine.
  assert.equal(resolveFilter(spec({ port: 53 }), new ReasonTable(null, null), noStat).reasons, undefined);
});

test('resolveFilter: excluded reason names become codes, beside the included ones', () => {
  const table = loadReasonTable();
  const filter = resolveFilter(spec({ reasonNames: ['NO_SOCKET'], excludedReasonNames: ['netfilter_drop', 'SKB_DROP_REASON_TCP_CSUM'] }), table, noStat);
  assert.deepEqual(filter.reasons, [reasonCode('NO_SOCKET')]);
  assert.deepEqual(filter.excludedReasons, [reasonCode('NETFILTER_DROP'), reasonCode('TCP_CSUM')]);
  assert.equal('excludedReasons' in resolveFilter(spec({ reasonNames: ['NO_SOCKET'] }), table, noStat), false);
});

test('resolveFilter: an unknown excluded reason: the same error as --filter-reason, naming --exclude-reason', () => {
  const table = loadReasonTable();
  const error = assertResolveUsage(
    () => resolveFilter(spec({ excludedReasonNames: ['NO_SOCK'] }), table, noStat),
    /^--exclude-reason: expected a drop reason of this kernel \(see dropwhy explain --list\), e\.g\. NO_SOCKET, .*, got "NO_SOCK"$/,
  );
  assert.ok(error);
  assertResolveUsage(
    () => resolveFilter(spec({ excludedReasonNames: ['NO_SOCKET'] }), new ReasonTable(null, null), noStat),
    /^--exclude-reason: this kernel reports no drop reasons/,
  );
});

test('resolveFilter: suggestions put names that contain the typed text first, then the fewest edits', () => {
  const table = loadReasonTable();
  const suggested = (name: string) => /e\.g\. (.*), got/.exec(assertResolveUsage(() => resolveFilter(spec({ reasonNames: [name] }), table, noStat), /./).message)?.[1];
  assert.match(suggested('NO_SOCK') ?? '', /^NO_SOCKET, /);
  assert.match(suggested('NETFLITER_DROP') ?? '', /^NETFILTER_DROP, /);
  assert.match(suggested('tcp_csumm') ?? '', /^TCP_CSUM, /);
  assert.equal(
    suggested('qdisc')
      ?.split(', ')
      .every((name) => name.startsWith('QDISC_')),
    true,
    suggested('qdisc'),
  );
});

test("resolveFilter: --filter-ifname without --filter-netns filters on dropwhy's own namespace", () => {
  const stat = fakeStat({ [OWN_NETNS_PATH]: 4026531840 });
  const filter = resolveFilter(spec({ ifname: 'eth0' }), loadReasonTable(), stat);
  assert.equal(filter.netns, 4026531840);
  assert.deepEqual(stat.calls, [OWN_NETNS_PATH]);
  // With --filter-netns, that namespace; the own one is not looked at.
  const blue = fakeStat({ '/run/netns/blue': 4026532200, [OWN_NETNS_PATH]: 4026531840 });
  assert.equal(resolveFilter(spec({ ifname: 'eth0', netns: 'blue' }), loadReasonTable(), blue).netns, 4026532200);
  assert.deepEqual(blue.calls, ['/run/netns/blue']);
  assert.throws(() => resolveFilter(spec({ ifname: 'eth0' }), loadReasonTable(), fakeStat({})), /cannot read dropwhy's own network namespace/);
});

/** An InterfaceIndex that knows NETNS/IFNAME keys and records every lookup. */
function fakeInterfaces(known: Record<string, number>): InterfaceIndex & { calls: string[] } {
  const calls: string[] = [];
  const lookup = (async (ifname: string, netns: number) => {
    calls.push(`${netns}/${ifname}`);
    return known[`${netns}/${ifname}`] ?? null;
  }) as InterfaceIndex & { calls: string[] };
  lookup.calls = calls;
  return lookup;
}

test('resolveInterface: the ifindex in the filtered namespace', async () => {
  const lookup = fakeInterfaces({ '4026532200/veth1': 7, '4026531840/veth1': 3 });
  const resolved = await resolveInterface(spec({ ifname: 'veth1', netns: 'blue' }), { netns: 4026532200, port: 53 }, lookup);
  assert.deepEqual(resolved, { netns: 4026532200, port: 53, ifindex: 7 });
  assert.deepEqual(lookup.calls, ['4026532200/veth1']);
  // No --filter-ifname: nothing looked up, nothing added.
  const none = { netns: 4026532200 };
  assert.equal(await resolveInterface(spec({ netns: 'blue' }), none, lookup), none);
  assert.equal(lookup.calls.length, 1);
});

test('resolveInterface: an interface the namespace lacks is a UsageError naming the namespace', async () => {
  const lookup = fakeInterfaces({});
  await assert.rejects(
    resolveInterface(spec({ ifname: 'eth9', netns: 'blue' }), { netns: 4026532200 }, lookup),
    (error: unknown) => error instanceof UsageError && error.message === '--filter-ifname: expected an interface in network namespace blue, got "eth9"',
  );
  await assert.rejects(
    resolveInterface(spec({ ifname: 'eth9' }), { netns: 4026531840 }, lookup),
    (error: unknown) => error instanceof UsageError && error.message === `--filter-ifname: expected an interface in dropwhy's own network namespace (4026531840), got "eth9"`,
  );
});
