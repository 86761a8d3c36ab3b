// Loss and overflow on the real kernel. A ring buffer too small for a burst
// (or a reader that stalls) loses events, a count map too small for two kinds
// of drops leaves some uncounted: the BPF program's own counters must say
// exactly how many (printed + lost == matched == the drops the kernel made),
// the warnings must say so, and the counter comparison must count them
// before it judges.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EVENT_SIZE } from '../../src/events/layout';
import { ETH_P, ethernet, IPPROTO, ipv4, udp } from './packets';
import {
  assertEachDrop,
  assertKernelMatchedPrinted,
  assertNoStackTrace,
  closingStats,
  expectLocation,
  expectReason,
  kernelFacts,
  netnsInode,
  parseNdjson,
  rcvbufFlood,
  requireRealKernel,
  sendUdp,
  sendFrames,
  snmpCounters,
  startDropwhy,
  traceWhile,
  withNetnsPair,
  scaled,
  type DropwhyResult,
  type NetnsPair,
} from './harness';

/** The reason as text output shows it: the name, or "-" on kernels that report none (before 5.17). */
const reasonText = (name: string) => expectReason(name).reason ?? '-';

/** A few thousand datagrams: far more than a 4 KiB ring (~34 events) holds while the reader sleeps 10 ms. */
const BURST = 4000;
const CLOSED_PORT = 9;
/** A ring buffer record: the event after the kernel's 8-byte header (BPF_RINGBUF_HDR_SZ), 8-byte aligned. */
const RING_RECORD_BYTES = Math.ceil((8 + EVENT_SIZE) / 8) * 8;

/** The closing lines on stderr, without the "dropwhy: " prefix. */
function closingLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('dropwhy: '))
    .map((l) => l.slice('dropwhy: '.length));
}

/** The closing counts, which must be there. */
function closing(res: DropwhyResult) {
  const stats = closingStats(res.stderr);
  assert.ok(stats, `no closing line:\n${res.stderr}`);
  return stats;
}

/** How much each named counter of namespace ns moved while act ran. */
async function counterDeltas<T>(ns: string, names: string[], act: () => Promise<T>): Promise<{ value: T; moved: Record<string, number> }> {
  const before = await snmpCounters(ns);
  const value = await act();
  const after = await snmpCounters(ns);
  return { value, moved: Object.fromEntries(names.map((n) => [n, (after[n] ?? 0) - (before[n] ?? 0)])) };
}

/**
 * What a run that lost events must show: the kernel made `noPorts` drops and
 * dropwhy matched exactly those, printed some, counted the rest as lost, warned,
 * and the counter comparison agrees by counting the lost.
 */
function assertLossAccounted(res: DropwhyResult, printed: number, noPorts: number): void {
  assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
  assertNoStackTrace(res.stderr);
  const { matched, lost } = closing(res);
  assert.equal(matched, noPorts, `matched vs the receiver's Udp NoPorts delta:\n${res.stderr}`);
  assert.ok(lost > 0, `the ring should have overflowed:\n${res.stderr}`);
  assert.equal(printed + lost, matched, `printed ${printed} + lost ${lost} vs matched ${matched}:\n${res.stderr}`);
  const lines = closingLines(res.stderr);
  assert.ok(
    lines.includes(`${lost} ${lost === 1 ? 'event was' : 'events were'} lost because the ring buffer was full: raise --ring-size or narrow the filter`),
    `no loss warning:\n${res.stderr}`,
  );
  assert.deepEqual(
    lines.filter((l) => l.includes('traced:')),
    // Before 5.17 no reason links a drop to a counter: nothing to compare.
    kernelFacts().hasReason ? [`Udp NoPorts +${noPorts} vs ${printed} NO_SOCKET traced: agree, counting ${lost} lost`] : [],
    `stderr:\n${res.stderr}`,
  );
}

/** Traces a burst to a closed port of nsB with a 4 KiB ring; returns the result and the receiver's Udp NoPorts delta. */
async function burstThroughSmallRing(p: NetnsPair, output: string[]) {
  const { res, value } = await traceWhile([...output, '--ring-size', '4K', '--filter-netns', p.nsB], () =>
    counterDeltas(p.nsB, ['Udp.NoPorts'], async () => {
      assert.equal(await sendUdp(p.nsA, p.v4B, CLOSED_PORT, BURST, { burst: true }), BURST);
    }),
  );
  return { res, noPorts: value.moved['Udp.NoPorts'] };
}

test(`trace --ring-size 4K, ${BURST} UDP drops in a burst: printed + lost == matched == Udp NoPorts, the warning, "agree, counting N lost"`, {
  timeout: scaled(90_000),
}, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res, noPorts } = await burstThroughSmallRing(p, []);
    assert.equal(noPorts, BURST, 'every datagram reached the closed port');
    const lines = res.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('  hint: '));
    const burst = new RegExp(` ${reasonText('NO_SOCKET')} +__udp4_lib_rcv\\S* +udp +${p.v4A.replace(/\./g, '\\.')}:\\d+ > ${p.v4B.replace(/\./g, '\\.')}:${CLOSED_PORT} `);
    for (const line of lines) assert.match(line, burst, 'every printed line is a drop of the burst');
    assertLossAccounted(res, lines.length, noPorts);
  });
});

test(`trace -o json --ring-size 4K, ${BURST} UDP drops in a burst: events + lost == matched == Udp NoPorts`, { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res, noPorts } = await burstThroughSmallRing(p, ['-o', 'json']);
    assert.equal(noPorts, BURST, 'every datagram reached the closed port');
    assertEachDrop(res.events, { ...expectReason('NO_SOCKET'), proto: 'udp', daddr: p.v4B, dport: CLOSED_PORT, netns: netnsInode(p.nsB) });
    assertLossAccounted(res, res.events.length, noPorts);
  });
});

test('trace -o json, the reader stopped (SIGSTOP) during a burst: the ring keeps what fits, the rest is lost and counted', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  const ringBytes = 64 << 10;
  const sent = 3000;
  await withNetnsPair(async (p) => {
    const dw = await startDropwhy(['-o', 'json', '--ring-size', '64K', '--filter-netns', p.nsB]);
    try {
      const { moved } = await counterDeltas(p.nsB, ['Udp.NoPorts'], async () => {
        dw.child.kill('SIGSTOP');
        try {
          assert.equal(await sendUdp(p.nsA, p.v4B, CLOSED_PORT, sent), sent);
        } finally {
          dw.child.kill('SIGCONT');
        }
      });
      const res = await dw.stop();
      const events = parseNdjson(res.stdout);
      assert.equal(moved['Udp.NoPorts'], sent, 'every datagram reached the closed port');
      assert.equal(events.length, Math.floor(ringBytes / RING_RECORD_BYTES), 'a stopped reader gets what a 64 KiB ring holds, no more, no less');
      assertEachDrop(events, { ...expectReason('NO_SOCKET'), dport: CLOSED_PORT, netns: netnsInode(p.nsB) });
      assertLossAccounted(res, events.length, sent);
    } finally {
      dw.kill();
    }
  });
});

interface TotalRecord {
  type: 'total';
  drops: Array<{ reason: string | null; proto: string | null; location: string | null; count: number }>;
  seen: number;
  matched: number;
  overflow: number;
  correlation: Array<{ counter: string; delta: number; traced: number; reasons: string[]; uncounted: number; verdict: string }>;
}

/**
 * summary --max-keys 1 with two kinds of UDP drops in nsB, one after the other:
 * bad checksums to a closed port (UDP_CSUM, the one key the map holds), then a
 * SO_RCVBUF flood (SOCKET_RCVBUFF, none of them counted). Both feed Udp InErrors.
 */
/** count UDP datagrams from A to B's closed port with a wrong checksum: dropped as UDP_CSUM. */
async function sendBadChecksums(p: NetnsPair, count: number): Promise<number> {
  const at = { src: p.v4A, dst: p.v4B };
  const frames = Array.from({ length: count }, (_, i) =>
    ethernet(p.macB, p.macA, ETH_P.ip, ipv4({ ...at, proto: IPPROTO.udp, id: i }, udp(at, 40000, CLOSED_PORT, undefined, { badChecksum: true }))),
  );
  await sendFrames(p.nsA, p.ifA, frames);
  return count;
}

async function summaryWithFullMap(p: NetnsPair, output: 'json' | 'text') {
  const dw = await startDropwhy(['summary', '-o', output, '--max-keys', '1', '--filter-netns', p.nsB, '--interval', '0.2']);
  try {
    const { value, moved } = await counterDeltas(p.nsB, ['Udp.InCsumErrors', 'Udp.RcvbufErrors', 'Udp.InErrors'], async () => {
      const csum = await sendBadChecksums(p, 300);
      const flood = await rcvbufFlood(p.nsB, p.v4B, 5557, 2000, p.nsA);
      return { csum, rcvbuf: flood.dropped };
    });
    const res = await dw.stop({ settleMs: 600 });
    assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
    assertNoStackTrace(res.stderr);
    // The kernel's own counters say how many drops of each kind it made.
    assert.equal(moved['Udp.InCsumErrors'], value.csum, JSON.stringify(moved));
    assert.equal(moved['Udp.RcvbufErrors'], value.rcvbuf, JSON.stringify(moved));
    assert.ok(value.rcvbuf > 0, JSON.stringify(value));
    const { matched } = closing(res);
    assert.equal(matched, value.csum + value.rcvbuf, `matched vs both kinds (${JSON.stringify(value)}):\n${res.stderr}`);
    assert.ok(
      closingLines(res.stderr).includes(`${value.rcvbuf} ${value.rcvbuf === 1 ? 'drop was' : 'drops were'} not counted because the count map was full: raise --max-keys`),
      `no overflow warning for the ${value.rcvbuf} SOCKET_RCVBUFF drops:\n${res.stderr}`,
    );
    return { res, ...value, matched };
  } finally {
    dw.kill();
  }
}

test('summary -o json --max-keys 1, two kinds of drops: overflow == the second kind, rows == matched - overflow, the verdict counts the uncounted', {
  timeout: scaled(90_000),
}, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res, csum, rcvbuf, matched } = await summaryWithFullMap(p, 'json');
    const total = JSON.parse(res.stdout.trim().split('\n').pop()!) as TotalRecord;
    assert.equal(total.type, 'total', res.stdout);
    assert.equal(total.matched, matched);
    assert.equal(total.overflow, rcvbuf);
    assert.deepEqual(
      total.drops.map((d) => [d.reason, d.proto, d.location?.replace(/\+.*/, ''), d.count]),
      [[expectReason('UDP_CSUM').reason, 'udp', expectLocation('__udp4_lib_rcv') ? '__udp4_lib_rcv' : undefined, csum]],
      'the one row the map had room for',
    );
    assert.equal(
      total.drops.reduce((sum, d) => sum + d.count, 0),
      total.matched - total.overflow,
    );
    assert.deepEqual(
      total.correlation,
      kernelFacts().hasReason
        ? [
            { counter: 'Udp InCsumErrors', delta: csum, traced: csum, reasons: ['UDP_CSUM'], uncounted: 0, verdict: 'agree' },
            { counter: 'Udp InErrors', delta: csum + rcvbuf, traced: csum, reasons: ['UDP_CSUM'], uncounted: rcvbuf, verdict: 'agree' },
          ]
        : [],
    );
  });
});

test('summary --max-keys 1, two kinds of drops: the total row, "agree, counting N uncounted" and the overflow warning', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res, csum, rcvbuf } = await summaryWithFullMap(p, 'text');
    const lines = res.stdout.split('\n');
    const at = lines.findIndex((l) => l.startsWith('=== total over '));
    assert.ok(at >= 0, res.stdout);
    assert.match(lines[at], new RegExp(`: ${csum} drops ===$`), 'the total is what the map counted');
    assert.match(lines[at + 1], new RegExp(`^ +${csum} drops  ${reasonText('UDP_CSUM')} +udp +__udp4_lib_rcv`));
    if (!kernelFacts().hasReason) {
      // No reason links a drop to a counter: they are all "other counters".
      assert.match(res.stdout, new RegExp(`^  other counters: .*Udp InErrors \\+${csum + rcvbuf}`, 'm'));
      return;
    }
    assert.deepEqual(
      lines.filter((l) => l.includes('traced:') || l.startsWith('  other counters:')),
      [
        `  Udp InCsumErrors +${csum} vs ${csum} UDP_CSUM traced: agree`,
        `  Udp InErrors +${csum + rcvbuf} vs ${csum} UDP_CSUM traced: agree, counting ${rcvbuf} uncounted`,
        `  other counters: Udp RcvbufErrors +${rcvbuf}`,
      ],
      res.stdout,
    );
  });
});

test('SIGINT while drops still arrive: every drop the kernel matched is printed or counted lost', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const dw = await startDropwhy(['-o', 'json', '--filter-netns', p.nsB]);
    const stopped = path.join(os.tmpdir(), `dropwhy-e2e-stopped-${process.pid}`);
    // Sent until dropwhy has exited, however long its stop takes (seconds in a loaded TCG guest).
    const sending = sendUdp(p.nsA, p.v4B, CLOSED_PORT, 100_000, { until: stopped });
    try {
      await dw.waitForLines(1, 30_000); // the drops have begun
      const res = await dw.stop({ settleMs: 100 });
      fs.writeFileSync(stopped, '');
      const sent = await sending;
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      const { matched } = closing(res);
      assert.ok(matched > 0 && matched < sent, `dropwhy should stop midway: matched ${matched} of ${sent}`);
      // The program is detached before the ring is read for the last time.
      assertKernelMatchedPrinted(res);
    } finally {
      dw.kill();
      fs.writeFileSync(stopped, '');
      await sending.catch(() => 0);
      fs.rmSync(stopped, { force: true });
    }
  });
});
