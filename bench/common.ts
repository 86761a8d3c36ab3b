// What the benchmark (run.ts) and the soak (soak.ts) share: the drop storm in a
// namespace pair, its ground truth, and reading a child's stderr and memory.
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseSnmp } from '../src/kernel/counters';
import { inNetns, type NetnsPair } from '../src/kernel/netns-pair';

export const ROOT = resolve(__dirname, '../..');
export const CLI = join(ROOT, 'bin', 'dropwhy.js');
export const BLAST = join(ROOT, 'build', 'native', 'dropwhy-blast');
export const CLOSED_PORT = 9;
export const SENDER_CPU = 0;

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function devNull(): number {
  return openSync('/dev/null', 'w');
}

export async function waitFor(check: () => boolean, timeoutMs: number, what: string, pollMs = 10): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(pollMs);
  }
}

export function collectStderr(child: ChildProcess): { text: string } {
  const log = { text: '' };
  child.stderr?.on('data', (chunk) => (log.text += chunk));
  return log;
}

/** dropwhy's closing line on stderr: "N drops seen, N matched, N lost". */
export function closingCounts(stderr: string): { seen: number; matched: number; lost: number } | null {
  const closing = /(\d+) drops? seen, (\d+) matched, (\d+) lost/.exec(stderr);
  return closing ? { seen: Number(closing[1]), matched: Number(closing[2]), lost: Number(closing[3]) } : null;
}

/** The drops of the storm, as B's kernel counts them. */
export async function noPorts(pair: NetnsPair): Promise<number> {
  return parseSnmp(await inNetns(pair.nsB, 'cat', ['/proc/net/snmp'])).get('Udp NoPorts') ?? 0;
}

function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return match ? Number(match[1]) : NaN;
}

export const peakRssMb = (pid: number) => statusKb(pid, 'VmHWM') / 1024;
export const rssMb = (pid: number) => statusKb(pid, 'VmRSS') / 1024;

/** Datagrams from A to B's closed port for seconds (blast caps it at 60 s); ratePerSecond paces it. */
export async function blast(pair: NetnsPair, seconds: number, ratePerSecond?: number): Promise<void> {
  const args = ['--dst', pair.v4B, '--port', String(CLOSED_PORT), '--seconds', String(seconds), '--cpu', String(SENDER_CPU)];
  if (ratePerSecond !== undefined) args.push('--rate', String(Math.round(ratePerSecond)));
  await inNetns(pair.nsA, BLAST, args, Math.ceil((seconds + 30) * 1000));
}

interface ProgramStats {
  id: number;
  run_time_ns?: number;
  run_cnt?: number;
}

function programs(): ProgramStats[] {
  return JSON.parse(execFileSync('bpftool', ['prog', 'show', '-j'], { encoding: 'utf8' })) as ProgramStats[];
}

export function programIds(): Set<number> {
  return new Set(programs().map((p) => p.id));
}

/** ns per run of the BPF programs loaded since `before` was taken (a tracer's: they all run per drop) while
 * `during` runs, with kernel.bpf_stats_enabled on only meanwhile; null when they did not run. */
export async function bpfNsPerRun(before: Set<number>, during: () => Promise<void>): Promise<number | null> {
  const stats = () =>
    programs()
      .filter((p) => !before.has(p.id))
      .reduce((sum, p) => ({ ns: sum.ns + (p.run_time_ns ?? 0), runs: sum.runs + (p.run_cnt ?? 0) }), { ns: 0, runs: 0 });
  const previous = readFileSync('/proc/sys/kernel/bpf_stats_enabled', 'utf8').trim();
  try {
    writeFileSync('/proc/sys/kernel/bpf_stats_enabled', '1');
    const start = stats();
    await during();
    const end = stats();
    return end.runs > start.runs ? (end.ns - start.ns) / (end.runs - start.runs) : null;
  } finally {
    writeFileSync('/proc/sys/kernel/bpf_stats_enabled', previous);
  }
}
