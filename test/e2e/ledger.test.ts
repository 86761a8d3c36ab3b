// The ledger on real drops in throwaway namespaces: counters beyond the MIBs that count the same
// drops as a traced reason say `agree` (a tap nobody reads, a tbf + pfifo qdisc), and a counter
// that moved with nothing traced behind it becomes a finding that names the cause and the setting
// (a listener whose accept queue is full).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { addStaticNeighbours, assertNoStackTrace, holder, requireRealKernel, run, scaled, sendUdp, sleep, startDropwhy, traceWhile, withNetnsPair } from './harness';

/** The closing lines on stderr, without the "dropwhy: " prefix. */
function closingLines(stderr: string): string[] {
  return stderr
    .split('\n')
    .filter((l) => l.startsWith('dropwhy: '))
    .map((l) => l.slice('dropwhy: '.length));
}

/** Opens tap NAME (TUNSETIFF, IFF_TAP | IFF_NO_PI) and never reads it: its ring fills and stays full. */
const TAP_HOLDER = `
import fcntl, os, struct, sys, time
fd = os.open('/dev/net/tun', os.O_RDWR)
fcntl.ioctl(fd, 0x400454ca, struct.pack('16sH', sys.argv[1].encode(), 0x0002 | 0x1000))
print('READY', flush=True)
time.sleep(600)
`;

/** Listens on ADDR:PORT with backlog 1 and never accepts; prints its pid. */
const LISTENER = `
import os, socket, sys, time
s = socket.socket()
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(1)
print('READY', os.getpid(), flush=True)
time.sleep(600)
`;

/** COUNT clients connect to ADDR:PORT without blocking and stay; the listener never accepts them. */
const CLIENTS = `
import socket, sys, time
held = []
for _ in range(int(sys.argv[3])):
    c = socket.socket()
    c.setblocking(False)
    c.connect_ex((sys.argv[1], int(sys.argv[2])))
    held.append(c)
print('READY', flush=True)
time.sleep(600)
`;

test("a tap nobody reads: FULL_RING at tun_net_xmit agrees with the tap's tx_dropped", { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  if (!readFileSync('/proc/misc', 'utf8').includes(' tun\n')) return void t.skip('no tun device in this kernel');
  await withNetnsPair(async (p) => {
    const tap = 'dwtap0';
    await run('ip', ['-n', p.nsA, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
    await run('ip', ['-n', p.nsA, 'link', 'set', tap, 'txqueuelen', '8', 'up']);
    const subnet = `198.19.${p.n}`;
    await run('ip', ['-n', p.nsA, 'addr', 'add', `${subnet}.1/24`, 'dev', tap]);
    await addStaticNeighbours(p.nsA, tap, [`${subnet}.2`], '02:00:00:00:00:02');
    const reader = await holder(p.nsA, TAP_HOLDER, [tap]);
    try {
      const { res } = await traceWhile(['-o', 'json', '--filter-netns', p.nsA, '--filter-reason', 'FULL_RING'], async () => {
        assert.equal(await sendUdp(p.nsA, `${subnet}.2`, 9, 60), 60);
      });
      assertNoStackTrace(res.stderr);
      const traced = res.events.filter((e) => e.reason === 'FULL_RING').length;
      assert.ok(traced > 0, `some drops were FULL_RING:\n${res.stderr}`);
      assert.deepEqual(
        closingLines(res.stderr).filter((l) => l.startsWith(`dev ${tap} `)),
        [`dev ${tap} tx_dropped +${traced} vs ${traced} FULL_RING traced: agree`],
        res.stderr,
      );
    } finally {
      reader.stop();
    }
  });
});

test("a tbf + pfifo qdisc: QDISC_DROP agrees with the root qdisc's drops", { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    await run('tc', ['-n', p.nsA, 'qdisc', 'add', 'dev', p.ifA, 'root', 'handle', '1:', 'tbf', 'rate', '100kbit', 'burst', '1600', 'limit', '3000']);
    await run('tc', ['-n', p.nsA, 'qdisc', 'add', 'dev', p.ifA, 'parent', '1:1', 'handle', '10:', 'pfifo', 'limit', '5']);
    await addStaticNeighbours(p.nsA, p.ifA, [p.v4B], p.macB);
    const { res } = await traceWhile(['-o', 'json', '--filter-netns', p.nsA], async () => {
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 80, { burst: true }), 80);
    });
    const traced = res.events.filter((e) => e.reason === 'QDISC_DROP').length;
    assert.ok(traced > 0, `some drops were QDISC_DROP:\n${res.stderr}`);
    const lines = closingLines(res.stderr);
    assert.deepEqual(
      lines.filter((l) => l.startsWith(`qdisc ${p.ifA} 1: tbf drops`)),
      [`qdisc ${p.ifA} 1: tbf drops +${traced} vs ${traced} QDISC_DROP traced: agree`],
      res.stderr,
    );
    // The qdisc's drop (not a NIC's or a listener's): nothing else to find.
    assert.deepEqual(
      lines.filter((l) => l.startsWith('finding:')),
      [],
      res.stderr,
    );
  });
});

test('a full accept queue: a finding names the listener, its backlog and somaxconn', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const port = 8080;
    const listener = await holder(p.nsB, LISTENER, [p.v4B, String(port)]);
    let clients: { stop(): void } | null = null;
    try {
      const somaxconn = (await run('ip', ['netns', 'exec', p.nsB, 'cat', '/proc/sys/net/core/somaxconn'])).stdout.trim();
      const { res } = await traceWhile(['--filter-netns', p.nsB], async () => {
        clients = await holder(p.nsA, CLIENTS, [p.v4B, String(port), '6']);
        // The SYNs the full queue refuses come back after 1 s.
        await sleep(1500);
      });
      assertNoStackTrace(res.stderr);
      const findings = closingLines(res.stderr).filter((l) => l.startsWith('finding: TcpExt ListenOverflows'));
      assert.equal(findings.length, 1, res.stderr);
      assert.match(
        findings[0],
        /^finding: TcpExt ListenOverflows \+\d+, (none|\d+) traced: the accept queue of a listening socket is full \(refused SYNs are not counted as drops/,
      );
      assert.ok(findings[0].includes(`${p.v4B}:${port} python3[${listener.ready}] backlog 1 queued 2`), findings[0]);
      assert.ok(findings[0].includes(`net.core.somaxconn ${somaxconn}`), findings[0]);
    } finally {
      (clients as { stop(): void } | null)?.stop();
      listener.stop();
    }
  });
});

/** Binds a UDP socket on ADDR:PORT with the smallest SO_RCVBUF and never reads it; prints its pid. */
const DEAF_RECEIVER = `
import os, socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
print('READY', os.getpid(), flush=True)
time.sleep(600)
`;

test('diagnose: a UDP receiver whose buffer overflows is the first cause, with its owner, rcvbuf against rmem_max and the fix', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const port = 5000;
    const receiver = await holder(p.nsB, DEAF_RECEIVER, [p.v4B, String(port)]);
    try {
      const rmemMax = (await run('ip', ['netns', 'exec', p.nsB, 'cat', '/proc/sys/net/core/rmem_max'])).stdout.trim();
      const dw = await startDropwhy(['diagnose', '-o', 'json', '--duration', '60', '--filter-netns', p.nsB]);
      let res: Awaited<ReturnType<typeof dw.stop>>;
      try {
        assert.equal(await sendUdp(p.nsA, p.v4B, port, 200), 200);
        // Also a few to a closed port: a second, smaller cause.
        assert.equal(await sendUdp(p.nsA, p.v4B, port + 1, 3), 3);
        await sleep(700); // the owner is looked up every 500 ms while the socket lives
        res = await dw.stop();
      } finally {
        dw.kill();
      }
      assert.equal(res.code, 0, res.stderr);
      assertNoStackTrace(res.stderr);
      const report = JSON.parse(res.stdout) as {
        type: string;
        causes: Array<{
          kind: string;
          count: number;
          reason?: string;
          sockets?: Array<{ advice: string | null }>;
          counters?: Array<{ counter: string; verdict: string }>;
          settings?: Array<{ name: string; value: string }>;
          fix?: string;
        }>;
        quiet: string[];
      };
      assert.equal(report.type, 'diagnose');
      const [first, second] = report.causes;
      assert.equal(first.reason, 'SOCKET_RCVBUFF', res.stdout);
      assert.ok(first.count > 0 && first.count < 200, `some of the 200 were queued: ${first.count}`);
      assert.deepEqual(first.counters?.find((c) => c.counter === 'Udp RcvbufErrors')?.verdict, 'agree', res.stdout);
      const advice = first.sockets?.[0]?.advice ?? '';
      assert.ok(advice.startsWith(`python3[${receiver.ready}] on ${p.v4B}:${port}: rcvbuf `), advice);
      assert.ok(advice.includes(`net.core.rmem_max ${rmemMax}`), advice);
      assert.deepEqual(first.settings?.find((s) => s.name === 'net.core.rmem_max')?.value, rmemMax);
      assert.match(first.fix ?? '', /SO_RCVBUF|sysctl -w net\.core\.rmem_(max|default)=\d+/);
      assert.deepEqual([second?.reason, second?.count], ['NO_SOCKET', 3], res.stdout);
      assert.ok(report.quiet.includes('qdiscs'), res.stdout);
    } finally {
      receiver.stop();
    }
  });
});
