// check(): raw flag values → validated options or a UsageError naming the flag.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors';
import { EVENT_SIZE, PACKET_SIZE } from '../../src/events/layout';
import { check, checkDiagnose, DEFAULT_RING_BYTES, type RawArgs } from '../../src/commands/options';

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
    logFormat: 'text',
    pods: { kubernetes: null, logDirectory: '/var/log/pods' },
    hints: true,
    nftTrace: false,
    socket: true,
    pcap: null,
    command: null,
    stack: false,
    color: 'auto',
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
    'log-format': 'json',
    hints: false,
    'nft-trace': true,
    socket: false,
    write: '/tmp/drops.pcapng',
    snaplen: '1500',
    command: ['dig', '@10.0.0.2'],
    stack: true,
    color: 'never',
    kubernetes: true,
    'pod-logs': '/host/var/log/pods',
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
    logFormat: 'json',
    pods: { kubernetes: true, logDirectory: '/host/var/log/pods' },
    hints: false,
    nftTrace: true,
    socket: false,
    pcap: { path: '/tmp/drops.pcapng', snaplen: 1500 },
    command: ['dig', '@10.0.0.2'],
    stack: true,
    color: 'never',
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

test('diagnose: --duration defaults to 10 s, -o text or json, no -- COMMAND', () => {
  const options = checkDiagnose({});
  assert.equal(options.durationMs, 10_000);
  assert.equal(options.output, 'text');
  assert.equal(options.maxKeys, 4096);
  assert.equal(checkDiagnose({ duration: '2.5', output: 'json', 'filter-proto': 'UDP' }).durationMs, 2500);
  assert.equal(checkDiagnose({ 'filter-proto': 'UDP' }).filter.proto, 'udp');
  assert.throws(() => checkDiagnose({ output: 'yaml' }), /--output: expected text or json, got "yaml"/);
  assert.throws(() => checkDiagnose({ duration: '0' }), /--duration: expected a positive number of seconds/);
  assert.throws(() => checkDiagnose({ command: ['dig'] }), /-- COMMAND: diagnose reads the counters of a whole namespace/);
});
