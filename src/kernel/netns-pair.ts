// Throwaway network namespace pairs joined by a veth pair, for selftest,
// the benchmarks and the end-to-end tests. Addresses live only inside them:
// 198.18.N.0/24 (RFC 2544 benchmarking range) and fd00:dd:N::/64.
//
// A pair is quiet: the only packets on its link are the ones a test sends.
// Each side has a permanent neighbour entry for the other (no ARP or ND, so
// no packet waits in, or is dropped from, an unresolved-neighbour queue), and
// IPv6 sends no duplicate address detection, no router solicitations and no
// link-local address; the few MLD reports that joining the solicited-node
// groups still causes are over before createNetnsPair returns. Otherwise a
// trace of the namespace would see those control packets dropped by the peer.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { promisify } from 'node:util';
import { STOP_SIGNALS } from '../signals';

const run = promisify(execFile);

export interface NetnsPair {
  nsA: string;
  nsB: string;
  /** Interface names of the veth ends: ifA lives in nsA, ifB in nsB. */
  ifA: string;
  ifB: string;
  v4A: string;
  v4B: string;
  /** Canonical compressed form, e.g. fd00:dd:7::1 */
  v6A: string;
  v6B: string;
  /** The N of 198.18.N.0/24 and fd00:dd:N::/64. */
  n: number;
  /** Interface indexes of the veth ends inside their namespaces. */
  ifindexA: number;
  ifindexB: number;
  macA: string;
  macB: string;
}

/** How long the veth ends may take to come up. */
const UP_TIMEOUT_MS = 5_000;
/** How long the MLD reports, repeated after a tick, take to be over (~20 ms). */
export const MLD_SETTLE_MS = 100;

/** net.ipv6.conf.default.*, set before the veth ends exist so that they inherit it. */
const QUIET_IPV6 = [
  'accept_dad=0', // no neighbour solicitations for duplicate address detection
  'accept_ra=0', // no router solicitations (sent forever by default, with back-off)
  'addr_gen_mode=1', // no link-local address, so no group joins for it
  'mldv1_unsolicited_report_interval=1', // repeat the unavoidable MLD reports after a tick, not up to 1 s
  'mldv2_unsolicited_report_interval=1',
];
/** Writes NAME=VALUE arguments to /proc/sys/net/ipv6/conf/default/NAME (no procps needed). */
// biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion, run by sh
const WRITE_IPV6_DEFAULTS = 'for s; do echo "${s#*=}" > "/proc/sys/net/ipv6/conf/default/${s%%=*}" || exit 1; done';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function ip(args: string[]): Promise<string> {
  const { stdout } = await run('ip', args, { timeout: 10_000 });
  return stdout;
}

/** Runs `ip -n ns -batch -` with these commands, one per line. */
function ipBatch(ns: string, commands: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn('ip', ['-n', ns, '-batch', '-'], { stdio: ['pipe', 'ignore', 'pipe'], timeout: 10_000 });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => (code === 0 ? resolve() : reject(new Error(`ip -n ${ns} -batch failed (${code ?? signal}): ${stderr.trim()}`))));
    child.stdin.on('error', () => {}); // a failure is reported by close
    child.stdin.end(commands.join('\n') + '\n');
  });
}

/**
 * The command line that runs a program in the named namespace. nsenter, not `ip netns exec`: that also
 * makes a mount namespace and remounts /sys, whose unmounts wait for RCU grace periods, which take
 * seconds in a loaded TCG guest; nothing run this way needs the namespace's sysfs. It execs the program
 * (no fork), so the child is the program itself.
 */
export function inNetnsArgv(ns: string, command: string, args: string[]): [string, string[]] {
  return ['nsenter', [`--net=/run/netns/${ns}`, '--', command, ...args]];
}

/** Runs a program inside a namespace and returns its stdout; rejects with its stderr on failure. */
export async function inNetns(ns: string, command: string, args: string[], timeoutMs = 30_000): Promise<string> {
  try {
    const { stdout } = await run(...inNetnsArgv(ns, command, args), { timeout: timeoutMs, maxBuffer: 64 << 20 });
    return stdout;
  } catch (error) {
    const { stderr, message } = error as { stderr?: string; message: string };
    throw new Error(`${command} in ${ns} failed: ${(stderr || message).trim()}`);
  }
}

/** Interface names hold at most 15 characters; they only have to be unique inside their namespace. */
function interfaceName(prefix: string, side: 'a' | 'b'): string {
  return `${prefix.replace(/[^A-Za-z0-9]/g, '').slice(-12) || 'dw'}${side}`;
}

/**
 * Creates namespaces <prefix>-a and <prefix>-b joined by veth, addressed in
 * subnet n (1-254), and resolves once both ends are up and the link is quiet.
 * Removes whatever it made when it fails.
 */
export async function createNetnsPair(prefix: string, n: number): Promise<NetnsPair> {
  if (!Number.isInteger(n) || n < 1 || n > 254) throw new RangeError(`subnet number must be 1-254, got ${n}`);
  const hex = n.toString(16);
  const byte = hex.padStart(2, '0');
  const pair: NetnsPair = {
    nsA: `${prefix}-a`,
    nsB: `${prefix}-b`,
    ifA: interfaceName(prefix, 'a'),
    ifB: interfaceName(prefix, 'b'),
    v4A: `198.18.${n}.1`,
    v4B: `198.18.${n}.2`,
    v6A: `fd00:dd:${hex}::1`,
    v6B: `fd00:dd:${hex}::2`,
    n,
    ifindexA: 0,
    ifindexB: 0,
    macA: `02:dd:${byte}:00:00:01`,
    macB: `02:dd:${byte}:00:00:02`,
  };
  const sides = [
    { ns: pair.nsA, dev: pair.ifA, v4: pair.v4A, v6: pair.v6A, peer4: pair.v4B, peer6: pair.v6B, peerMac: pair.macB },
    { ns: pair.nsB, dev: pair.ifB, v4: pair.v4B, v6: pair.v6B, peer4: pair.v4A, peer6: pair.v6A, peerMac: pair.macA },
  ];
  const created: string[] = [];
  try {
    for (const { ns } of sides) {
      await ip(['netns', 'add', ns]);
      created.push(ns);
      await inNetns(ns, 'sh', ['-c', WRITE_IPV6_DEFAULTS, 'sh', ...QUIET_IPV6], 10_000);
    }
    // Created directly inside their namespaces, so the names never meet in ours.
    await ip(['link', 'add', 'name', pair.ifA, 'address', pair.macA, 'netns', pair.nsA, 'type', 'veth', 'peer', 'name', pair.ifB, 'address', pair.macB, 'netns', pair.nsB]);
    for (const s of sides) {
      await ipBatch(s.ns, [
        'link set lo up',
        `address add ${s.v4}/24 dev ${s.dev}`,
        `address add ${s.v6}/64 dev ${s.dev} nodad`,
        `link set ${s.dev} up`,
        `neighbour replace ${s.peer4} lladdr ${s.peerMac} dev ${s.dev} nud permanent`,
        `neighbour replace ${s.peer6} lladdr ${s.peerMac} dev ${s.dev} nud permanent`,
      ]);
    }
    [pair.ifindexA, pair.ifindexB] = await waitUp(sides);
    await sleep(MLD_SETTLE_MS);
    return pair;
  } catch (error) {
    // Only what this call made: a name that already existed may be another run's.
    for (const ns of created) await ip(['netns', 'del', ns]).catch(() => {});
    throw error;
  }
}

/**
 * Waits until both veth ends are operationally up: until then the kernel
 * queues to a qdisc that drops everything. Resolves to their ifindexes.
 */
export async function waitUp(sides: Array<{ ns: string; dev: string }>): Promise<number[]> {
  const deadline = Date.now() + UP_TIMEOUT_MS;
  for (;;) {
    const links = await Promise.all(
      sides.map(async ({ ns, dev }) => {
        const [link] = JSON.parse(await ip(['-n', ns, '-j', 'link', 'show', 'dev', dev])) as Array<{ ifindex: number; operstate: string }>;
        return { ns, dev, ...link };
      }),
    );
    const down = links.filter((link) => link.operstate !== 'UP');
    if (down.length === 0) return links.map((link) => link.ifindex);
    if (Date.now() > deadline) {
      throw new Error(`veth not up after ${UP_TIMEOUT_MS} ms: ${down.map((l) => `${l.ns}/${l.dev} ${l.operstate}`).join(', ')}`);
    }
    await sleep(20);
  }
}

export async function deleteNetnsPair(pair: Pick<NetnsPair, 'nsA' | 'nsB'>): Promise<void> {
  for (const ns of [pair.nsA, pair.nsB]) await ip(['netns', 'del', ns]).catch(() => {});
}

/**
 * Runs fn with a fresh pair and removes the pair afterwards, also when fn
 * fails or the process gets SIGINT, SIGTERM or SIGHUP meanwhile.
 */
export async function withNetnsPair<T>(prefix: string, n: number, fn: (pair: NetnsPair) => Promise<T>): Promise<T> {
  const pair = await createNetnsPair(prefix, n);
  const stopDeletingOnSignal = deleteOnSignal(pair);
  try {
    return await fn(pair);
  } finally {
    stopDeletingOnSignal();
    await deleteNetnsPair(pair);
  }
}

/**
 * Until the returned function is called: on a signal, deletes the pair at
 * once, then lets the signal take its default course (ending the process)
 * unless someone else listens for it.
 */
function deleteOnSignal(pair: Pick<NetnsPair, 'nsA' | 'nsB'>): () => void {
  const stop = () => STOP_SIGNALS.forEach((signal) => process.off(signal, onSignal));
  const onSignal = (signal: NodeJS.Signals) => {
    stop();
    for (const ns of [pair.nsA, pair.nsB]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
      } catch {
        // already gone, or nothing more can be done on the way out
      }
    }
    if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
  };
  STOP_SIGNALS.forEach((signal) => process.on(signal, onSignal));
  return stop;
}

/** Names of existing namespaces that start with prefix (to clean up after a killed run). */
export function namespacesWithPrefix(prefix: string): string[] {
  try {
    return readdirSync('/run/netns').filter((name) => name.startsWith(prefix));
  } catch {
    return [];
  }
}

/** Whether a process with this id exists (EPERM: it does, another user's). */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether name was made by a process that is gone: pattern's first group is that process's id. */
export function madeByGoneProcess(name: string, pattern: RegExp): boolean {
  const pid = Number(pattern.exec(name)?.[1]);
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && !processExists(pid);
}

/**
 * Deletes the namespaces left behind by killed runs: those whose name
 * matches pattern, with the creating process id as its first group, when
 * that process is gone. Resolves to the names deleted.
 */
export async function sweepStaleNamespaces(pattern: RegExp): Promise<string[]> {
  const stale = namespacesWithPrefix('').filter((name) => madeByGoneProcess(name, pattern));
  for (const ns of stale) await ip(['netns', 'del', ns]).catch(() => {});
  return stale;
}
