// The socket a drop happened at, and its owner: a receiver in a cgroup of its
// own, with the smallest SO_RCVBUF, never reads while a sender floods it. Every
// SOCKET_RCVBUFF must name the receiver (not the sender whose softirq ran the
// drop), its port, buffer, inode and cgroup; a drop at a closed port has no socket.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  assertEachDrop,
  cgroup2Mount,
  describeEvents,
  expectLocation,
  expectReason,
  kernelFacts,
  NFT_DROP_SITES,
  nftDrop,
  nsPython,
  rcvbufFlood,
  removeCgroup,
  requireRealKernel,
  run,
  sendUdp,
  startDropwhy,
  traceWhile,
  withNetnsPair,
  scaled,
  type SocketRecord,
} from './harness';
import { inNetnsArgv } from '../../src/kernel/netns-pair';

const RECEIVER_NAME = 'dw-receiver';
const RCVBUF_PORT = 5560;
const CLOSED_PORT = 5561;

/**
 * A fresh cgroup under the cgroup2 mount for fn, removed afterwards (once its
 * processes have left); null without a cgroup2 mount, where dropwhy can name no cgroup.
 */
async function withCgroup<T>(fn: (cgroup: { dir: string; path: string } | null) => Promise<T>): Promise<T> {
  const mount = cgroup2Mount();
  if (mount === null) return fn(null);
  const name = `dropwhy-e2e-${process.pid}`;
  const dir = path.join(mount, name);
  fs.mkdirSync(dir);
  try {
    return await fn({ dir, path: `/${name}` });
  } finally {
    await removeCgroup(dir);
  }
}

/** The receiver, named so it differs from the sender, moved into the cgroup before its socket exists. */
const receiverIn = (cgroup: { dir: string } | null) => ({ name: RECEIVER_NAME, cgroupProcs: cgroup ? path.join(cgroup.dir, 'cgroup.procs') : undefined });

const hasRxSk = () => kernelFacts().tracepointFields.includes('rx_sk');

test('SOCKET_RCVBUFF names the receiving socket and its owner; NO_SOCKET has socket null', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withCgroup((cgroup) =>
    withNetnsPair(async (p) => {
      const { res, value } = await traceWhile(
        ['-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'udp'],
        async () => {
          const flood = await rcvbufFlood(p.nsB, p.v4B, RCVBUF_PORT, 2000, p.nsA, receiverIn(cgroup));
          assert.ok(flood.dropped > 0, `nothing was dropped: ${JSON.stringify(flood)}`);
          assert.equal(flood.snmpRcvbufErrors, flood.dropped, `harness sanity: Udp RcvbufErrors delta == sent - queued: ${JSON.stringify(flood)}`);
          const closedSent = await sendUdp(p.nsA, p.v4B, CLOSED_PORT, 20);
          return { flood, closedSent };
        },
        { settleMs: 500 },
      );
      const { flood, closedSent } = value;
      const overflowed = res.events.filter((e) => e.dport === RCVBUF_PORT);
      const closed = res.events.filter((e) => e.dport === CLOSED_PORT);
      const context = `stderr:\n${res.stderr}\nfirst events:\n${describeEvents(res.events.slice(0, 3))}`;
      assert.equal(res.events.length, overflowed.length + closed.length, `only the two kinds of drop: ${context}`);
      assert.equal(overflowed.length, flood.dropped, `one event per datagram the kernel counted in RcvbufErrors: ${context}`);
      assert.equal(closed.length, closedSent, context);

      assertEachDrop(overflowed, { ...expectReason('SOCKET_RCVBUFF'), location: expectLocation('udp_queue_rcv_one_skb') });
      assertEachDrop(closed, { ...expectReason('NO_SOCKET'), location: expectLocation('__udp4_lib_rcv'), socket: null });
      if (!hasRxSk()) {
        // Before 6.11 the tracepoint has no rx_sk, and a datagram for an unconnected socket is not yet its skb's.
        assertEachDrop(overflowed, { socket: null });
        return;
      }
      for (const event of overflowed) assertReceiverSocket(event.socket, `${p.v4B}:${RCVBUF_PORT}`, flood, cgroup?.path ?? null, describeEvents([event]));
      // The socket's own counter, read as each drop happened, reaches the number dropped.
      assert.equal(Math.max(...overflowed.map((e) => e.socket!.drops)), flood.dropped);
      // The drop ran in the sender's softirq: the task that was running is not the socket's owner.
      assert.ok(
        overflowed.every((e) => e.pid !== flood.receiverPid),
        'the interrupted task is the sender, not the receiver',
      );
    }),
  );
});

function assertReceiverSocket(
  socket: SocketRecord | null,
  local: string,
  flood: { receiverPid: number; socketInode: number; rcvbuf: number },
  cgroupPath: string | null,
  where: string,
): void {
  assert.ok(socket, `no socket: ${where}`);
  assert.equal(socket.pid, flood.receiverPid, `owner pid: ${where}`);
  assert.equal(socket.comm, RECEIVER_NAME, `owner comm: ${where}`);
  assert.equal(socket.inode, flood.socketInode, `inode: ${where}`);
  assert.equal(socket.local, local, `local address: ${where}`);
  assert.equal(socket.rcvbuf, flood.rcvbuf, `rcvbuf (getsockopt SO_RCVBUF): ${where}`);
  assert.equal(socket.uid, process.getuid!(), `uid: ${where}`);
  assert.equal(socket.cgroup, cgroupPath, `cgroup: ${where}`);
  assert.equal(socket.container, null, `container: ${where}`);
  assert.ok(socket.queued > 0, `a full queue holds bytes: ${where}`);
  assert.ok(socket.drops >= 1 && socket.drops <= 2000, `drops: ${where}`);
}

test('IPv6, text output: each SOCKET_RCVBUFF line ends with the receiver as owner, [address]:port and rcvbuf', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    const { res, value: flood } = await traceWhile(
      ['--no-hints', '--filter-netns', p.nsB, '--filter-port', String(RCVBUF_PORT)],
      async () => {
        const flood = await rcvbufFlood(p.nsB, p.v6B, RCVBUF_PORT, 500, p.nsA, { name: RECEIVER_NAME });
        assert.equal(flood.snmpRcvbufErrors, flood.dropped, `harness sanity: Udp6RcvbufErrors delta == sent - queued: ${JSON.stringify(flood)}`);
        return flood;
      },
      { settleMs: 500 },
    );
    const lines = res.stdout.split('\n').filter((line) => line !== '');
    assert.ok(flood.dropped > 0, JSON.stringify(flood));
    assert.equal(lines.length, flood.dropped, `one line per drop:\n${res.stdout.slice(0, 2000)}`);
    // Without rx_sk (before 6.11) these drops carry no socket: the line ends with the interrupted task, as before.
    const tail = hasRxSk() ? ` sock ${RECEIVER_NAME}[${flood.receiverPid}] [${p.v6B}]:${RCVBUF_PORT} rcvbuf ${flood.rcvbuf} queued ` : null;
    for (const line of lines) {
      if (tail === null) assert.match(line, / len \d+ \S+\[\d+\]$/, line);
      else assert.ok(line.includes(tail) && / queued \d+$/.test(line), `want "${tail}<bytes>" at the end of: ${line}`);
    }
  });
});

test('summary: the total names the socket behind the SOCKET_RCVBUFF drops, its owner and its count', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withCgroup((cgroup) =>
    withNetnsPair(async (p) => {
      // Ticks every 0.2 s: the owner is looked up while the receiver still runs.
      const dw = await startDropwhy(['summary', '-o', 'json', '--filter-netns', p.nsB, '--interval', '0.2']);
      try {
        const flood = await rcvbufFlood(p.nsB, p.v4B, RCVBUF_PORT, 2000, p.nsA, receiverIn(cgroup));
        assert.ok(flood.dropped > 0, `nothing was dropped: ${JSON.stringify(flood)}`);
        const res = await dw.stop({ settleMs: 600 });
        assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
        const total = res.stdout
          .trim()
          .split('\n')
          .map((line) => JSON.parse(line))
          .find((record) => record.type === 'total');
        assert.ok(total, `no total:\n${res.stdout}`);
        const where = JSON.stringify(total.sockets);
        if (!hasRxSk()) {
          assert.deepEqual(total.sockets, [], 'no socket reaches the tracepoint for these drops before 6.11');
          return;
        }
        assert.equal(total.sockets.length, 1, where);
        const [row] = total.sockets as Array<{ reason: string | null; count: number; socket: SocketRecord; advice: string | null }>;
        assert.equal(row.reason, expectReason('SOCKET_RCVBUFF').reason, where);
        assert.equal(row.count, flood.dropped, `the kernel's per-socket count == sent - queued: ${where}`);
        assertReceiverSocket(row.socket, `${p.v4B}:${RCVBUF_PORT}`, flood, cgroup?.path ?? null, where);
        // The advice names the receiver, its address and the buffer getsockopt reported, and how to raise it.
        const named = `${RECEIVER_NAME}[${flood.receiverPid}] on ${p.v4B}:${RCVBUF_PORT}: rcvbuf ${flood.rcvbuf}, queued ${row.socket.queued}; raise it with SO_RCVBUF `;
        assert.ok(row.advice?.startsWith(named), `want advice "${named}…": ${where}`);
      } finally {
        dw.kill();
      }
    }),
  );
});

const CONNECTOR_NAME = 'dw-connector';
const TCP_PORT = 7001;
const TCP_SOURCE_PORT = 40100;

/** Connects (and fails: its SYNs are dropped on the way out), then lives on a second so its owner can be looked up. */
const CONNECTOR = `
import ctypes, json, os, socket, sys, time
ctypes.CDLL(None).prctl(15, sys.argv[4].encode(), 0, 0, 0)  # PR_SET_NAME
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.bind((sys.argv[1], int(sys.argv[3])))
cgroup = [l.split('::', 1)[1].strip() for l in open('/proc/self/cgroup') if l.startswith('0::')]
info = {'pid': os.getpid(), 'inode': os.fstat(s.fileno()).st_ino, 'rcvbuf': s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF), 'cgroup': cgroup[0] if cgroup else None}
s.settimeout(2.5)
try:
    s.connect((sys.argv[2], ${TCP_PORT}))
except OSError:
    pass
time.sleep(1)
print(json.dumps(info))
`;

test('TCP SYNs dropped on the way out (nft output): each names the connecting socket, from skb->sk on every kernel', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  await withNetnsPair(async (p) => {
    await nftDrop(p.nsA, `tcp dport ${TCP_PORT} counter`, 'output');
    const { res, value: connector } = await traceWhile(['-o', 'json', '--filter-netns', p.nsA, '--filter-proto', 'tcp'], async () => {
      const out = await nsPython(p.nsA, CONNECTOR, [p.v4A, p.v4B, String(TCP_SOURCE_PORT), CONNECTOR_NAME]);
      return JSON.parse(out.stdout) as { pid: number; inode: number; rcvbuf: number; cgroup: string | null };
    });
    const listed = await run(...inNetnsArgv(p.nsA, 'nft', ['list', 'chain', 'inet', 'dwtest', 'output']), { timeoutMs: 10_000 });
    const dropped = Number(/counter packets (\d+)/.exec(listed.stdout)?.[1]);
    assert.ok(dropped >= 2, `the SYN and at least one retransmission were dropped: ${listed.stdout}`);
    assert.equal(res.events.length, dropped, `one event per packet the rule counted; stderr:\n${res.stderr}\n${describeEvents(res.events)}`);
    assertEachDrop(res.events, {
      ...expectReason('NETFILTER_DROP'),
      location: expectLocation(...NFT_DROP_SITES),
      proto: 'tcp',
      tcp_flags: 'SYN',
      saddr: p.v4A,
      sport: TCP_SOURCE_PORT,
      dport: TCP_PORT,
    });
    for (const event of res.events) {
      const where = describeEvents([event]);
      assert.deepEqual(
        event.socket,
        {
          inode: connector.inode,
          cookie: event.socket?.cookie ?? null,
          uid: process.getuid!(),
          local: `${p.v4A}:${TCP_SOURCE_PORT}`,
          pid: connector.pid,
          comm: CONNECTOR_NAME,
          cgroup: connector.cgroup,
          container: null,
          rcvbuf: connector.rcvbuf,
          queued: 0,
          drops: 0,
        },
        where,
      );
    }
  });
});
