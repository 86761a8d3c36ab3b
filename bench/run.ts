// dropwhy benchmark: drop storms in a throwaway namespace pair, traced by
// dropwhy and by peers, phases interleaved so drift cancels out.
//
//   npm run bench                full run (3 rounds of 8 s per phase)
//   npm run bench -- --quick     the harness end to end in well under a minute
//   npm run bench -- --rounds 5 --seconds 8 --json bench/results.json
//   npm run bench -- --only json,text    the phases whose names hold one of the words (and the baseline)
//   npm run bench -- --against DIR       each dropwhy phase also with DIR's build (bin/dropwhy.js), interleaved
//   npm run bench -- --soak      the memory and endurance soak instead (soak.ts, ~10 min)
//   node dist/bench/run.js --ceiling   only the format ceiling (no root, no kernel)
//   node dist/bench/run.js --startup [--runs 9] [--against DIR]
//                                only exec → ready file; with --against, alternating with DIR's bin/dropwhy.js
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Decoder, type DropEvent } from '../src/events/decode';
import { matches } from '../src/events/filter';
import type { FormatContext } from '../src/output/format';
import { JsonWriter } from '../src/output/json-writer';
import { TextWriter } from '../src/output/text-writer';
import { Kallsyms } from '../src/kernel/kallsyms';
import { EVENT_SIZE } from '../src/events/layout';
import { withNetnsPair, type NetnsPair } from '../src/kernel/netns-pair';
import { ReasonTable } from '../src/events/reasons';
import { LineBuffer } from '../src/output/writer';
import { BLAST, CLI, ROOT, blast, bpfNsPerRun, closingCounts, collectStderr, devNull, noPorts, peakRssMb, programIds, sleep, waitFor } from './common';
import { soak } from './soak';

const OTHER_PORT = 4242;

interface Settings {
  quick: boolean;
  rounds: number;
  seconds: number;
  jsonOut: string;
  /** Words, one of which a phase's name holds for it to run (the baseline always runs); empty: all. */
  only: string[];
  /** Another build's directory: its dropwhy phases run beside this build's, named with a `[DIR]` suffix. */
  against: string | null;
}

function parseArgs(argv: string[]): Settings {
  const quick = argv.includes('--quick');
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const seconds = Math.min(Number(value('--seconds') ?? (quick ? 2 : 8)), 8); // hard cap: 8 s a phase
  return {
    quick,
    rounds: Number(value('--rounds') ?? (quick ? 1 : 3)),
    seconds,
    jsonOut: value('--json') ?? join(ROOT, 'bench', quick ? 'results-quick.json' : 'results.json'),
    only: (value('--only') ?? '').split(',').filter(Boolean),
    against: value('--against') ?? null,
  };
}

interface Tracer {
  name: string;
  /** Starts the tracer; resolves once it is attached. Null: no tracer (the baseline). */
  start(): Promise<Running> | null;
}

interface Running {
  pid: number;
  /** Stops it and returns what it said about itself. */
  stop(): Promise<{ received: number | null; lost: number | null }>;
}

interface Sample {
  dropsPerSecond: number;
  received: number | null;
  lost: number | null;
  cpuPercent: number | null;
  /** The tracer's CPU time (user + system) per drop it accounted for, in µs. */
  cpuUsPerEvent: number | null;
  /** The part of it on the main thread (decode, filter, format, write); the rest is the addon's poll thread's and V8's helpers'. */
  mainUsPerEvent: number | null;
  peakRssMb: number | null;
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

/** Something a phase does while the tracer runs (e.g. scrape it); returns how to stop doing it. */
type Alongside = (stderr: { text: string }) => () => void;

/** Scrapes the exporter's /metrics every second, as Prometheus would. */
const scrapeEverySecond: Alongside = (stderr) => {
  const timer = setInterval(() => {
    const url = /serving metrics on (http:\S+)/.exec(stderr.text)?.[1];
    if (url)
      void fetch(url).then(
        (r) => r.text(),
        () => '',
      );
  }, 1000);
  return () => clearInterval(timer);
};

function dropwhyTracer(name: string, args: string[], alongside?: Alongside, cli = CLI, pollMs = 10): Tracer {
  return {
    name,
    start: async () => {
      const dir = mkdtempSync(join(tmpdir(), 'dropwhy-bench-'));
      const ready = join(dir, 'ready');
      // Run as users do, through the script's shebang (which sets node's flags).
      const child = spawn(cli, [...args, '--ready-file', ready], { stdio: ['ignore', devNull(), 'pipe'] });
      const log = collectStderr(child);
      await waitFor(() => existsSync(ready) || child.exitCode !== null, 20_000, `${name} to attach`, pollMs);
      if (child.exitCode !== null) throw new Error(`${name} exited: ${log.text}`);
      const stopAlongside = alongside?.(log) ?? (() => {});
      return {
        pid: child.pid!,
        stop: async () => {
          stopAlongside();
          await stopChild(child);
          rmSync(dir, { recursive: true, force: true });
          const closing = closingCounts(log.text);
          if (!closing) throw new Error(`${name} printed no closing line: ${log.text}`);
          return { received: closing.matched - closing.lost, lost: closing.lost };
        },
      };
    },
  };
}

function bpftraceTracer(name: string, program: string): Tracer {
  return {
    name,
    start: async () => {
      const before = programIds();
      const child = spawn('bpftrace', ['-e', program], { stdio: ['ignore', devNull(), 'pipe'] });
      const log = collectStderr(child);
      // bpftrace says "Attaching" on stdout, which goes to /dev/null here: watch for its program instead.
      await waitFor(() => [...programIds()].some((id) => !before.has(id)) || child.exitCode !== null, 30_000, `${name} to attach`);
      if (child.exitCode !== null) throw new Error(`${name} exited: ${log.text}`);
      await sleep(300); // loaded comes just before attached
      return {
        pid: child.pid!,
        stop: async () => {
          await stopChild(child);
          const lost = [...log.text.matchAll(/Lost (\d+) events/g)].reduce((sum, m) => sum + Number(m[1]), 0);
          return { received: null, lost };
        },
      };
    },
  };
}

const BASELINE: Tracer = { name: 'untraced baseline', start: () => null };

/** The phases; with another build's CLI and its label, only dropwhy's (the baseline and the peers run once). */
function phases(cli = CLI, label = ''): Tracer[] {
  const dropwhy = (name: string, args: string[], alongside?: Alongside) => dropwhyTracer(label ? `${name} [${label}]` : name, args, alongside, cli);
  const bpftrace = (name: string, program: string) => (label ? null : bpftraceTracer(name, program));
  const all: Array<Tracer | null> = [
    label ? null : BASELINE,
    dropwhy('dropwhy -o json (all match)', ['-o', 'json', '--log-level', 'error']),
    // The blast's drops (NO_SOCKET) have no socket: this measures what the socket section costs a drop without one.
    dropwhy('dropwhy -o json --no-socket', ['-o', 'json', '--no-socket', '--log-level', 'error']),
    // Every blast drop has the same kernel stack: bpf_get_stackid's walk and hash, and one map bucket.
    dropwhy('dropwhy -o json --stack', ['-o', 'json', '--stack', '--log-level', 'error']),
    // The packet's first 256 bytes copied into a ring reservation, written as pcapng (to /dev/null: the tool's cost, not the disk's).
    dropwhy('dropwhy -w FILE (pcapng)', ['-w', '/dev/null', '--log-level', 'error']),
    // The expression filter's bounded loop over the packet: one that every blast drop passes, one that none does.
    dropwhy('dropwhy -o json EXPR (all match)', ['-o', 'json', '--log-level', 'error', 'udp']),
    dropwhy('dropwhy EXPR, filtered out', ['-o', 'json', '--log-level', 'error', `udp port ${OTHER_PORT}`]),
    dropwhy('dropwhy -o text (all match)', ['-o', 'text', '--no-hints', '--log-level', 'error']),
    dropwhy('dropwhy, filtered in kernel', ['-o', 'json', '--filter-port', String(OTHER_PORT), '--log-level', 'error']),
    bpftrace('bpftrace printf per event', 'tracepoint:skb:kfree_skb { printf("%d %p\\n", args->reason, args->location); }'),
    bpftrace('bpftrace count by reason', 'tracepoint:skb:kfree_skb { @[args->reason] = count(); }'),
    dropwhy('dropwhy summary', ['summary', '-o', 'json', '--log-level', 'error']),
    dropwhy('dropwhy summary --no-socket', ['summary', '-o', 'json', '--no-socket', '--log-level', 'error']),
    dropwhy('dropwhy summary --stack', ['summary', '-o', 'json', '--stack', '--log-level', 'error']),
    dropwhy('dropwhy exporter, scraped 1/s', ['exporter', '--listen', '127.0.0.1:0', '--log-level', 'error'], scrapeEverySecond),
    // Counts as summary does, snapshots every counter source before and after; stopped by SIGINT, it reports.
    dropwhy('dropwhy diagnose', ['diagnose', '--duration', '60', '-o', 'json', '--log-level', 'error']),
  ];
  return all.filter((phase): phase is Tracer => phase !== null);
}

/** The process's CPU ticks, or with its own id as tid, its main thread's. */
function cpuTicks(pid: number, tid?: number): number {
  const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  const fields = readFileSync(path, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime
}

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

async function measure(pair: NetnsPair, tracer: Tracer, seconds: number): Promise<Sample> {
  const running = await tracer.start();
  try {
    const before = await noPorts(pair);
    const ticks = running ? cpuTicks(running.pid) : 0;
    const mainTicks = running ? cpuTicks(running.pid, running.pid) : 0;
    const started = process.hrtime.bigint();
    await blast(pair, seconds);
    const wall = Number(process.hrtime.bigint() - started) / 1e9;
    const drops = (await noPorts(pair)) - before;
    const cpuSeconds = running ? (cpuTicks(running.pid) - ticks) / CLOCK_TICKS : null;
    const mainSeconds = running ? (cpuTicks(running.pid, running.pid) - mainTicks) / CLOCK_TICKS : null;
    const cpuPercent = cpuSeconds === null ? null : (cpuSeconds / wall) * 100;
    const rss = running ? peakRssMb(running.pid) : null;
    await sleep(100); // let the last batches reach the tracer
    const said = running ? await running.stop() : { received: null, lost: null };
    // Per drop accounted: each one decoded and written when streaming, counted in the kernel in the counting modes.
    const perEvent = (spent: number | null) => (spent !== null && said.received !== null && said.received > 0 ? (spent * 1e6) / said.received : null);
    return { dropsPerSecond: drops / seconds, ...said, cpuPercent, cpuUsPerEvent: perEvent(cpuSeconds), mainUsPerEvent: perEvent(mainSeconds), peakRssMb: rss };
  } catch (error) {
    await running?.stop().catch(() => {});
    throw error;
  }
}

/** ns per run of the tracer's BPF programs, with kernel.bpf_stats_enabled on only meanwhile. */
async function bpfCost(pair: NetnsPair, tracer: Tracer, seconds: number): Promise<number | null> {
  const before = programIds();
  const running = await tracer.start();
  if (!running) return null;
  try {
    return await bpfNsPerRun(before, () => blast(pair, seconds));
  } finally {
    await running.stop();
  }
}

/** exec → ready file of each CLI, in turns (a, b, a, b, ...: load on the shared machine hits both alike), polled every 2 ms. */
async function startupMs(runs: number, clis: string[] = [CLI]): Promise<number[][]> {
  const times: number[][] = clis.map(() => []);
  for (let i = 0; i < runs; i++) {
    for (const [which, cli] of clis.entries()) {
      const started = process.hrtime.bigint();
      const running = await dropwhyTracer('startup', ['--log-level', 'error'], undefined, cli, 2).start()!;
      times[which].push(Number(process.hrtime.bigint() - started) / 1e6);
      await running.stop();
    }
  }
  return times;
}

/** --startup: only exec → ready; --against DIR alternates with DIR's build and reports the ratio of medians. */
async function startupBench(argv: string[]): Promise<void> {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const against = value('--against');
  const clis = against ? [join(against, 'bin', 'dropwhy.js'), CLI] : [CLI];
  const times = await startupMs(Number(value('--runs') ?? 9), clis);
  for (const [which, cli] of clis.entries()) {
    const sorted = times[which].map((t) => t.toFixed(0)).join(' ');
    console.log(`${cli}: exec → ready median ${median(times[which]).toFixed(0)} ms (${sorted})`);
  }
  if (against) {
    // Each pair ran back to back: the median of their ratios follows the machine's load less than the ratio of medians.
    const pairs = times[1].map((t, i) => t / times[0][i]);
    console.log(
      `this build / ${against}: ${(median(times[1]) / median(times[0])).toFixed(2)} (ratio of medians), ${median(pairs).toFixed(2)} (median of the ${pairs.length} pairs' ratios)`,
    );
  }
}

/** Decode → filter → format over recorded real events, no kernel involved. */
function formatCeiling(seconds: number): { json: number; text: number } {
  const fixtures = join(ROOT, 'test', 'fixtures');
  const recorded = readFileSync(join(fixtures, 'loopback-drops.bin'));
  const events = recorded.length / EVENT_SIZE;
  const batch = Buffer.concat(Array.from({ length: Math.ceil(4096 / events) }, () => recorded));
  const { reasons, subsystems } = JSON.parse(readFileSync(join(fixtures, 'kernel-reasons.json'), 'utf8'));
  const context: FormatContext = {
    reasons: new ReasonTable(reasons, subsystems),
    symbols: new Kallsyms(readFileSync(join(fixtures, 'kallsyms-excerpt.txt'), 'latin1')),
    sockets: { owner: () => null, cgroup: () => null },
    interfaces: { name: () => 'lo' }, // found, as a trace finds them: the name is written too
    monotonicToUnixNs: Date.now() * 1e6,
    color: false,
  };
  // The same path as tracing: decode, filter, format, collect the batch's bytes.
  const rate = (format: (lines: LineBuffer, event: DropEvent) => void, lines: LineBuffer) => {
    const decoder = new Decoder();
    let count = 0;
    let bytes = 0;
    const started = process.hrtime.bigint();
    const deadline = started + BigInt(Math.round(seconds * 1e9));
    while (process.hrtime.bigint() < deadline) {
      decoder.forEachEvent(batch, (event) => {
        if (!matches({}, event)) return;
        format(lines, event);
        count++;
      });
      bytes += lines.take().length;
    }
    if (bytes === 0) throw new Error('nothing formatted');
    return count / (Number(process.hrtime.bigint() - started) / 1e9);
  };
  const json = new JsonWriter(context);
  const text = new TextWriter(context);
  return {
    json: rate((lines, event) => json.write(lines, event), new LineBuffer('latin1')),
    text: rate((lines, event) => text.write(lines, event), new LineBuffer('utf8')),
  };
}

const ceilingLine = ({ json, text }: { json: number; text: number }) =>
  `decode + filter + format ceiling: JSON ${(json / 1e6).toFixed(2)}M events/s, text ${(text / 1e6).toFixed(2)}M events/s`;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const medianOrNull = (values: Array<number | null>) => {
  const known = values.filter((v): v is number => v !== null && !Number.isNaN(v));
  return known.length ? median(known) : null;
};

const TRACEFS = '/sys/kernel/tracing';

/** bpftrace's tracepoint probes need tracefs (dropwhy does not); mount it for the run if it is not. */
function mountTracefs(): () => void {
  if (existsSync(`${TRACEFS}/events`)) return () => {};
  execFileSync('mount', ['-t', 'tracefs', 'nodev', TRACEFS]);
  return () => execFileSync('umount', [TRACEFS]);
}

async function main(): Promise<void> {
  if (process.argv.includes('--ceiling')) {
    console.log(ceilingLine(formatCeiling(2)));
    return;
  }
  if (process.getuid?.() !== 0) throw new Error('the benchmark needs root (it loads BPF programs and makes namespaces)');
  if (!existsSync(BLAST)) throw new Error(`${BLAST} is missing: run npm run build`);
  if (process.argv.includes('--soak')) return soak(process.argv.slice(2));
  if (process.argv.includes('--startup')) return startupBench(process.argv.slice(2));
  const settings = parseArgs(process.argv.slice(2));
  const unmountTracefs = mountTracefs();
  try {
    await benchmark(settings);
  } finally {
    unmountTracefs();
  }
}

/** This build's phases, each followed by the other build's of the same name. */
function interleave(ours: Tracer[], theirs: Tracer[]): Tracer[] {
  return ours.flatMap((phase) => [phase, ...theirs.filter((other) => other.name.startsWith(`${phase.name} [`))]);
}

async function benchmark(settings: Settings): Promise<void> {
  const builds = settings.against === null ? phases() : interleave(phases(), phases(join(settings.against, 'bin', 'dropwhy.js'), basename(settings.against)));
  const all = builds.filter((p) => p === BASELINE || settings.only.length === 0 || settings.only.some((word) => p.name.includes(word)));
  const samples = new Map<string, Sample[]>(all.map((p) => [p.name, []]));
  const costs = new Map<string, number | null>();
  const startedAt = Date.now();

  await withNetnsPair(`dwbench${process.pid % 100000}`, 250, async (pair) => {
    // Phases interleave round by round, so drift on a noisy machine hits them all alike.
    for (let round = 1; round <= settings.rounds; round++) {
      for (const phase of all) {
        const sample = await measure(pair, phase, settings.seconds);
        samples.get(phase.name)!.push(sample);
        console.error(`round ${round}/${settings.rounds} ${phase.name}: ${(sample.dropsPerSecond / 1e3).toFixed(0)}k drops/s`);
      }
    }
    const costSeconds = settings.quick ? 1 : 3;
    for (const phase of all.slice(1)) costs.set(phase.name, await bpfCost(pair, phase, costSeconds));
  });

  const [startup] = await startupMs(settings.quick ? 3 : 10);
  const ceiling = formatCeiling(settings.quick ? 0.5 : 2);
  const baseline = median(samples.get(BASELINE.name)!.map((s) => s.dropsPerSecond));
  const rows = all.map((phase) => {
    const s = samples.get(phase.name)!;
    const rate = median(s.map((x) => x.dropsPerSecond));
    const received = medianOrNull(s.map((x) => x.received));
    const lost = medianOrNull(s.map((x) => x.lost));
    return {
      phase: phase.name,
      drops_per_s: Math.round(rate),
      vs_baseline: rate / baseline,
      received,
      lost,
      lost_share: lost !== null && received !== null && received + lost > 0 ? lost / (received + lost) : null,
      cpu_percent: medianOrNull(s.map((x) => x.cpuPercent)),
      cpu_us_per_event: medianOrNull(s.map((x) => x.cpuUsPerEvent)),
      main_us_per_event: medianOrNull(s.map((x) => x.mainUsPerEvent)),
      peak_rss_mb: medianOrNull(s.map((x) => x.peakRssMb)),
      bpf_ns_per_run: costs.get(phase.name) ?? null,
      runs: s.length,
    };
  });

  const fmt = (v: number | null, digits = 0) => (v === null ? '-' : v.toFixed(digits));
  const header = ['phase', 'drops/s', 'x base', 'received', 'lost', 'lost %', 'CPU %', 'CPU µs/ev', 'main µs/ev', 'RSS MB', 'BPF ns'];
  const table = [
    header,
    ...rows.map((r) => [
      r.phase,
      fmt(r.drops_per_s),
      r.vs_baseline.toFixed(2),
      fmt(r.received),
      fmt(r.lost),
      r.lost_share === null ? '-' : (r.lost_share * 100).toFixed(2),
      fmt(r.cpu_percent),
      fmt(r.cpu_us_per_event, 2),
      fmt(r.main_us_per_event, 2),
      fmt(r.peak_rss_mb, 1),
      fmt(r.bpf_ns_per_run),
    ]),
  ];
  const widths = header.map((_, i) => Math.max(...table.map((row) => row[i].length)));
  const lines = table.map((row) => '| ' + row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ') + ' |');
  lines.splice(1, 0, '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
  console.log(lines.join('\n'));
  console.log(`\nstart-up, exec → ready file: median ${median(startup).toFixed(0)} ms over ${startup.length} runs`);
  console.log(ceilingLine(ceiling));
  console.log(`(${settings.rounds} round(s) of ${settings.seconds} s per phase, medians; ${((Date.now() - startedAt) / 1000).toFixed(0)} s in all)`);

  const result = {
    when: new Date().toISOString(),
    kernel: execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim(),
    cpus: execFileSync('nproc', { encoding: 'utf8' }).trim(),
    settings,
    phases: rows,
    startup_ms: { median: median(startup), runs: startup },
    format_ceiling_events_per_s: ceiling,
  };
  writeFileSync(settings.jsonOut, JSON.stringify(result, null, 2) + '\n');
  console.log(`results: ${settings.jsonOut}`);
}

main().catch((error) => {
  console.error(`bench: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
