// The whole CLI, run in-process with a fake CliIo: flag parsing, the checks
// before tracing, the trace loop and every way it can end, and exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from '../../src/cli';
import { TracerError } from '../../src/errors';
import { CONFIG, FEATURE } from '../../src/events/layout';
import { OutputClosedError } from '../../src/output/writer';
import { cliHarness, encodeBatch, encodeEvent, encodePacketRecord, REPO_ROOT, runNoTrace, runUntilOpened, waitFor, type CliHarness, type EventSpec } from './helpers';

const TIMEOUT = { timeout: 10_000 };

function assertNoStackTrace(h: CliHarness): void {
  for (const line of [...h.err, ...h.out]) assert.ok(!line.includes('    at '), `stack trace in output: ${line}`);
}

/** Every line written to stderr must be one line. */
function assertSingleLines(h: CliHarness): void {
  for (const line of h.err) assert.ok(!line.includes('\n'), `multi-line stderr write: ${JSON.stringify(line)}`);
}

const closingLine = (seen: number, matched: number, lost: number) => `dropwhy: ${seen} drop${seen === 1 ? '' : 's'} seen, ${matched} matched, ${lost} lost`;

const NO_SOCKET = 3; // test/fixtures/kernel-reasons.json
const NETFILTER_DROP = 12;

function dnsEvent(port: number, overrides: EventSpec = {}): EventSpec {
  return {
    reason: NO_SOCKET,
    netns: 4026531840,
    saddr: '10.0.0.1',
    daddr: '10.0.0.2',
    l4Proto: 'udp',
    sport: 40000,
    dport: port,
    len: 60,
    comm: 'dig',
    pid: 4242,
    location: { hi: 0xffffffff, lo: 0x81a0b0c0 },
    ...overrides,
  };
}

// ---------------------------------------------------------------------------
// Help, version and usage errors
// ---------------------------------------------------------------------------

test('--help: exit 0, usage on stdout, nothing on stderr, no tracer', TIMEOUT, async () => {
  for (const flag of ['--help', '-h']) {
    const h = cliHarness();
    assert.equal(await runNoTrace([flag], h), 0);
    const text = h.stdout();
    for (const expected of [
      '--filter-proto',
      '--filter-port',
      '--filter-src-ip',
      '--filter-netns',
      '--filter-ifname',
      '--filter-reason',
      '--exclude-reason',
      '--ring-size',
      '--ready-file',
      'Exit status',
    ]) {
      assert.ok(text.includes(expected), `${flag} output lacks ${expected}`);
    }
    assert.deepEqual(h.err, []);
    assert.equal(h.bindingCalls, 0);
  }
});

test('--version: exit 0, the package version on stdout', TIMEOUT, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['--version'], h), 0);
  const { version } = JSON.parse(readFileSync(resolve(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  assert.equal(h.stdout(), `${version}\n`);
  assert.deepEqual(h.err, []);
});

test('an unknown flag: exit 2, one line and a hint, no stack trace', TIMEOUT, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['--bogus'], h), 2);
  assert.equal(h.err.length, 2);
  assert.match(h.err[0], /^dropwhy: .*bogus/);
  assert.equal(h.err[1], "Try 'dropwhy --help' for the accepted options.");
  assert.deepEqual(h.out, []);
  assert.equal(h.bindingCalls, 0);
  assertNoStackTrace(h);
  assertSingleLines(h);
});

test('a newline in an argument stays one line of stderr, escaped (found by test/unit/cli-properties.test.ts)', TIMEOUT, async () => {
  for (const [argv, message] of [
    [['selftest', 'a\nb'], 'dropwhy: Unknown argument: a\\nb'],
    [['--filter-netns', 'a\nb'], 'dropwhy: --filter-netns: expected a network namespace (/run/netns/a\\nb is not one), got "a\\nb"'],
  ] as const) {
    const h = cliHarness();
    assert.equal(await runNoTrace([...argv], h), 2);
    assert.deepEqual(h.err, [message, "Try 'dropwhy --help' for the accepted options."]);
  }
});

test("a positional word that is no filter expression: exit 2, libpcap's message naming the expression", TIMEOUT, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['eth0'], h), 2);
  assert.equal(h.err[0], 'dropwhy: filter expression "eth0": can\'t parse filter expression: syntax error');
  assertNoStackTrace(h);
});

test('every bad value: exit 2, the flag named, a hint, no tracer', TIMEOUT, async () => {
  const cases: Array<[string[], string]> = [
    [['--filter-proto', 'sctp'], 'filter-proto'],
    [['--filter-port', '0'], 'filter-port'],
    [['--filter-port', '70000'], 'filter-port'],
    [['--filter-port', 'abc'], 'filter-port'],
    [['--filter-port'], 'filter-port'],
    [['--filter-src-ip', '10.0.0.0/33'], 'filter-src-ip'],
    [['--filter-dst-ip', '::1/129'], 'filter-dst-ip'],
    [['--filter-dst-ip', 'localhost'], 'filter-dst-ip'],
    [['--filter-netns', ''], 'filter-netns'],
    [['--filter-reason', 'NO-SOCKET'], 'filter-reason'],
    [['--exclude-reason', 'NO-SOCKET'], 'exclude-reason'],
    [['--exclude-reason', Array.from({ length: 17 }, (_, i) => `R${i}`).join(',')], 'exclude-reason'],
    [['--filter-ifname', 'eth0/1'], 'filter-ifname'],
    [['--filter-ifname', ''], 'filter-ifname'],
    [['--filter-reason', Array.from({ length: 17 }, (_, i) => `R${i}`).join(',')], 'filter-reason'],
    [['-o', 'yaml'], 'output'],
    [['--output', 'xml'], 'output'],
    [['--count', '0'], 'count'],
    [['--count', '-1'], 'count'],
    [['--count', '1.5'], 'count'],
    [['--duration', '0'], 'duration'],
    [['--duration', 'abc'], 'duration'],
    [['--log-level', 'loud'], 'log-level'],
    [['--ring-size', '3M'], 'ring-size'],
    [['--ring-size', '1K'], 'ring-size'],
    [['--ready-file', ''], 'ready-file'],
  ];
  for (const [argv, flag] of cases) {
    const h = cliHarness();
    assert.equal(await runNoTrace(argv, h), 2, argv.join(' '));
    assert.equal(h.err.length, 2, `${argv.join(' ')}: ${h.err.join(' | ')}`);
    assert.ok(h.err[0].startsWith(`dropwhy: --${flag}: expected `), `${argv.join(' ')}: ${h.err[0]}`);
    assert.equal(h.err[1], "Try 'dropwhy --help' for the accepted options.");
    assert.equal(h.binding.opened.length, 0);
    assertNoStackTrace(h);
  }
});

test('an unknown --filter-reason is found against the kernel: exit 2 with suggestions', TIMEOUT, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['--filter-reason', 'NO_SOCKT'], h), 2);
  assert.match(h.err[0], /^dropwhy: --filter-reason: expected a drop reason of this kernel.*NO_SOCKET.*got "NO_SOCKT"$/);
  assert.equal(h.binding.opened.length, 0);
});

test('an unknown --exclude-reason is found against the kernel: exit 2 with suggestions', TIMEOUT, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['--exclude-reason', 'NO_SOCK'], h), 2);
  assert.match(h.err[0], /^dropwhy: --exclude-reason: expected a drop reason of this kernel.*e\.g\. NO_SOCKET, .*got "NO_SOCK"$/);
  assert.equal(h.binding.opened.length, 0);
});

test('an interface the namespace lacks: exit 2 naming the namespace, nothing loaded', TIMEOUT, async () => {
  const h = cliHarness({ inodes: { '/run/netns/blue': 4026532300 }, interfaces: { '4026532300/veth0': 4 } });
  assert.equal(await runNoTrace(['--filter-netns', 'blue', '--filter-ifname', 'eth9'], h), 2);
  assert.deepEqual(h.err, ['dropwhy: --filter-ifname: expected an interface in network namespace blue, got "eth9"', "Try 'dropwhy --help' for the accepted options."]);
  assert.deepEqual(h.interfaceLookups, ['4026532300/eth9']);
  assert.equal(h.binding.opened.length, 0);
  // Without --filter-netns the interface is looked for in dropwhy's own namespace.
  const own = cliHarness({ inodes: { '/proc/self/ns/net': 4026531840 }, interfaces: { '4026532300/veth0': 4 } });
  assert.equal(await runNoTrace(['summary', '--filter-ifname', 'veth0'], own), 2);
  assert.equal(own.err[0], `dropwhy: --filter-ifname: expected an interface in dropwhy's own network namespace (4026531840), got "veth0"`);
  assert.deepEqual(own.interfaceLookups, ['4026531840/veth0']);
});

test('a missing --filter-netns namespace: exit 2', TIMEOUT, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['--filter-netns', 'nosuch'], h), 2);
  assert.match(h.err[0], /^dropwhy: --filter-netns: .*\/run\/netns\/nosuch is not one/);
  assert.deepEqual(h.statCalls, ['/run/netns/nosuch']);
  assert.equal(h.binding.opened.length, 0);
});

// ---------------------------------------------------------------------------
// Privileges, BTF and native failures
// ---------------------------------------------------------------------------

test('not root and without CAP_BPF/CAP_PERFMON: exit 3, says sudo', TIMEOUT, async () => {
  for (const capEff of [0n, 1n << 39n, 1n << 38n, (1n << 21n) - 1n]) {
    const h = cliHarness({ facts: { euid: 1000, capEff } });
    assert.equal(await runNoTrace([], h), 3, `CapEff ${capEff.toString(16)}`);
    assert.equal(h.err.length, 1);
    assert.match(h.err[0], /^dropwhy: .*sudo/);
    assert.match(h.err[0], /CAP_BPF/);
    assert.equal(h.binding.opened.length, 0);
    assertNoStackTrace(h);
  }
});

test('root without CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN: exit 3, says which capabilities to give back', TIMEOUT, async () => {
  for (const capEff of [0n, 1n << 39n, 1n << 38n, (1n << 21n) - 1n]) {
    const h = cliHarness({ facts: { euid: 0, capEff } });
    assert.equal(await runNoTrace([], h), 3, `CapEff ${capEff.toString(16)}`);
    assert.deepEqual(h.err, [
      'dropwhy: loading the BPF program needs CAP_BPF and CAP_PERFMON, which this root process lacks: ' +
        'give this root process CAP_BPF and CAP_PERFMON back (a container: --cap-add BPF --cap-add PERFMON)',
    ]);
    assert.equal(h.binding.opened.length, 0);
    assertNoStackTrace(h);
  }
});

test('euid 1000 with CAP_PERFMON (38) and CAP_BPF (39) may trace', TIMEOUT, async () => {
  const h = cliHarness({ facts: { euid: 1000, capEff: (1n << 38n) | (1n << 39n) } });
  const { done } = await runUntilOpened([], h);
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.equal(h.binding.opened.length, 1);
});

test('kernel BTF missing: exit 3, names CONFIG_DEBUG_INFO_BTF', TIMEOUT, async () => {
  const h = cliHarness({ facts: { btfPresent: false } });
  assert.equal(await runNoTrace([], h), 3);
  assert.equal(h.err.length, 1);
  assert.match(h.err[0], /^dropwhy: \/sys\/kernel\/btf\/vmlinux is missing.*CONFIG_DEBUG_INFO_BTF=y/);
  assert.equal(h.binding.opened.length, 0);
});

test('the native tracer fails to load (EINVAL): exit 1, the stage is named', TIMEOUT, async () => {
  const h = cliHarness({ binding: { openError: new TracerError('load', 22, 'Invalid argument') } });
  assert.equal(await runNoTrace([], h), 1);
  assert.equal(h.err.length, 1);
  assert.match(h.err[0], /^dropwhy: failed at load: Invalid argument/);
  assert.match(h.err[0], /--log-level debug/);
  assertNoStackTrace(h);
});

test('the native tracer fails with EPERM: exit 3, says sudo', TIMEOUT, async () => {
  const h = cliHarness({ binding: { openError: new TracerError('load', 1, 'Operation not permitted') } });
  assert.equal(await runNoTrace([], h), 3);
  assert.match(h.err[0], /^dropwhy: permission denied at load: .*sudo/);
  assertNoStackTrace(h);
});

test('the kernel refuses to attach (ENOENT): exit 3, explains BTF', TIMEOUT, async () => {
  const h = cliHarness({ binding: { openError: new TracerError('attach', 2, 'No such file or directory') } });
  assert.equal(await runNoTrace([], h), 3);
  assert.match(h.err[0], /^dropwhy: the kernel refused to attach the program on skb:kfree_skb.*CONFIG_DEBUG_INFO_BTF/);
});

// ---------------------------------------------------------------------------
// Tracing
// ---------------------------------------------------------------------------

test('--ring-size 4K: the reader is woken after a quarter of the ring, not after more than it holds', TIMEOUT, async () => {
  const h = cliHarness();
  const { done } = await runUntilOpened(['--ring-size', '4K', '-o', 'json'], h);
  assert.equal(h.binding.options.ringBytes, 4096);
  assert.equal(h.binding.options.config.readUInt32LE(CONFIG.wakeup_bytes), 1024);
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
});

test('--filter-port 53 -o json: prints exactly the matching drops; SIGINT ends with exit 0', TIMEOUT, async () => {
  const h = cliHarness({ binding: { counters: { seen: 17, matched: 4, lost: 0 } } });
  const { done } = await runUntilOpened(['--filter-port', '53', '-o', 'json'], h);

  // The config handed to the BPF program carries the port.
  assert.equal(h.binding.options.config.readUInt16LE(CONFIG.port), 53);
  assert.equal(h.binding.options.ringBytes, 8 << 20);
  assert.equal(h.binding.options.config.readUInt32LE(CONFIG.wakeup_bytes), 512 << 10);

  h.binding.push(
    encodeBatch([
      dnsEvent(53),
      dnsEvent(54),
      dnsEvent(5353),
      dnsEvent(54, { sport: 53, dport: 54, saddr: '10.0.0.2', daddr: '10.0.0.1', reason: NETFILTER_DROP, comm: 'unbound' }),
      { reason: NO_SOCKET, saddr: '10.0.0.1', daddr: '10.0.0.2', l4Proto: 'icmp', icmpType: 3, icmpCode: 3 },
      { reason: NO_SOCKET }, // no L3 at all
    ]),
  );
  h.binding.push(encodeEvent(dnsEvent(54)));
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);

  const records = h.records();
  assert.equal(records.length, 2);
  assert.deepEqual(
    records.map((r) => [r.sport, r.dport, r.reason]),
    [
      [40000, 53, 'NO_SOCKET'],
      [53, 54, 'NETFILTER_DROP'],
    ],
  );
  const first = records[0];
  assert.equal(first.reason_code, NO_SOCKET);
  assert.equal(first.subsystem, 'CORE');
  assert.equal(first.family, 'ipv4');
  assert.equal(first.proto, 'udp');
  assert.equal(first.saddr, '10.0.0.1');
  assert.equal(first.daddr, '10.0.0.2');
  assert.equal(first.netns, 4026531840);
  assert.equal(first.len, 60);
  assert.equal(first.comm, 'dig');
  assert.equal(first.pid, 4242);
  assert.equal(first.location, 'kfree_skb_reason+0x81a0b0c0');
  assert.equal(first.address, '0xffffffff81a0b0c0');
  assert.match(String(first.ts), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
  assert.equal(records[1].comm, 'unbound');
  assert.equal(records[1].saddr, '10.0.0.2');

  assert.deepEqual(h.err, [closingLine(17, 4, 0)]);
  assert.equal(h.binding.stopCalls, 1);
  assert.equal(h.signals.listenerCount('SIGINT'), 0);
  assert.equal(h.signals.listenerCount('SIGTERM'), 0);
});

test('SIGTERM ends the run too', TIMEOUT, async () => {
  const h = cliHarness({ binding: { counters: { seen: 1, matched: 1, lost: 0 } } });
  const { done } = await runUntilOpened([], h);
  h.signals.emit('SIGTERM');
  assert.equal(await done, 0);
  assert.deepEqual(h.err, [closingLine(1, 1, 0)]);
});

test('text output: one line per matching drop with reason, location and flow', TIMEOUT, async () => {
  const h = cliHarness();
  const { done } = await runUntilOpened(['--filter-proto', 'tcp', '--no-hints'], h);
  h.binding.push(encodeBatch([{ reason: NO_SOCKET, saddr: '192.0.2.1', daddr: '192.0.2.2', l4Proto: 'tcp', sport: 5555, dport: 80, tcpFlags: 0x02 }, dnsEvent(53)]));
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  const lines = h.stdout().split('\n').filter(Boolean);
  assert.equal(lines.length, 1);
  assert.match(lines[0], /NO_SOCKET/);
  assert.match(lines[0], /192\.0\.2\.1:5555 > 192\.0\.2\.2:80/);
  assert.match(lines[0], /\[SYN\]/);
  assert.ok(!lines[0].includes('\x1b['), 'no colour when stdout is not a terminal');
});

test('drops that arrive with the final drain after SIGINT are still printed', TIMEOUT, async () => {
  const h = cliHarness({ binding: { finalBatch: encodeEvent(dnsEvent(53, { comm: 'late' })) } });
  const { done } = await runUntilOpened(['-o', 'json'], h);
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(
    h.records().map((r) => r.comm),
    ['late'],
  );
});

const attached = (h: CliHarness) => waitFor(() => h.logs.some((line) => line.includes('attached to skb:kfree_skb')), 'the tracer attached');

test('kallsyms is read once the tracer is attached, before any drop, not before, and not again at the drops', TIMEOUT, async () => {
  const h = cliHarness();
  const { done } = await runUntilOpened(['-o', 'json', '--log-level', 'info'], h);
  await attached(h);
  await waitFor(() => h.symbolsLoads > 0, 'kallsyms read');
  assert.deepEqual(h.symbolsLoadsAfterOpens, [1], 'read after the tracer was opened');
  h.binding.push(encodeBatch([dnsEvent(53), dnsEvent(53)]));
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.equal(h.symbolsLoads, 1);
  assert.deepEqual(
    h.records().map((r) => r.location),
    ['kfree_skb_reason+0x81a0b0c0', 'kfree_skb_reason+0x81a0b0c0'],
  );
});

test('kallsyms that cannot be read after attaching: nothing said then, the first drop reads it again and reports it', TIMEOUT, async () => {
  const h = cliHarness({ symbolsError: new Error('EACCES: permission denied, open /proc/kallsyms') });
  const { done } = await runUntilOpened(['-o', 'json', '--log-level', 'info'], h);
  await attached(h);
  await waitFor(() => h.symbolsLoads > 0, 'kallsyms read');
  assert.deepEqual(h.err, []);
  h.binding.push(encodeEvent(dnsEvent(53)));
  assert.equal(await done, 1);
  assert.equal(h.symbolsLoads, 2);
  assert.equal(h.err.at(-1), 'dropwhy: EACCES: permission denied, open /proc/kallsyms');
});

test('kallsyms: a drop that comes before the tracer is ready reads it at once, a filtered-out one does not', TIMEOUT, async () => {
  const h = cliHarness();
  const { done } = await runUntilOpened(['--filter-port', '53', '-o', 'json'], h);
  h.binding.push(encodeEvent(dnsEvent(54)));
  assert.equal(h.symbolsLoads, 0);
  h.binding.push(encodeBatch([dnsEvent(53), dnsEvent(53)]));
  assert.equal(h.symbolsLoads, 1);
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.equal(h.records().length, 2);
});

test('--count 2 with 5 matching drops: exactly 2 printed and the run ends by itself', TIMEOUT, async () => {
  const h = cliHarness({
    binding: {
      counters: { seen: 5, matched: 5, lost: 0 },
      onOpen: (binding) => binding.push(encodeBatch([1, 2, 3, 4, 5].map((i) => dnsEvent(53, { pid: i })))),
    },
  });
  const code = await run(['--count', '2', '-o', 'json'], h.io);
  assert.equal(code, 0);
  assert.deepEqual(
    h.records().map((r) => r.pid),
    [1, 2],
  );
  assert.deepEqual(h.err, [closingLine(5, 5, 0), 'dropwhy: stopped at --count 2; 3 more matching drops came before the tracer was detached: counted, not printed']);
  assert.equal(h.binding.stopCalls, 1);
});

test('--count counts across batches and only matching drops; later batches are ignored', TIMEOUT, async () => {
  const h = cliHarness({ binding: { finalBatch: encodeEvent(dnsEvent(53, { pid: 99 })) } });
  const { done } = await runUntilOpened(['--count', '3', '--filter-port', '53', '-o', 'json'], h);
  h.binding.push(encodeBatch([dnsEvent(53, { pid: 1 }), dnsEvent(54, { pid: 2 })]));
  h.binding.push(encodeBatch([dnsEvent(53, { pid: 3 }), dnsEvent(54, { pid: 4 })]));
  h.binding.push(encodeBatch([dnsEvent(53, { pid: 5 }), dnsEvent(53, { pid: 6 })]));
  h.binding.push(encodeEvent(dnsEvent(53, { pid: 7 })));
  assert.equal(await done, 0);
  assert.deepEqual(
    h.records().map((r) => r.pid),
    [1, 3, 5],
  );
});

test('--duration 0.2 ends the run by itself', TIMEOUT, async () => {
  const h = cliHarness({ binding: { counters: { seen: 3, matched: 0, lost: 0 } } });
  const started = Date.now();
  const code = await run(['--duration', '0.2'], h.io);
  const elapsed = Date.now() - started;
  assert.equal(code, 0);
  assert.ok(elapsed >= 150, `ended after ${elapsed} ms`);
  assert.ok(elapsed < 5000, `ended after ${elapsed} ms`);
  assert.equal(h.binding.stopCalls, 1);
  assert.deepEqual(h.err, [closingLine(3, 0, 0)]);
  assert.equal(h.signals.listenerCount('SIGINT'), 0);
});

test('drops drained after --duration ends are still printed', TIMEOUT, async () => {
  const h = cliHarness({ binding: { finalBatch: encodeBatch([dnsEvent(53, { pid: 8 }), dnsEvent(54, { pid: 9 })]) } });
  const code = await run(['--duration', '0.05', '--filter-port', '53', '-o', 'json'], h.io);
  assert.equal(code, 0);
  assert.deepEqual(
    h.records().map((r) => r.pid),
    [8],
  );
});

test('a closed stdout (OutputClosedError) ends the run with exit 0, counting the drops it could not write', TIMEOUT, async () => {
  let writes = 0;
  const h = cliHarness({
    binding: { counters: { seen: 9, matched: 9, lost: 0 }, finalBatch: encodeBatch([dnsEvent(53), dnsEvent(54)]) },
    writeOut: () => {
      if (++writes > 1) throw new OutputClosedError('output closed');
    },
  });
  const { done } = await runUntilOpened(['-o', 'json', '--filter-port', '53'], h);
  h.binding.push(encodeEvent(dnsEvent(53))); // written
  h.binding.push(encodeBatch([dnsEvent(53), dnsEvent(53)])); // the write that finds the pipe closed
  h.binding.push(encodeEvent(dnsEvent(53))); // after the close: counted, not written again
  assert.equal(await done, 0);
  assert.equal(writes, 2);
  // The drained batch's port-54 drop does not match: it was never going to be written.
  assert.deepEqual(h.err, [closingLine(9, 9, 0), 'dropwhy: output closed: 4 drops read were not written (1 was)']);
  assert.equal(h.binding.stopCalls, 1);
});

test('any other stdout error: exit 1 with its message', TIMEOUT, async () => {
  const h = cliHarness({
    writeOut: () => {
      throw new Error('EIO: i/o error, write');
    },
  });
  const { done } = await runUntilOpened([], h);
  h.binding.push(encodeEvent(dnsEvent(53)));
  assert.equal(await done, 1);
  assert.deepEqual(h.err, [closingLine(0, 0, 0), 'dropwhy: EIO: i/o error, write']);
});

test('a poll error delivered through onError: exit 1, stage named, tracer stopped', TIMEOUT, async () => {
  const h = cliHarness({ binding: { counters: { seen: 2, matched: 1, lost: 0 } } });
  const { done } = await runUntilOpened([], h);
  h.binding.fail(new TracerError('poll', 5, 'Input/output error'));
  assert.equal(await done, 1);
  assert.equal(h.binding.stopCalls, 1);
  assert.equal(h.err.length, 2);
  assert.equal(h.err[0], closingLine(2, 1, 0));
  assert.match(h.err[1], /^dropwhy: failed at poll: Input\/output error/);
  assertNoStackTrace(h);
});

test('--ready-file is written once the tracer is attached, and removed when the run ends', TIMEOUT, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'ready');
  let existedAtOpen: boolean | null = null;
  const h = cliHarness({ binding: { onOpen: () => (existedAtOpen = existsSync(file)) } });
  const { done } = await runUntilOpened(['--ready-file', file], h);
  assert.equal(existedAtOpen, false, 'the ready file must not exist before the tracer is open');
  await waitFor(() => existsSync(file), 'the ready file');
  assert.equal(readFileSync(file, 'utf8'), `${process.pid}\n`);
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.equal(existsSync(file), false, 'the ready file outlived the run');
});

test('a --ready-file in a missing directory: exit 1 before the tracer is loaded', TIMEOUT, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-cli-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'no', 'such', 'dir', 'ready');
  const h = cliHarness({ binding: { counters: { seen: 0, matched: 0, lost: 0 } } });
  assert.equal(await run(['--ready-file', file], h.io), 1);
  assert.equal(h.binding.opened.length, 0);
  assert.deepEqual(h.err, [`dropwhy: cannot write --ready-file ${file}: no such file or directory (ENOENT)`]);
  assert.equal(h.signals.listenerCount('SIGINT'), 0);
  assertNoStackTrace(h);
});

test('lost events: a warning that suggests --ring-size', TIMEOUT, async () => {
  const h = cliHarness({ binding: { counters: { seen: 100, matched: 50, lost: 7 } } });
  const { done } = await runUntilOpened(['--ring-size', '1M'], h);
  assert.equal(h.binding.options.ringBytes, 1 << 20);
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.equal(h.err.length, 2);
  assert.equal(h.err[0], closingLine(100, 50, 7));
  assert.match(h.err[1], /^dropwhy: 7 events were lost.*--ring-size/);
});

test('no warning when nothing was lost', TIMEOUT, async () => {
  const h = cliHarness({ binding: { counters: { seen: 100, matched: 50, lost: 0 } } });
  const { done } = await runUntilOpened([], h);
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.ok(!h.err.some((line) => line.includes('--ring-size')));
});

test('a kernel without drop reasons: a one-time note, and reason null in JSON', TIMEOUT, async () => {
  const h = cliHarness({ binding: { reasons: false } });
  const { done } = await runUntilOpened(['-o', 'json'], h);
  h.binding.push(encodeEvent(dnsEvent(53, { reason: null })));
  h.binding.push(encodeEvent(dnsEvent(53, { reason: null })));
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  const notes = h.err.filter((line) => line.includes('reports no drop reason'));
  assert.equal(notes.length, 1);
  assert.match(notes[0], /"reason" is null/);
  const records = h.records();
  assert.equal(records.length, 2);
  for (const record of records) {
    assert.equal(record.reason, null);
    assert.equal(record.reason_code, null);
    assert.equal(record.subsystem, null);
    assert.equal(record.dport, 53);
  }
});

test('no note on a kernel with drop reasons', TIMEOUT, async () => {
  const h = cliHarness();
  const { done } = await runUntilOpened([], h);
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(h.err, [closingLine(0, 0, 0)]);
});

test('--filter-reason on a kernel without drop reasons: exit 2', TIMEOUT, async () => {
  const h = cliHarness({ binding: { reasons: false } });
  assert.equal(await runNoTrace(['--filter-reason', 'NO_SOCKET'], h), 2);
  assert.match(h.err[0], /^dropwhy: --filter-reason: this kernel reports no drop reasons/);
  assert.equal(h.binding.opened.length, 0);
});

test('filters are resolved and lowered into the config the BPF program gets', TIMEOUT, async () => {
  const h = cliHarness({ inodes: { '/run/netns/blue': 4026532300 } });
  const { done } = await runUntilOpened(
    ['--filter-reason', 'no_socket,NETFILTER_DROP', '--filter-netns', 'blue', '--filter-proto', 'udp', '--filter-dst-ip', '10.0.0.0/8', '-o', 'json'],
    h,
  );
  const config = h.binding.options.config;
  assert.equal(config.readUInt8(CONFIG.reason_count), 2);
  assert.equal(config.readUInt32LE(CONFIG.reasons), NO_SOCKET);
  assert.equal(config.readUInt32LE(CONFIG.reasons + 4), NETFILTER_DROP);
  assert.equal(config.readUInt32LE(CONFIG.netns), 4026532300);
  assert.equal(config.readUInt8(CONFIG.l4_proto), 17);
  assert.equal(config.readUInt8(CONFIG.daddr_family), 4);
  assert.equal(config.readUInt8(CONFIG.daddr_prefix), 8);
  assert.equal(config.readUInt8(CONFIG.daddr), 10);
  assert.equal(config.readUInt8(CONFIG.saddr_family), 0);

  // The same filter applies in user space.
  h.binding.push(
    encodeBatch([
      dnsEvent(53, { netns: 4026532300, pid: 1 }),
      dnsEvent(53, { netns: 4026532300, pid: 2, reason: 2 }), // NOT_SPECIFIED
      dnsEvent(53, { netns: 4026531840, pid: 3 }),
      dnsEvent(53, { netns: 4026532300, pid: 4, daddr: '11.0.0.1' }),
      dnsEvent(53, { netns: 4026532300, pid: 5, reason: NETFILTER_DROP }),
    ]),
  );
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(
    h.records().map((r) => [r.pid, r.reason]),
    [
      [1, 'NO_SOCKET'],
      [5, 'NETFILTER_DROP'],
    ],
  );
});

test('--filter-ifname and --exclude-reason are resolved and lowered, and apply in user space', TIMEOUT, async () => {
  const h = cliHarness({ inodes: { '/proc/self/ns/net': 4026531840 }, interfaces: { '4026531840/veth1': 5 } });
  const { done } = await runUntilOpened(['--filter-ifname', 'veth1', '--exclude-reason', 'netfilter_drop', '--filter-proto', 'UDP', '-o', 'json'], h);
  const config = h.binding.options.config;
  assert.deepEqual(h.interfaceLookups, ['4026531840/veth1']);
  assert.equal(config.readUInt32LE(CONFIG.netns), 4026531840, "dropwhy's own namespace, where veth1 is 5");
  assert.equal(config.readUInt32LE(CONFIG.ifindex), 5);
  assert.equal(config.readUInt8(CONFIG.reason_count), 0);
  assert.equal(config.readUInt8(CONFIG.excluded_reason_count), 1);
  assert.equal(config.readUInt32LE(CONFIG.excluded_reasons), NETFILTER_DROP);
  assert.equal(config.readUInt8(CONFIG.l4_proto), 17);

  h.binding.push(
    encodeBatch([
      dnsEvent(53, { ifindex: 5, pid: 1 }),
      dnsEvent(53, { ifindex: 4, pid: 2 }),
      dnsEvent(53, { ifindex: 5, pid: 3, netns: 4026532300 }),
      dnsEvent(53, { ifindex: 5, pid: 4, reason: NETFILTER_DROP }),
      dnsEvent(53, { ifindex: 5, pid: 5, reason: 2 }), // NOT_SPECIFIED
    ]),
  );
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(
    // Named from the namespace's listing, made before the tracer was opened.
    h.records().map((r) => [r.pid, r.reason, r.ifindex, r.ifname]),
    [
      [1, 'NO_SOCKET', 5, 'veth1'],
      [5, 'NOT_SPECIFIED', 5, 'veth1'],
    ],
  );
});

test('--log-level reaches the logger, and libbpf logs go through it', TIMEOUT, async () => {
  const h = cliHarness();
  const { done } = await runUntilOpened(['--log-level', 'debug'], h);
  h.binding.log('warn', 'libbpf: something odd');
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(h.loggerLevels, ['debug']);
  const libbpf = h.logs.map((line) => JSON.parse(line) as Record<string, unknown>).filter((r) => r.source === 'libbpf');
  assert.equal(libbpf.length, 1);
  assert.equal(libbpf[0].msg, 'libbpf: something odd');
  assert.equal(libbpf[0].level, 20, "libbpf's log, warnings included, is debug output");
  assert.equal(libbpf[0].libbpfLevel, 'warn');
  assert.deepEqual(h.out, [], 'logs never go to stdout');
});

test('the default log level is warn: libbpf logs (a verifier dump) are dropped', TIMEOUT, async () => {
  const h = cliHarness();
  const { done } = await runUntilOpened([], h);
  h.binding.log('debug', 'libbpf: verbose detail');
  h.binding.log('warn', 'libbpf: prog on_kfree_skb: BPF program load failed: Permission denied');
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(h.loggerLevels, ['warn']);
  assert.ok(!h.logs.some((line) => line.includes('verbose detail')));
  assert.ok(!h.logs.some((line) => line.includes('load failed')));
});

test('-w FILE: the BPF program is asked for --snaplen bytes, the file gets the packets and stdout nothing', TIMEOUT, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-cli-pcapng-'));
  try {
    const file = join(dir, 'drops.pcapng');
    const h = cliHarness({ binding: { counters: { seen: 3, matched: 3, packetUnread: 1 } } });
    const { done } = await runUntilOpened(['-w', file, '--snaplen', '64'], h);
    const config = h.binding.options.config;
    assert.equal(config.readUInt32LE(CONFIG.features) & FEATURE.PACKET, FEATURE.PACKET);
    assert.equal(config.readUInt32LE(CONFIG.snaplen), 64);
    const frame = Uint8Array.from({ length: 50 }, (_, i) => i);
    h.binding.push(
      Buffer.concat([
        encodePacketRecord(dnsEvent(53), { link: 'ethernet', wireLength: 74, bytes: frame }, 64),
        encodePacketRecord(dnsEvent(54), null, 64), // its bytes could not be read
        encodePacketRecord(dnsEvent(55), { link: 'rawIp', wireLength: 60, bytes: frame.subarray(0, 20) }, 64),
      ]),
    );
    h.signals.emit('SIGINT');
    assert.equal(await done, 0);
    assert.equal(h.stdout(), '');
    assert.equal(h.err[0], closingLine(3, 3, 0));
    assert.ok(h.err.includes('dropwhy: 1 drop is not in the pcapng file: their skb had no network header or its bytes could not be read'), h.err.join('\n'));
    // Section header, then (interface, packet) for the Ethernet drop and (interface, packet) for the raw IP one.
    const bytes = readFileSync(file);
    const blocks: number[] = [];
    for (let at = 0; at < bytes.length; at += bytes.readUInt32LE(at + 4)) blocks.push(bytes.readUInt32LE(at));
    assert.deepEqual(blocks, [0x0a0d0d0a, 1, 6, 1, 6]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('-w -o json: the file and the JSON lines both; without -w the config asks for no packet bytes', TIMEOUT, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-cli-pcapng-'));
  try {
    const file = join(dir, 'drops.pcapng');
    const h = cliHarness();
    const { done } = await runUntilOpened(['-w', file, '-o', 'json'], h);
    h.binding.push(encodePacketRecord(dnsEvent(53), { link: 'rawIp', wireLength: 60, bytes: Uint8Array.of(0x45, 0) }, 256));
    h.signals.emit('SIGINT');
    assert.equal(await done, 0);
    assert.deepEqual(
      h.records().map((r) => r.dport),
      [53],
    );
    assert.equal(readFileSync(file).readUInt32LE(0), 0x0a0d0d0a);

    const plain = cliHarness();
    const run2 = await runUntilOpened(['-o', 'json'], plain);
    assert.equal(plain.binding.options.config.readUInt32LE(CONFIG.features) & FEATURE.PACKET, 0);
    plain.signals.emit('SIGINT');
    assert.equal(await run2.done, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('-w into a directory that does not exist: one line, exit 2, no tracer', TIMEOUT, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['-w', '/nonexistent-dir/drops.pcapng'], h), 2);
  assert.deepEqual(h.err.slice(0, 1), ['dropwhy: -w: cannot write /nonexistent-dir/drops.pcapng: no such file or directory (ENOENT)']);
  assertNoStackTrace(h);
});
