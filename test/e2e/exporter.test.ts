// dropwhy exporter against the real kernel: known drops in throwaway
// namespaces, counted exactly in its own /metrics (checked by promtool) and in
// a real Prometheus server that scrapes it.
import { test, type TestContext } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  kernelFacts,
  metricsUrl,
  NFT_DROP_SITES,
  netnsInode,
  nftDrop,
  requireRealKernel,
  samples,
  sendUdp,
  sleep,
  snmpCounters,
  startDropwhy,
  withNetnsPair,
  scaled,
  type DropwhyHandle,
} from './harness';

const TIMEOUT = { timeout: scaled(120_000) };

async function scrape(url: string): Promise<string> {
  const response = await fetch(url);
  assert.equal(response.status, 200);
  return response.text();
}

/** What the labels of a drop must be on this kernel: the reason only where the tracepoint has one, the function only where kallsyms shows addresses. */
function expectedFunction(symbols: string[]): RegExp {
  return kernelFacts().symbolsVisible ? new RegExp(`^(?:${symbols.join('|')})$`) : /^0xffff[0-9a-f]{12}$/;
}
const expectedReason = (name: string) => (kernelFacts().hasReason ? name : '');

/** A tool the test needs: present, or in CI a failure, elsewhere a loud skip. */
function requireTool(t: TestContext, tool: string, pkg: string): boolean {
  if (spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0) return true;
  const reason = `${tool} is missing (apt-get install ${pkg}; scripts/setup.sh installs it)`;
  if (process.env.CI === 'true') throw new Error(`${reason} (CI=true, refusing to skip)`);
  process.stderr.write(`\n!!!!! SKIPPING "${t.name}": ${reason} !!!!!\n\n`);
  t.skip(reason);
  return false;
}

/**
 * Drops made in a new pair of namespaces while the exporter runs: 7 UDP
 * datagrams to a closed port and 5 into an nft drop rule, both in B.
 */
async function makeKnownDrops(fn: (b: { netns: number; noPorts: number; url: string; exporter: DropwhyHandle }) => Promise<void>): Promise<void> {
  const exporter = await startDropwhy(['exporter', '--listen', '127.0.0.1:0', '--filter-proto', 'udp']);
  try {
    await withNetnsPair(async (p) => {
      await nftDrop(p.nsB, 'udp dport 4444');
      const before = await snmpCounters(p.nsB);
      assert.equal(await sendUdp(p.nsA, p.v4B, 9, 7, { srcPort: 40101 }), 7);
      assert.equal(await sendUdp(p.nsA, p.v4B, 4444, 5, { srcPort: 40102 }), 5);
      const after = await snmpCounters(p.nsB);
      await fn({ netns: netnsInode(p.nsB), noPorts: after['Udp.NoPorts'] - before['Udp.NoPorts'], url: await metricsUrl(exporter), exporter });
    });
    const res = await exporter.stop({ signal: 'SIGTERM', settleMs: 0 });
    assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
    assert.equal(res.readyFileLeft, false);
  } finally {
    exporter.kill();
  }
}

test('exporter: exact counts per label set for known drops', TIMEOUT, async (t) => {
  if (!requireRealKernel(t)) return;
  await makeKnownDrops(async ({ netns, noPorts, url, exporter }) => {
    assert.equal(noPorts, 7, "the kernel's own counter: 7 UDP datagrams to no socket");
    const body = await scrape(url);
    const inB = samples(body, 'dropwhy_drops_total').filter((s) => s.labels.netns === String(netns));
    const noSocket = inB.filter((s) => s.labels.reason === expectedReason('NO_SOCKET') && /udp4_lib_rcv$/.test(s.labels.function));
    const nft = inB.filter((s) => expectedFunction(NFT_DROP_SITES).test(s.labels.function));
    assert.equal(noSocket.length, 1, `one NO_SOCKET series in B:\n${body}`);
    assert.deepEqual(noSocket[0].labels, {
      reason: expectedReason('NO_SOCKET'),
      function: kernelFacts().symbolsVisible ? '__udp4_lib_rcv' : noSocket[0].labels.function,
      proto: 'udp',
      family: 'ipv4',
      netns: String(netns),
    });
    assert.equal(noSocket[0].value, noPorts, 'NO_SOCKET drops in B equal the kernel counter UdpNoPorts');
    assert.equal(nft.length, 1, `one NETFILTER_DROP series in B:\n${body}`);
    assert.equal(nft[0].labels.reason, expectedReason('NETFILTER_DROP'));
    assert.equal(nft[0].value, 5);
    assert.equal(inB.length, 2, `no other drops in B: ${JSON.stringify(inB)}`);
    const seen = samples(body, 'dropwhy_kfree_skb_seen_total')[0]?.value ?? 0;
    assert.ok(seen >= 12, `kfree_skb seen (${seen}) covers the 12 drops`);
    assert.equal(samples(body, 'dropwhy_drops_uncounted_total')[0]?.value, 0);
    assert.equal(samples(body, 'dropwhy_build_info')[0]?.labels.kernel, os.release());

    // The same count at the next scrape: read from the kernel again, not re-added.
    const again = samples(await scrape(url), 'dropwhy_drops_total').filter((s) => s.labels.netns === String(netns));
    assert.deepEqual(again.map((s) => s.value).sort(), [5, 7]);
    assert.equal(exporter.child.exitCode, null, 'still serving');
  });
});

/** A TCP port nothing listens on now, for Prometheus' own listener. */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function prometheusQuery(base: string, query: string): Promise<number | null> {
  const response = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await response.json()) as { status: string; data: { result: Array<{ value: [number, string] }> } };
  assert.equal(body.status, 'success', JSON.stringify(body));
  const [first] = body.data.result;
  return first ? Number(first.value[1]) : null;
}

test('exporter: promtool accepts its output, and a real Prometheus scraping it counts exactly the drops made', TIMEOUT, async (t) => {
  if (!requireRealKernel(t)) return;
  if (!requireTool(t, 'promtool', 'prometheus') || !requireTool(t, 'prometheus', 'prometheus')) return;
  await makeKnownDrops(async ({ netns, noPorts, url }) => {
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: await scrape(url), encoding: 'utf8' });
    assert.equal(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);

    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'dropwhy-e2e-prometheus-'));
    const port = await freePort();
    const target = new URL(url);
    fs.writeFileSync(
      path.join(dir, 'prometheus.yml'),
      ['global:', '  scrape_interval: 1s', 'scrape_configs:', '  - job_name: dropwhy', '    static_configs:', `      - targets: ['${target.host}']`, ''].join('\n'),
    );
    const server = spawn(
      'prometheus',
      [`--config.file=${path.join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${path.join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let log = '';
    server.stderr!.setEncoding('utf8').on('data', (d: string) => (log = (log + d).slice(-8000)));
    try {
      const base = `http://127.0.0.1:${port}`;
      const query = `sum(dropwhy_drops_total{reason="${expectedReason('NO_SOCKET')}",netns="${netns}",function=~".*udp4_lib_rcv|0x.*",proto="udp"})`;
      const deadline = Date.now() + scaled(60_000);
      let value: number | null = null;
      // Poll: the first scrape comes a few seconds after /-/ready.
      while (Date.now() < deadline) {
        if (server.exitCode !== null) assert.fail(`prometheus exited (${server.exitCode}):\n${log}`);
        try {
          value = await prometheusQuery(base, query);
          if (value !== null) break;
        } catch (error) {
          if (error instanceof assert.AssertionError) throw error;
          // not listening yet
        }
        await sleep(500);
      }
      assert.equal(value, noPorts, `Prometheus' answer to ${query} (log tail:\n${log})`);
      assert.equal(value, 7);
      assert.equal(await prometheusQuery(base, `sum(dropwhy_drops_total{netns="${netns}"})`), 12);
      assert.equal(await prometheusQuery(base, 'up{job="dropwhy"}'), 1);
    } finally {
      server.kill('SIGTERM');
      await new Promise((resolve) => (server.exitCode !== null ? resolve(null) : server.once('exit', resolve)));
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
