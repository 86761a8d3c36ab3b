// Stop signals at every moment of the real CLI's life, and a selftest killed
// with SIGKILL: the exit status, the closing line, and that nothing stays
// behind (BPF programs, the ready file, the selftest's tracer and namespaces).
//
// Other tests on this machine may load dropwhy's program at the same time, so
// programs are told apart by process: the ids of the programs a dropwhy
// process holds (read from its /proc/PID/fdinfo while it runs) must be gone
// from the kernel once it has exited.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  CLI_PATH,
  assertNoStackTrace,
  bpfHandles,
  closingStats,
  describeEvents,
  programsLeft,
  requireRealKernel,
  run,
  sendUdp,
  sleep,
  spawnDropwhy,
  withNetnsPair,
  scaled,
  type DropwhyHandle,
} from './harness';
import { namespacesWithPrefix } from '../../src/kernel/netns-pair';

const STOP_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
/** SigCgt bit of SIGHUP. Node catches SIGINT and SIGTERM itself from start-up, SIGHUP only once dropwhy listens. */
const SIGHUP_CAUGHT = 1n << 0n;

/** Signals the process has handlers for, or null once it is gone. */
function caughtSignals(pid: number): bigint | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    return BigInt(`0x${/^SigCgt:\s*([0-9a-f]+)$/m.exec(status)![1]}`);
  } catch {
    return null;
  }
}

/**
 * Follows a running dropwhy every millisecond: the programs it holds, whether
 * it created maps (the load has begun) and whether its ready file appeared.
 * The first time `when` holds, it sends `signal` (if one is given) at once.
 */
class Monitor {
  readonly progIds = new Set<number>();
  mapsSeen = false;
  readySeen = false;
  /** What had been seen when the moment came. */
  reachedAt: string | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly dw: DropwhyHandle,
    when: (m: Monitor) => boolean,
    signal: NodeJS.Signals | null,
  ) {
    const pid = dw.child.pid!;
    this.timer = setInterval(() => {
      const handles = bpfHandles(pid);
      if (handles) {
        this.mapsSeen ||= handles.mapIds.length > 0;
        handles.progIds.forEach((id) => this.progIds.add(id));
      }
      this.readySeen ||= fs.existsSync(dw.readyFile);
      if (this.reachedAt === null && when(this)) {
        this.reachedAt = `maps ${this.mapsSeen}, ready ${this.readySeen}`;
        if (signal) dw.child.kill(signal);
      }
    }, 1);
  }

  /** Waits (bounded) until the moment came. */
  async reached(timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.reachedAt === null) {
      if (this.dw.child.exitCode !== null) throw new Error(`dropwhy exited before the moment came; stderr:\n${this.dw.stderr()}`);
      if (Date.now() > deadline) throw new Error(`the moment never came; stderr:\n${this.dw.stderr()}`);
      await sleep(5);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

type Moment = 'as soon as it listens' | 'while it loads' | 'once attached';
const MOMENTS: Record<Moment, (m: Monitor, pid: number) => boolean> = {
  // From here on a signal must end it cleanly; before, Node itself is still starting.
  'as soon as it listens': (_m, pid) => ((caughtSignals(pid) ?? 0n) & SIGHUP_CAUGHT) !== 0n,
  // The maps exist, the programs are being verified: the slow, blocking native call.
  'while it loads': (m) => m.mapsSeen && !m.readySeen,
  'once attached': (m) => m.readySeen,
};

const DROPS_AFTER_READY = 2;

// Every signal at every moment in trace mode; summary shares the session, so one signal per moment.
const CASES = (Object.keys(MOMENTS) as Moment[]).flatMap((moment, i) => [
  ...STOP_SIGNALS.map((signal) => ({ mode: 'trace' as const, moment, signal })),
  { mode: 'summary' as const, moment, signal: STOP_SIGNALS[(i + 2) % STOP_SIGNALS.length] },
]);

for (const { mode, moment, signal } of CASES) {
  test(`${mode}: ${signal} ${moment}: exit 0, one closing line, no program and no ready file left`, { timeout: scaled(60_000) }, async (t) => {
    if (!requireRealKernel(t)) return;
    await withNetnsPair(async (p) => {
      const loading = moment === 'while it loads';
      // While it loads, its debug log proves the program was loaded: it may live too briefly for the monitor to see.
      const args = [
        ...(mode === 'summary' ? ['summary', '--interval', '0.2'] : []),
        '-o',
        'json',
        '--filter-netns',
        p.nsB,
        '--filter-proto',
        'udp',
        ...(loading ? ['--log-level', 'debug'] : []),
      ];
      const dw = spawnDropwhy(args);
      const attached = moment === 'once attached';
      const monitor = new Monitor(dw, (m) => MOMENTS[moment](m, dw.child.pid!), attached ? null : signal);
      try {
        await monitor.reached();
        if (attached) {
          // Drops the kernel must count, then the signal.
          assert.equal(await sendUdp(p.nsA, p.v4B, 9, DROPS_AFTER_READY), DROPS_AFTER_READY);
          if (mode === 'trace') await dw.waitForLines(DROPS_AFTER_READY);
          else await sleep(300);
          dw.child.kill(signal);
        }
        const res = await dw.waitExit(15_000);
        monitor.stop();
        const where = `signalled at (${monitor.reachedAt}); stderr:\n${res.stderr}`;
        assert.equal(res.signal, null, where);
        assert.equal(res.code, 0, where);
        assertNoStackTrace(res.stderr);
        assert.equal(res.stderr.match(/drops? seen, \d+ matched, \d+ lost/g)?.length, 1, `one closing line; ${where}`);
        const stats = closingStats(res.stderr)!;
        assert.equal(res.readyFileLeft, false, 'dropwhy left its ready file behind');

        if (moment === 'as soon as it listens') {
          // Before the BTF read was over: nothing was loaded, nothing counted.
          assert.deepEqual(stats, { seen: 0, matched: 0, lost: 0 }, where);
          assert.equal(monitor.mapsSeen, false, `a map was created after the signal; ${where}`);
          assert.deepEqual([...monitor.progIds], [], where);
        } else if (moment === 'while it loads') {
          // Honoured right after the load: stopped without announcing readiness.
          assert.equal(monitor.readySeen, false, `the ready file was written after the signal; ${where}`);
          assert.equal(stats.matched, 0, where);
          assert.match(
            res.stderr,
            /attached to skb:kfree_skb, and stopping: the stop came during the load/,
            `its program was never attached; signalled at (${monitor.reachedAt})`,
          );
        } else {
          assert.equal(stats.matched, DROPS_AFTER_READY, `the kernel's matched count; ${where}`);
          if (mode === 'trace') assert.equal(res.events.length, DROPS_AFTER_READY, describeEvents(res.events));
          assert.ok(monitor.progIds.size > 0, `never saw its program; ${where}`);
        }
        assert.deepEqual(await programsLeft(monitor.progIds), [], `programs of dropwhy (pid ${dw.child.pid}) still loaded`);
      } finally {
        monitor.stop();
        dw.kill();
      }
    });
  });
}

// ---------------------------------------------------------------------------
// selftest killed with SIGKILL
// ---------------------------------------------------------------------------

/** Children of pid whose command line has all of these words, with their command lines. */
function childrenOf(pid: number, words: string[]): Array<{ pid: number; argv: string[] }> {
  const found: Array<{ pid: number; argv: string[] }> = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid !== pid) continue;
      const argv = fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (words.every((w) => argv.includes(w))) found.push({ pid: Number(entry), argv });
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

test('selftest killed with SIGKILL while its tracer is attached: the tracer dies with it, its programs go; the next selftest removes what it left', {
  timeout: scaled(120_000),
}, async (t) => {
  if (!requireRealKernel(t)) return;
  const selftest = spawn(process.execPath, [CLI_PATH, 'selftest'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  selftest.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  selftest.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const gone = new Promise((resolve) => selftest.once('close', resolve));
  const prefix = `dwself${selftest.pid}-`;
  let tracer: { pid: number; argv: string[] } | null = null;
  let readyDir: string | null = null;
  try {
    // The tracer: selftest's child running the CLI with --filter-netns, once it holds its program.
    let progIds: number[] = [];
    const deadline = Date.now() + 60_000;
    while (progIds.length === 0) {
      if (selftest.exitCode !== null) throw new Error(`selftest ended before its tracer attached:\n${output}`);
      if (Date.now() > deadline) throw new Error(`no attached tracer under selftest within 60 s:\n${output}`);
      tracer = childrenOf(selftest.pid!, [CLI_PATH, '--filter-netns'])[0] ?? null;
      progIds = tracer === null ? [] : (bpfHandles(tracer.pid)?.progIds ?? []);
      await sleep(5);
    }
    const { pid, argv } = tracer!;
    readyDir = path.dirname(argv[argv.indexOf('--ready-file') + 1]);
    selftest.kill('SIGKILL');
    await gone;

    const tracerDeadline = Date.now() + 10_000;
    while (bpfHandles(pid) !== null && Date.now() < tracerDeadline) await sleep(20);
    assert.equal(bpfHandles(pid), null, `selftest's tracer (pid ${pid}) outlived it`);
    assert.deepEqual(await programsLeft(progIds), [], `programs of selftest's tracer (pid ${pid}) still loaded`);
    assert.equal(namespacesWithPrefix(prefix).length, 2, 'a SIGKILLed selftest cannot remove its namespaces: the next run must');

    const next = await run(process.execPath, [CLI_PATH, 'selftest'], { allowFail: true, timeoutMs: 60_000 });
    assert.equal(next.code, 0, `the next selftest:\n${next.stdout}${next.stderr}`);
    assert.match(next.stdout, /^selftest: PASS$/m);
    assert.deepEqual(namespacesWithPrefix(prefix), [], "the next selftest left the killed one's namespaces");
    assert.equal(fs.existsSync(readyDir), false, `the next selftest left the killed one's ${readyDir}`);
  } finally {
    selftest.kill('SIGKILL');
    if (tracer !== null && bpfHandles(tracer.pid) !== null) process.kill(tracer.pid, 'SIGKILL');
    for (const ns of namespacesWithPrefix(prefix)) await run('ip', ['netns', 'del', ns], { allowFail: true });
    if (readyDir) fs.rmSync(readyDir, { recursive: true, force: true });
  }
});
