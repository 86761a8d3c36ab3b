// dropwhy -- CMD: only the drops of the command's packets are printed, while another process in the
// same namespace makes the same kinds of drops; the kernel's own matched count agrees; dropwhy exits
// with the command's status. Both ways the BPF program attributes a drop are exercised: the
// command's socket (an nft drop on output, where the skb still carries it) and its recorded flows
// (drops in the peer namespace, where the packet no longer carries a socket).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';
import { inNetnsArgv } from '../../src/kernel/netns-pair';
import {
  assertEachDrop,
  assertKernelMatchedPrinted,
  closingStats,
  describeEvents,
  expectLocation,
  expectReason,
  netnsInode,
  nftDrop,
  NFT_DROP_SITES,
  python,
  requireRealKernel,
  spawnDropwhy,
  withNetnsPair,
  scaled,
  type DropEvent,
} from './harness';

const CLOSED = 9;
const DROPPED_IN_B = 5353; // an nft drop on B's input
const DROPPED_ON_OUTPUT = 7777; // an nft drop on A's output: the skb still has the sender's socket
/** Each kind of drop the command makes, and how many. */
const SENDS = { v4Closed: 3, v6Closed: 2, v4DroppedInB: 2, v4DroppedOnOutput: 2 };

/**
 * The traced command: sends what SENDS says, from two sockets (one of them only ever dropped on output,
 * so only its socket can attribute those drops), prints its local ports on stderr and exits 3.
 */
const COMMAND = `
import socket, sys, time
v4, v6 = sys.argv[1], sys.argv[2]
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
def send(s, addr, n):
    for i in range(n):
        try:
            s.sendto(b'dropwhy-command', addr)
        except OSError:
            pass  # an ICMP error from the previous send, or EPERM from the output drop
send(a, (v4, ${CLOSED}), ${SENDS.v4Closed})
time.sleep(0.2)  # the other process keeps sending meanwhile
send(b, (v6, ${CLOSED}), ${SENDS.v6Closed})
send(a, (v4, ${DROPPED_IN_B}), ${SENDS.v4DroppedInB})
send(out, (v4, ${DROPPED_ON_OUTPUT}), ${SENDS.v4DroppedOnOutput})
print('command ports', a.getsockname()[1], b.getsockname()[1], out.getsockname()[1], file=sys.stderr, flush=True)
sys.exit(3)
`;

/** Another process in the same namespace, sending the same packets until `stop` exists (at most 30 s). */
const NOISE = `
import os, socket, sys, time
v4, v6, started, stop = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
b = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
rounds, deadline = 0, time.monotonic() + 30
while not os.path.exists(stop) and time.monotonic() < deadline:
    for s, addr in ((a, (v4, ${CLOSED})), (b, (v6, ${CLOSED})), (a, (v4, ${DROPPED_IN_B})), (a, (v4, ${DROPPED_ON_OUTPUT}))):
        try:
            s.sendto(b'dropwhy-noise', addr)
        except OSError:
            pass
    rounds += 1
    if rounds == 1:
        open(started, 'w').close()
    time.sleep(0.01)
print(rounds)
`;

async function waitForFile(file: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(file)) {
    if (Date.now() > deadline) throw new Error(`${file} did not appear within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function commandPorts(stderr: string): number[] {
  const match = /command ports (\d+) (\d+) (\d+)/.exec(stderr);
  assert.ok(match, `the command printed no ports:\n${stderr}`);
  return match.slice(1).map(Number);
}

test("-- CMD: exactly the command's drops, by socket and by flow, while another process drops the same; its exit status", { timeout: scaled(120_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    await nftDrop(p.nsB, `udp dport ${DROPPED_IN_B}`);
    await nftDrop(p.nsA, `udp dport ${DROPPED_ON_OUTPUT}`, 'output');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropwhy-command-'));
    const [started, stop] = [path.join(dir, 'started'), path.join(dir, 'stop')];
    const noise = spawn(...inNetnsArgv(p.nsA, python(), ['-c', NOISE, p.v4B, p.v6B, started, stop]), { stdio: ['ignore', 'pipe', 'inherit'] });
    let noiseRounds = '';
    noise.stdout!.setEncoding('utf8').on('data', (d: string) => (noiseRounds += d));
    const noiseDone = new Promise<void>((resolve) => noise.on('close', () => resolve()));
    try {
      await waitForFile(started, scaled(20_000));
      // UDP only: the command's other drops (a unix socket its libc tries, say) are its own too, but not this test's.
      const dw = spawnDropwhy(['-o', 'json', '--filter-proto', 'udp', '--', ...inNetnsArgv(p.nsA, python(), ['-c', COMMAND, p.v4B, p.v6B]).flat()]);
      const res = await dw.waitExit(60_000).finally(() => dw.kill());
      fs.writeFileSync(stop, '');
      await noiseDone;

      assert.equal(res.code, 3, `dropwhy exits with the command's status; stderr:\n${res.stderr}`);
      assert.match(res.stderr, /dropwhy: nsenter exited with status 3/);
      assert.ok(Number(noiseRounds) > 0, 'the other process sent while the command ran');
      const [portA, portB, portOut] = commandPorts(res.stderr);
      const events = res.events;
      const kind = (e: DropEvent) => `${e.family}:${e.dport}@${e.netns === netnsInode(p.nsA) ? 'A' : 'B'}`;
      const counts: Record<string, number> = {};
      for (const e of events) counts[kind(e)] = (counts[kind(e)] ?? 0) + 1;
      assert.deepEqual(
        counts,
        {
          [`ipv4:${CLOSED}@B`]: SENDS.v4Closed,
          [`ipv6:${CLOSED}@B`]: SENDS.v6Closed,
          [`ipv4:${DROPPED_IN_B}@B`]: SENDS.v4DroppedInB,
          [`ipv4:${DROPPED_ON_OUTPUT}@A`]: SENDS.v4DroppedOnOutput,
        },
        `only the command's drops, each kind exactly:\n${describeEvents(events)}`,
      );
      const byPort = (port: number, family: string) => events.filter((e) => e.dport === port && e.family === family);
      assertEachDrop(byPort(CLOSED, 'ipv4'), { ...expectReason('NO_SOCKET'), location: expectLocation('__udp4_lib_rcv'), saddr: p.v4A, sport: portA });
      assertEachDrop(byPort(CLOSED, 'ipv6'), { ...expectReason('NO_SOCKET'), location: expectLocation('__udp6_lib_rcv'), saddr: p.v6A, sport: portB });
      assertEachDrop(byPort(DROPPED_IN_B, 'ipv4'), { ...expectReason('NETFILTER_DROP'), location: expectLocation(...NFT_DROP_SITES), sport: portA });
      assertEachDrop(byPort(DROPPED_ON_OUTPUT, 'ipv4'), { ...expectReason('NETFILTER_DROP'), location: expectLocation(...NFT_DROP_SITES), sport: portOut });
      // The kernel's own count: the BPF program matched exactly what was printed, no noise among it.
      assertKernelMatchedPrinted(res);
      const stats = closingStats(res.stderr)!;
      assert.ok(stats.seen > stats.matched, `the other process's drops were seen and not matched: ${res.stderr}`);
    } finally {
      noise.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('-- CMD through sudo: the command runs as SUDO_UID:SUDO_GID, and its drops are still its own', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  // As nobody the command cannot enter a namespace: it drops on loopback, to a port nothing listens on.
  const script = [
    'import os, socket, sys',
    's = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)',
    `s.sendto(b'dropwhy-command', ('127.0.0.1', ${CLOSED}))`,
    "print('as', os.getuid(), os.getgid(), 'port', s.getsockname()[1], file=sys.stderr, flush=True)",
  ].join('\n');
  // UDP only: setpriv's group lookup may try a unix socket (nscd), a drop of the command's own.
  const dw = spawnDropwhy(['-o', 'json', '--filter-proto', 'udp', '--', python(), '-c', script], {
    env: { SUDO_UID: '65534', SUDO_GID: '65534', SUDO_USER: 'nobody' },
    cwd: '/', // nobody may not enter the checkout's directory
  });
  const res = await dw.waitExit(30_000).finally(() => dw.kill());
  assert.equal(res.code, 0, res.stderr);
  const ran = /as (\d+) (\d+) port (\d+)/.exec(res.stderr);
  assert.ok(ran, res.stderr);
  assert.deepEqual(ran.slice(1, 3).map(Number), [65534, 65534], 'the command ran as the sudo user');
  assert.equal(res.events.length, 1, describeEvents(res.events));
  assertEachDrop(res.events, { ...expectReason('NO_SOCKET'), location: expectLocation('__udp4_lib_rcv'), sport: Number(ran[3]), dport: CLOSED });
  assertKernelMatchedPrinted(res);
});

test('-- CMD that cannot be found: one line as a shell says it, exit 127; --duration ends a command with exit 0', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  const missing = spawnDropwhy(['--', 'dropwhy-no-such-command']);
  const notFound = await missing.waitExit(20_000).finally(() => missing.kill());
  assert.equal(notFound.code, 127, notFound.stderr);
  assert.equal(notFound.stderr, 'dropwhy: dropwhy-no-such-command: command not found\n');

  const dw = spawnDropwhy(['--duration', '1', '--', 'sleep', '30']);
  const res = await dw.waitExit(30_000).finally(() => dw.kill());
  assert.equal(res.code, 0, `--duration is over: exit 0, as the README's exit table says; stderr:\n${res.stderr}`);
  assert.match(res.stderr, /^dropwhy: sleep was killed by SIGTERM: dropwhy ended it at --duration$/m);
});
