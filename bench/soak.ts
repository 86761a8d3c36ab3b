// The memory and endurance soak (`npm run bench -- --soak`, ~10 min, not in CI):
// trace, summary and the exporter each under a storm paced to half the
// machine's untraced maximum for minutes, then a trace whose reader stops
// reading. Each phase records dropwhy's VmRSS every second, what it lost, and
// its count against B's Udp NoPorts delta.
//
//   npm run bench -- --soak [--minutes 3] [--stall-seconds 60] [--json bench/soak.json]
//   npm run bench -- --soak --bursts [--minutes 3]   trace JSON and text under 1 s bursts at the
//                                                     untraced maximum, 1 s apart, instead

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withNetnsPair, type NetnsPair } from '../src/kernel/netns-pair';
import { CLI, ROOT, blast, closingCounts, collectStderr, noPorts, rssMb, sleep, waitFor } from './common';

const CALIBRATION_SECONDS = 5;
const BLAST_MAX_SECONDS = 60; // blast's own cap: longer storms are several runs
const WARM_UP_SECONDS = 30;
const SAMPLE_MS = 1000;

interface SoakSettings {
  minutes: number;
  /** 1 s storms at the machine's maximum, 1 s apart, for the streaming modes only. */
  bursts: boolean;
  stallSeconds: number;
  jsonOut: string;
}

function parseSoakArgs(argv: string[]): SoakSettings {
  const value = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const minutes = Number(value('--minutes') ?? 3);
  const stallSeconds = Number(value('--stall-seconds') ?? 60);
  if (!(minutes > 0 && minutes <= 10)) throw new Error(`--minutes: 0-10, got ${value('--minutes')}`);
  if (!(stallSeconds >= 10 && stallSeconds <= 120)) throw new Error(`--stall-seconds: 10-120, got ${value('--stall-seconds')}`);
  const bursts = argv.includes('--bursts');
  return { minutes, stallSeconds, bursts, jsonOut: value('--json') ?? join(ROOT, 'bench', bursts ? 'soak-bursts.json' : 'soak.json') };
}

/** A storm of seconds at ratePerSecond, as consecutive blasts of at most blast's cap. */
async function storm(pair: NetnsPair, seconds: number, ratePerSecond: number): Promise<void> {
  for (let left = seconds; left > 0; left -= BLAST_MAX_SECONDS) await blast(pair, Math.min(left, BLAST_MAX_SECONDS), ratePerSecond);
}

/** Bursts of 1 s at the unpaced maximum, each followed by 1 s of quiet, for seconds. */
async function bursts(pair: NetnsPair, seconds: number): Promise<void> {
  for (let burst = 0; burst < Math.floor(seconds / 2); burst++) {
    await blast(pair, 1);
    await sleep(1000);
  }
}

/** The processes under pid, recursively (the shell's pipeline and dropwhy in it). */
function descendants(pid: number): number[] {
  const children = readdirSync(`/proc/${pid}/task`).flatMap((task) => {
    try {
      return readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
    } catch {
      return [];
    }
  });
  return children.flatMap((child) => [child, ...descendants(child)]);
}

function isDropwhy(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(CLI);
  } catch {
    return false;
  }
}

interface Pipeline {
  shell: ChildProcess;
  pid: number;
  stdout: { text: string };
  stderr: { text: string };
  exited: Promise<void>;
  cleanUp(): void;
}

/**
 * Runs `dropwhy ARGS | CONSUMER` (or `> /dev/null`) in bash, as a user would, and waits until
 * dropwhy is attached. bash prints `status <dropwhy's exit code>` on its stdout at the end.
 */
async function startPipeline(args: string[], consumer: string): Promise<Pipeline> {
  const dir = mkdtempSync(join(tmpdir(), 'dropwhy-soak-'));
  const ready = join(dir, 'ready');
  const script = `"$0" "$@" ${consumer}; echo "status \${PIPESTATUS[0]}"`;
  const shell = spawn('bash', ['-c', script, CLI, ...args, '--ready-file', ready], { stdio: ['ignore', 'pipe', 'pipe'] });
  const stdout = { text: '' };
  shell.stdout!.on('data', (chunk) => (stdout.text += chunk));
  const stderr = collectStderr(shell);
  const exited = new Promise<void>((r) => shell.once('exit', () => r()));
  await waitFor(() => existsSync(ready) || shell.exitCode !== null, 20_000, `dropwhy ${args.join(' ')} to attach`);
  const pid = descendants(shell.pid!).find(isDropwhy);
  if (shell.exitCode !== null || pid === undefined) throw new Error(`dropwhy ${args.join(' ')} exited: ${stderr.text}`);
  return { shell, pid, stdout, stderr, exited, cleanUp: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Waits up to timeoutMs for the pipeline to end; true if it did. */
async function ended(pipeline: Pipeline, timeoutMs: number): Promise<boolean> {
  return Promise.race([pipeline.exited.then(() => true), sleep(timeoutMs).then(() => false)]);
}

async function interrupt(pipeline: Pipeline): Promise<void> {
  process.kill(pipeline.pid, 'SIGINT');
  if (!(await ended(pipeline, 20_000))) {
    process.kill(pipeline.pid, 'SIGKILL');
    await pipeline.exited;
    throw new Error('dropwhy outlived SIGINT by 20 s');
  }
}

/** dropwhy's VmRSS every second until stopped (a gone process ends the series). */
function sampleRss(pid: number): () => Array<{ second: number; mb: number }> {
  const started = Date.now();
  const samples: Array<{ second: number; mb: number }> = [];
  const take = () => {
    try {
      samples.push({ second: (Date.now() - started) / 1000, mb: rssMb(pid) });
    } catch {
      clearInterval(timer); // exited
    }
  };
  const timer = setInterval(take, SAMPLE_MS);
  take();
  return () => {
    clearInterval(timer);
    return samples;
  };
}

interface RssRow {
  window: string;
  min_mb: number;
  max_mb: number;
  last_mb: number;
}

/** The samples as a warm-up row, then one row per minute (a third of a phase when it is shorter). */
function rssRows(samples: Array<{ second: number; mb: number }>, phaseSeconds: number): RssRow[] {
  const warmUp = Math.min(WARM_UP_SECONDS, phaseSeconds / 6);
  const window = Math.min(60, (phaseSeconds - warmUp) / 3);
  const row = (name: string, from: number, to: number): RssRow | null => {
    const inside = samples.filter((s) => s.second >= from && s.second < to).map((s) => s.mb);
    if (inside.length === 0) return null;
    return { window: name, min_mb: Math.min(...inside), max_mb: Math.max(...inside), last_mb: inside[inside.length - 1] };
  };
  const rows = [row(`warm-up 0-${warmUp.toFixed(0)} s`, 0, warmUp)];
  for (let from = warmUp; from < phaseSeconds - 1; from += window) {
    rows.push(row(`${from.toFixed(0)}-${(from + window).toFixed(0)} s`, from, from + window));
  }
  return rows.filter((r): r is RssRow => r !== null);
}

/** The sum of dropwhy_drops_total's series in an exposition. */
function dropsTotal(metrics: string): number {
  return [...metrics.matchAll(/^dropwhy_drops_total(?:\{[^}]*\})? (\S+)$/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
}

interface SteadyResult {
  phase: string;
  command: string;
  seconds: number;
  kernel_drops: number;
  counted: number;
  counted_by: string;
  exact: boolean;
  lost: number;
  exit_code: number | null;
  rss: RssRow[];
}

interface SteadyPhase {
  phase: string;
  args: string[];
  /** What follows dropwhy in the shell: where its stdout goes. */
  consumer: string;
  /** Done while the storm runs; returns the phase's count at the end, read before dropwhy stops. */
  alongside?: (pipeline: Pipeline) => () => Promise<number>;
}

const scraped = (pipeline: Pipeline): (() => Promise<number>) => {
  const url = () => /serving metrics on (http:\S+)/.exec(pipeline.stderr.text)?.[1];
  const scrape = async () => (await fetch(url()!)).text();
  const timer = setInterval(() => void scrape().catch(() => ''), 1000);
  return async () => {
    clearInterval(timer);
    return dropsTotal(await scrape());
  };
};

/** The streaming modes, each line one drop (text without hints), read by wc; and JSON with no reader. */
function burstPhases(netns: string): SteadyPhase[] {
  const common = ['--filter-netns', netns];
  return [
    { phase: 'trace JSON, bursts', args: ['-o', 'json', ...common], consumer: '| wc -l' },
    { phase: 'trace text, bursts', args: ['-o', 'text', '--no-hints', ...common], consumer: '| wc -l' },
    // No reader on the other end of a pipe: what dropwhy alone keeps up with (counted in the kernel, matched - lost).
    { phase: 'trace JSON > /dev/null, bursts', args: ['-o', 'json', ...common], consumer: '> /dev/null' },
  ];
}

function steadyPhases(netns: string): SteadyPhase[] {
  const common = ['--filter-netns', netns];
  return [
    { phase: 'trace', args: ['-o', 'json', ...common], consumer: '| wc -l' },
    { phase: 'summary', args: ['summary', '-o', 'json', ...common], consumer: '> /dev/null' },
    { phase: 'exporter', args: ['exporter', '--listen', '127.0.0.1:0', ...common], consumer: '> /dev/null', alongside: scraped },
  ];
}

/** A storm of seconds: paced (a rate) or bursts at the maximum (null). */
const stormOf = (pair: NetnsPair, seconds: number, ratePerSecond: number | null) => (ratePerSecond === null ? bursts(pair, seconds) : storm(pair, seconds, ratePerSecond));

async function steady(pair: NetnsPair, phase: SteadyPhase, seconds: number, ratePerSecond: number | null): Promise<SteadyResult> {
  const pipeline = await startPipeline(phase.args, phase.consumer);
  try {
    const before = await noPorts(pair);
    const stopSampling = sampleRss(pipeline.pid);
    const finalCount = phase.alongside?.(pipeline);
    await stormOf(pair, seconds, ratePerSecond);
    const kernelDrops = (await noPorts(pair)) - before;
    await sleep(1000); // the last batches reach dropwhy, the last keys its map
    const scrapedCount = await finalCount?.();
    const samples = stopSampling();
    await interrupt(pipeline);
    const closing = closingCounts(pipeline.stderr.text);
    if (!closing) throw new Error(`${phase.phase} printed no closing line: ${pipeline.stderr.text}`);
    const lines = /^\s*(\d+)\s*$/m.exec(pipeline.stdout.text);
    const [counted, countedBy] =
      scrapedCount !== undefined
        ? [scrapedCount, 'dropwhy_drops_total scraped at the end']
        : lines
          ? [Number(lines[1]), 'lines (wc -l)']
          : [closing.matched - closing.lost, 'matched - lost on exit (counted in the kernel)'];
    return {
      phase: phase.phase,
      command: `dropwhy ${phase.args.join(' ')} ${phase.consumer}`,
      seconds,
      kernel_drops: kernelDrops,
      counted,
      counted_by: countedBy,
      exact: counted === kernelDrops && closing.lost === 0,
      lost: closing.lost,
      exit_code: exitStatus(pipeline),
      rss: rssRows(samples, seconds),
    };
  } finally {
    if (pipeline.shell.exitCode === null) await interrupt(pipeline).catch(() => {});
    pipeline.cleanUp();
  }
}

const exitStatus = (pipeline: Pipeline) => {
  const status = /^status (\d+)$/m.exec(pipeline.stdout.text);
  return status ? Number(status[1]) : null;
};

interface StallResult {
  command: string;
  storm_seconds: number;
  kernel_drops: number;
  seen: number;
  matched: number;
  lost: number;
  exit_code: number | null;
  exited_after_reader_s: number | null;
  stderr: string[];
  rss: RssRow[];
  rss_max_mb: number;
}

/** `dropwhy -o json | (sleep N)`: the reader never reads, then goes away while the storm runs. */
async function stalled(pair: NetnsPair, netns: string, stallSeconds: number, ratePerSecond: number): Promise<StallResult> {
  const args = ['-o', 'json', '--filter-netns', netns];
  const consumer = `| (sleep ${stallSeconds})`;
  const started = Date.now();
  const pipeline = await startPipeline(args, consumer);
  try {
    const before = await noPorts(pair);
    const stopSampling = sampleRss(pipeline.pid);
    // The storm outlasts the reader by 10 s: dropwhy meets the closed pipe mid-storm.
    const stormSeconds = Math.round(stallSeconds + 10 - (Date.now() - started) / 1000);
    const readerGone = started + stallSeconds * 1000;
    let exitedAt: number | null = null;
    void pipeline.exited.then(() => (exitedAt = Date.now()));
    await storm(pair, stormSeconds, ratePerSecond);
    const kernelDrops = (await noPorts(pair)) - before;
    const exitedByItself = await ended(pipeline, 20_000);
    const samples = stopSampling();
    if (!exitedByItself) await interrupt(pipeline);
    const closing = closingCounts(pipeline.stderr.text);
    const rss = rssRows(samples, stormSeconds);
    return {
      command: `dropwhy ${args.join(' ')} ${consumer}`,
      storm_seconds: stormSeconds,
      kernel_drops: kernelDrops,
      seen: closing?.seen ?? NaN,
      matched: closing?.matched ?? NaN,
      lost: closing?.lost ?? NaN,
      exit_code: exitStatus(pipeline),
      exited_after_reader_s: exitedByItself && exitedAt !== null ? (exitedAt - readerGone) / 1000 : null,
      stderr: pipeline.stderr.text.split('\n').filter(Boolean),
      rss,
      rss_max_mb: Math.max(...samples.map((s) => s.mb)),
    };
  } finally {
    if (pipeline.shell.exitCode === null) await interrupt(pipeline).catch(() => {});
    pipeline.cleanUp();
  }
}

function table(header: string[], rows: string[][]): string {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => row[i].length)));
  const lines = all.map((row) => '| ' + row.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join(' | ') + ' |');
  lines.splice(1, 0, '|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
  return lines.join('\n');
}

const rssTable = (rows: RssRow[]) =>
  table(
    ['VmRSS', 'min MB', 'max MB', 'last MB'],
    rows.map((r) => [r.window, r.min_mb.toFixed(1), r.max_mb.toFixed(1), r.last_mb.toFixed(1)]),
  );

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

export async function soak(argv: string[]): Promise<void> {
  const settings = parseSoakArgs(argv);
  const startedAt = Date.now();
  const load = [loadAverage()];
  const result = await withNetnsPair(`dwsoak${process.pid % 100000}`, 249, async (pair) => {
    const before = await noPorts(pair);
    await blast(pair, CALIBRATION_SECONDS);
    const maxRate = ((await noPorts(pair)) - before) / CALIBRATION_SECONDS;
    const rate = Math.round(maxRate / 2);
    if (settings.bursts) {
      console.error(`soak: untraced max ${Math.round(maxRate)} drops/s; 1 s bursts at it, 1 s apart`);
      const phases: SteadyResult[] = [];
      for (const phase of burstPhases(pair.nsB)) {
        phases.push(await steady(pair, phase, settings.minutes * 60, null));
        load.push(loadAverage());
        console.error(`soak: ${phase.phase} done`);
      }
      return { untraced_max_drops_per_s: Math.round(maxRate), storm_drops_per_s: null, phases, stalled_reader: null };
    }
    console.error(`soak: untraced max ${Math.round(maxRate)} drops/s; storms at ${rate}/s`);
    const phases: SteadyResult[] = [];
    for (const phase of steadyPhases(pair.nsB)) {
      phases.push(await steady(pair, phase, settings.minutes * 60, rate));
      load.push(loadAverage());
      console.error(`soak: ${phase.phase} done`);
    }
    const stall = await stalled(pair, pair.nsB, settings.stallSeconds, rate);
    load.push(loadAverage());
    return { untraced_max_drops_per_s: Math.round(maxRate), storm_drops_per_s: rate, phases, stalled_reader: stall };
  });

  for (const p of result.phases) {
    console.log(`\n### ${p.phase}: ${p.command}\n`);
    console.log(
      table(
        ['seconds', 'kernel drops', 'counted', 'counted by', 'exact', 'lost', 'exit'],
        [[String(p.seconds), String(p.kernel_drops), String(p.counted), p.counted_by, p.exact ? 'yes' : 'NO', String(p.lost), String(p.exit_code)]],
      ),
    );
    console.log('\n' + rssTable(p.rss));
  }
  const s = result.stalled_reader;
  if (s !== null) printStall(s);
  const seconds = (Date.now() - startedAt) / 1000;
  const storms = result.storm_drops_per_s === null ? '1 s bursts at it, 1 s apart' : `storms at ${result.storm_drops_per_s}/s`;
  console.log(`\n(untraced max ${result.untraced_max_drops_per_s} drops/s, ${storms}; load average ${load.join(' → ')}; ${seconds.toFixed(0)} s in all)`);

  const out = { when: new Date().toISOString(), settings, load_average: load, seconds_in_all: seconds, ...result };
  writeFileSync(settings.jsonOut, JSON.stringify(out, null, 2) + '\n');
  console.log(`results: ${settings.jsonOut}`);
  const bad = result.phases.filter((p) => !p.exact).map((p) => p.phase);
  if (bad.length) throw new Error(`counts not exact in: ${bad.join(', ')}`);
}

function printStall(s: StallResult): void {
  console.log(`\n### stalled reader: ${s.command}\n`);
  console.log(
    table(
      ['storm s', 'kernel drops', 'seen', 'matched', 'lost', 'exit', 'exit after reader went'],
      [
        [
          s.storm_seconds.toFixed(0),
          String(s.kernel_drops),
          String(s.seen),
          String(s.matched),
          String(s.lost),
          String(s.exit_code),
          s.exited_after_reader_s === null ? 'did not exit' : `${s.exited_after_reader_s.toFixed(1)} s`,
        ],
      ],
    ),
  );
  console.log('\n' + rssTable(s.rss));
  console.log('\nstderr:\n' + s.stderr.map((line) => `    ${line}`).join('\n'));
}
