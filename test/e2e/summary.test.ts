// dropwhy summary against the real kernel: the in-kernel counts per (reason,
// protocol, location) must equal the drops the test caused, in JSON and in
// text, with the kernel's own counters beside them; --count and --duration
// end the run by themselves.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { explain } from '../../src/knowledge/advice';
import {
  assertNoStackTrace,
  expectLocation,
  expectReason,
  expectTextLocation,
  kernelFacts,
  NFT_DROP_SITES,
  nftDrop,
  rcvbufFlood,
  requireRealKernel,
  sendUdp,
  sleep,
  startDropwhy,
  tcpConnect,
  withNetnsPair,
  scaled,
  type DropwhyHandle,
  type DropwhyResult,
} from './harness';

const INTERVAL_S = 0.2;
/** Long enough for at least one --interval tick after the last drop. */
const SETTLE_MS = 600;

interface SummaryRow {
  reason: string | null;
  reason_code: number | null;
  subsystem: string | null;
  proto: string | null;
  family: 'ipv4' | 'ipv6' | null;
  location: string | null;
  address: string;
  count: number;
}

interface IntervalRecord {
  type: 'interval';
  ts: string;
  interval_s: number;
  drops: SummaryRow[];
}

interface TotalRecord {
  type: 'total';
  duration_s: number;
  drops: SummaryRow[];
  seen: number;
  matched: number;
  overflow: number;
  counters: Array<{ name: string; delta: number }> | null;
  correlation: Array<{ counter: string; delta: number; traced: number; reasons: string[]; uncounted: number; verdict: string }>;
}

/**
 * Parse summary NDJSON: interval records, then exactly one total as the last
 * line. Checks that the intervals add up to the total for every row when all
 * drops happened at least one interval before the stop (complete), else that
 * they add up to no more than the total (the last partial interval is only
 * in the total).
 */
function parseSummary(res: DropwhyResult, complete = true): { intervals: IntervalRecord[]; total: TotalRecord } {
  const lines = res.stdout.split('\n').filter((l) => l.trim() !== '');
  assert.ok(lines.length >= 1, `no summary output; stderr:\n${res.stderr}`);
  const records = lines.map((l) => {
    try {
      return JSON.parse(l) as IntervalRecord | TotalRecord;
    } catch {
      throw new Error(`summary stdout line is not JSON: ${JSON.stringify(l)}`);
    }
  });
  const total = records.pop()!;
  assert.equal(total.type, 'total', `last line must be the total:\n${res.stdout}`);
  for (const r of records) {
    assert.equal(r.type, 'interval', `only the last line may be a total:\n${res.stdout}`);
    assert.equal((r as IntervalRecord).interval_s, INTERVAL_S);
    assert.ok(!Number.isNaN(Date.parse(r.ts)), `interval ts: ${r.ts}`);
  }
  const intervals = records as IntervalRecord[];
  const key = (r: SummaryRow) => `${r.reason}/${r.proto}/${r.family}/${r.address}`;
  const summed = new Map<string, number>();
  for (const iv of intervals) for (const r of iv.drops) summed.set(key(r), (summed.get(key(r)) ?? 0) + r.count);
  const totals = new Map(total.drops.map((r) => [key(r), r.count]));
  if (complete) {
    assert.deepEqual(summed, totals, `interval counts do not add up to the total:\n${res.stdout}`);
  } else {
    for (const [k, n] of summed) assert.ok(n <= (totals.get(k) ?? 0), `intervals count ${n} for ${k}, more than the total:\n${res.stdout}`);
  }
  assert.equal(total.overflow, 0, JSON.stringify(total));
  return { intervals, total };
}

function startSummary(nsB: string, extra: string[] = []): Promise<DropwhyHandle> {
  return startDropwhy(['summary', '-o', 'json', '--filter-netns', nsB, '--interval', String(INTERVAL_S), ...extra]);
}

/** Stop with SIGINT after the drops and parse; asserts exit 0 and no stack trace. */
async function stopSummary(dw: DropwhyHandle) {
  const res = await dw.stop({ settleMs: SETTLE_MS });
  assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
  assert.equal(res.signal, null);
  assertNoStackTrace(res.stderr);
  return { res, ...parseSummary(res) };
}

const rowsText = (rows: SummaryRow[]) => JSON.stringify(rows, null, 1);

/**
 * A row as the running kernel gives it: the reason with this kernel's value
 * (all null before 5.17), and a location in one of `at` (null where
 * /proc/kallsyms hides addresses).
 */
function assertRow(row: SummaryRow, want: { reason: string; proto: string; at: string[]; count: number }): void {
  const where = JSON.stringify(row);
  assert.deepEqual({ reason: row.reason, reason_code: row.reason_code, subsystem: row.subsystem }, expectReason(want.reason), where);
  assert.equal(row.proto, want.proto, where);
  assert.equal(row.family, 'ipv4', where);
  const location = expectLocation(...want.at);
  if (location) assert.match(row.location ?? '', location, where);
  else assert.equal(row.location, null, where);
  assert.match(row.address, /^0xffff[0-9a-f]{12}$/, where);
  assert.equal(row.count, want.count, where);
}

/** The total's correlation: none before 5.17 (no reason links a counter to the drops). */
const expectCorrelation = (checks: TotalRecord['correlation']) => (kernelFacts().hasReason ? checks : []);

test('summary -o json: 5 UDP to a closed port -> total NO_SOCKET udp at __udp4_lib_rcv == 5, Udp NoPorts agrees', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const dw = await startSummary(p.nsB);
    try {
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 5), 5);
      const { total, intervals } = await stopSummary(dw);
      assert.ok(intervals.length >= 1, 'at least one interval record');
      assert.equal(total.drops.length, 1, `expected exactly one row:\n${rowsText(total.drops)}`);
      assertRow(total.drops[0], { reason: 'NO_SOCKET', proto: 'udp', at: ['__udp4_lib_rcv'], count: 5 });
      assert.equal(total.matched, 5);
      assert.ok(total.seen >= 5, `seen ${total.seen}`);
      assert.ok(total.duration_s > 0, `duration_s ${total.duration_s}`);
      assert.deepEqual(
        total.counters?.find((c) => c.name === 'Udp NoPorts'),
        { name: 'Udp NoPorts', delta: 5 },
      );
      assert.deepEqual(total.correlation, expectCorrelation([{ counter: 'Udp NoPorts', delta: 5, traced: 5, reasons: ['NO_SOCKET'], uncounted: 0, verdict: 'agree' }]));
    } finally {
      dw.kill();
    }
  });
});

test('summary -o json: nft drop rule x4 -> total NETFILTER_DROP udp at nft_do_chain == 4', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    await nftDrop(p.nsB, 'udp dport 7777');
    const dw = await startSummary(p.nsB);
    try {
      assert.equal(await sendUdp(p.nsA, p.v4B, 7777, 4), 4);
      const { total } = await stopSummary(dw);
      assert.equal(total.drops.length, 1, `expected exactly one row:\n${rowsText(total.drops)}`);
      assertRow(total.drops[0], { reason: 'NETFILTER_DROP', proto: 'udp', at: NFT_DROP_SITES, count: 4 });
      assert.equal(total.matched, 4);
      assert.deepEqual(total.correlation, [], 'NETFILTER_DROP feeds no snmp counter');
    } finally {
      dw.kill();
    }
  });
});

test('summary -o json: TCP SYN to a closed port x3 -> total NO_SOCKET tcp at tcp_v4_rcv == 3', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const dw = await startSummary(p.nsB);
    try {
      assert.deepEqual(await tcpConnect(p.nsA, p.v4B, 9, 3), ['ECONNREFUSED', 'ECONNREFUSED', 'ECONNREFUSED']);
      const { total } = await stopSummary(dw);
      assert.equal(total.drops.length, 1, `expected exactly one row:\n${rowsText(total.drops)}`);
      assertRow(total.drops[0], { reason: 'NO_SOCKET', proto: 'tcp', at: ['tcp_v4_rcv'], count: 3 });
      assert.equal(total.matched, 3);
    } finally {
      dw.kill();
    }
  });
});

test('summary -o json: SO_RCVBUF flood -> total SOCKET_RCVBUFF == sent - queued, Udp RcvbufErrors agrees', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const dw = await startSummary(p.nsB);
    try {
      const flood = await rcvbufFlood(p.nsB, p.v4B, 5555, 2000, p.nsA);
      assert.equal(flood.sent, 2000, `sender sent ${flood.sent}/2000`);
      assert.ok(flood.dropped > 0, `nothing was dropped: ${JSON.stringify(flood)}`);
      assert.equal(flood.snmpRcvbufErrors, flood.dropped, `harness sanity: ${JSON.stringify(flood)}`);
      const { total } = await stopSummary(dw);
      assert.equal(total.drops.length, 1, `expected exactly one row (flood ${JSON.stringify(flood)}):\n${rowsText(total.drops)}`);
      assertRow(total.drops[0], { reason: 'SOCKET_RCVBUFF', proto: 'udp', at: ['udp_queue_rcv_one_skb'], count: flood.dropped });
      assert.equal(total.matched, flood.dropped);
      const n = flood.dropped;
      // every UDP receive-buffer error is also an input error
      assert.deepEqual(
        total.correlation,
        expectCorrelation([
          { counter: 'Udp RcvbufErrors', delta: n, traced: n, reasons: ['SOCKET_RCVBUFF'], uncounted: 0, verdict: 'agree' },
          { counter: 'Udp InErrors', delta: n, traced: n, reasons: ['SOCKET_RCVBUFF'], uncounted: 0, verdict: 'agree' },
        ]),
      );
    } finally {
      dw.kill();
    }
  });
});

test('summary -o text (not a TTY): SO_RCVBUF flood shows the count, the agreeing counter and advice', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const dw = await startDropwhy(['summary', '-o', 'text', '--filter-netns', p.nsB, '--interval', String(INTERVAL_S)]);
    try {
      const flood = await rcvbufFlood(p.nsB, p.v4B, 5556, 2000, p.nsA);
      assert.equal(flood.sent, 2000);
      assert.ok(flood.dropped > 0, `nothing was dropped: ${JSON.stringify(flood)}`);
      const res = await dw.stop({ settleMs: SETTLE_MS });
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      assertNoStackTrace(res.stderr);
      const out = res.stdout;
      const n = flood.dropped;
      assert.ok(!out.includes('\x1b['), `no terminal escapes when stdout is a pipe:\n${JSON.stringify(out)}`);
      assert.doesNotMatch(out, /^\s*\{/m, `text output looks like JSON:\n${out}`);
      const lines = out.split('\n');
      // the interval blocks add up to the flood, and the total says it once more
      const intervalTotals = lines.map((l) => /^--- \d\d:\d\d:\d\d: (\d+) drops? ---$/.exec(l)).filter((m) => m !== null);
      assert.ok(intervalTotals.length >= 1, `no interval header:\n${out}`);
      assert.equal(
        intervalTotals.reduce((s, m) => s + Number(m[1]), 0),
        n,
        `interval headers do not add up to ${n}:\n${out}`,
      );
      const totalHeader = lines.filter((l) => /^=== total over \d+\.\ds: \d+ drops? ===$/.test(l));
      assert.equal(totalHeader.length, 1, `one total header:\n${out}`);
      assert.match(totalHeader[0], new RegExp(`: ${n} drops? ===$`));
      const { reason } = expectReason('SOCKET_RCVBUFF');
      const at = expectTextLocation('udp_queue_rcv_one_skb').source;
      // "symbol+0xoff (address)", or the address alone where kallsyms hides addresses
      const where = kernelFacts().symbolsVisible ? `${at} \\(0x[0-9a-f]+\\)` : at;
      const rowRe = new RegExp(`^ +${n} drops  ${reason ?? '-'} +udp +${where}$`);
      assert.ok(
        lines.some((l) => rowRe.test(l)),
        `no total row ${rowRe}:\n${out}`,
      );
      const correlation = lines.filter((l) => l.includes('Udp RcvbufErrors'));
      assert.deepEqual(
        correlation.map((l) => l.trim()),
        kernelFacts().hasReason ? [`Udp RcvbufErrors +${n} vs ${n} SOCKET_RCVBUFF traced: agree`] : [`other counters: Udp InErrors +${n}, Udp RcvbufErrors +${n}`], // before 5.17: no reason links them to the drops
        `correlation line:\n${out}`,
      );
      if (!reason) {
        assert.ok(!lines.some((l) => /^ +(hint|try): /.test(l)), `no advice without a reason:\n${out}`);
        return;
      }
      const { advice } = explain(reason);
      // e.g. "  hint: SOCKET_RCVBUFF: The socket receive buffer was full: ... (dropwhy explain SOCKET_RCVBUFF)"
      const hints = lines.filter((l) => /^ +hint: /.test(l) && l.includes(advice.summary) && l.endsWith('(dropwhy explain SOCKET_RCVBUFF)'));
      assert.equal(hints.length, 1, `exactly one hint line for SOCKET_RCVBUFF:\n${out}`);
      assert.ok(lines.includes(`  SOCKET_RCVBUFF: ${advice.summary}`), `advice line in the total:\n${out}`);
      assert.ok(lines.includes(`    try: ${advice.checks[0]}`), `first check in the total:\n${out}`);
    } finally {
      dw.kill();
    }
  });
});

test('summary --count 3: keeps running at 2 drops, ends by itself (exit 0) once 3 were counted', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const dw = await startSummary(p.nsB, ['--count', '3']);
    try {
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 2), 2);
      await sleep(500); // several --count checks (every 100 ms) and intervals
      assert.equal(dw.child.exitCode, null, `exited after only 2 drops; stderr:\n${dw.stderr()}`);
      assert.equal(dw.child.signalCode, null);
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 1), 1);
      const res = await dw.waitExit(10_000);
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      assert.equal(res.signal, null);
      assertNoStackTrace(res.stderr);
      const { total } = parseSummary(res, false); // it may stop before the next interval
      assert.equal(total.matched, 3);
      assert.equal(total.drops.length, 1, rowsText(total.drops));
      assert.equal(total.drops[0].reason, expectReason('NO_SOCKET').reason);
      assert.equal(total.drops[0].count, 3);
      assert.match(res.stderr, /dropwhy: \d+ drops? seen, 3 matched, 0 lost/);
    } finally {
      dw.kill();
    }
  });
});

test('summary --duration 1: ends by itself (exit 0) after about a second, with the drops made meanwhile', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const dw = await startSummary(p.nsB, ['--duration', '1']);
    try {
      const readyAt = Date.now();
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 2), 2);
      const res = await dw.waitExit(10_000);
      const exitedAfterReady = Date.now() - readyAt;
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      assert.equal(res.signal, null);
      assertNoStackTrace(res.stderr);
      assert.ok(exitedAfterReady >= 900, `exited ${exitedAfterReady} ms after becoming ready, before the 1 s duration`);
      assert.ok(exitedAfterReady <= 5_000, `exited ${exitedAfterReady} ms after becoming ready (want <= 5000)`);
      const { total, intervals } = parseSummary(res);
      assert.ok(total.duration_s >= 1 && total.duration_s < 5, `duration_s ${total.duration_s}`);
      // 0.2 s intervals while it ran: 4 or 5 on an idle machine; a loaded one starves timers, so
      // only the bounds that hold under any load: some ticked, and no more than the time allowed.
      const ticksAllowed = Math.floor(total.duration_s / 0.2) + 1;
      assert.ok(intervals.length >= 1 && intervals.length <= ticksAllowed, `${intervals.length} interval records in ${total.duration_s} s:\n${res.stdout}`);
      assert.equal(total.matched, 2);
      assert.deepEqual(
        total.drops.map((r) => [r.reason, r.proto, r.count]),
        [[expectReason('NO_SOCKET').reason, 'udp', 2]],
      );
    } finally {
      dw.kill();
    }
  });
});
