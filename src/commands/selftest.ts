// dropwhy selftest: make known drops in throwaway namespaces and check that
// dropwhy saw exactly them, with the right reasons. What a user runs first on
// a new host.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { kallsymsState } from './doctor';
import { inNetns, madeByGoneProcess, sweepStaleNamespaces, withNetnsPair, type NetnsPair } from '../kernel/netns-pair';
import { STOP_SIGNALS } from '../signals';

const CLI = resolve(__dirname, '../../../bin/dropwhy.js');
const CLOSED_PORT = 9;
const FIREWALLED_PORT = 7777;
const CLOSED_PORT_DROPS = 3;
const FIREWALL_DROPS = 2;
/** Longer than a selftest on the slowest kernel of the matrix takes. */
const TRACER_BOUND_S = 120;
/**
 * How long the tracer may take to attach: about 0.2 s on a host, seconds in an emulated VM, tens of
 * seconds in one whose host is busy. A tracer that fails ends sooner, and says why.
 */
const START_BOUND_S = 60;
/** The temporary directory of the tracer's ready file: dropwhy-selftest-<pid>-XXXXXX. */
const TEMP_DIR = /^dropwhy-selftest-(\d+)-/;

export interface SelftestEvent {
  reason: string | null;
  location: string | null;
  address: string;
  proto: string | null;
  dport: number | null;
}

export interface Expectation {
  what: string;
  dport: number;
  reason: string;
  /** The functions that free such a drop; kernels differ. */
  locations: string[];
  count: number;
}

export const EXPECTED: Expectation[] = [
  { what: 'UDP to a closed port', dport: CLOSED_PORT, reason: 'NO_SOCKET', locations: ['__udp4_lib_rcv'], count: CLOSED_PORT_DROPS },
  // nf_hook_slow carries out an nft drop verdict up to 6.1 (Debian 12), nft_do_chain on newer kernels
  { what: 'nft drop rule', dport: FIREWALLED_PORT, reason: 'NETFILTER_DROP', locations: ['nft_do_chain', 'nf_hook_slow'], count: FIREWALL_DROPS },
];

export interface Verdict {
  pass: boolean;
  line: string;
}

/** What this machine lets dropwhy show: a location where /proc/kallsyms shows addresses, a reason from 5.17 on. */
export interface Shown {
  locations: boolean;
  reasons: boolean;
}

/**
 * Compares what dropwhy printed with what was caused. Kernels before 5.17
 * report no reason: then every reason must be null, and the location alone
 * tells the drops apart. Where /proc/kallsyms hides addresses no drop has a
 * location to check.
 */
export function judge(events: SelftestEvent[], expected: Expectation[] = EXPECTED, shown: Shown = { locations: true, reasons: true }): Verdict[] {
  const locationsShown = shown.locations;
  const verdicts = expected.map((e) => {
    const seen = events.filter((ev) => ev.proto === 'udp' && ev.dport === e.dport);
    const atSite = (ev: SelftestEvent) => (locationsShown ? e.locations.some((l) => ev.location?.startsWith(`${l}+0x`)) : ev.location === null);
    const right = seen.filter((ev) => ev.reason === (shown.reasons ? e.reason : null) && atSite(ev));
    const pass = seen.length === e.count && right.length === e.count;
    const got = seen.map((ev) => `${ev.reason ?? 'no reason'} at ${ev.location ?? ev.address}`);
    const where = locationsShown ? `at ${e.locations.join(' or ')}` : '(location not checked: /proc/kallsyms hides addresses)';
    return {
      pass,
      line: `${e.what}: expected ${e.count} × ${e.reason} ${where}, saw ${seen.length}${got.length ? ` (${[...new Set(got)].join(', ')})` : ''}`,
    };
  });
  const ports = new Set(expected.map((e) => e.dport));
  const others = events.filter((ev) => !(ev.proto === 'udp' && ev.dport !== null && ports.has(ev.dport)));
  verdicts.push({
    pass: others.length === 0,
    line: `nothing else dropped in the test namespace: ${others.length === 0 ? 'none' : others.map((o) => `${o.reason ?? 'no reason'} ${o.proto ?? '?'}/${o.dport ?? '-'}`).join(', ')}`,
  });
  return verdicts;
}

const SEND = `
const dgram = require('node:dgram');
const [address, port, count] = process.argv.slice(1);
const socket = dgram.createSocket(address.includes(':') ? 'udp6' : 'udp4');
let left = Number(count);
const next = () => left-- > 0 ? socket.send('dropwhy selftest', Number(port), address, next) : socket.close();
next();`;

async function sendUdp(pair: NetnsPair, port: number, count: number): Promise<void> {
  await inNetns(pair.nsA, process.execPath, ['-e', SEND, pair.v4B, String(port), String(count)]);
}

/** Runs dropwhy on the B namespace while the drops happen; returns its NDJSON events. */
async function traceDrops(pair: NetnsPair, cause: () => Promise<void>): Promise<SelftestEvent[]> {
  const dir = mkdtempSync(join(tmpdir(), `dropwhy-selftest-${process.pid}-`));
  const ready = join(dir, 'ready');
  const tracer = [
    process.execPath,
    CLI,
    '-o',
    'json',
    '--filter-netns',
    `/run/netns/${pair.nsB}`,
    '--ready-file',
    ready,
    '--log-level',
    'error',
    '--duration',
    String(TRACER_BOUND_S),
  ];
  // The tracer dies with us, even when we are SIGKILLed: setpriv sets its
  // parent-death signal, then execs it. The kernel sends that signal when the
  // thread that spawned it ends; Node spawns from the main thread, which lives
  // as long as the process. --duration bounds the one case this misses: being
  // killed between the fork and setpriv's prctl.
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '--', ...tracer], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let ended = false;
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', resolve);
    child.once('error', (error) => {
      stderr += `cannot run setpriv (util-linux), which ties the tracer's life to selftest's: ${error.message}`;
      resolve();
    });
  }).then(() => void (ended = true));
  // A signal to selftest alone must not leave the tracer running: end it, then
  // let the signal end us (withNetnsPair has already removed the namespaces).
  const onSignal = (signal: NodeJS.Signals) => {
    STOP_SIGNALS.forEach((s) => process.off(s, onSignal));
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    process.kill(process.pid, signal);
  };
  STOP_SIGNALS.forEach((s) => process.on(s, onSignal));
  try {
    const deadline = Date.now() + START_BOUND_S * 1000;
    while (!existsSync(ready)) {
      if (ended) throw new Error(`dropwhy did not start: ${stderr.trim() || `it exited with ${child.exitCode}`}`);
      if (Date.now() > deadline) throw new Error(`dropwhy did not start within ${START_BOUND_S} s${stderr.trim() ? ` (it said: ${stderr.trim()})` : ''}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    await cause();
    await new Promise((r) => setTimeout(r, 300)); // the tracer flushes every 20 ms
  } finally {
    STOP_SIGNALS.forEach((s) => process.off(s, onSignal));
    child.kill('SIGINT');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  }
  if (child.exitCode !== 0) throw new Error(`dropwhy exited with ${child.exitCode}: ${stderr.trim()}`);
  return stdout
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as SelftestEvent);
}

/** Runs the selftest, printing as it goes; resolves true on PASS. reasonsReported: the kernel's tracepoint has a reason. */
export async function runSelftest(write: (line: string) => void, reasonsReported: boolean): Promise<boolean> {
  const n = 200 + (process.pid % 50);
  // Left by a run that was killed (its tracer, killed with it, could not remove its ready file).
  await sweepStaleNamespaces(/^dwself(\d+)-[ab]$/);
  for (const name of readdirSync(tmpdir())) {
    if (madeByGoneProcess(name, TEMP_DIR)) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
  return withNetnsPair(`dwself${process.pid}`, n, async (pair) => {
    write(`selftest: namespaces ${pair.nsA} and ${pair.nsB}, ${pair.v4A} → ${pair.v4B} over veth`);
    await inNetns(pair.nsB, 'nft', ['add table inet dropwhy_selftest']);
    await inNetns(pair.nsB, 'nft', [`add chain inet dropwhy_selftest input { type filter hook input priority 0 ; }`]);
    await inNetns(pair.nsB, 'nft', [`add rule inet dropwhy_selftest input udp dport ${FIREWALLED_PORT} drop`]);
    const events = await traceDrops(pair, async () => {
      await sendUdp(pair, CLOSED_PORT, CLOSED_PORT_DROPS);
      await sendUdp(pair, FIREWALLED_PORT, FIREWALL_DROPS);
    });
    const verdicts = judge(events, EXPECTED, { locations: kallsymsState() === 'symbols', reasons: reasonsReported });
    for (const v of verdicts) write(`${v.pass ? 'PASS' : 'FAIL'}  ${v.line}`);
    const pass = verdicts.every((v) => v.pass);
    write(`selftest: ${pass ? 'PASS' : 'FAIL'}`);
    return pass;
  });
}
