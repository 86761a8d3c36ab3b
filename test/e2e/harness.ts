// End-to-end test harness for dropwhy.
//
// Everything here works against the REAL kernel: it creates network
// namespaces + veth pairs, generates real packet drops inside them and runs
// the real CLI (bin/dropwhy.js). All traffic stays inside the namespaces the
// harness creates. Every loop and every wait is bounded in count and time.

import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as assert from 'node:assert/strict';
import type { TestContext } from 'node:test';
import { deleteNetnsPair, inNetnsArgv, namespacesWithPrefix, sweepStaleNamespaces, withNetnsPair as withPair, type NetnsPair } from '../../src/kernel/netns-pair';
import { LOCAL_BUILD } from '../../src/kernel/addon-loader';
import { JSON_KEYS } from '../json-keys';

// dist/test/e2e/harness.js -> repo root
export const REPO_ROOT = path.resolve(__dirname, '../../..');
// DROPWHY_E2E_CLI only exists to self-test this harness against a stub.
export const CLI_PATH = process.env.DROPWHY_E2E_CLI || path.join(REPO_ROOT, 'bin', 'dropwhy.js');
export const NATIVE_ADDON = path.join(REPO_ROOT, LOCAL_BUILD);
export const FIXTURES = path.join(REPO_ROOT, 'test', 'e2e', 'fixtures');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Resolve to the promise's value, or to `onTimeout` after ms. The timer is
 * cleared either way, so it never keeps the test process alive.
 */
export function withTimeout<T, U>(p: Promise<T>, ms: number, onTimeout: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<U>((resolve) => {
    timer = setTimeout(() => resolve(onTimeout), ms);
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

// ---------------------------------------------------------------------------
// Environment gate
// ---------------------------------------------------------------------------

/**
 * Returns true when the real-kernel e2e tests can run. Otherwise: in CI
 * (CI=true) throws (the test fails), elsewhere prints a loud reason to stderr,
 * marks the test skipped and returns false.
 */
export function requireRealKernel(t: TestContext): boolean {
  const missing: string[] = [];
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) {
    missing.push('root privileges (process.getuid() !== 0)');
  }
  if (!fs.existsSync('/sys/kernel/btf/vmlinux')) {
    missing.push('kernel BTF (/sys/kernel/btf/vmlinux is missing)');
  }
  if (!fs.existsSync(NATIVE_ADDON)) {
    missing.push(`native addon (${NATIVE_ADDON} is missing; run npm run build:native)`);
  }
  if (missing.length === 0) return true;
  const reason = `dropwhy e2e needs: ${missing.join('; ')}`;
  if (process.env.CI === 'true') {
    throw new Error(`${reason} (CI=true, refusing to skip)`);
  }
  process.stderr.write(`\n!!!!! SKIPPING E2E TEST "${t.name}": ${reason} !!!!!\n\n`);
  t.skip(reason);
  return false;
}

// ---------------------------------------------------------------------------
// Process helpers
// ---------------------------------------------------------------------------

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const liveChildren = new Set<ChildProcess>();

/** Where a process that timed out waits: its state and kernel stack (root reads them), so a hang names its cause. */
function whereInTheKernel(pid: number | undefined): string {
  const read = (file: string) => {
    try {
      return fs.readFileSync(`/proc/${pid}/${file}`, 'utf8').trim();
    } catch (error) {
      return `(${(error as Error).message})`;
    }
  };
  const state = /^State:.*$/m.exec(read('status'))?.[0] ?? 'State: unknown';
  return `process ${pid}: ${state}, in the kernel at:\n${read('stack')}`;
}

/**
 * How much longer than on a host anything may take before it counts as failed: test/kernels/guest.js
 * sets it for its emulated guests, which a busy host slows further. Every bound on a wait is a bound on
 * a failure, so it may be generous: stretching it never slows a passing test.
 */
const TIMEOUT_SCALE = Number(process.env.DROPWHY_E2E_TIMEOUT_SCALE) || 1;

/** A bound on a wait, in ms: `ms` on a host, stretched by DROPWHY_E2E_TIMEOUT_SCALE in a guest. */
export const scaled = (ms: number): number => ms * TIMEOUT_SCALE;

/**
 * Set in the kernel matrix's guests (test/kernels/guest.js): there only what can differ between kernels
 * needs to run, since the host's own run proves the rest (docs/testing.md). A test that sweeps one kernel
 * path many ways keeps the full sweep for the host and runs, in a guest, the part that covers that path.
 */
export const KERNEL_MATRIX_GUEST = process.env.DROPWHY_E2E_GUEST === '1';

/** Run a command to completion (bounded). Rejects on timeout or, unless allowFail, non-zero exit. */
export function run(cmd: string, args: string[], opts: { input?: string; timeoutMs?: number; allowFail?: boolean } = {}): Promise<RunResult> {
  const timeoutMs = scaled(opts.timeoutMs ?? 15_000);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    liveChildren.add(child);
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let stuckAt = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      stuckAt = whereInTheKernel(child.pid);
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      const res: RunResult = { code, signal, stdout, stderr };
      if (timedOut) {
        reject(new Error(`timed out after ${timeoutMs} ms: ${cmd} ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}\n${stuckAt}`));
      } else if (!opts.allowFail && code !== 0) {
        reject(new Error(`exit ${code ?? signal}: ${cmd} ${args.join(' ')}\nstdout: ${stdout}\nstderr: ${stderr}`));
      } else {
        resolve(res);
      }
    });
    child.stdin!.on('error', () => undefined);
    child.stdin!.end(opts.input ?? '');
  });
}

function ip(args: string[], opts: { input?: string; allowFail?: boolean } = {}): Promise<RunResult> {
  return run('ip', args, { ...opts, timeoutMs: 10_000 });
}

let pythonPath: string | undefined;
/** Resolve the real python3 binary once (avoids pyenv shim start-up cost per call). */
export function python(): string {
  if (pythonPath === undefined) {
    try {
      pythonPath = execFileSync('python3', ['-c', 'import sys; print(sys.executable)'], {
        encoding: 'utf8',
        timeout: 10_000,
      }).trim();
    } catch {
      pythonPath = 'python3';
    }
    if (!pythonPath) pythonPath = 'python3';
  }
  return pythonPath;
}

/** Run a python3 program inside a namespace. */
export function nsPython(ns: string, script: string, args: string[], timeoutMs = 20_000): Promise<RunResult> {
  return run(...inNetnsArgv(ns, python(), ['-c', script, ...args]), { timeoutMs });
}

// ---------------------------------------------------------------------------
// Namespaces (created by src/kernel/netns.ts, the same code `dropwhy selftest` uses)
// ---------------------------------------------------------------------------

export type { NetnsPair };

let pairCounter = 0;
const usedSubnets = new Set<number>();
const liveNamespaces = new Set<string>();

function allocSubnet(): number {
  // Unique within this process; different processes are isolated anyway since
  // the addresses only exist inside the per-pair namespaces.
  for (let i = 0; i < 254; i++) {
    const n = ((process.pid + pairCounter + i) % 254) + 1;
    if (!usedSubnets.has(n)) {
      usedSubnets.add(n);
      return n;
    }
  }
  throw new Error('no free 198.18.N.0/24 subnet left in this process');
}

/** Names of the harness's namespaces: dw-<pid>-<counter>-{a,b}. */
const HARNESS_NETNS = /^dw-(\d+)-\d+-[ab]$/;
let staleSweep: Promise<string[]> | undefined;

process.on('exit', () => {
  for (const child of liveChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* ignore */
    }
  }
  for (const ns of liveNamespaces) {
    try {
      execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 });
    } catch {
      /* ignore */
    }
  }
});

/** Inode of a named namespace (what dropwhy reports as `netns`). */
export function netnsInode(ns: string): number {
  return fs.statSync(`/run/netns/${ns}`).ino;
}

/**
 * Add one more address (IPv4 -> /24, IPv6 -> /64 nodad) on side 'a' or 'b' of
 * a pair, with a permanent neighbour entry for it on the other side.
 */
export async function addExtraAddress(pair: NetnsPair, side: 'a' | 'b', addr: string): Promise<void> {
  const v6 = addr.includes(':');
  const [ns, dev, mac, peerNs, peerDev] = side === 'a' ? [pair.nsA, pair.ifA, pair.macA, pair.nsB, pair.ifB] : [pair.nsB, pair.ifB, pair.macB, pair.nsA, pair.ifA];
  await ip(['-n', ns, ...(v6 ? ['-6', 'addr', 'add', `${addr}/64`, 'dev', dev, 'nodad'] : ['addr', 'add', `${addr}/24`, 'dev', dev])]);
  await addStaticNeighbours(peerNs, peerDev, [addr], mac);
}

/**
 * Create two namespaces joined by a veth pair (src/kernel/netns.ts: static
 * neighbours, quiet IPv6, both ends up), run fn, always delete both
 * namespaces afterwards (also when fn or the setup throws, or on a signal).
 * The first call also deletes namespaces left behind by killed harness
 * processes.
 */
export async function withNetnsPair<T>(fn: (pair: NetnsPair) => Promise<T>): Promise<T> {
  // allocated synchronously so concurrent calls never share names/subnets
  const counter = ++pairCounter;
  const n = allocSubnet();
  const prefix = `dw-${process.pid}-${counter}`;
  const names = { nsA: `${prefix}-a`, nsB: `${prefix}-b` };
  for (const ns of Object.values(names)) liveNamespaces.add(ns);
  try {
    await (staleSweep ??= sweepStaleNamespaces(HARNESS_NETNS));
    return await withPair(prefix, n, fn);
  } finally {
    const left = namespacesWithPrefix(`${prefix}-`);
    if (left.length > 0) {
      process.stderr.write(`harness: netns ${left.join(', ')} left behind, deleting\n`);
      await deleteNetnsPair(names);
    }
    for (const ns of Object.values(names)) liveNamespaces.delete(ns);
    usedSubnets.delete(n);
  }
}

// ---------------------------------------------------------------------------
// cgroups
// ---------------------------------------------------------------------------

/** The cgroup2 mount, read from mountinfo here rather than through dropwhy's own parser. */
export function cgroup2Mount(): string | null {
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [mountFields, fsFields] = line.split(' - ');
    if (fsFields?.split(' ')[0] === 'cgroup2') return mountFields.split(' ')[4];
  }
  return null;
}

/**
 * Removes a cgroup's directory once its processes have left: the kernel may take a moment to let
 * go of it after they exit. Throws if it is still there after 5 s: a cgroup that outlives its test
 * must fail the run.
 */
export async function removeCgroup(dir: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      fs.rmdirSync(dir);
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      if (attempt >= 50) throw error;
      await sleep(100);
    }
  }
}

// ---------------------------------------------------------------------------
// Traffic generators (all run inside a namespace)
// ---------------------------------------------------------------------------

const UDP_SENDER = `
import os, socket, sys, time
dst, port, count, sport, saddr, paced, until = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6] == '1', sys.argv[7]
fam = socket.AF_INET6 if ':' in dst else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
if sport or saddr:
    s.bind((saddr or ('::' if fam == socket.AF_INET6 else '0.0.0.0'), sport))
sent = 0
deadline = time.monotonic() + 15
for i in range(count):
    if time.monotonic() > deadline:
        break
    try:
        s.sendto(b'dropwhy-e2e-%06d' % i, (dst, port))
        sent += 1
    except OSError as e:
        # ICMP errors reported on later sends (e.g. ECONNREFUSED) are not fatal
        sys.stderr.write('send %d: %s\\n' % (i, e))
        try:
            s.sendto(b'dropwhy-e2e-%06d' % i, (dst, port))
            sent += 1
        except OSError as e2:
            sys.stderr.write('resend %d: %s\\n' % (i, e2))
    if i % 16 == 15:
        if until and os.path.exists(until):
            break
        if paced:
            time.sleep(0.001)
s.close()
print(sent)
`;

/**
 * Send `count` small UDP datagrams from namespace `ns`, paced (1 ms every 16)
 * unless `burst`, which sends them as fast as python can; sooner done once the
 * file `until` exists. Resolves to the number actually sent.
 */
export async function sendUdp(
  ns: string,
  dstAddr: string,
  port: number,
  count: number,
  opts: { srcPort?: number; srcAddr?: string; burst?: boolean; until?: string } = {},
): Promise<number> {
  assert.ok(count > 0 && count <= 100_000, `sendUdp count out of bounds: ${count}`);
  const res = await nsPython(ns, UDP_SENDER, [dstAddr, String(port), String(count), String(opts.srcPort ?? 0), opts.srcAddr ?? '', opts.burst ? '0' : '1', opts.until ?? '']);
  const sent = Number(res.stdout.trim());
  assert.ok(Number.isInteger(sent), `sendUdp: bad output ${JSON.stringify(res.stdout)} ${res.stderr}`);
  return sent;
}

// The progress on stderr says where a sending that timed out stood.
const FRAME_SENDER = `
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
frames = sys.stdin.read().split()
print('sending', len(frames), 'frames', file=sys.stderr, flush=True)
for i, frame in enumerate(frames):
    s.send(bytes.fromhex(frame))
    print('sent', i, file=sys.stderr, flush=True)
s.close()
`;

/** Send raw Ethernet frames, exactly as given, out of interface dev in namespace ns (AF_PACKET). */
export async function sendFrames(ns: string, dev: string, frames: Buffer[]): Promise<void> {
  assert.ok(frames.length > 0 && frames.length <= 10_000, `sendFrames count out of bounds: ${frames.length}`);
  await run(...inNetnsArgv(ns, python(), ['-c', FRAME_SENDER, dev]), {
    input: frames.map((f) => f.toString('hex')).join('\n'),
    timeoutMs: 20_000,
  });
}

/** Permanent neighbour entries in ns: each address is reached at mac on dev, without ARP or neighbour discovery. */
export async function addStaticNeighbours(ns: string, dev: string, addrs: string[], mac: string): Promise<void> {
  const commands = addrs.map((addr) => `neigh replace ${addr} lladdr ${mac} dev ${dev} nud permanent`);
  await ip(['-n', ns, '-batch', '-'], { input: commands.join('\n') + '\n' });
}

const TCP_CONNECT = `
import socket, sys, errno
dst, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
fam = socket.AF_INET6 if ':' in dst else socket.AF_INET
out = []
for i in range(count):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((dst, port))
        out.append('CONNECTED')
    except socket.timeout:
        out.append('TIMEOUT')
    except OSError as e:
        out.append(errno.errorcode.get(e.errno, str(e.errno)))
    finally:
        s.close()
print(' '.join(out))
`;

/**
 * Connect (TCP) from namespace `ns` to addr:port `count` times (default 1).
 * Resolves to the per-attempt outcome, e.g. ['ECONNREFUSED'].
 */
export async function tcpConnect(ns: string, addr: string, port: number, count = 1): Promise<string[]> {
  assert.ok(count > 0 && count <= 100, `tcpConnect count out of bounds: ${count}`);
  const res = await nsPython(ns, TCP_CONNECT, [addr, String(port), String(count)], 30_000);
  return res.stdout.trim().split(/\s+/);
}

/**
 * Add an nftables drop rule in namespace `ns` (never in the host namespace):
 *   table inet dwtest { chain input { type filter hook input priority 0; <match> drop; } }
 * `match` is an nft match expression, e.g. 'udp dport 7777'.
 */
export async function nftDrop(ns: string, match: string, hook: 'input' | 'prerouting' | 'output' = 'input'): Promise<void> {
  await loadNftRuleset(ns, `table inet dwtest {\n  chain ${hook} {\n    type filter hook ${hook} priority 0; policy accept;\n    ${match} drop\n  }\n}\n`);
}

/** Load an nft ruleset (nft -f) in namespace `ns`, never in the host namespace. */
export async function loadNftRuleset(ns: string, ruleset: string): Promise<void> {
  await run(...inNetnsArgv(ns, 'nft', ['-f', '-']), { input: ruleset, timeoutMs: 10_000 });
}

/** Append an iptables INPUT DROP rule in namespace `ns`, e.g. ['-p', 'udp', '--dport', '7778']. */
export async function iptablesDrop(ns: string, match: string[]): Promise<void> {
  await run(...inNetnsArgv(ns, 'iptables', ['-w', '5', '-A', 'INPUT', ...match, '-j', 'DROP']), { timeoutMs: 10_000 });
}

/** Read /proc/net/snmp (and snmp6) counters inside a namespace, e.g. { 'Udp.NoPorts': 5, ... }. */
export async function snmpCounters(ns: string): Promise<Record<string, number>> {
  const res = await run(...inNetnsArgv(ns, 'cat', ['/proc/net/snmp', '/proc/net/snmp6']), { timeoutMs: 10_000 });
  const out: Record<string, number> = {};
  const lines = res.stdout.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const m = /^(\w+): (.*)$/.exec(line);
    if (m && i + 1 < lines.length && lines[i + 1].startsWith(`${m[1]}: `)) {
      const names = m[2].trim().split(/\s+/);
      const vals = lines[i + 1]
        .slice(m[1].length + 2)
        .trim()
        .split(/\s+/);
      if (names.every((x) => /^[A-Za-z]/.test(x))) {
        names.forEach((name, j) => (out[`${m[1]}.${name}`] = Number(vals[j])));
        i++;
        continue;
      }
    }
    const m6 = /^(\w+)\s+(\d+)$/.exec(line); // snmp6 format: "Udp6InErrors   0"
    if (m6) out[m6[1]] = Number(m6[2]);
  }
  return out;
}

const RCVBUF_RECEIVER = `
import ctypes, os, socket, sys, select, time
addr, port, wait_moved, name = sys.argv[1], int(sys.argv[2]), sys.argv[3] == '1', sys.argv[4]
if wait_moved:
    # The harness moves this process to a cgroup before its socket exists: a socket
    # takes its cgroup when it is created. (ip netns exec remounts /sys: the cgroup
    # mount is not visible from here.)
    print('PID %d' % os.getpid(), flush=True)
    sys.stdin.readline()
if name:
    ctypes.CDLL(None).prctl(15, name.encode(), 0, 0, 0)  # PR_SET_NAME: the comm /proc/PID/comm shows
fam = socket.AF_INET6 if ':' in addr else socket.AF_INET
s = socket.socket(fam, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 0)  # kernel clamps to its minimum
s.bind((addr, port))
print('READY %d %d %d' % (s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), os.getpid(), os.fstat(s.fileno()).st_ino), flush=True)
# Never read during the flood: wait (bounded) for the harness to say the sender is done.
r, _, _ = select.select([sys.stdin], [], [], 60)
if r:
    sys.stdin.readline()
s.setblocking(False)
queued = 0
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        s.recv(65535)
        queued += 1
        continue
    except BlockingIOError:
        pass
    # queue empty: wait a little for stragglers, stop once quiet for 200 ms
    r, _, _ = select.select([s], [], [], 0.2)
    if not r:
        break
s.close()  # nothing queued any more -> no QUEUE_PURGE drops
print('QUEUED %d' % queued, flush=True)
`;

export interface RcvbufFloodResult {
  sent: number;
  queued: number;
  /** sent - queued: the exact number of datagrams the kernel dropped at the full socket */
  dropped: number;
  /** effective SO_RCVBUF of the receiver */
  rcvbuf: number;
  /** UdpRcvbufErrors (or Udp6RcvbufErrors) delta in the receiver namespace; sanity check */
  snmpRcvbufErrors: number;
  /** The receiving process and its socket's inode (as /proc/PID/fd shows it). */
  receiverPid: number;
  socketInode: number;
}

export interface RcvbufReceiverOptions {
  /** A cgroup's cgroup.procs: the receiver moves itself there before it creates its socket. */
  cgroupProcs?: string;
  /** The receiver's comm (PR_SET_NAME), to tell it from the sender's. */
  name?: string;
}

/**
 * Bind a UDP socket with the smallest possible SO_RCVBUF in `nsB` on
 * bindAddr:port, never read it while `count` datagrams are sent from
 * `sendFromNs`, then drain it and report how many had been queued.
 */
export async function rcvbufFlood(
  nsB: string,
  bindAddr: string,
  port: number,
  count: number,
  sendFromNs: string,
  receiver: RcvbufReceiverOptions = {},
): Promise<RcvbufFloodResult> {
  assert.ok(count > 0 && count <= 100_000, `rcvbufFlood count out of bounds: ${count}`);
  const v6 = bindAddr.includes(':');
  const key = v6 ? 'Udp6RcvbufErrors' : 'Udp.RcvbufErrors';
  const before = (await snmpCounters(nsB))[key] ?? 0;
  const receiverArgs = [bindAddr, String(port), receiver.cgroupProcs ? '1' : '0', receiver.name ?? ''];
  const child = spawn(...inNetnsArgv(nsB, python(), ['-c', RCVBUF_RECEIVER, ...receiverArgs]), {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  liveChildren.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  child.stdin!.on('error', () => undefined);
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  try {
    const readyDeadline = Date.now() + scaled(10_000);
    if (receiver.cgroupProcs) {
      while (!/PID \d+/.test(stdout)) {
        if (child.exitCode !== null || Date.now() > readyDeadline) throw new Error(`rcvbuf receiver did not start: stdout=${stdout} stderr=${stderr}`);
        await sleep(20);
      }
      fs.writeFileSync(receiver.cgroupProcs, /PID (\d+)/.exec(stdout)![1]);
      child.stdin!.write('moved\n');
    }
    while (!/READY \d+ \d+ \d+/.test(stdout)) {
      if (child.exitCode !== null || Date.now() > readyDeadline) {
        throw new Error(`rcvbuf receiver did not become ready: stdout=${stdout} stderr=${stderr}`);
      }
      await sleep(20);
    }
    const [rcvbuf, receiverPid, socketInode] = /READY (\d+) (\d+) (\d+)/.exec(stdout)!.slice(1).map(Number);
    const sent = await sendUdp(sendFromNs, bindAddr, port, count);
    await sleep(100);
    child.stdin!.end('go\n');
    const code = await withTimeout(exited, scaled(20_000), 'timeout' as const);
    if (code !== 0) throw new Error(`rcvbuf receiver failed (${code}): stdout=${stdout} stderr=${stderr}`);
    const m = /QUEUED (\d+)/.exec(stdout);
    if (!m) throw new Error(`rcvbuf receiver gave no result: stdout=${stdout} stderr=${stderr}`);
    const queued = Number(m[1]);
    const after = (await snmpCounters(nsB))[key] ?? 0;
    return { sent, queued, dropped: sent - queued, rcvbuf, snmpRcvbufErrors: after - before, receiverPid, socketInode };
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    liveChildren.delete(child);
  }
}

// ---------------------------------------------------------------------------
// Running dropwhy
// ---------------------------------------------------------------------------

export interface DropEvent {
  ts: string;
  /** null on kernels whose tracepoint has no reason (before 5.17): see expectReason */
  reason: string | null;
  reason_code: number | null;
  subsystem: string | null;
  location: string | null;
  address: string | null;
  family: 'ipv4' | 'ipv6' | null;
  proto: string | null;
  saddr: string | null;
  daddr: string | null;
  sport: number | null;
  dport: number | null;
  icmp_type: number | null;
  icmp_code: number | null;
  ttl: number | null;
  tcp_flags: string | null;
  netns: number | null;
  ifindex: number | null;
  ifname: string | null;
  len: number | null;
  pid: number | null;
  tid: number | null;
  comm: string | null;
  skb: string;
  /** The nftables rule that dropped it (--nft-trace), else null. */
  rule: { family: string; table: string; chain: string; handle: number | null; text: string; verdict: string } | null;
  /** The socket the drop happened at (docs/json-schema.md), null without one. */
  socket: SocketRecord | null;
  /** In Kubernetes, the pod the drop belongs to (docs/json-schema.md); null without one, and elsewhere. */
  pod: PodRecord | null;
  /** With --stack the kernel stack's frames, innermost first (symbol+0xoff); null without --stack or a recorded stack. */
  stack: string[] | null;
}

export interface SocketRecord {
  inode: number | null;
  cookie: number | string | null;
  uid: number;
  local: string | null;
  pid: number | null;
  comm: string | null;
  cgroup: string | null;
  container: { runtime: string | null; id: string | null; pod: string | null } | null;
  rcvbuf: number;
  queued: number;
  drops: number;
}

export interface PodRecord {
  namespace: string | null;
  name: string | null;
  uid: string;
  container: string | null;
}

export const SOCKET_KEYS: ReadonlyArray<keyof SocketRecord> = ['inode', 'cookie', 'uid', 'local', 'pid', 'comm', 'cgroup', 'container', 'rcvbuf', 'queued', 'drops'];

// Typed so that a documented key DropEvent lacks is a compile error.
const EVENT_KEYS: ReadonlyArray<keyof DropEvent> = JSON_KEYS;

export interface DropwhyResult extends RunResult {
  /** stdout parsed as NDJSON (empty for text output) */
  events: DropEvent[];
  /** ms between spawn and exit */
  elapsedMs: number;
  /** the --ready-file still existed when dropwhy had exited (it removes it itself; the harness then does) */
  readyFileLeft: boolean;
}

export interface DropwhyHandle {
  child: ChildProcess;
  readyFile: string;
  /** current stdout / stderr collected so far */
  stdout(): string;
  stderr(): string;
  /** wait (bounded: timeoutMs, scaled) until at least n complete stdout lines were received */
  waitForLines(n: number, timeoutMs?: number): Promise<string[]>;
  /** settle, then SIGINT (or the given signal) and wait for exit; SIGKILL + throw after timeoutMs (scaled) */
  stop(opts?: { signal?: NodeJS.Signals; settleMs?: number; timeoutMs?: number }): Promise<DropwhyResult>;
  /** wait for the tool to exit by itself; SIGKILL + throw after timeoutMs (scaled) */
  waitExit(timeoutMs: number): Promise<DropwhyResult>;
  /** SIGKILL if still running (idempotent, for finally blocks) */
  kill(): void;
}

let readyCounter = 0;

export function parseNdjson(stdout: string): DropEvent[] {
  const events: DropEvent[] = [];
  for (const line of stdout.split('\n')) {
    if (line.trim() === '') continue;
    let obj: unknown;
    try {
      obj = JSON.parse(line);
    } catch (e) {
      throw new Error(`dropwhy stdout line is not JSON: ${JSON.stringify(line)} (${(e as Error).message})`);
    }
    events.push(obj as DropEvent);
  }
  return events;
}

export interface SpawnOptions {
  json?: boolean;
  /** Run dropwhy inside this named namespace (nsenter execs it: the child is dropwhy itself). */
  netns?: string;
  /** Added to the environment. */
  env?: NodeJS.ProcessEnv;
  /** The working directory (default: the repository). */
  cwd?: string;
}

/** Spawn dropwhy without waiting for readiness (adds --ready-file). */
export function spawnDropwhy(args: string[], opts: SpawnOptions = {}): DropwhyHandle {
  const json = opts.json ?? (args.includes('-o') ? args[args.indexOf('-o') + 1] === 'json' : false);
  const readyFile = path.join(os.tmpdir(), `dropwhy-e2e-ready-${process.pid}-${++readyCounter}`);
  fs.rmSync(readyFile, { force: true });
  const started = Date.now();
  // dropwhy's own options end at a "--" (what follows is the command to trace).
  const dashes = args.indexOf('--');
  const options = dashes < 0 ? args : args.slice(0, dashes);
  const command = dashes < 0 ? [] : args.slice(dashes);
  const dropwhy: [string, string[]] = [process.execPath, [CLI_PATH, ...options, '--ready-file', readyFile, ...command]];
  const child = spawn(...(opts.netns === undefined ? dropwhy : inNetnsArgv(opts.netns, ...dropwhy)), {
    cwd: opts.cwd ?? REPO_ROOT,
    env: { ...process.env, ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  liveChildren.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stdout!.on('error', () => undefined);
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null; at: number; readyFileLeft: boolean } | undefined;
  let spawnError: Error | undefined;
  const exited = new Promise<void>((resolve) => {
    child.on('error', (err) => {
      spawnError = err;
      exitInfo ??= { code: null, signal: null, at: Date.now(), readyFileLeft: false };
      resolve();
    });
    child.on('close', (code, signal) => {
      exitInfo = { code, signal, at: Date.now(), readyFileLeft: fs.existsSync(readyFile) };
      liveChildren.delete(child);
      fs.rmSync(readyFile, { force: true });
      resolve();
    });
  });

  const result = (): DropwhyResult => {
    if (spawnError) throw spawnError;
    return {
      code: exitInfo!.code,
      signal: exitInfo!.signal,
      stdout,
      stderr,
      events: json ? parseNdjson(stdout) : [],
      elapsedMs: exitInfo!.at - started,
      readyFileLeft: exitInfo!.readyFileLeft,
    };
  };

  const waitBounded = async (bound: number, what: string): Promise<DropwhyResult> => {
    const timeoutMs = scaled(bound);
    const timedOut = await withTimeout(
      exited.then(() => false),
      timeoutMs,
      true,
    );
    if (timedOut) {
      const stuckAt = whereInTheKernel(child.pid);
      child.kill('SIGKILL');
      await withTimeout(exited, scaled(5_000), undefined);
      throw new Error(`dropwhy did not exit within ${timeoutMs} ms ${what} (SIGKILLed)\nstdout:\n${stdout}\nstderr:\n${stderr}\n${stuckAt}`);
    }
    return result();
  };

  return {
    child,
    readyFile,
    stdout: () => stdout,
    stderr: () => stderr,
    async waitForLines(n, bound = 10_000) {
      const timeoutMs = scaled(bound);
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const lines = stdout.split('\n');
        lines.pop(); // incomplete tail
        if (lines.length >= n) return lines;
        if (exitInfo) throw new Error(`dropwhy exited (${exitInfo.code ?? exitInfo.signal}) after ${lines.length}/${n} lines\nstderr:\n${stderr}`);
        if (Date.now() > deadline) throw new Error(`only ${lines.length}/${n} stdout lines after ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`);
        await sleep(20);
      }
    },
    async stop(o = {}) {
      // let batched events (flushed every ~20 ms) reach stdout
      await sleep(o.settleMs ?? 300);
      if (!exitInfo) child.kill(o.signal ?? 'SIGINT');
      return waitBounded(o.timeoutMs ?? 10_000, `after ${o.signal ?? 'SIGINT'}`);
    },
    waitExit(timeoutMs) {
      return waitBounded(timeoutMs, 'on its own');
    },
    kill() {
      if (!exitInfo) child.kill('SIGKILL');
      fs.rmSync(readyFile, { force: true });
    },
  };
}

/**
 * Start dropwhy and wait (bounded) until it wrote its --ready-file (BPF program
 * attached). Rejects, with stderr, if it exits early or is not ready in time.
 * A dropwhy that cannot load exits, which ends the wait at once: the bound is
 * for one that hangs, and generous.
 */
export async function startDropwhy(args: string[], opts: { readyTimeoutMs?: number; netns?: string } = {}): Promise<DropwhyHandle> {
  const h = spawnDropwhy(args, { netns: opts.netns });
  const timeoutMs = scaled(opts.readyTimeoutMs ?? 60_000);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (fs.existsSync(h.readyFile)) return h;
    if (h.child.exitCode !== null || h.child.signalCode !== null) {
      await sleep(50); // collect the remaining stderr
      throw new Error(
        `dropwhy exited before becoming ready (code ${h.child.exitCode}, signal ${h.child.signalCode}); args: ${args.join(' ')}\nstdout:\n${h.stdout()}\nstderr:\n${h.stderr()}`,
      );
    }
    if (Date.now() > deadline) {
      h.kill();
      throw new Error(`dropwhy did not write its ready file within ${timeoutMs} ms; args: ${args.join(' ')}\nstderr:\n${h.stderr()}`);
    }
    await sleep(25);
  }
}

/** Starts at a time: each start is CPU-bound (node, the BPF load), so one per CPU and one more for its waits. */
const START_CONCURRENCY = os.cpus().length + 1;

/**
 * Starts one dropwhy per entry (its `args`, inside its `netns` if it has one), a few at a time, and
 * resolves to the entries, in their order, each with its running dropwhy. Dozens started at once only
 * starve each other (and, in a 2-CPU guest, overran the wait for their ready files). When one fails to
 * start, no more are started, the others are killed and its error is thrown.
 */
export async function startEach<T extends { args: string[]; netns?: string }>(entries: T[]): Promise<Array<T & { dw: DropwhyHandle }>> {
  const started: Array<T & { dw: DropwhyHandle }> = [];
  let next = 0;
  let failure: { error: unknown } | undefined;
  const starter = async () => {
    while (failure === undefined && next < entries.length) {
      const at = next++;
      try {
        started[at] = { ...entries[at], dw: await startDropwhy(entries[at].args, { netns: entries[at].netns }) };
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(START_CONCURRENCY, entries.length) }, starter));
  if (failure !== undefined) {
    for (const entry of started) entry?.dw.kill();
    throw failure.error;
  }
  return started;
}

/**
 * The usual traced run: start dropwhy with `args` (waiting until it is
 * attached), run `act` (which causes the drops and may take counter snapshots),
 * stop it (settle, then SIGINT unless `stop.signal` says otherwise) and assert
 * that it exited 0. Returns its result and what `act` returned; dropwhy is
 * killed whatever happens.
 *
 * A JSON run also asserts what the kernel counted: every drop the BPF filter
 * matched was printed or counted lost. User space filters each event again,
 * so a BPF filter that let too much through would show here and nowhere else.
 */
export async function traceWhile<T>(args: string[], act: () => Promise<T>, stop: Parameters<DropwhyHandle['stop']>[0] = {}): Promise<{ res: DropwhyResult; value: T }> {
  const dw = await startDropwhy(args);
  try {
    const value = await act();
    const res = await dw.stop(stop);
    assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
    assert.equal(res.readyFileLeft, false, 'dropwhy left its ready file behind');
    if (args.includes('json')) assertKernelMatchedPrinted(res);
    return { res, value };
  } finally {
    dw.kill();
  }
}

// ---------------------------------------------------------------------------
// The exporter's scrapes
// ---------------------------------------------------------------------------

/** One sample of a scrape: its labels and value. */
interface Sample {
  labels: Record<string, string>;
  value: number;
}

export function samples(body: string, name: string): Sample[] {
  const found: Sample[] = [];
  for (const line of body.split('\n')) {
    const match = new RegExp(`^${name}(?:\\{(.*)\\})? (\\S+)$`).exec(line);
    if (!match) continue;
    const labels: Record<string, string> = {};
    for (const [, key, value] of (match[1] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[key] = value;
    found.push({ labels, value: Number(match[2]) });
  }
  return found;
}

/** The exporter's /metrics URL, from the line it prints once it listens (written before its ready file, read maybe after). */
export async function metricsUrl(exporter: DropwhyHandle): Promise<string> {
  const deadline = Date.now() + scaled(5_000);
  for (;;) {
    const match = /serving metrics on (http:\S+)/.exec(exporter.stderr());
    if (match) return match[1];
    assert.ok(Date.now() < deadline, `no "serving metrics on" line on stderr:\n${exporter.stderr()}`);
    await sleep(20);
  }
}

// ---------------------------------------------------------------------------
// BPF objects of one process: other dropwhy processes (other tests, other
// people) may run on this machine at the same time, so a process's programs
// and maps are told apart by their ids, read from its /proc/PID/fdinfo
// ---------------------------------------------------------------------------

export interface BpfHandles {
  mapIds: number[];
  /** Ids of the programs it holds, directly or through a link (an id may appear twice). */
  progIds: number[];
}

/** Which id a BPF file descriptor's fdinfo gives, by the fd's link target: a link names the program it holds. */
const FDINFO_IDS: Record<string, [keyof BpfHandles, RegExp]> = {
  'anon_inode:bpf-map': ['mapIds', /^map_id:\s*(\d+)$/m],
  'anon_inode:bpf-prog': ['progIds', /^prog_id:\s*(\d+)$/m],
  'anon_inode:bpf_link': ['progIds', /^prog_id:\s*(\d+)$/m],
};

/** The BPF objects a process holds open; null once it holds no files (gone, or a zombie). */
export function bpfHandles(pid: number): BpfHandles | null {
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  if (fds.length === 0) return null;
  const handles: BpfHandles = { mapIds: [], progIds: [] };
  for (const fd of fds) {
    try {
      const kind = FDINFO_IDS[fs.readlinkSync(`/proc/${pid}/fd/${fd}`)];
      if (!kind) continue;
      const id = kind[1].exec(fs.readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'));
      if (id) handles[kind[0]].push(Number(id[1]));
    } catch {
      // closed meanwhile
    }
  }
  return handles;
}

/** Whether the kernel still has this program or map (bpftool answers ENOENT once it is freed). */
function bpfObjectLoaded(kind: 'prog' | 'map', id: number): boolean {
  try {
    execFileSync('bpftool', [kind, 'show', 'id', String(id)], { stdio: ['ignore', 'ignore', 'pipe'], timeout: 10_000 });
    return true;
  } catch (error) {
    const { stderr } = error as { stderr?: Buffer };
    if (stderr?.includes('No such file or directory')) return false;
    throw new Error(`bpftool ${kind} show id ${id}: ${(error as Error).message}`);
  }
}

/** Waits (bounded) until none of these programs (or maps) is loaded any more; returns those still loaded. */
export async function programsLeft(ids: Iterable<number>, timeoutMs = 10_000, kind: 'prog' | 'map' = 'prog'): Promise<number[]> {
  const deadline = Date.now() + scaled(timeoutMs);
  let left = [...new Set(ids)];
  while ((left = left.filter((id) => bpfObjectLoaded(kind, id))).length > 0 && Date.now() < deadline) await sleep(50);
  return left;
}

// ---------------------------------------------------------------------------
// What the running kernel should give: its facts, read here from its BTF and
// /proc, not through dropwhy's code, so that a dropwhy reading them wrong fails
// ---------------------------------------------------------------------------

export interface KernelFacts {
  /** Members of the skb:kfree_skb tracepoint's BTF record, struct trace_event_raw_kfree_skb. */
  tracepointFields: string[];
  /** The tracepoint reports a drop reason (5.17+). */
  hasReason: boolean;
  /** enum skb_drop_reason, names without SKB_DROP_REASON_, in enum order; empty when there is none. */
  reasons: Map<string, number>;
  /** /proc/kallsyms shows this process (and the dropwhy it runs) real addresses, not kptr_restrict's zeros. */
  symbolsVisible: boolean;
  /** The kernel has BPF ring buffers (struct bpf_ringbuf in its BTF). */
  ringbuf: boolean;
  libbpfVersion: string;
}

type RawAddon = { btfMembers(kind: 'enum' | 'struct', name: string): Array<[string, number]> | null; libbpfVersion: string };
let facts: KernelFacts | undefined;

/** The running kernel's facts (read once). */
export function kernelFacts(): KernelFacts {
  if (facts) return facts;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const addon = require(NATIVE_ADDON) as RawAddon;
  const record = addon.btfMembers('struct', 'trace_event_raw_kfree_skb');
  assert.ok(record, 'the kernel BTF has no struct trace_event_raw_kfree_skb (the skb:kfree_skb tracepoint)');
  const tracepointFields = record.map(([name]) => name);
  const reasons = new Map<string, number>();
  for (const [name, value] of addon.btfMembers('enum', 'skb_drop_reason') ?? []) reasons.set(name.replace(/^SKB_DROP_REASON_/, ''), value);
  // Code symbols, not the first lines: x86-64 lists its per-CPU symbols at 0 even when addresses are shown.
  const fd = fs.openSync('/proc/kallsyms', 'r');
  const head = Buffer.alloc(1 << 20); // the per-CPU symbols before the first code symbol take ~40 KiB
  let length = 0;
  for (let read = 1; read > 0 && length < head.length; length += read) read = fs.readSync(fd, head, length, head.length - length, null);
  fs.closeSync(fd);
  const code = /^([0-9a-f]{16}) [tT] /m.exec(head.toString('latin1', 0, length));
  assert.ok(code, '/proc/kallsyms has no code symbol');
  facts = {
    tracepointFields,
    hasReason: tracepointFields.includes('reason'),
    reasons,
    symbolsVisible: !/^0+$/.test(code[1]),
    ringbuf: addon.btfMembers('struct', 'bpf_ringbuf') !== null,
    libbpfVersion: addon.libbpfVersion,
  };
  return facts;
}

/**
 * What dropwhy reports for a drop with this reason on the running kernel: the
 * name and this kernel's own value of SKB_DROP_REASON_<name>, subsystem CORE;
 * all null where the tracepoint has no reason (docs/json-schema.md).
 */
export function expectReason(name: string): Pick<DropEvent, 'reason' | 'reason_code' | 'subsystem'> {
  const { hasReason, reasons } = kernelFacts();
  if (!hasReason) return { reason: null, reason_code: null, subsystem: null };
  const code = reasons.get(name);
  assert.ok(code !== undefined, `this kernel's enum skb_drop_reason has no SKB_DROP_REASON_${name}`);
  return { reason: name, reason_code: code, subsystem: 'CORE' };
}

/**
 * Where the kernel frees a packet an nft rule dropped: nf_hook_slow carries
 * out the verdict up to 6.1, nft_do_chain on newer kernels.
 */
export const NFT_DROP_SITES = ['nft_do_chain', 'nf_hook_slow'];

const symbolPattern = (symbols: string[]) => `(?:${symbols.join('|')})\\+0x[0-9a-f]+`;
const RAW_ADDRESS = '0xffff[0-9a-f]{12}';

/**
 * The JSON `location` of a drop freed in one of `symbols` (several where
 * kernels differ, e.g. nft_do_chain and nf_hook_slow): symbol+0xoff where
 * /proc/kallsyms shows addresses, else null (docs/json-schema.md).
 */
export function expectLocation(...symbols: string[]): RegExp | null {
  return kernelFacts().symbolsVisible ? new RegExp(`^${symbolPattern(symbols)}$`) : null;
}

/** The same in text output (unanchored): symbol+0xoff, or the raw address where addresses are hidden. */
export function expectTextLocation(...symbols: string[]): RegExp {
  return new RegExp(kernelFacts().symbolsVisible ? symbolPattern(symbols) : RAW_ADDRESS);
}

// ---------------------------------------------------------------------------
// Assertions
// ---------------------------------------------------------------------------

const isNullOr = (v: unknown, type: 'string' | 'number'): boolean => v === null || typeof v === type;

/** Check the documented JSON shape of one event (all keys present, types right). */
export function assertEventShape(ev: DropEvent): void {
  const ctx = JSON.stringify(ev);
  assert.deepEqual(Object.keys(ev), EVENT_KEYS, `event keys: ${ctx}`);
  assert.equal(typeof ev.ts, 'string', `ts: ${ctx}`);
  assert.ok(!Number.isNaN(Date.parse(ev.ts)), `ts is not an ISO date: ${ctx}`);
  assert.ok(Math.abs(Date.parse(ev.ts) - Date.now()) < 10 * 60_000, `ts is far from now: ${ctx}`);
  if (kernelFacts().hasReason) {
    assert.equal(typeof ev.reason, 'string', `reason: ${ctx}`);
    assert.ok(!ev.reason!.startsWith('SKB_DROP_REASON_'), `reason keeps the prefix: ${ctx}`);
    assert.ok(Number.isInteger(ev.reason_code), `reason_code: ${ctx}`);
  } else {
    assert.equal(ev.reason, null, `reason on a kernel without drop reasons: ${ctx}`);
    assert.equal(ev.reason_code, null, `reason_code on a kernel without drop reasons: ${ctx}`);
  }
  assert.ok(isNullOr(ev.subsystem, 'string'), `subsystem: ${ctx}`);
  assert.ok(isNullOr(ev.location, 'string'), `location: ${ctx}`);
  assert.ok(ev.address === null || /^0x[0-9a-f]+$/.test(ev.address), `address: ${ctx}`);
  assert.ok(ev.family === null || ev.family === 'ipv4' || ev.family === 'ipv6', `family: ${ctx}`);
  assert.ok(isNullOr(ev.proto, 'string'), `proto: ${ctx}`);
  assert.ok(isNullOr(ev.saddr, 'string') && isNullOr(ev.daddr, 'string'), `saddr/daddr: ${ctx}`);
  assert.ok(isNullOr(ev.sport, 'number') && isNullOr(ev.dport, 'number'), `sport/dport: ${ctx}`);
  for (const k of ['icmp_type', 'icmp_code', 'ttl', 'netns', 'ifindex', 'len', 'pid'] as const) assert.ok(isNullOr(ev[k], 'number'), `${k}: ${ctx}`);
  assert.ok(isNullOr(ev.comm, 'string'), `comm: ${ctx}`);
  assert.ok(isNullOr(ev.ifname, 'string'), `ifname: ${ctx}`);
  assert.ok(isNullOr(ev.tcp_flags, 'string'), `tcp_flags: ${ctx}`);
  assert.ok(ev.stack === null || (Array.isArray(ev.stack) && ev.stack.length > 0 && ev.stack.every((f) => typeof f === 'string')), `stack: ${ctx}`);
  if (ev.pod !== null) assert.deepEqual(Object.keys(ev.pod), ['namespace', 'name', 'uid', 'container'], `pod keys: ${ctx}`);
  if (ev.socket !== null) {
    assert.deepEqual(Object.keys(ev.socket), SOCKET_KEYS, `socket keys: ${ctx}`);
    for (const k of ['uid', 'rcvbuf', 'queued', 'drops'] as const) assert.ok(Number.isInteger(ev.socket[k]), `socket.${k}: ${ctx}`);
  }
}

/**
 * What every event of a run must carry, field by field: a value (assert.equal)
 * or, for a string field, a RegExp it must match (null counts as '').
 */
export type DropExpectation = { [K in keyof DropEvent]?: DropEvent[K] | RegExp };

/** assertEventShape on every event, then every field of `expected`, in its order. */
export function assertEachDrop(events: DropEvent[], expected: DropExpectation): void {
  for (const e of events) {
    assertEventShape(e);
    for (const key of Object.keys(expected) as Array<keyof DropEvent>) {
      const want = expected[key];
      const got = e[key];
      const where = `${key} is ${JSON.stringify(got)}, want ${want instanceof RegExp ? want : JSON.stringify(want)}: ${describeEvents([e])}`;
      if (want instanceof RegExp) assert.match(typeof got === 'string' ? got : '', want, where);
      else assert.equal(got, want, where);
    }
  }
}

/** Exactly `count` events, each with the documented shape and the `expected` fields. */
export function assertDrops(events: DropEvent[], count: number, expected: DropExpectation): void {
  assert.equal(events.length, count, `expected exactly ${count} events, got:\n${describeEvents(events)}`);
  assertEachDrop(events, expected);
}

/** Parse the closing stderr line `dropwhy: X drops seen, Y matched, Z lost`. */
export function closingStats(stderr: string): { seen: number; matched: number; lost: number } | undefined {
  const m = /dropwhy: (\d+) drops? seen, (\d+) matched, (\d+) lost/.exec(stderr);
  return m ? { seen: Number(m[1]), matched: Number(m[2]), lost: Number(m[3]) } : undefined;
}

/** The closing line's matched count (the BPF program's) is exactly the events printed plus those lost. */
export function assertKernelMatchedPrinted(res: DropwhyResult): void {
  const stats = closingStats(res.stderr);
  assert.ok(stats, `closing line missing from stderr:\n${res.stderr}`);
  assert.equal(
    stats.matched,
    res.events.length + stats.lost,
    `the kernel matched ${stats.matched} drops, ${res.events.length} were printed and ${stats.lost} lost:\n${describeEvents(res.events)}`,
  );
}

/** Compact summary for assertion messages. */
export function describeEvents(events: DropEvent[]): string {
  return events
    .map((e) => `${e.reason}@${e.location} ${e.proto} ${e.saddr}:${e.sport} -> ${e.daddr}:${e.dport} netns=${e.netns} if=${e.ifindex}(${e.ifname}) flags=${e.tcp_flags}`)
    .join('\n');
}

/** Assert a stderr has no JS stack trace / uncaught error. */
export function assertNoStackTrace(stderr: string): void {
  assert.ok(!/^\s+at .+(\(|:\d+:\d+)/m.test(stderr) && !/node:internal|Uncaught|Unhandled/.test(stderr), `stderr has an error/stack trace:\n${stderr}`);
}

/** A process in ns running script until killed; resolves once it printed READY (and what follows on that line). */
export async function holder(ns: string, script: string, args: string[] = []): Promise<{ ready: string; stop(): void }> {
  const child = spawn(...inNetnsArgv(ns, python(), ['-c', script, ...args]), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const deadline = Date.now() + scaled(10_000);
  while (!/READY.*\n/.test(stdout)) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`holder did not start: ${stdout} ${stderr}`);
    }
    await sleep(20);
  }
  return { ready: /READY(.*)\n/.exec(stdout)![1].trim(), stop: () => child.kill('SIGKILL') };
}
