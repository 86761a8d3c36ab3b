// The exporter's metrics: label sets from count records, totals that never go
// back, idle keys freed in the kernel map, and the exposition formats.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DropMetrics, functionName, type CountSource } from '../../src/output/metrics';
import { COUNT_RECORD, DROP_KEY_SIZE } from '../../src/events/layout';
import type { Counters } from '../../src/kernel/binding';
import { encodeCountRecords, loadReasonTable, reasonCode, type CountSpec } from './helpers';

const NO_SOCKET = reasonCode('NO_SOCKET');
const SOCKET_RCVBUFF = reasonCode('SOCKET_RCVBUFF');
// Two call sites in one function, one in another (see the symbolizer below).
const UDP4_A = { hi: 0xffffffff, lo: 0x81000010 };
const UDP4_B = { hi: 0xffffffff, lo: 0x81000020 };
const QUEUE = { hi: 0xffffffff, lo: 0x82000008 };
const HIDDEN = { hi: 0xffffffff, lo: 0x83000000 };

const symbols = {
  symbolize: ({ lo }: { hi: number; lo: number }) => {
    if (lo >= 0x81000000 && lo < 0x82000000) return `__udp4_lib_rcv+0x${(lo - 0x81000000).toString(16)}`;
    if (lo >= 0x82000000 && lo < 0x83000000) return `__udp_enqueue_schedule_skb+0x${(lo - 0x82000000).toString(16)}`;
    return null;
  },
};

/** A count map the test sets, which records what was deleted from it. */
class FakeCountMap implements CountSource {
  specs: CountSpec[] = [];
  deleted: Buffer[] = [];
  counts: Counters = { seen: 0, matched: 0, lost: 0, overflow: 0, unrecordedFlows: 0, stackMissed: 0, packetUnread: 0 };
  dropCounts(): Buffer {
    return encodeCountRecords(this.specs);
  }
  deleteDropCounts(keys: Buffer): number {
    this.deleted.push(Buffer.from(keys));
    const gone = new Set<string>();
    for (let at = 0; at < keys.length; at += DROP_KEY_SIZE) gone.add(keys.subarray(at, at + DROP_KEY_SIZE).toString('hex'));
    const before = this.specs.length;
    this.specs = this.specs.filter((spec) => !gone.has(encodeCountRecords([spec]).subarray(0, DROP_KEY_SIZE).toString('hex')));
    return before - this.specs.length;
  }
  counters(): Counters {
    return { ...this.counts };
  }
}

function setup(options: { hasReason?: boolean; idleMs?: number } = {}) {
  let clock = 1_000_000;
  const map = new FakeCountMap();
  const metrics = new DropMetrics({
    reasons: loadReasonTable(),
    hasReason: options.hasReason ?? true,
    symbols,
    version: '9.8.7',
    kernel: '6.18.0-test',
    idleMs: options.idleMs ?? 60_000,
    now: () => clock,
  });
  metrics.attach(map);
  return { map, metrics, advance: (ms: number) => (clock += ms) };
}

/** The dropwhy_drops_total samples of one text scrape, as "labels → value". */
async function drops(metrics: DropMetrics): Promise<Map<string, number>> {
  const text = await metrics.text.metrics();
  const samples = new Map<string, number>();
  for (const line of text.split('\n')) {
    const match = /^dropwhy_drops_total\{(.*)\} (\d+)$/.exec(line);
    if (match) samples.set(match[1], Number(match[2]));
  }
  return samples;
}

async function sample(metrics: DropMetrics, name: string): Promise<number | undefined> {
  const line = (await metrics.text.metrics()).split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.split(' ')[1]);
}

const udpNoSocket = (count: number, netns = 4026531840, location = UDP4_A): CountSpec => ({ location, reason: NO_SOCKET, netns, family: 4, l4Proto: 'udp', count });
const LABELS_NO_SOCKET = 'reason="NO_SOCKET",function="__udp4_lib_rcv",proto="udp",family="ipv4",netns="4026531840"';

test('functionName: the symbol without its offset; the address when there is no symbol', () => {
  assert.equal(functionName('__udp4_lib_rcv+0x3f2', '0xffffffff81000000'), '__udp4_lib_rcv');
  assert.equal(functionName('nft_do_chain', '0xffffffff81000000'), 'nft_do_chain');
  assert.equal(functionName(null, '0xffffffff83000000'), '0xffffffff83000000');
});

test('dropwhy_drops_total: one series per label set, call sites of one function added up', async () => {
  const { map, metrics } = setup();
  map.specs = [
    udpNoSocket(3, 4026531840, UDP4_A),
    udpNoSocket(4, 4026531840, UDP4_B),
    udpNoSocket(5, 4026532000, UDP4_A),
    { location: QUEUE, reason: SOCKET_RCVBUFF, netns: 4026532000, family: 6, l4Proto: 'udp', count: 2 },
    { location: HIDDEN, reason: NO_SOCKET, family: 0, count: 1 },
  ];
  assert.deepEqual(
    await drops(metrics),
    new Map([
      [LABELS_NO_SOCKET, 7],
      ['reason="NO_SOCKET",function="__udp4_lib_rcv",proto="udp",family="ipv4",netns="4026532000"', 5],
      ['reason="SOCKET_RCVBUFF",function="__udp_enqueue_schedule_skb",proto="udp",family="ipv6",netns="4026532000"', 2],
      ['reason="NO_SOCKET",function="0xffffffff83000000",proto="",family="",netns=""', 1],
    ]),
  );
});

test('dropwhy_drops_total: grows with the kernel counts, read at every scrape', async () => {
  const { map, metrics } = setup();
  map.specs = [udpNoSocket(3)];
  assert.equal((await drops(metrics)).get(LABELS_NO_SOCKET), 3);
  map.specs = [udpNoSocket(10)];
  assert.equal((await drops(metrics)).get(LABELS_NO_SOCKET), 10);
  assert.equal((await drops(metrics)).get(LABELS_NO_SOCKET), 10, 'a scrape without new drops repeats the total');
});

test('without reasons from the kernel the reason label is empty, whatever the key bytes hold', async () => {
  const { map, metrics } = setup({ hasReason: false });
  map.specs = [udpNoSocket(2)];
  assert.deepEqual([...(await drops(metrics)).keys()], ['reason="",function="__udp4_lib_rcv",proto="udp",family="ipv4",netns="4026531840"']);
});

test('idle keys leave the kernel map and /metrics; a series that comes back goes on from its total', async () => {
  const { map, metrics, advance } = setup({ idleMs: 60_000 });
  const busy = { location: QUEUE, reason: SOCKET_RCVBUFF, netns: 7, family: 4 as const, l4Proto: 'udp' as const, count: 1 };
  map.specs = [udpNoSocket(3), busy];
  await drops(metrics);
  advance(30_000);
  map.specs = [udpNoSocket(3), { ...busy, count: 2 }];
  assert.equal((await drops(metrics)).get(LABELS_NO_SOCKET), 3, 'idle for 30 s of 60: still there');
  assert.equal(map.deleted.length, 0);

  advance(30_000);
  map.specs = [udpNoSocket(3), { ...busy, count: 3 }];
  const afterIdle = await drops(metrics);
  assert.equal(afterIdle.has(LABELS_NO_SOCKET), false, 'idle for 60 s: gone from /metrics');
  assert.equal(afterIdle.size, 1, 'the busy series stays');
  assert.equal(map.deleted.length, 1, 'its kernel key was deleted');
  assert.equal(map.deleted[0].length, DROP_KEY_SIZE, 'exactly one key');
  assert.equal(map.deleted[0].readUInt32LE(COUNT_RECORD.reason), NO_SOCKET);
  assert.equal(map.deleted[0].readUInt32LE(COUNT_RECORD.netns), 4026531840);
  assert.equal(map.specs.length, 1);

  // The kernel creates the key anew, counting from 0.
  advance(1_000);
  map.specs = [udpNoSocket(2), { ...busy, count: 3 }];
  assert.equal((await drops(metrics)).get(LABELS_NO_SOCKET), 5, 'back: 3 before + 2 new, never lower than before');
});

test('uncounted, seen and build info come from the program counters and the options', async () => {
  const { map, metrics } = setup();
  map.counts = { seen: 120, matched: 50, lost: 0, overflow: 4, unrecordedFlows: 0, stackMissed: 0, packetUnread: 0 };
  assert.equal(await sample(metrics, 'dropwhy_drops_uncounted_total'), 4);
  assert.equal(await sample(metrics, 'dropwhy_kfree_skb_seen_total'), 120);
  assert.match(await metrics.text.metrics(), /^dropwhy_build_info\{version="9\.8\.7",kernel="6\.18\.0-test"\} 1$/m);
  const body = await metrics.text.metrics();
  assert.ok((await sample(metrics, 'process_resident_memory_bytes'))! > 1 << 20, body);
  assert.match(body, /^process_cpu_seconds_total \d/m);
  assert.match(body, /^process_start_time_seconds \d{10}$/m);
});

test('before a tracer is attached the counters are 0 and there are no drop series', async () => {
  const metrics = new DropMetrics({ reasons: loadReasonTable(), hasReason: true, symbols, version: '1', kernel: 'k', idleMs: 1000 });
  assert.equal((await drops(metrics)).size, 0);
  assert.equal(await sample(metrics, 'dropwhy_kfree_skb_seen_total'), 0);
});

test('OpenMetrics for scrapers that ask for it, the text format otherwise', async () => {
  const { map, metrics } = setup();
  map.specs = [udpNoSocket(3)];
  assert.equal(metrics.registryFor(undefined), metrics.text);
  assert.equal(metrics.registryFor('text/plain;version=0.0.4;q=0.5,*/*;q=0.1'), metrics.text);
  const open = metrics.registryFor('application/openmetrics-text;version=1.0.0,text/plain;q=0.5');
  assert.equal(open, metrics.openMetrics);
  assert.match(open.contentType, /^application\/openmetrics-text/);
  const body = await open.metrics();
  assert.match(body, /^# TYPE dropwhy_drops counter$/m);
  assert.match(body, new RegExp(`^dropwhy_drops_total\\{${LABELS_NO_SOCKET.replace(/[.()]/g, '\\$&')}\\} 3$`, 'm'));
  assert.match(body, /# EOF\n$/);
});
