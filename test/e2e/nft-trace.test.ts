// --nft-trace: every NETFILTER_DROP names the rule (or chain policy) that
// dropped it, read back from the ruleset with nft -a here, not from dropwhy;
// and the trace table leaves with dropwhy: SIGINT, --count, SIGKILL + restart.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import {
  assertDrops,
  expectReason,
  kernelFacts,
  loadNftRuleset,
  requireRealKernel,
  run,
  sendUdp,
  sleep,
  startDropwhy,
  traceWhile,
  withNetnsPair,
  scaled,
  type DropEvent,
} from './harness';
import { inNetnsArgv } from '../../src/kernel/netns-pair';

/** The handle nft gives the rule of this chain whose listing contains text. */
async function ruleHandle(ns: string, family: string, table: string, chain: string, text: string): Promise<number> {
  const { stdout } = await run(...inNetnsArgv(ns, 'nft', ['-a', 'list', 'chain', family, table, chain]), { timeoutMs: 10_000 });
  const line = stdout.split('\n').find((l) => l.includes(text) && l.includes('# handle'));
  assert.ok(line, `no rule with "${text}" in ${family} ${table} ${chain}:\n${stdout}`);
  return Number(/# handle (\d+)/.exec(line)![1]);
}

async function dropwhyTables(ns: string): Promise<string[]> {
  const { stdout } = await run(...inNetnsArgv(ns, 'nft', ['list', 'tables']), { timeoutMs: 10_000 });
  return stdout.split('\n').filter((l) => l.includes('dropwhy_trace_'));
}

/** Whether the namespace runs no process (an orphaned nft monitor would), waiting up to 5 s. */
async function noProcessIn(ns: string): Promise<boolean> {
  const deadline = Date.now() + 5_000;
  for (;;) {
    const { stdout } = await run('ip', ['netns', 'pids', ns], { timeoutMs: 10_000 });
    if (stdout.trim() === '') return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}

const traceArgs = (ns: string) => ['-o', 'json', '--nft-trace', '--filter-netns', ns, '--filter-proto', 'udp'];
const byPort = (events: DropEvent[], port: number) => events.filter((e) => e.dport === port);

function skipWithoutReasons(t: { skip(message: string): void }): boolean {
  if (kernelFacts().hasReason) return false;
  t.skip('NETFILTER_DROP needs drop reasons (Linux 5.17)');
  return true;
}

test('--nft-trace: two nft drop rules: each drop names its own rule by handle', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t) || skipWithoutReasons(t)) return;
  await withNetnsPair(async (p) => {
    await loadNftRuleset(
      p.nsB,
      'table inet dwfw {\n  chain input {\n    type filter hook input priority 0; policy accept;\n' + '    udp dport 7781 counter drop\n    udp dport 7782 drop\n  }\n}\n',
    );
    const handles = [await ruleHandle(p.nsB, 'inet', 'dwfw', 'input', 'dport 7781'), await ruleHandle(p.nsB, 'inet', 'dwfw', 'input', 'dport 7782')];
    assert.notEqual(handles[0], handles[1]);
    const { res } = await traceWhile(traceArgs(p.nsB), async () => {
      // Interleaved, from one source port: only the destination port tells the drops apart.
      for (let i = 0; i < 3; i++) {
        await sendUdp(p.nsA, p.v4B, 7781, 1, { srcPort: 40011 });
        await sendUdp(p.nsA, p.v4B, 7782, 1, { srcPort: 40011 });
      }
    });
    assertDrops(res.events, 6, { ...expectReason('NETFILTER_DROP'), saddr: p.v4A, daddr: p.v4B, proto: 'udp' });
    for (const [port, handle, text] of [
      [7781, handles[0], 'udp dport 7781 counter drop'],
      [7782, handles[1], 'udp dport 7782 drop'],
    ] as const) {
      const drops = byPort(res.events, port);
      assert.equal(drops.length, 3, `drops to ${port}`);
      for (const e of drops) assert.deepEqual(e.rule, { family: 'inet', table: 'dwfw', chain: 'input', handle, text, verdict: 'drop' });
    }
    assert.deepEqual(await dropwhyTables(p.nsB), [], 'trace table left after SIGINT');
  });
});

test('--nft-trace: an iptables-nft DROP rule and a chain policy drop, over IPv4 and IPv6', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t) || skipWithoutReasons(t)) return;
  await withNetnsPair(async (p) => {
    await run(...inNetnsArgv(p.nsB, 'iptables-nft', ['-w', '5', '-A', 'INPUT', '-p', 'udp', '--dport', '7783', '-j', 'DROP']), { timeoutMs: 10_000 });
    // Policy drop for UDP to 7784 and beyond; what goes to 7783 meets iptables first (its priority 0 vs 10).
    await loadNftRuleset(
      p.nsB,
      'table inet dwpol {\n  chain input {\n    type filter hook input priority 10; policy drop;\n    udp dport != 7784 accept\n    meta l4proto != udp accept\n  }\n}\n',
    );
    const iptablesHandle = await ruleHandle(p.nsB, 'ip', 'filter', 'INPUT', 'dport 7783');
    const { res } = await traceWhile(traceArgs(p.nsB), async () => {
      await sendUdp(p.nsA, p.v4B, 7783, 2, { srcPort: 40021 });
      await sendUdp(p.nsA, p.v4B, 7784, 2, { srcPort: 40022 });
      await sendUdp(p.nsA, p.v6B, 7784, 2, { srcPort: 40023 });
    });
    assertDrops(res.events, 6, expectReason('NETFILTER_DROP'));
    for (const e of byPort(res.events, 7783)) {
      assert.deepEqual(e.rule, { family: 'ip', table: 'filter', chain: 'INPUT', handle: iptablesHandle, text: 'udp dport 7783 counter drop', verdict: 'drop' });
    }
    const policy = byPort(res.events, 7784);
    assert.deepEqual(policy.map((e) => e.family).sort(), ['ipv4', 'ipv4', 'ipv6', 'ipv6']);
    for (const e of policy) assert.deepEqual(e.rule, { family: 'inet', table: 'dwpol', chain: 'input', handle: null, text: 'policy drop', verdict: 'drop' });
  });
});

test('--nft-trace: iptables-legacy rules: one warning line, and their drops name no rule', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t) || skipWithoutReasons(t)) return;
  await withNetnsPair(async (p) => {
    await run(...inNetnsArgv(p.nsB, 'iptables-legacy', ['-w', '5', '-A', 'INPUT', '-p', 'udp', '--dport', '7786', '-j', 'DROP']), { timeoutMs: 10_000 });
    const { res } = await traceWhile(traceArgs(p.nsB), () => sendUdp(p.nsA, p.v4B, 7786, 2, { srcPort: 40041 }));
    assertDrops(res.events, 2, { ...expectReason('NETFILTER_DROP'), dport: 7786, rule: null });
    const warnings = res.stderr.split('\n').filter((l) => l.includes('iptables-legacy'));
    assert.deepEqual(warnings, ['dropwhy: --nft-trace: this namespace has iptables-legacy rules; their drops show no rule (only nftables and iptables-nft are traced)']);
  });
});

test("--nft-trace: the table is there while tracing and gone after --count; a SIGKILLed run's table goes at the next start", { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t) || skipWithoutReasons(t)) return;
  await withNetnsPair(async (p) => {
    await loadNftRuleset(p.nsB, 'table inet dwfw {\n  chain input {\n    type filter hook input priority 0;\n    udp dport 7785 drop\n  }\n}\n');

    const counted = await startDropwhy([...traceArgs(p.nsB), '--count', '1']);
    try {
      assert.deepEqual(await dropwhyTables(p.nsB), [`table inet dropwhy_trace_${counted.child.pid}`]);
      await sendUdp(p.nsA, p.v4B, 7785, 1, { srcPort: 40031 });
      const res = await counted.waitExit(15_000);
      assert.equal(res.code, 0, res.stderr);
      assert.equal(res.events.length, 1);
      assert.equal(res.events[0].rule?.table, 'dwfw');
    } finally {
      counted.kill();
    }
    assert.deepEqual(await dropwhyTables(p.nsB), [], 'trace table left after --count');

    const killed = await startDropwhy(traceArgs(p.nsB));
    try {
      killed.child.kill('SIGKILL');
      await killed.waitExit(10_000).catch(() => undefined);
    } finally {
      killed.kill();
    }
    assert.deepEqual(await dropwhyTables(p.nsB), [`table inet dropwhy_trace_${killed.child.pid}`], 'SIGKILL leaves the table (the test needs it to)');
    assert.ok(await noProcessIn(p.nsB), 'nft monitor trace outlived the SIGKILLed dropwhy');

    const next = await startDropwhy(traceArgs(p.nsB));
    let stderr = '';
    try {
      assert.deepEqual(await dropwhyTables(p.nsB), [`table inet dropwhy_trace_${next.child.pid}`], 'the stale table is gone once the next run is ready');
      stderr = (await next.stop()).stderr;
    } finally {
      next.kill();
    }
    assert.match(stderr, new RegExp(`removed nftables table inet dropwhy_trace_${killed.child.pid} left by a run that was killed`));
    assert.deepEqual(await dropwhyTables(p.nsB), []);
  });
});

test('summary --nft-trace: the total counts NETFILTER_DROP per rule, and the table goes with it', { timeout: scaled(90_000) }, async (t) => {
  if (!requireRealKernel(t) || skipWithoutReasons(t)) return;
  await withNetnsPair(async (p) => {
    await loadNftRuleset(
      p.nsB,
      'table inet dwfw {\n  chain input {\n    type filter hook input priority 0; policy accept;\n    udp dport 7787 drop\n    udp dport 7788 drop\n  }\n}\n',
    );
    const handles = [await ruleHandle(p.nsB, 'inet', 'dwfw', 'input', 'dport 7787'), await ruleHandle(p.nsB, 'inet', 'dwfw', 'input', 'dport 7788')];
    const dw = await startDropwhy(['summary', ...traceArgs(p.nsB)]);
    let res: Awaited<ReturnType<typeof dw.stop>>;
    try {
      await sendUdp(p.nsA, p.v4B, 7787, 3, { srcPort: 40051 });
      await sendUdp(p.nsA, p.v4B, 7788, 1, { srcPort: 40052 });
      res = await dw.stop();
    } finally {
      dw.kill();
    }
    assert.equal(res.code, 0, res.stderr);
    const total = res.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((r) => r.type === 'total');
    assert.ok(total, res.stdout);
    assert.deepEqual(total.rules, [
      { family: 'inet', table: 'dwfw', chain: 'input', handle: handles[0], text: 'udp dport 7787 drop', verdict: 'drop', count: 3 },
      { family: 'inet', table: 'dwfw', chain: 'input', handle: handles[1], text: 'udp dport 7788 drop', verdict: 'drop', count: 1 },
    ]);
    assert.deepEqual(await dropwhyTables(p.nsB), []);
  });
});
