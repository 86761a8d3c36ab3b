// The ledger's findings for drops behind host-wide settings: a softnet backlog at
// net.core.netdev_max_backlog and a full conntrack table at net.netfilter.nf_conntrack_max. Both
// settings are the whole host's, so this file runs only in a kernel-matrix guest (GUEST_E2E in
// test/kernels/guest.js; not in `npm test`), changes them there and puts them back afterwards.
import { test, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import {
  KERNEL_MATRIX_GUEST,
  addStaticNeighbours,
  assertNoStackTrace,
  holder,
  kernelFacts,
  loadNftRuleset,
  nsPython,
  requireRealKernel,
  run,
  scaled,
  sendUdp,
  traceWhile,
  withNetnsPair,
} from '../e2e/harness';

const IN_GUEST = KERNEL_MATRIX_GUEST || process.env.KERNEL_MATRIX_GUEST === '1';

function closingLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('dropwhy: '))
    .map((l) => l.slice('dropwhy: '.length));
}

/** Sets a host-wide sysctl for the test's length; outside a guest it fails rather than change the host's. */
function withGlobalSysctl(t: TestContext, name: string, value: string): void {
  if (!IN_GUEST) throw new Error(`${name} is the whole host's: this file runs only in a kernel-matrix guest (npm run test:kernels)`);
  const file = `/proc/sys/${name.replaceAll('.', '/')}`;
  const before = readFileSync(file, 'utf8').trim();
  writeFileSync(file, value);
  t.after(() => writeFileSync(file, before));
}

/** Sends COUNT UDP datagrams of SIZE bytes to ADDR:PORT without DF, so that a router on the way fragments them. */
const FRAGMENTED_SENDER = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, 10, 0)  # IP_MTU_DISCOVER = IP_PMTUDISC_DONT
for _ in range(int(sys.argv[3])):
    s.sendto(b'x' * int(sys.argv[4]), (sys.argv[1], int(sys.argv[2])))
print('SENT', flush=True)
`;

test('a softnet backlog drop: CPU_BACKLOG agrees with softnet dropped, and the finding names netdev_max_backlog', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  withGlobalSysctl(t, 'net.core.netdev_max_backlog', '1');
  await withNetnsPair(async (p) => {
    // nsB routes to a link of MTU 300 whose far end (fwB) is in nsA: each 1400-byte datagram becomes
    // five fragments, sent in one softirq into fwB's backlog, which holds two at most (qlen <= 1 when queued).
    const subnet = `198.20.${p.n}`;
    await run('ip', ['-n', p.nsB, 'link', 'add', 'fwA', 'mtu', '300', 'type', 'veth', 'peer', 'name', 'fwB', 'mtu', '300', 'netns', p.nsA]);
    await run('ip', ['-n', p.nsB, 'addr', 'add', `${subnet}.1/24`, 'dev', 'fwA']);
    await run('ip', ['-n', p.nsB, 'link', 'set', 'fwA', 'up']);
    await run('ip', ['-n', p.nsA, 'link', 'set', 'fwB', 'up']);
    await run('ip', ['netns', 'exec', p.nsB, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    const fwMac = JSON.parse((await run('ip', ['-n', p.nsA, '-j', 'link', 'show', 'fwB'])).stdout)[0].address as string;
    await addStaticNeighbours(p.nsB, 'fwA', [`${subnet}.2`], fwMac);
    await run('ip', ['-n', p.nsA, 'route', 'add', `${subnet}.0/24`, 'via', p.v4B]);
    // Before 5.17 drops have no reason (and --filter-reason is refused): the counter is then a finding of its own.
    const { hasReason } = kernelFacts();
    const reasonFilter = hasReason ? ['--filter-reason', 'CPU_BACKLOG'] : [];
    const { res } = await traceWhile(['-o', 'json', '--filter-netns', p.nsA, ...reasonFilter], async () => {
      await nsPython(p.nsA, FRAGMENTED_SENDER, [`${subnet}.2`, '9', '50', '1400']);
    });
    assertNoStackTrace(res.stderr);
    const lines = closingLines(res.stderr);
    const finding = lines.find((l) => l.startsWith('finding: softnet dropped'));
    assert.ok(finding?.includes('net.core.netdev_max_backlog 1 reached'), res.stderr);
    assert.ok(finding?.includes('sysctl -w net.core.netdev_max_backlog=2'), res.stderr);
    if (!hasReason) return;
    const traced = res.events.length;
    assert.ok(traced > 0, `fragments overflowed a backlog of 1:\n${res.stderr}`);
    assert.ok(lines.includes(`softnet dropped (global) +${traced} vs ${traced} CPU_BACKLOG traced: agree`), res.stderr);
    assert.ok(lines.includes(`dev fwB rx_dropped +${traced} vs ${traced} CPU_BACKLOG traced: agree`), res.stderr);
  });
});

/** Connects COUNT TCP connections to ADDR:PORT and holds them (established: conntrack cannot evict them). */
const HOLD_CONNECTIONS = `
import socket, sys, time
held = [socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5) for _ in range(int(sys.argv[3]))]
print('READY', flush=True)
time.sleep(600)
`;

/** Accepts every connection on ADDR:PORT and holds it. */
const ACCEPT_ALL = `
import socket, sys, time
s = socket.socket()
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
print('READY', flush=True)
held = []
while True:
    held.append(s.accept()[0])
`;

test('a full conntrack table: NETFILTER_DROP agrees with conntrack drop, and the finding names nf_conntrack_max', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    // Conntrack runs in nsB once a rule there looks at it (which loads the module, and its sysctl); the table holds 4 established connections.
    await loadNftRuleset(p.nsB, 'table inet dwct { chain input { type filter hook input priority 0; ct state new counter accept; }; }');
    withGlobalSysctl(t, 'net.netfilter.nf_conntrack_max', '4');
    // Each once it printed READY: fixed sleeps were too short under TCG (the table not yet full: nothing dropped).
    const children = [await holder(p.nsB, ACCEPT_ALL, [p.v4B, '7000'])];
    try {
      children.push(await holder(p.nsA, HOLD_CONNECTIONS, [p.v4B, '7000', '4']));
      const { hasReason } = kernelFacts();
      const { res } = await traceWhile(['-o', 'json', '--filter-netns', p.nsB, ...(hasReason ? ['--filter-reason', 'NETFILTER_DROP'] : [])], async () => {
        await sendUdp(p.nsA, p.v4B, 9, 20);
      });
      assertNoStackTrace(res.stderr);
      const lines = closingLines(res.stderr);
      const finding = lines.find((l) => l.startsWith('finding: conntrack drop'));
      assert.ok(finding?.includes('the conntrack table is full'), res.stderr);
      assert.ok(finding?.includes('net.netfilter.nf_conntrack_max 4'), res.stderr);
      if (!hasReason) return;
      const traced = res.events.length;
      assert.ok(traced > 0, `new flows found the table full:\n${res.stderr}`);
      assert.ok(lines.includes(`conntrack drop +${traced} vs ${traced} NETFILTER_DROP traced: agree`), res.stderr);
    } finally {
      for (const child of children) child.stop();
    }
  });
});
