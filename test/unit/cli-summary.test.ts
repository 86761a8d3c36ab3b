// `dropwhy summary` and `dropwhy explain` through the whole CLI with a fake
// CliIo, and the trace command's closing comparison with the kernel's counters.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { explain } from '../../src/knowledge/advice';
import { run } from '../../src/cli';
import { EnvironmentError } from '../../src/errors';
import { renderExplanation, renderReasonList } from '../../src/output/explain';
import { OutputClosedError } from '../../src/output/writer';
import { CONFIG, FEATURE, MODE } from '../../src/events/layout';
import type { CounterSnapshot } from '../../src/kernel/counters';
import {
  cliHarness,
  emptyHostState,
  type CliHarness,
  type CliHarnessOptions,
  encodeBatch,
  encodeCountRecords,
  encodeSocketCounts,
  loadReasonTable,
  reasonCode,
  runNoTrace,
  runUntilOpened,
  waitFor,
  type CountSpec,
  type EventSpec,
} from './helpers';

const TIMEOUT = { timeout: 15_000 };
const NO_SOCKET = reasonCode('NO_SOCKET');
const SOCKET_RCVBUFF = reasonCode('SOCKET_RCVBUFF');
const UDP_RCV = { hi: 0xffffffff, lo: 0x81a0b0c0 };
const NO_SOCKET_SITE = { hi: 0xffffffff, lo: 0x81b00010 };

/** A harness whose run is interrupted when the test ends, so a failed assertion cannot leave timers running. */
function harness(t: TestContext, options: CliHarnessOptions = {}): CliHarness {
  const h = cliHarness(options);
  t.after(() => h.stop());
  return h;
}

const closingLine = (seen: number, matched: number, lost: number) => `dropwhy: ${seen} drop${seen === 1 ? '' : 's'} seen, ${matched} matched, ${lost} lost`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function rcvbuf(count: number): CountSpec {
  return { location: UDP_RCV, reason: SOCKET_RCVBUFF, family: 4, l4Proto: 'udp', count };
}

function noSocket(count: number): CountSpec {
  return { location: NO_SOCKET_SITE, reason: NO_SOCKET, family: 6, l4Proto: 'udp', count };
}

type Drop = { reason: string | null; count: number; proto: string | null; family: string | null; location: string | null; address: string };
type IntervalRecord = { type: 'interval'; ts: string; interval_s: number; drops: Drop[] };
type TotalRecord = {
  type: 'total';
  duration_s: number;
  drops: Drop[];
  seen: number;
  matched: number;
  overflow: number;
  counters: Array<{ name: string; delta: number }> | null;
  correlation: Array<{ counter: string; delta: number; traced: number; reasons: string[]; uncounted: number; verdict: string }>;
};

const countOf = (record: { drops: Drop[] }, reason: string) => record.drops.find((d) => d.reason === reason)?.count ?? 0;

function snapshot(entries: Record<string, number>): CounterSnapshot {
  return new Map(Object.entries(entries));
}

// ---------------------------------------------------------------------------
// summary: JSON
// ---------------------------------------------------------------------------

test('summary -o json --interval 0.05: interval objects from growing counts, then one total; SIGINT ends with exit 0', TIMEOUT, async (t) => {
  let current: CountSpec[] = [rcvbuf(3), noSocket(1)];
  const h = harness(t, {
    binding: { counters: { seen: 40, matched: 13 }, dropCounts: () => encodeCountRecords(current) },
  });
  const { done } = await runUntilOpened(['summary', '-o', 'json', '--interval', '0.05'], h);
  const openedAt = Date.now();

  await waitFor(() => h.records().length >= 1, 'the first interval');
  const firstAfter = Date.now() - openedAt;
  assert.ok(firstAfter < 800, `the first interval came after ${firstAfter} ms; --interval 0.05 should make it about 50`);
  const first = h.records()[0] as IntervalRecord;
  assert.equal(first.type, 'interval');
  assert.equal(first.interval_s, 0.05);
  assert.match(first.ts, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  assert.deepEqual(first.drops, [
    {
      reason: 'SOCKET_RCVBUFF',
      reason_code: SOCKET_RCVBUFF,
      subsystem: 'CORE',
      proto: 'udp',
      family: 'ipv4',
      location: 'kfree_skb_reason+0x81a0b0c0',
      address: '0xffffffff81a0b0c0',
      count: 3,
    },
    {
      reason: 'NO_SOCKET',
      reason_code: NO_SOCKET,
      subsystem: 'CORE',
      proto: 'udp',
      family: 'ipv6',
      location: 'kfree_skb_reason+0x81b00010',
      address: '0xffffffff81b00010',
      count: 1,
    },
  ]);

  current = [rcvbuf(10), noSocket(1)];
  await waitFor(() => h.records().some((r) => countOf(r as IntervalRecord, 'SOCKET_RCVBUFF') === 7), 'the interval with 7 new drops');
  const quietFrom = h.records().length;
  await waitFor(() => h.records().length >= quietFrom + 2, 'two quiet intervals');
  for (const quiet of h.records().slice(quietFrom)) assert.deepEqual((quiet as IntervalRecord).drops, [], 'nothing moved: no drops');

  current = [rcvbuf(12), noSocket(1)];
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);

  const records = h.records();
  const intervals = records.slice(0, -1) as IntervalRecord[];
  const total = records[records.length - 1] as TotalRecord;
  assert.ok(
    intervals.every((r) => r.type === 'interval'),
    JSON.stringify(records.map((r) => r.type)),
  );
  assert.equal(total.type, 'total');
  assert.equal(records.filter((r) => r.type === 'total').length, 1);
  const intervalSum = intervals.reduce((sum, r) => sum + countOf(r, 'SOCKET_RCVBUFF'), 0);
  assert.ok(intervalSum === 10 || intervalSum === 12, `interval counts add up to ${intervalSum}`);
  assert.equal(
    intervals.reduce((sum, r) => sum + countOf(r, 'NO_SOCKET'), 0),
    1,
    'a key is counted in the interval it moved, once',
  );

  // The total includes what arrived after the last interval (read when the program was detached).
  assert.deepEqual(
    total.drops.map((d) => [d.reason, d.count]),
    [
      ['SOCKET_RCVBUFF', 12],
      ['NO_SOCKET', 1],
    ],
  );
  assert.equal(total.seen, 40);
  assert.equal(total.matched, 13);
  assert.equal(total.overflow, 0);
  assert.equal(total.counters, null, 'the counters could not be read');
  assert.deepEqual(total.correlation, []);
  assert.ok(total.duration_s > 0);

  assert.deepEqual(h.err, [closingLine(40, 13, 0)]);
  assert.equal(h.binding.stopCalls, 1);
  assert.equal(h.signals.listenerCount('SIGINT'), 0);
});

test('summary: the kernel counters moved as much as the drops counted: the correlation agrees (JSON)', TIMEOUT, async (t) => {
  const before = snapshot({ 'Udp RcvbufErrors': 100, 'Udp InErrors': 200, 'Ip InReceives': 1000, 'Udp NoPorts': 7 });
  const after = snapshot({ 'Udp RcvbufErrors': 105, 'Udp InErrors': 205, 'Ip InReceives': 1600, 'Udp NoPorts': 7 });
  const h = harness(t, {
    binding: { counters: { seen: 5, matched: 5 }, dropCounts: encodeCountRecords([rcvbuf(5)]) },
    counterSnapshots: [before, after],
  });
  assert.equal(await run(['summary', '-o', 'json', '--interval', '0.05', '--duration', '0.15'], h.io), 0);
  const total = h.records().pop() as TotalRecord;
  assert.equal(total.type, 'total');
  assert.deepEqual(total.counters, [
    { name: 'Udp RcvbufErrors', delta: 5 },
    { name: 'Udp InErrors', delta: 5 },
    { name: 'Ip InReceives', delta: 600 },
  ]);
  assert.deepEqual(total.correlation, [
    { counter: 'Udp RcvbufErrors', delta: 5, traced: 5, reasons: ['SOCKET_RCVBUFF'], uncounted: 0, verdict: 'agree' },
    { counter: 'Udp InErrors', delta: 5, traced: 5, reasons: ['SOCKET_RCVBUFF'], uncounted: 0, verdict: 'agree' },
  ]);
  assert.deepEqual(h.counterReads, [null, null], 'our own namespace, before and after');
  assert.deepEqual(h.err, [closingLine(5, 5, 0)], 'in summary mode the comparison goes to stdout, not stderr');
});

test('summary: the counters differ from the drops counted: the verdict says by how much (JSON)', TIMEOUT, async (t) => {
  const h = harness(t, {
    binding: { dropCounts: encodeCountRecords([rcvbuf(5)]) },
    counterSnapshots: [snapshot({ 'Udp RcvbufErrors': 0, 'Udp InErrors': 0 }), snapshot({ 'Udp RcvbufErrors': 8, 'Udp InErrors': 5 })],
  });
  assert.equal(await run(['summary', '-o', 'json', '--interval', '0.05', '--duration', '0.1'], h.io), 0);
  const total = h.records().pop() as TotalRecord;
  assert.deepEqual(
    total.correlation.map((c) => [c.counter, c.verdict]),
    [
      ['Udp RcvbufErrors', 'differ by 3 (the counter is higher)'],
      ['Udp InErrors', 'agree'],
    ],
  );
});

test('summary: drops the full map did not count are counted in the verdicts (JSON and text) and warned about', TIMEOUT, async (t) => {
  for (const output of ['json', 'text']) {
    const h = harness(t, {
      binding: { counters: { seen: 9, matched: 8, overflow: 3 }, dropCounts: encodeCountRecords([rcvbuf(5)]) },
      counterSnapshots: [snapshot({ 'Udp RcvbufErrors': 0, 'Udp InErrors': 0 }), snapshot({ 'Udp RcvbufErrors': 5, 'Udp InErrors': 8 })],
    });
    assert.equal(await run(['summary', '-o', output, '--interval', '0.05', '--duration', '0.1'], h.io), 0);
    if (output === 'json') {
      const total = h.records().pop() as TotalRecord;
      assert.equal(total.overflow, 3);
      assert.deepEqual(
        total.correlation.map((c) => [c.counter, c.uncounted, c.verdict]),
        [
          ['Udp RcvbufErrors', 0, 'agree'],
          ['Udp InErrors', 3, 'agree'],
        ],
      );
    } else {
      assert.ok(h.stdout().includes('\n  Udp InErrors +8 vs 5 SOCKET_RCVBUFF traced: agree, counting 3 uncounted\n'), h.stdout());
    }
    assert.deepEqual(h.err, [closingLine(9, 8, 0), 'dropwhy: 3 drops were not counted because the count map was full: raise --max-keys']);
  }
});

test('summary text: interval rows with a hint, then the totals with "agree" and the advice', TIMEOUT, async (t) => {
  const h = harness(t, {
    binding: { counters: { seen: 5, matched: 5 }, dropCounts: encodeCountRecords([rcvbuf(5)]) },
    counterSnapshots: [snapshot({ 'Udp RcvbufErrors': 100, 'Udp InErrors': 200 }), snapshot({ 'Udp RcvbufErrors': 105, 'Udp InErrors': 205 })],
  });
  const { done } = await runUntilOpened(['summary', '--interval', '0.05'], h);
  await waitFor(() => h.stdout().includes(' drops ---'), 'the first interval');
  await sleep(120); // more (quiet) intervals
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  const text = h.stdout();
  assert.ok(!text.includes('\x1b['), 'no terminal control sequences when stdout is not a terminal');
  const lines = text.split('\n');
  assert.match(lines[0], /^--- \d\d:\d\d:\d\d: 5 drops ---$/);
  assert.equal(lines[1], '        5 drops  SOCKET_RCVBUFF         udp   kfree_skb_reason+0x81a0b0c0 (0xffffffff81a0b0c0)');
  assert.equal(lines[2], `  hint: SOCKET_RCVBUFF: ${explain('SOCKET_RCVBUFF').advice.summary} (dropwhy explain SOCKET_RCVBUFF)`);
  assert.equal(lines.filter((l) => l.startsWith('---')).length, 1, 'quiet intervals print nothing in text mode');
  const totalAt = lines.findIndex((l) => l.startsWith('=== total over '));
  assert.match(lines[totalAt], /^=== total over \d+\.\ds: 5 drops ===$/);
  assert.equal(lines[totalAt + 1], lines[1], 'the same row form with the total');
  assert.ok(lines.includes('  Udp RcvbufErrors +5 vs 5 SOCKET_RCVBUFF traced: agree'), text);
  assert.ok(lines.includes('  Udp InErrors +5 vs 5 SOCKET_RCVBUFF traced: agree'), text);
  assert.ok(!text.includes('--filter-netns'), 'everything agrees: no whole-host note');
  assert.ok(lines.includes(`  SOCKET_RCVBUFF: ${explain('SOCKET_RCVBUFF').advice.summary}`), text);
  assert.deepEqual(h.err, [closingLine(5, 5, 0)]);
});

const RECEIVER_SOCKET = { inode: 812345, cgroup: 77, localAddr: '10.94.0.2', localPort: 53, uid: 101, rcvbuf: 212992, queued: 213760, drops: 5 };
/** The receiver is found on the first look only: the total must keep the owner found then. */
function receiverOnce() {
  let looks = 0;
  return {
    owner: (inode: number) => (inode === 812345 && looks++ === 0 ? { pid: 812, comm: 'dnsmasq' } : null),
    cgroup: (id: number) => (id === 77 ? { path: '/system.slice/dnsmasq.service', container: null } : null),
  };
}

test('summary text: the total names the sockets behind a reason, with their owner and buffer, under its advice', TIMEOUT, async (t) => {
  const sockets = [
    { reason: SOCKET_RCVBUFF, count: 4, socket: RECEIVER_SOCKET },
    { reason: SOCKET_RCVBUFF, count: 1, socket: { ...RECEIVER_SOCKET, inode: 9, localPort: 5353, rcvbuf: 4096, queued: 4352 } },
  ];
  const h = harness(t, {
    binding: { counters: { seen: 5, matched: 5 }, dropCounts: encodeCountRecords([rcvbuf(5)]), socketCounts: encodeSocketCounts(sockets) },
    sockets: receiverOnce(),
  });
  const { done } = await runUntilOpened(['summary', '--interval', '0.05'], h);
  await waitFor(() => h.stdout().includes(' drops ---'), 'the first interval');
  await sleep(100); // more intervals: the owner is no longer found
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  const lines = h.stdout().split('\n');
  const advice = lines.indexOf(`  SOCKET_RCVBUFF: ${explain('SOCKET_RCVBUFF').advice.summary}`);
  assert.ok(advice > 0, h.stdout());
  assert.deepEqual(lines.slice(advice + 1, advice + 3), [
    // A reason about the socket's buffer: each socket named with its buffer and what would raise it.
    '    4 drops at dnsmasq[812] on 10.94.0.2:53: rcvbuf 212992, queued 213760; raise it with SO_RCVBUF (capped by net.core.rmem_max) or net.core.rmem_default, or read faster',
    '    1 drop at uid 101 on 10.94.0.2:5353: rcvbuf 4096, queued 4352; raise it with SO_RCVBUF (capped by net.core.rmem_max) or net.core.rmem_default, or read faster',
  ]);
  assert.match(lines[advice + 3], /^    try: /);
});

test('summary -o json: total.sockets, most drops first, each socket as in tracing', TIMEOUT, async (t) => {
  const sockets = [{ reason: SOCKET_RCVBUFF, count: 4, socket: RECEIVER_SOCKET }];
  const h = harness(t, {
    binding: { counters: { seen: 4, matched: 4 }, dropCounts: encodeCountRecords([rcvbuf(4)]), socketCounts: encodeSocketCounts(sockets) },
    sockets: receiverOnce(),
  });
  const { done } = await runUntilOpened(['summary', '-o', 'json', '--interval', '0.05'], h);
  await waitFor(() => h.records().length >= 2, 'two intervals');
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  const total = h.records().find((r) => r.type === 'total')!;
  assert.deepEqual(total.sockets, [
    {
      reason: 'SOCKET_RCVBUFF',
      count: 4,
      socket: {
        inode: 812345,
        cookie: null,
        uid: 101,
        local: '10.94.0.2:53',
        pid: 812,
        comm: 'dnsmasq',
        cgroup: '/system.slice/dnsmasq.service',
        container: null,
        rcvbuf: 212992,
        queued: 213760,
        drops: 5,
      },
      pod: null,
      advice: 'dnsmasq[812] on 10.94.0.2:53: rcvbuf 212992, queued 213760; raise it with SO_RCVBUF (capped by net.core.rmem_max) or net.core.rmem_default, or read faster',
    },
  ]);
  assert.equal(h.binding.options.config.readUInt32LE(CONFIG.features), FEATURE.SOCKET, 'summary asks the kernel to count sockets');

  const off = harness(t);
  const { done: offDone } = await runUntilOpened(['summary', '--no-socket'], off);
  assert.equal(off.binding.options.config.readUInt32LE(CONFIG.features), 0, 'summary --no-socket: no socket counts');
  off.signals.emit('SIGINT');
  assert.equal(await offDone, 0);
});

test('summary --no-hints: rows without the hint line', TIMEOUT, async (t) => {
  const h = harness(t, { binding: { dropCounts: encodeCountRecords([rcvbuf(5)]) } });
  const { done } = await runUntilOpened(['summary', '--no-hints', '--interval', '0.05'], h);
  await waitFor(() => h.stdout().includes(' drops ---'), 'the first interval');
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.match(h.stdout(), /^--- \d\d:\d\d:\d\d: 5 drops ---$/m);
  assert.ok(!h.stdout().includes('hint:'), h.stdout());
});

test('summary on a terminal: a live table redrawn in place on the alternate screen, the totals after it on the normal one', TIMEOUT, async (t) => {
  const h = harness(t, { stdoutIsTty: true, columns: 60, binding: { counters: { matched: 5 }, dropCounts: encodeCountRecords([rcvbuf(5)]) } });
  const { done } = await runUntilOpened(['summary', '--interval', '0.05'], h);
  await waitFor(() => h.out.length >= 3, 'two redraws');
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.equal(h.out[0], '\x1b[?1049h', 'the alternate screen first');
  const [first, second] = h.out.slice(1);
  for (const table of [first, second]) {
    assert.ok(table.startsWith('\x1b[H\x1b[2J'), JSON.stringify(table.slice(0, 12)));
    assert.match(table, /dropwhy summary: \d+s, 5 drops matched/);
    for (const line of table.slice(7).split('\n')) assert.ok(line.length < 60, `cut to the terminal's 60 columns: ${line}`);
  }
  // 5 drops over the first interval's real length (at least 0.05 s): at most 100/s.
  const rate = Number(/^\s+(\d+)\s+5  SOCKET_RCVBUFF\s+udp\s+kfree_s…$/m.exec(first)?.[1]);
  assert.ok(rate > 0 && rate <= 100, first);
  assert.match(second, /^\s+0\s+5  SOCKET_RCVBUFF/m, 'nothing new: 0/s');
  const leave = h.out.indexOf('\x1b[?1049l');
  assert.ok(leave > 2, 'the alternate screen is left');
  assert.match(h.out[leave + 1], /^=== total over /, 'the totals after it, on the normal screen');
  const totals = h.out[leave + 1].trimEnd().split('\n');
  for (const line of totals) assert.ok(line.length <= 60, `the totals fit the terminal's 60 columns: ${line}`);
  assert.ok(
    totals.some((line) => /^ {8}\S/.test(line)),
    `a long line of the totals continues 4 further in:\n${totals.join('\n')}`,
  );
  assert.equal(h.out.indexOf('\x1b[?1049l', leave + 1), -1, 'left once');
});

test('summary on a terminal whose width changes: the live table follows it', TIMEOUT, async (t) => {
  const h = harness(t, { stdoutIsTty: true, columns: 100, binding: { counters: { matched: 5 }, dropCounts: encodeCountRecords([rcvbuf(5)]) } });
  const { done } = await runUntilOpened(['summary', '--interval', '0.05'], h);
  await waitFor(() => h.out.length >= 2, 'a first table');
  h.resize.emit('resize', 40);
  const resizedAt = h.out.length;
  await waitFor(() => h.out.length >= resizedAt + 1, 'a table after the resize');
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  const widest = (table: string) =>
    Math.max(
      ...table
        .slice(7)
        .split('\n')
        .map((line) => line.length),
    );
  assert.ok(widest(h.out[1]) > 40, h.out[1]);
  assert.ok(widest(h.out[resizedAt]) < 40, h.out[resizedAt]);
});

test('summary on a kernel without drop reasons: reason null, and the note on stderr', TIMEOUT, async (t) => {
  const h = harness(t, { binding: { reasons: false, dropCounts: encodeCountRecords([rcvbuf(4)]) } });
  assert.equal(await run(['summary', '-o', 'json', '--interval', '0.05', '--duration', '0.1'], h.io), 0);
  const total = h.records().pop() as TotalRecord;
  assert.deepEqual(
    total.drops.map((d) => [d.reason, d.count, d.proto]),
    [[null, 4, 'udp']],
  );
  assert.equal(h.err.filter((l) => l.includes('reports no drop reason')).length, 1);
});

// ---------------------------------------------------------------------------
// summary: the tracer's configuration and how a run ends
// ---------------------------------------------------------------------------

test('summary: the BPF program counts (CONFIG.mode 1) in a map of --max-keys entries, with the smallest ring', TIMEOUT, async (t) => {
  const h = harness(t);
  const { done } = await runUntilOpened(['summary', '--max-keys', '1234', '--filter-proto', 'udp', '--filter-port', '53'], h);
  const options = h.binding.options;
  assert.equal(options.config.readUInt8(CONFIG.mode), MODE.count);
  assert.equal(options.config.readUInt8(CONFIG.mode), 1);
  assert.equal(options.countEntries, 1234);
  assert.equal(options.ringBytes, 4096);
  assert.equal(options.config.readUInt8(CONFIG.l4_proto), 17, 'filters are lowered as in trace mode');
  assert.equal(options.config.readUInt16LE(CONFIG.port), 53);
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);

  const defaults = harness(t);
  const { done: done2 } = await runUntilOpened(['summary'], defaults);
  assert.equal(defaults.binding.options.countEntries, 4096, 'the default --max-keys');
  defaults.signals.emit('SIGINT');
  assert.equal(await done2, 0);

  const trace = harness(t);
  const { done: done3 } = await runUntilOpened([], trace);
  assert.equal(trace.binding.options.config.readUInt8(CONFIG.mode), MODE.stream, 'trace mode streams');
  assert.equal(trace.binding.options.config.readUInt32LE(CONFIG.features), FEATURE.SOCKET, 'and reads the socket by default');
  trace.signals.emit('SIGINT');
  assert.equal(await done3, 0);

  const noSocket = harness(t);
  const { done: done4 } = await runUntilOpened(['--no-socket'], noSocket);
  assert.equal(noSocket.binding.options.config.readUInt32LE(CONFIG.features), 0, '--no-socket: no socket reads');
  noSocket.signals.emit('SIGINT');
  assert.equal(await done4, 0);
});

test('summary --count 5: ends by itself once the kernel has matched 5 drops', TIMEOUT, async (t) => {
  const h = harness(t, { binding: { counters: { seen: 9, matched: 0 }, dropCounts: encodeCountRecords([rcvbuf(5)]) } });
  const { done } = await runUntilOpened(['summary', '--count', '5', '--interval', '60'], h);
  h.binding.counters.matched = 4;
  await sleep(300); // three --count checks
  assert.equal(h.binding.stopCalls, 0, 'still running at 4 matched');
  h.binding.counters.matched = 5;
  assert.equal(await done, 0);
  assert.equal(h.binding.stopCalls, 1);
  assert.match(h.stdout(), /^=== total over \d+\.\ds: 5 drops ===$/m);
  assert.deepEqual(h.err, [closingLine(9, 5, 0)]);
  assert.equal(h.signals.listenerCount('SIGINT'), 0);
});

test('summary: bad --interval and --max-keys values: exit 2 naming the flag, no tracer', TIMEOUT, async (t) => {
  const cases: Array<[string[], string]> = [
    [['--interval', '0'], 'interval'],
    [['--interval', 'abc'], 'interval'],
    [['--interval', '1s'], 'interval'],
    [['--max-keys', '0'], 'max-keys'],
    [['--max-keys', '1048577'], 'max-keys'],
    [['--max-keys', '1.5'], 'max-keys'],
    [['--max-keys', 'lots'], 'max-keys'],
  ];
  for (const [argv, flag] of cases) {
    const h = harness(t);
    assert.equal(await runNoTrace(['summary', ...argv], h), 2, argv.join(' '));
    assert.ok(h.err[0].startsWith(`dropwhy: --${flag}: expected `), `${argv.join(' ')}: ${h.err[0]}`);
    assert.ok(h.err[0].includes(JSON.stringify(argv[1])), `the bad value is quoted: ${h.err[0]}`);
    assert.equal(h.err[1], "Try 'dropwhy --help' for the accepted options.");
    assert.equal(h.binding.opened.length, 0);
  }
});

test('--interval and --max-keys belong to summary: the trace command rejects them', TIMEOUT, async (t) => {
  for (const argv of [
    ['--interval', '1'],
    ['--max-keys', '10'],
  ]) {
    const h = harness(t);
    assert.equal(await runNoTrace(argv, h), 2, argv.join(' '));
    assert.match(h.err[0], new RegExp(`^dropwhy: .*${argv[0].slice(2)}`));
  }
});

test('summary --ring-size is refused: summary mode streams no events', TIMEOUT, async (t) => {
  const h = harness(t);
  assert.equal(await runNoTrace(['summary', '--ring-size', '4M'], h), 2);
  assert.match(h.err[0], /^dropwhy: Unknown arguments?: ring-size/);
  assert.equal(h.binding.opened.length, 0);
});

test('summary --help: lists --interval and --max-keys, hides --ring-size', TIMEOUT, async (t) => {
  const h = harness(t);
  assert.equal(await runNoTrace(['summary', '--help'], h), 0);
  assert.match(h.stdout(), /--interval/);
  assert.match(h.stdout(), /--max-keys/);
  assert.doesNotMatch(h.stdout(), /--ring-size/);
  assert.equal(h.binding.opened.length, 0);
});

// ---------------------------------------------------------------------------
// explain
// ---------------------------------------------------------------------------

test('explain SOCKET_RCVBUFF: exit 0, the explanation on stdout', TIMEOUT, async (t) => {
  const h = harness(t);
  assert.equal(await runNoTrace(['explain', 'SOCKET_RCVBUFF'], h), 0);
  assert.equal(h.stdout(), renderExplanation('SOCKET_RCVBUFF', loadReasonTable().names));
  assert.match(h.stdout(), /^SOCKET_RCVBUFF: /);
  assert.match(h.stdout(), /^Counters that show it:$/m);
  assert.match(h.stdout(), /^What to check:$/m);
  assert.deepEqual(h.err, []);
  assert.equal(h.binding.opened.length, 0);
});

test('explain works without the addon and without privileges', TIMEOUT, async (t) => {
  const h = harness(t, {
    bindingError: new EnvironmentError('the native addon is not built'),
    facts: { euid: 1000, capEff: 0n, btfPresent: false },
  });
  assert.equal(await runNoTrace(['explain', 'SOCKET_RCVBUFF'], h), 0);
  assert.equal(h.bindingCalls, 1, 'the kernel names were tried');
  assert.equal(h.stdout(), renderExplanation('SOCKET_RCVBUFF', null));
  assert.ok(!h.stdout().includes('Note:'));
  assert.deepEqual(h.err, []);
});

test('explain a name the kernel lacks: exit 2, the closest names of this kernel, nothing on stdout', TIMEOUT, async (t) => {
  for (const [typed, bare, closest] of [
    ['NO_SOCK', 'NO_SOCK', 'NO_SOCKET'],
    ['skb_drop_reason_netfliter_drop', 'NETFLITER_DROP', 'NETFILTER_DROP'],
  ]) {
    const h = harness(t);
    assert.equal(await runNoTrace(['explain', typed], h), 2, typed);
    assert.match(
      h.err[0],
      new RegExp(`^dropwhy: explain: this kernel has no drop reason named ${bare}; the closest: ${closest}, \\w+, \\w+ \\(dropwhy explain --list shows them all\\)$`),
    );
    assert.equal(h.err.length, 1, "explain's own error: no --help hint");
    assert.deepEqual(h.out, []);
  }
});

test('explain a name the kernel lacks but dropwhy knows (another kernel has it): the note, exit 0', TIMEOUT, async (t) => {
  const h = harness(t, { binding: { reasonNames: ['NO_SOCKET', 'NETFILTER_DROP'] } });
  assert.equal(await runNoTrace(['explain', 'SOCKET_RCVBUFF'], h), 0);
  assert.match(h.stdout(), /^Note: the running kernel has no drop reason named SOCKET_RCVBUFF\.$/m);
  assert.deepEqual(h.err, []);
});

test('explain names dropwhy prints for codes it cannot name: exit 0, no suggestions', TIMEOUT, async (t) => {
  for (const name of ['UNKNOWN_200', 'OPENVSWITCH:0x3']) {
    const h = harness(t);
    assert.equal(await runNoTrace(['explain', name], h), 0, name);
    assert.deepEqual(h.err, [], name);
  }
});

test("explain without the kernel's names: from the advice table as before, any name, exit 0", TIMEOUT, async (t) => {
  for (const h of [harness(t, { binding: { reasons: false } }), harness(t, { bindingError: new Error('no addon') })]) {
    assert.equal(await runNoTrace(['explain', 'brand_new_reason'], h), 0);
    assert.equal(h.stdout(), renderExplanation('brand_new_reason', null));
    assert.match(h.stdout(), /\(dropwhy has no specific advice for this reason yet/);
    assert.deepEqual(h.err, []);
  }
});

test('explain without a reason, or with a malformed one: exit 2', TIMEOUT, async (t) => {
  const h = harness(t);
  assert.equal(await runNoTrace(['explain'], h), 2);
  assert.deepEqual(h.err, ['dropwhy: explain: expected a reason name such as SOCKET_RCVBUFF, or --list'], "explain's own error: no --help hint");
  assert.deepEqual(h.out, []);

  const bad = harness(t);
  assert.equal(await runNoTrace(['explain', 'NO-SOCKET'], bad), 2);
  assert.equal(bad.err[0], 'dropwhy: explain: expected a reason name such as SOCKET_RCVBUFF, got "NO-SOCKET"');
});

test("explain --list: the fake kernel's reason names with their summaries", TIMEOUT, async (t) => {
  const h = harness(t);
  assert.equal(await runNoTrace(['explain', '--list'], h), 0);
  const names = loadReasonTable().names;
  assert.equal(h.stdout(), renderReasonList(names));
  const lines = h.stdout().split('\n').filter(Boolean);
  assert.equal(lines.length, names.length);
  assert.ok(lines.some((l) => l.startsWith('NO_SOCKET ') && l.endsWith(explain('NO_SOCKET').advice.summary)));
  assert.ok(lines.some((l) => l.startsWith('SOCKET_RCVBUFF ')));

  for (const h2 of [harness(t, { binding: { reasons: false } }), harness(t, { bindingError: new Error('no addon') })]) {
    assert.equal(await runNoTrace(['explain', '--list'], h2), 0);
    assert.equal(h2.stdout(), renderReasonList(null));
  }
});

// ---------------------------------------------------------------------------
// trace: the closing comparison with the kernel's counters
// ---------------------------------------------------------------------------

function udpNoSocket(overrides: EventSpec = {}): EventSpec {
  return { reason: NO_SOCKET, saddr: '10.0.0.1', daddr: '10.0.0.2', l4Proto: 'udp', sport: 40000, dport: 9, netns: 4026531840, ...overrides };
}

test('trace: Udp NoPorts +2 beside 2 NO_SOCKET drops traced: the closing lines say they agree', TIMEOUT, async (t) => {
  const h = harness(t, {
    binding: { counters: { seen: 2, matched: 2 } },
    counterSnapshots: [snapshot({ 'Udp NoPorts': 10, 'Ip InReceives': 50 }), snapshot({ 'Udp NoPorts': 12, 'Ip InReceives': 52 })],
  });
  const { done } = await runUntilOpened(['-o', 'json'], h);
  h.binding.push(encodeBatch([udpNoSocket(), udpNoSocket({ dport: 10 })]));
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.equal(h.records().length, 2);
  assert.deepEqual(h.err, [closingLine(2, 2, 0), 'dropwhy: Udp NoPorts +2 vs 2 NO_SOCKET traced: agree']);
  assert.deepEqual(h.counterReads, [null, null]);
});

test('trace: counters that differ get a verdict, the whole-host note and the other trouble counters', TIMEOUT, async (t) => {
  const h = harness(t, {
    binding: { counters: { seen: 3, matched: 3 } },
    counterSnapshots: [
      snapshot({ 'Udp NoPorts': 10, 'Ip InReceives': 50, 'dev eth0 rx_dropped': 0 }),
      snapshot({ 'Udp NoPorts': 12, 'Ip InReceives': 60, 'dev eth0 rx_dropped': 4 }),
    ],
  });
  const { done } = await runUntilOpened(['-o', 'json'], h);
  h.binding.push(encodeBatch([udpNoSocket(), udpNoSocket(), udpNoSocket()]));
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(h.err, [
    closingLine(3, 3, 0),
    'dropwhy: Udp NoPorts +2 vs 3 NO_SOCKET traced: differ by 1 (more were traced)',
    "dropwhy: (the counters are dropwhy's own network namespace's, the drops were traced in all: use --filter-netns for an exact comparison)",
    'dropwhy: other counters: dev eth0 rx_dropped +4',
  ]);
});

test('trace: events lost from the full ring are counted in the verdict: "agree, counting 2 lost"', TIMEOUT, async (t) => {
  const h = harness(t, {
    binding: { counters: { seen: 5, matched: 5, lost: 2 } },
    counterSnapshots: [snapshot({ 'Udp NoPorts': 10 }), snapshot({ 'Udp NoPorts': 15 })],
  });
  const { done } = await runUntilOpened(['-o', 'json'], h);
  h.binding.push(encodeBatch([udpNoSocket(), udpNoSocket(), udpNoSocket()]));
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(h.err, [
    closingLine(5, 5, 2),
    'dropwhy: 2 events were lost because the ring buffer was full: raise --ring-size or narrow the filter',
    'dropwhy: Udp NoPorts +5 vs 3 NO_SOCKET traced: agree, counting 2 lost',
  ]);
});

test('trace --filter-netns: the counters of that namespace, and no whole-host note', TIMEOUT, async (t) => {
  const inode = 4026532300;
  const h = harness(t, {
    inodes: { '/run/netns/blue': inode },
    counterSnapshots: [snapshot({ 'Udp NoPorts': 0 }), snapshot({ 'Udp NoPorts': 1 })],
  });
  const { done } = await runUntilOpened(['--filter-netns', 'blue', '-o', 'json'], h);
  h.binding.push(encodeBatch([udpNoSocket({ netns: inode }), udpNoSocket({ netns: inode }), udpNoSocket()]));
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(h.counterReads, [inode, inode]);
  assert.deepEqual(h.err.slice(1), ['dropwhy: Udp NoPorts +1 vs 2 NO_SOCKET traced: differ by 1 (more were traced)'], 'only the drops of that namespace are counted');
});

test('trace: unreadable counters: only the closing line, and a warning in the log', TIMEOUT, async (t) => {
  const h = harness(t, { binding: { counters: { seen: 1, matched: 1 } } });
  const { done } = await runUntilOpened(['-o', 'json'], h);
  h.binding.push(encodeBatch([udpNoSocket()]));
  h.signals.emit('SIGINT');
  assert.equal(await done, 0);
  assert.deepEqual(h.err, [closingLine(1, 1, 0)]);
  assert.deepEqual(h.counterReads, [null], 'not read again at the end once the first read failed');
  assert.ok(
    h.logs.some((l) => l.includes("cannot read the namespace's counters")),
    h.logs.join('\n'),
  );
});

test('summary: a closed stdout ends the run with exit 0 and says the totals were not written', TIMEOUT, async (t) => {
  let writes = 0;
  const h = harness(t, {
    binding: { counters: { seen: 5, matched: 5 }, dropCounts: encodeCountRecords([rcvbuf(5)]) },
    writeOut: () => {
      writes++;
      throw new OutputClosedError('output closed');
    },
  });
  assert.equal(await run(['summary', '-o', 'json', '--interval', '0.05', '--duration', '5'], h.io), 0);
  assert.equal(writes, 1, 'the first interval found the pipe closed; the totals were not tried');
  assert.deepEqual(h.err, [closingLine(5, 5, 0), 'dropwhy: output closed: the totals were not written']);
});

test('trace and summary: a counter that moved with nothing traced behind it is a finding, with the listener and somaxconn (issue 25)', TIMEOUT, async (t) => {
  const hostState = {
    ...emptyHostState(),
    settings: new Map([['net.core.somaxconn', '4096']]),
    listeners: [{ local: '127.0.0.1:8080', queued: 2, backlog: 1, owner: 'python3[123]' }],
  };
  const counterSnapshots = [snapshot({ 'TcpExt ListenOverflows': 3, 'TcpExt ListenDrops': 3 }), snapshot({ 'TcpExt ListenOverflows': 15, 'TcpExt ListenDrops': 15 })];
  const finding =
    'TcpExt ListenOverflows +12, none traced: the accept queue of a listening socket is full (refused SYNs are not counted as drops); 127.0.0.1:8080 python3[123] backlog 1 queued 2; net.core.somaxconn 4096; raise the listen() backlog (up to net.core.somaxconn) or accept connections faster';

  const traced = harness(t, { binding: { counters: { seen: 0, matched: 0 } }, counterSnapshots, hostState });
  const tracing = await runUntilOpened(['-o', 'json'], traced);
  traced.signals.emit('SIGINT');
  assert.equal(await tracing.done, 0);
  // ListenDrops counts the same drops as ListenOverflows: the finding explains it too, not "other counters".
  assert.deepEqual(traced.err.slice(1), [`dropwhy: finding: ${finding}`]);

  const counted = harness(t, { binding: { counters: { seen: 0, matched: 0 } }, counterSnapshots, hostState });
  const summary = await runUntilOpened(['summary', '-o', 'json', '--interval', '60'], counted);
  counted.signals.emit('SIGINT');
  assert.equal(await summary.done, 0);
  const total = counted.records().find((r) => r.type === 'total') as { findings: Array<Record<string, unknown>> };
  assert.deepEqual(total.findings, [
    {
      counter: 'TcpExt ListenOverflows',
      delta: 12,
      traced: 0,
      global: false,
      explanation: 'the accept queue of a listening socket is full (refused SYNs are not counted as drops)',
      objects: ['127.0.0.1:8080 python3[123] backlog 1 queued 2'],
      settings: [{ name: 'net.core.somaxconn', value: '4096' }],
      advice: 'raise the listen() backlog (up to net.core.somaxconn) or accept connections faster',
    },
  ]);
});
