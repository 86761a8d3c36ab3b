// Faults dropwhy must come through, each against the real kernel: killed with
// SIGKILL in a storm of drops, -w onto a full disk, a --ready-file it cannot
// write, a second dropwhy beside it, scrape clients that hang up mid-response.
//
// Other dropwhy processes may run on this machine at the same time (other
// tests, other people): programs and maps are told apart by the ids the
// process under test holds (its /proc/PID/fdinfo), drops by namespace.
import { test, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  CLI_PATH,
  assertDrops,
  assertEachDrop,
  assertKernelMatchedPrinted,
  assertNoStackTrace,
  bpfHandles,
  closingStats,
  describeEvents,
  expectLocation,
  expectReason,
  metricsUrl,
  netnsInode,
  programsLeft,
  requireRealKernel,
  run,
  samples,
  sendUdp,
  sleep,
  snmpCounters,
  startDropwhy,
  traceWhile,
  withTimeout,
  withNetnsPair,
  scaled,
  type DropExpectation,
  type NetnsPair,
} from './harness';
import { EXIT } from '../../src/errors';

const TIMEOUT = { timeout: scaled(60_000) };

/** Every field of a UDP datagram from A (sport) to a closed port of B (dport), dropped in B. */
function closedPortDrop(p: NetnsPair, sport: number, dport: number): DropExpectation {
  return {
    ...expectReason('NO_SOCKET'),
    location: expectLocation('__udp4_lib_rcv'),
    family: 'ipv4',
    proto: 'udp',
    saddr: p.v4A,
    daddr: p.v4B,
    sport,
    dport,
    netns: netnsInode(p.nsB),
    ifname: p.ifB,
  };
}

/** stderr's lines other than the closing report's first line (`N drops seen, M matched, L lost`). */
const linesBesideClosing = (stderr: string) => stderr.split('\n').filter((line) => line !== '' && !/ drops? seen, \d+ matched, \d+ lost$/.test(line));

/** A fresh temporary directory, removed when the test ends. */
function scratchDir(t: TestContext, name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `dropwhy-e2e-faults-${name}-`));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

// ---------------------------------------------------------------------------

/** Events printed before the kill: the storm is under way. */
const STORM_LINES_BEFORE_KILL = 200;

test('SIGKILL mid-storm: the kernel frees its programs and maps, and the next start traces exactly', TIMEOUT, async (t) => {
  if (!requireRealKernel(t)) return;
  const stopStorm = path.join(scratchDir(t, 'storm'), 'stop');
  await withNetnsPair(async (p) => {
    const args = ['-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'udp'];
    const dw = await startDropwhy(args);
    let held: ReturnType<typeof bpfHandles> = null;
    try {
      held = bpfHandles(dw.child.pid!);
      assert.ok(held && held.progIds.length > 0 && held.mapIds.length > 0, `the attached dropwhy holds no program or map: ${JSON.stringify(held)}`);
      let stormOver = false;
      const storm = sendUdp(p.nsA, p.v4B, 9, 100_000, { burst: true, until: stopStorm }).finally(() => (stormOver = true));
      await dw.waitForLines(STORM_LINES_BEFORE_KILL, 15_000);
      assert.equal(stormOver, false, 'the storm was over before the kill: nothing was mid-flight');
      dw.child.kill('SIGKILL');
      // Not waitExit: the killed process's last line may be cut short, and is not parsed.
      const signal = await withTimeout(new Promise((resolve) => dw.child.once('exit', (_code, sig) => resolve(sig))), 10_000, 'still running');
      assert.equal(signal, 'SIGKILL');
      fs.writeFileSync(stopStorm, '');
      assert.ok((await storm) > STORM_LINES_BEFORE_KILL);
    } finally {
      dw.kill();
    }
    const pid = dw.child.pid;
    assert.deepEqual(await programsLeft(held.progIds), [], `programs of the killed dropwhy (pid ${pid}) still loaded`);
    assert.deepEqual(await programsLeft(held.mapIds, 10_000, 'map'), [], `maps of the killed dropwhy (pid ${pid}) still exist`);

    const { res } = await traceWhile(args, async () => assert.equal(await sendUdp(p.nsA, p.v4B, 10, 3, { srcPort: 40201 }), 3));
    assertDrops(res.events, 3, closedPortDrop(p, 40201, 10));
    assert.equal(closingStats(res.stderr)?.lost, 0, res.stderr);
  });
});

// ---------------------------------------------------------------------------

/** Room for the pcapng header and a few hundred packets, fewer than DISK_FILLING_DROPS. */
const FULL_DISK_SIZE = '64k';
const DISK_FILLING_DROPS = 3000;

test('-w onto a full disk: one line naming the file and the error, the counts, exit 1', TIMEOUT, async (t) => {
  if (!requireRealKernel(t)) return;
  const mount = scratchDir(t, 'full');
  await run('mount', ['-t', 'tmpfs', '-o', `size=${FULL_DISK_SIZE}`, 'dropwhy-e2e-full', mount]);
  try {
    const file = path.join(mount, 'drops.pcapng');
    await withNetnsPair(async (p) => {
      const dw = await startDropwhy(['-w', file, '-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'udp']);
      try {
        await sendUdp(p.nsA, p.v4B, 9, DISK_FILLING_DROPS, { srcPort: 40301 });
        const res = await dw.waitExit(15_000);
        assertNoStackTrace(res.stderr);
        assert.equal(res.code, EXIT.failure, `exit code; stderr:\n${res.stderr}`);
        assert.deepEqual(linesBesideClosing(res.stderr), [`dropwhy: -w: cannot write ${file}: no space left on device (ENOSPC)`]);
        const stats = closingStats(res.stderr);
        assert.ok(stats, `no counts on stderr:\n${res.stderr}`);
        assert.ok(res.events.length > 0 && stats.matched >= res.events.length, `${stats.matched} matched, ${res.events.length} printed`);
        assert.ok(fs.statSync(file).size > 32 << 10, `the disk never filled: ${fs.statSync(file).size} bytes written`);
        assertEachDrop(res.events, closedPortDrop(p, 40301, 9));
      } finally {
        dw.kill();
      }
    });
  } finally {
    await run('umount', [mount]);
  }
});

// ---------------------------------------------------------------------------

test('--ready-file in a directory that does not exist: one line, exit 1, nothing loaded', TIMEOUT, async (t) => {
  if (!requireRealKernel(t)) return;
  const file = path.join(scratchDir(t, 'ready'), 'missing', 'ready');
  const child = spawn(process.execPath, [CLI_PATH, '-o', 'json', '--ready-file', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.after(() => child.kill('SIGKILL')); // one that does not fail traces until killed
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const loaded = new Set<number>();
  // Polled every millisecond: a load takes far longer than that.
  const watch = setInterval(() => {
    const handles = bpfHandles(child.pid!);
    [...(handles?.mapIds ?? []), ...(handles?.progIds ?? [])].forEach((id) => loaded.add(id));
  }, 1);
  try {
    const code = await withTimeout(new Promise<number | null>((resolve) => child.on('close', resolve)), 20_000, 'still running');
    assertNoStackTrace(stderr);
    assert.equal(code, EXIT.failure, stderr);
    assert.deepEqual(stderr.split('\n').filter(Boolean), [`dropwhy: cannot write --ready-file ${file}: no such file or directory (ENOENT)`]);
    assert.deepEqual([...loaded], [], 'dropwhy created BPF maps or programs before it found it could not write its ready file');
    assert.equal(fs.existsSync(file), false);
  } finally {
    clearInterval(watch);
  }
});

// ---------------------------------------------------------------------------

test('two dropwhy at once, with different filters: each prints exactly its drops, and its kernel counters agree', TIMEOUT, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const [all, port9] = await Promise.all([
      startDropwhy(['-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'udp']),
      startDropwhy(['-o', 'json', '--filter-netns', p.nsB, '--filter-port', '9']),
    ]);
    try {
      const programs = [all, port9].map((dw) => new Set(bpfHandles(dw.child.pid!)?.progIds));
      assert.ok(
        programs.every((ids) => ids.size > 0),
        'each holds its own program',
      );
      assert.ok(
        [...programs[0]].every((id) => !programs[1].has(id)),
        `they share a program: ${[...programs[0]]} / ${[...programs[1]]}`,
      );
      const before = await snmpCounters(p.nsB);
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 5, { srcPort: 40401 }), 5);
      assert.equal(await sendUdp(p.nsA, p.v4B, 10, 3, { srcPort: 40402 }), 3);
      const after = await snmpCounters(p.nsB);
      assert.equal(after['Udp.NoPorts'] - before['Udp.NoPorts'], 8, "the kernel's own count: 8 UDP datagrams to no socket");
      const [allRes, port9Res] = await Promise.all([all.stop(), port9.stop()]);
      for (const res of [allRes, port9Res]) {
        assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
        assertKernelMatchedPrinted(res);
        assert.equal(closingStats(res.stderr)?.lost, 0, res.stderr);
      }
      assertDrops(port9Res.events, 5, closedPortDrop(p, 40401, 9));
      assert.equal(allRes.events.length, 8, describeEvents(allRes.events));
      assertDrops(
        allRes.events.filter((e) => e.dport === 9),
        5,
        closedPortDrop(p, 40401, 9),
      );
      assertDrops(
        allRes.events.filter((e) => e.dport === 10),
        3,
        closedPortDrop(p, 40402, 10),
      );
    } finally {
      all.kill();
      port9.kill();
    }
  });
});

// ---------------------------------------------------------------------------

/**
 * Sends GET /metrics and hangs up: at once (the answer is still being made)
 * or with a reset once its first bytes arrived. Resolves once the socket closed.
 */
function hangUp(url: URL, when: 'before the answer' | 'after its first bytes'): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname, () => {
      socket.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\n\r\n`);
      if (when === 'before the answer') socket.destroy();
    });
    socket.once('data', () => socket.resetAndDestroy());
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
    socket.on('close', () => resolve());
  });
}

const HANG_UPS = 6;

test('exporter: clients hanging up mid-response leave it serving, with the right counts', TIMEOUT, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const exporter = await startDropwhy(['exporter', '--listen', '127.0.0.1:0', '--filter-netns', p.nsB, '--filter-proto', 'udp']);
    try {
      const url = new URL(await metricsUrl(exporter));
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 7, { srcPort: 40501 }), 7);
      for (let i = 0; i < HANG_UPS; i++) await hangUp(url, i % 2 === 0 ? 'before the answer' : 'after its first bytes');
      await sleep(100); // the server notices the last hang-up
      assert.equal(exporter.child.exitCode, null, `the exporter exited; stderr:\n${exporter.stderr()}`);
      const response = await fetch(url);
      assert.equal(response.status, 200);
      const inB = samples(await response.text(), 'dropwhy_drops_total').filter((s) => s.labels.netns === String(netnsInode(p.nsB)));
      assert.deepEqual(
        inB.map((s) => [s.labels.reason, s.labels.proto, s.value]),
        [[expectReason('NO_SOCKET').reason ?? '', 'udp', 7]],
      );
      const res = await exporter.stop({ signal: 'SIGTERM', settleMs: 0 });
      assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
      assertNoStackTrace(res.stderr);
      assert.deepEqual(linesBesideClosing(res.stderr), [`dropwhy: serving metrics on ${url.href}`]);
    } finally {
      exporter.kill();
    }
  });
});
