// -w: real drops in throwaway namespaces written as pcapng, read back with tshark
// (its own reading of the file, not dropwhy's) and held against the JSON events.
import { test, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CLI_PATH, expectReason, netnsInode, nftDrop, requireRealKernel, run, sendUdp, sleep, traceWhile, withNetnsPair, scaled, type DropEvent } from './harness';

const TSHARK_FIELDS = [
  'frame.encap_type',
  'frame.len',
  'frame.cap_len',
  'ip.src',
  'ip.dst',
  'ip.len',
  'ipv6.src',
  'ipv6.dst',
  'ipv6.plen',
  'udp.srcport',
  'udp.dstport',
  'frame.comment',
];
/** tshark's names for pcapng's link types 1 and 101 (frame.encap_type: WTAP_ENCAP_ETHERNET, WTAP_ENCAP_RAW_IP). */
const ENCAP = { ethernet: '1', rawIp: '7' };

interface TsharkPacket {
  encap: string;
  wireLength: number;
  captured: number;
  saddr: string;
  daddr: string;
  /** The length the IP header declares, the whole IP packet's. */
  ipLength: number;
  sport: number;
  dport: number;
  comment: string;
}

function requireTshark(t: TestContext): boolean {
  if (spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0) return true;
  t.skip('tshark is not installed (scripts/setup.sh installs it)');
  return false;
}

async function readWithTshark(file: string): Promise<TsharkPacket[]> {
  const fields = TSHARK_FIELDS.flatMap((f) => ['-e', f]);
  const res = await run('tshark', ['-r', file, '-T', 'fields', '-E', 'separator=|', ...fields], { timeoutMs: 30_000 });
  return res.stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => {
      const [encap, frameLen, capLen, ip4src, ip4dst, ip4len, ip6src, ip6dst, ip6plen, sport, dport, comment] = line.split('|');
      return {
        encap,
        wireLength: Number(frameLen),
        captured: Number(capLen),
        saddr: ip4src || ip6src,
        daddr: ip4dst || ip6dst,
        ipLength: ip4len ? Number(ip4len) : 40 + Number(ip6plen),
        sport: Number(sport),
        dport: Number(dport),
        comment,
      };
    });
}

/** What the text line says about why: the comment each packet must carry. */
function expectedComment(e: DropEvent): string {
  return `${e.reason ?? '-'} at ${e.location ?? e.address} netns ${e.netns} if ${e.ifindex} (${e.ifname})`;
}

function assertPacketsMatch(packets: TsharkPacket[], events: DropEvent[], link: keyof typeof ENCAP): void {
  assert.equal(packets.length, events.length, `one packet per event; packets: ${JSON.stringify(packets)}`);
  events.forEach((e, i) => {
    const p = packets[i];
    const what = `packet ${i}: ${JSON.stringify(p)} vs ${JSON.stringify(e)}`;
    assert.deepEqual([p.saddr, p.daddr, p.sport, p.dport], [e.saddr, e.daddr, e.sport, e.dport], what);
    assert.equal(p.comment, expectedComment(e), what);
    assert.equal(p.encap, ENCAP[link], what);
    // The original length is the whole frame's: the IP packet plus the Ethernet header where there is one.
    assert.equal(p.wireLength, p.ipLength + (link === 'ethernet' ? 14 : 0), what);
    assert.equal(p.captured, Math.min(p.wireLength, 256), what);
  });
}

async function withTempDir<T>(fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropwhy-e2e-pcapng-'));
  try {
    return await fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

test('-w FILE -o json: UDP to a closed port (IPv4, IPv6) and an nft drop, each packet in the file as in its JSON event', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t) || !requireTshark(t)) return;
  await withTempDir((dir) =>
    withNetnsPair(async (p) => {
      const file = path.join(dir, 'drops.pcapng');
      await nftDrop(p.nsB, 'udp dport 7777');
      const { res } = await traceWhile(['-w', file, '-o', 'json', '--filter-netns', p.nsB, '--filter-proto', 'udp'], async () => {
        assert.equal(await sendUdp(p.nsA, p.v4B, 9, 3, { srcPort: 41301 }), 3);
        assert.equal(await sendUdp(p.nsA, p.v6B, 9, 2, { srcPort: 41302 }), 2);
        assert.equal(await sendUdp(p.nsA, p.v4B, 7777, 2, { srcPort: 41303 }), 2);
      });
      const events = res.events;
      assert.deepEqual(
        events.map((e) => [e.sport, e.reason]),
        [
          ...Array(3).fill([41301, expectReason('NO_SOCKET').reason]),
          ...Array(2).fill([41302, expectReason('NO_SOCKET').reason]),
          ...Array(2).fill([41303, expectReason('NETFILTER_DROP').reason]),
        ],
        res.stdout,
      );
      for (const e of events) assert.equal(e.netns, netnsInode(p.nsB));
      // Received over the veth: the frames start at their Ethernet header.
      assertPacketsMatch(await readWithTshark(file), events, 'ethernet');
      assert.doesNotMatch(res.stderr, /not in the pcapng file/, res.stderr);
    }),
  );
});

test('-w FILE: a packet nft drops on its way out has no Ethernet header yet: raw IP from its network header', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t) || !requireTshark(t)) return;
  await withTempDir((dir) =>
    withNetnsPair(async (p) => {
      const file = path.join(dir, 'out.pcapng');
      await nftDrop(p.nsA, 'udp dport 7778', 'output');
      const { res } = await traceWhile(['-w', file, '-o', 'json', '--filter-netns', p.nsA, '--filter-port', '7778'], async () => {
        // the sender sees EPERM for each; it counts only what it could send
        await sendUdp(p.nsA, p.v4B, 7778, 2, { srcPort: 41304 });
      });
      assert.ok(res.events.length >= 2, res.stdout);
      for (const e of res.events) assert.equal(e.reason, expectReason('NETFILTER_DROP').reason);
      const packets = await readWithTshark(file);
      // Dropped before a device was chosen: no interface (JSON ifindex null), so the comment says "if -".
      assert.equal(packets.length, res.events.length);
      res.events.forEach((e, i) => {
        const pkt = packets[i];
        assert.deepEqual([pkt.saddr, pkt.daddr, pkt.sport, pkt.dport, pkt.encap], [e.saddr, e.daddr, e.sport, e.dport, ENCAP.rawIp], JSON.stringify(pkt));
        assert.equal(pkt.wireLength, pkt.ipLength);
        const ifText = e.ifindex === null ? 'if -' : `if ${e.ifindex}${e.ifname === null ? '' : ` (${e.ifname})`}`;
        assert.equal(pkt.comment, `${e.reason ?? '-'} at ${e.location ?? e.address} netns ${e.netns} ${ifText}`);
      });
    }),
  );
});

test('-w -: stdout carries only the pcapng file, which tshark reads whole', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t) || !requireTshark(t)) return;
  await withTempDir((dir) =>
    withNetnsPair(async (p) => {
      const file = path.join(dir, 'stdout.pcapng');
      const ready = path.join(dir, 'ready');
      const out = fs.openSync(file, 'w');
      const child = spawn(process.execPath, [CLI_PATH, '-w', '-', '--filter-netns', p.nsB, '--filter-proto', 'udp', '--ready-file', ready, '--duration', '30'], {
        stdio: ['ignore', out, 'pipe'],
      });
      fs.closeSync(out);
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      try {
        const deadline = Date.now() + scaled(20_000);
        while (!fs.existsSync(ready) && Date.now() < deadline) await sleep(50);
        assert.ok(fs.existsSync(ready), `dropwhy not ready; stderr:\n${stderr}`);
        assert.equal(await sendUdp(p.nsA, p.v4B, 9, 4, { srcPort: 41305 }), 4);
        await sleep(300);
        child.kill('SIGINT');
        assert.equal(await exited, 0, stderr);
      } finally {
        child.kill('SIGKILL');
      }
      const bytes = fs.readFileSync(file);
      assert.equal(bytes.readUInt32LE(0), 0x0a0d0d0a, 'the file starts with a section header block');
      const packets = await readWithTshark(file);
      assert.equal(packets.length, 4, JSON.stringify(packets));
      for (const pkt of packets) {
        assert.deepEqual([pkt.saddr, pkt.daddr, pkt.sport, pkt.dport], [p.v4A, p.v4B, 41305, 9]);
        assert.match(pkt.comment, new RegExp(`^${expectReason('NO_SOCKET').reason ?? '-'} at \\S+ netns ${netnsInode(p.nsB)} if ${p.ifindexB} \\(${p.ifB}\\)$`));
      }
      // Every byte belongs to a block: the blocks' lengths add up to the file's.
      let at = 0;
      while (at < bytes.length) at += bytes.readUInt32LE(at + 4);
      assert.equal(at, bytes.length);
      assert.match(stderr, /dropwhy: \d+ drops? seen, 4 matched, 0 lost/);
    }),
  );
});
