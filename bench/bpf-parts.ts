// The BPF program's cost per drop (bpf_stats: run_time_ns / run_cnt) in several builds, measured
// alternately in one drop storm's namespaces so that drift hits them all alike: one pass per build, phase
// and round, each build's rounds paired with the first build's of the same round.
//
//   node dist/bench/bpf-parts.js [--rounds 5] [--seconds 3] [--phases json,filtered] DIR [DIR...]
//
// Each DIR is a built checkout (bin/dropwhy.js); the first is the reference, e.g. `.` against variants
// made by bench/bpf-variant.sh, or a checkout of main against this one. Prints, per phase and build, the
// median ns per drop, its range, and the median of its differences from the reference's pass of the same
// round (the figure to read: a single pass moves by tens of ns).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { withNetnsPair } from '../src/kernel/netns-pair';
import { BLAST, blast, bpfNsPerRun, closingCounts, collectStderr, devNull, programIds, waitFor } from './common';

const OTHER_PORT = 4242;

/** The bench's phases (run.ts) whose BPF cost the issue sets targets for. */
const PHASES: Record<string, string[]> = {
  json: ['-o', 'json'],
  filtered: ['-o', 'json', '--filter-port', String(OTHER_PORT)],
  text: ['-o', 'text', '--no-hints'],
};

/** One pass: dropwhy from dir attached for a storm of `seconds`; its ns per drop. */
async function pass(dir: string, args: string[], seconds: number, pair: Parameters<typeof blast>[0]): Promise<number> {
  const scratch = mkdtempSync(join(tmpdir(), 'dropwhy-bpf-parts-'));
  const ready = join(scratch, 'ready');
  const before = programIds();
  const child = spawn(join(dir, 'bin', 'dropwhy.js'), [...args, '--log-level', 'error', '--ready-file', ready], {
    stdio: ['ignore', devNull(), 'pipe'],
  });
  const log = collectStderr(child);
  try {
    await waitFor(() => existsSync(ready) || child.exitCode !== null, 20_000, `${dir} to attach`);
    if (child.exitCode !== null) throw new Error(`${dir} exited: ${log.text}`);
    const ns = await bpfNsPerRun(before, () => blast(pair, seconds));
    if (ns === null) throw new Error(`${dir}'s program did not run`);
    await stop(child);
    if (!closingCounts(log.text)) throw new Error(`${dir} printed no closing line: ${log.text}`);
    return ns;
  } finally {
    await stop(child);
    rmSync(scratch, { recursive: true, force: true });
  }
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGINT');
  await exited;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const value = (flag: string, fallback: string) => {
    const i = argv.indexOf(flag);
    if (i < 0) return fallback;
    const v = argv[i + 1];
    argv.splice(i, 2);
    return v;
  };
  const rounds = Number(value('--rounds', '5'));
  const seconds = Math.min(Number(value('--seconds', '3')), 8);
  const phases = value('--phases', 'json,filtered').split(',');
  const dirs = argv.map((dir) => resolve(dir));
  if (process.getuid?.() !== 0) throw new Error('needs root (it loads BPF programs and makes namespaces)');
  if (!existsSync(BLAST)) throw new Error(`${BLAST} is missing: run npm run build`);
  if (dirs.length === 0 || phases.some((p) => !PHASES[p])) throw new Error(`usage: bpf-parts.js [--rounds N] [--seconds S] [--phases ${Object.keys(PHASES)}] DIR...`);
  // By phase and build (its place in the arguments: a build given twice shows the noise), ns per round.
  const ns = new Map<string, number[]>();
  const key = (phase: string, build: number) => `${phase} ${build}`;

  await withNetnsPair(`dwparts${process.pid % 100000}`, 250, async (pair) => {
    for (let round = 0; round < rounds; round++) {
      for (const phase of phases) {
        // The order rotates each round: no build always follows the same one.
        for (let i = 0; i < dirs.length; i++) {
          const build = (i + round) % dirs.length;
          const cost = await pass(dirs[build], PHASES[phase], seconds, pair);
          ns.set(key(phase, build), [...(ns.get(key(phase, build)) ?? []), cost]);
          console.error(`round ${round + 1}/${rounds} ${phase} ${dirs[build]}: ${cost.toFixed(0)} ns`);
        }
      }
    }
  });

  console.log('| phase | build | median ns | range | Δ vs first (median of the paired rounds) |');
  console.log('|---|---|--:|--:|--:|');
  for (const phase of phases) {
    const reference = ns.get(key(phase, 0))!;
    for (const [build, dir] of dirs.entries()) {
      const values = ns.get(key(phase, build))!;
      const delta = build === 0 ? '-' : median(values.map((v, round) => v - reference[round])).toFixed(0);
      console.log(`| ${phase} | ${dir} | ${median(values).toFixed(0)} | ${Math.min(...values).toFixed(0)}-${Math.max(...values).toFixed(0)} | ${delta} |`);
    }
  }
  console.log(`(${rounds} round(s) of ${seconds} s per build and phase)`);
}

main().catch((error) => {
  console.error(`bpf-parts: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
