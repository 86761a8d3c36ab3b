// `dropwhy exporter` through the whole CLI with a fake binding and a real HTTP
// server on loopback: options, what /metrics serves, errors and stopping.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { run } from '../../src/cli';
import { listenAddress } from '../../src/commands/options';
import { UsageError } from '../../src/errors';
import { CONFIG, MODE } from '../../src/events/layout';
import { cliHarness, encodeCountRecords, reasonCode, runNoTrace, waitFor, type CliHarness, type CliHarnessOptions } from './helpers';

const TIMEOUT = { timeout: 15_000 };
const NO_SOCKET = reasonCode('NO_SOCKET');

function harness(t: TestContext, options: CliHarnessOptions = {}): CliHarness {
  const h = cliHarness(options);
  t.after(() => h.stop());
  return h;
}

/** Starts the exporter on a port the kernel picks and returns its /metrics URL and the run. */
async function startExporter(h: CliHarness, args: string[] = []): Promise<{ url: string; done: Promise<number> }> {
  const done = run(['exporter', '--listen', '127.0.0.1:0', ...args], h.io);
  let ended = false;
  void done.then(() => (ended = true));
  await waitFor(() => ended || h.err.some((line) => line.includes('serving metrics on')), 'the serving line');
  const line = h.err.find((l) => l.includes('serving metrics on'));
  if (!line) throw new Error(`the exporter ended early: ${h.err.join(' | ')}`);
  await h.binding.whenOpened();
  return { url: line.slice(line.indexOf('http://')), done };
}

test('--listen: HOST:PORT, [V6]:PORT and :PORT; anything else is a one-line usage error', () => {
  assert.deepEqual(listenAddress('0.0.0.0:10025'), { host: '0.0.0.0', port: 10025 });
  assert.deepEqual(listenAddress('[::1]:9999'), { host: '::1', port: 9999 });
  assert.deepEqual(listenAddress(':10025'), { host: null, port: 10025 });
  assert.deepEqual(listenAddress('localhost:0'), { host: 'localhost', port: 0 });
  for (const bad of ['10025', '0.0.0.0', '0.0.0.0:', '0.0.0.0:65536', '::1:80', '[::1]80', 'a b:80', '0.0.0.0:8o']) {
    assert.throws(
      () => listenAddress(bad),
      (error: Error) => error instanceof UsageError && error.message.startsWith('--listen: expected HOST:PORT'),
      bad,
    );
  }
});

test('exporter: counts in the kernel (count mode, --max-keys) and serves them at scrape time', TIMEOUT, async (t) => {
  let scrapes = 0;
  const h = harness(t, {
    binding: {
      counters: { seen: 30, matched: 12, overflow: 1 },
      dropCounts: () => encodeCountRecords([{ reason: NO_SOCKET, netns: 4026531840, family: 4, l4Proto: 'udp', count: 5 + 6 * scrapes++ }]),
    },
  });
  const { url, done } = await startExporter(h, ['--max-keys', '512', '--filter-proto', 'udp']);
  assert.equal(h.binding.options.config.readUInt8(CONFIG.mode), MODE.count);
  assert.equal(h.binding.options.countEntries, 512);
  assert.equal(h.binding.options.config.readUInt8(CONFIG.l4_proto), 17);
  assert.equal(h.binding.dropCountsCalls, 0, 'nothing is read before a scrape');

  const first = await (await fetch(url)).text();
  const second = await fetch(url);
  assert.match(second.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  const body = await second.text();
  const series = 'dropwhy_drops_total{reason="NO_SOCKET",function="kfree_skb_reason",proto="udp",family="ipv4",netns="4026531840"}';
  assert.ok(first.includes(`${series} 5\n`), first);
  assert.ok(body.includes(`${series} 11\n`), body);
  assert.match(body, /^dropwhy_drops_uncounted_total 1$/m);
  assert.match(body, /^dropwhy_kfree_skb_seen_total 30$/m);
  assert.match(body, /^dropwhy_build_info\{version="\d+\.\d+\.\d+",kernel="[^"]+"\} 1$/m);

  const open = await fetch(url, { headers: { Accept: 'application/openmetrics-text; version=1.0.0' } });
  assert.match(open.headers.get('content-type') ?? '', /^application\/openmetrics-text/);
  assert.match(await open.text(), /# EOF\n$/);

  const landing = await fetch(url.replace('/metrics', '/'));
  assert.equal(landing.status, 200);
  assert.match(await landing.text(), /<a href="\/metrics">/);
  assert.equal((await fetch(url.replace('/metrics', '/nothing'))).status, 404);
  assert.equal((await fetch(url, { method: 'POST' })).status, 405);

  h.signals.emit('SIGTERM');
  assert.equal(await done, 0);
  assert.ok(h.binding.stopped, 'the tracer was stopped');
  await assert.rejects(fetch(url), 'the server is closed');
  assert.ok(h.err.includes('dropwhy: 30 drops seen, 12 matched, 0 lost'), h.err.join('\n'));
});

test('exporter: a port in use is one line, exit 1, and nothing is loaded', TIMEOUT, async (t) => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  t.after(() => taken.close());
  const port = (taken.address() as { port: number }).port;
  const h = harness(t);
  assert.equal(await runNoTrace(['exporter', '--listen', `127.0.0.1:${port}`], h), 1);
  assert.deepEqual(h.err, [`dropwhy: --listen 127.0.0.1:${port}: the address is already in use`]);
  assert.equal(h.binding.opened.length, 0);
});

test('exporter: a bad --listen and options of other commands are usage errors (exit 2)', TIMEOUT, async (t) => {
  for (const argv of [
    ['exporter', '--listen', 'nowhere'],
    ['exporter', '--listen', '192.0.2.1:10025'],
    ['exporter', '-o', 'json'],
    ['exporter', '--idle-timeout', '0'],
  ]) {
    const h = harness(t);
    assert.equal(await runNoTrace(argv, h), 2, argv.join(' '));
    assert.match(h.err[0], /^dropwhy: /, argv.join(' '));
    assert.equal(h.binding.opened.length, 0, argv.join(' '));
  }
});

test('exporter: without the privileges to trace, exit 3 before listening', TIMEOUT, async (t) => {
  const h = harness(t, { facts: { euid: 1000, capEff: 0n } });
  assert.equal(await runNoTrace(['exporter', '--listen', '127.0.0.1:0'], h), 3);
  assert.equal(h.err.length, 1, h.err.join('\n'));
  assert.ok(!h.err.some((line) => line.includes('serving')));
});
