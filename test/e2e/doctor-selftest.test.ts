// dropwhy doctor and dropwhy selftest on the real machine, as root and
// without the privileges to trace.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import {
  CLI_PATH,
  assertNoStackTrace,
  expectReason,
  expectTextLocation,
  kernelFacts,
  NATIVE_ADDON,
  NFT_DROP_SITES,
  requireRealKernel,
  run,
  scaled,
  type RunResult,
} from './harness';
import { inNetnsArgv } from '../../src/kernel/netns-pair';

/** `nft list tables` here and in each /run/netns namespace; null without nft. */
function listNftTables(): Array<{ ns: string | null; tables: string }> | null {
  const list = (argv: string[]) => execFileSync(argv[0], argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 });
  try {
    list(['nft', 'list', 'tables']);
  } catch {
    return null;
  }
  const named = fs.existsSync('/run/netns') ? fs.readdirSync('/run/netns') : [];
  return [null, ...named].flatMap((ns) => {
    try {
      return [{ ns, tables: list(ns === null ? ['nft', 'list', 'tables'] : inNetnsArgv(ns, 'nft', ['list', 'tables']).flat()) }];
    } catch {
      return []; // a namespace deleted meanwhile
    }
  });
}

/** Doctor's "nft trace" check, from tables named dropwhy_trace_PID whose process is gone. */
function nftTraceChecks(): Array<{ name: string; ok: boolean; required: boolean; detail: string }> {
  const listed = listNftTables();
  if (listed === null) return [];
  const stale = listed.flatMap(({ ns, tables }) =>
    [...tables.matchAll(/^table inet (dropwhy_trace_(\d+))$/gm)]
      .filter((m) => !fs.existsSync(`/proc/${m[2]}`))
      .map((m) => `inet ${m[1]}${ns === null ? '' : ` (netns ${ns})`}`),
  );
  return [
    stale.length === 0
      ? { name: 'nft trace', ok: true, required: false, detail: 'no table left by a killed --nft-trace run' }
      : { name: 'nft trace', ok: false, required: false, detail: `left by a killed --nft-trace run: ${stale.join(', ')}` },
  ];
}

const CHECK_NAMES = [
  'privileges',
  'kernel BTF',
  'native addon',
  'libraries',
  'tracepoint',
  'drop reasons',
  'ring buffer',
  'locations',
  ...nftTraceChecks().map((c) => c.name),
  'tracefs',
];

const dropwhy = (args: string[], timeoutMs = 30_000): Promise<RunResult> => run(process.execPath, [CLI_PATH, ...args], { allowFail: true, timeoutMs });

/**
 * Two ways to lack the privileges, neither depending on where the checkout
 * lies: root with every capability dropped (a container's root), and uid
 * 65534 holding only CAP_DAC_READ_SEARCH, which lets it read a checkout under
 * a 0700 directory and grants nothing that loading BPF needs.
 */
const UNPRIVILEGED = [
  {
    who: 'root without capabilities',
    setpriv: ['--inh-caps=-all', '--ambient-caps=-all', '--bounding-set=-all'],
    detail: 'root without CAP_BPF and CAP_PERFMON',
    fix: 'give this root process CAP_BPF and CAP_PERFMON back (a container: --cap-add BPF --cap-add PERFMON)',
    error:
      'dropwhy: loading the BPF program needs CAP_BPF and CAP_PERFMON, which this root process lacks: ' +
      'give this root process CAP_BPF and CAP_PERFMON back (a container: --cap-add BPF --cap-add PERFMON)\n',
  },
  {
    who: 'uid 65534',
    setpriv: ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all,+dac_read_search', '--ambient-caps=+dac_read_search'],
    detail: 'uid 65534 without CAP_BPF and CAP_PERFMON',
    fix: 'run as root (sudo dropwhy), or grant CAP_BPF and CAP_PERFMON',
    error: 'dropwhy: loading the BPF program needs root, or CAP_BPF and CAP_PERFMON: run dropwhy with sudo\n',
  },
];

// Without NODE_V8_COVERAGE: npm test's coverage files go where only root may write, and node would say so on stderr.
const dropwhyAs = (setpriv: string[], args: string[], timeoutMs = 30_000): Promise<RunResult> =>
  run('setpriv', [...setpriv, 'env', '-u', 'NODE_V8_COVERAGE', process.execPath, CLI_PATH, ...args], { allowFail: true, timeoutMs });

/** The effective capability set a setpriv identity ends up with: proves the identity is what it claims. */
async function effectiveCapabilities(setpriv: string[]): Promise<bigint> {
  const res = await run('setpriv', [...setpriv, 'cat', '/proc/self/status']);
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(res.stdout);
  assert.ok(m, res.stdout);
  return BigInt(`0x${m[1]}`);
}

interface DoctorJson {
  kernel: string;
  can_run: boolean;
  checks: Array<{ name: string; ok: boolean; required: boolean; detail: string; fix?: string }>;
}

/**
 * The checks doctor must print as root on the running kernel, from its facts
 * (harness.kernelFacts: BTF, /proc/kallsyms, tracefs), not from doctor's code:
 * 5.10 has no reason, 6.1 no rx_sk, a kernel with kptr_restrict hides locations.
 */
function expectedChecks(): Array<{ name: string; ok: boolean; required: boolean; detail: string }> {
  const facts = kernelFacts();
  const args = ['skbaddr', 'location', 'reason', 'rx_sk'].filter((arg) => facts.tracepointFields.includes(arg));
  const reasonNames = [...facts.reasons.keys()].filter((name) => name !== 'MAX' && name !== 'SUBSYS_MASK');
  const tracefs = fs.existsSync('/sys/kernel/tracing/events') || fs.existsSync('/sys/kernel/debug/tracing/events');
  return [
    { name: 'privileges', ok: true, required: true, detail: 'root' },
    { name: 'kernel BTF', ok: true, required: true, detail: '/sys/kernel/btf/vmlinux' },
    // a checkout's CLI loads the local build (addon-loader.ts), which the harness reads too
    { name: 'native addon', ok: true, required: true, detail: NATIVE_ADDON },
    { name: 'libraries', ok: true, required: true, detail: `libbpf ${facts.libbpfVersion}` },
    { name: 'tracepoint', ok: true, required: true, detail: `skb:kfree_skb with ${args.join(', ')}` },
    facts.hasReason
      ? { name: 'drop reasons', ok: true, required: false, detail: `${reasonNames.length} names in enum skb_drop_reason` }
      : { name: 'drop reasons', ok: false, required: false, detail: 'this kernel reports no drop reason (before 5.17): "reason" will be null' },
    facts.ringbuf
      ? { name: 'ring buffer', ok: true, required: false, detail: 'BPF ring buffers supported' }
      : { name: 'ring buffer', ok: false, required: true, detail: 'BPF ring buffers not supported' },
    facts.symbolsVisible
      ? { name: 'locations', ok: true, required: false, detail: '/proc/kallsyms readable: locations print as symbol+0xoff' }
      : { name: 'locations', ok: false, required: false, detail: '/proc/kallsyms addresses are hidden: locations print as raw addresses' },
    ...nftTraceChecks(),
    { name: 'tracefs', ok: true, required: false, detail: `${tracefs ? 'mounted' : 'not mounted'} (not needed: dropwhy attaches as tp_btf)` },
  ];
}

test('doctor -o json (root): every check as the kernel facts say, can_run as the required ones say', { timeout: scaled(30_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  const res = await dropwhy(['doctor', '-o', 'json']);
  const expected = expectedChecks();
  const canRun = expected.every((c) => c.ok || !c.required);
  assert.equal(res.code, canRun ? 0 : 3, `exit code; stdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
  assert.equal(res.stderr, '');
  assert.equal(res.stdout.split('\n').filter((l) => l !== '').length, 1, 'one JSON line');
  const doc = JSON.parse(res.stdout) as DoctorJson;
  assert.deepEqual(Object.keys(doc), ['kernel', 'can_run', 'checks']);
  assert.equal(doc.kernel, os.release());
  assert.deepEqual(
    doc.checks.map((c) => c.name),
    CHECK_NAMES,
  );
  assert.deepEqual(
    doc.checks.map(({ name, ok, required, detail }) => ({ name, ok, required, detail })),
    expected,
  );
  assert.equal(doc.can_run, canRun);
  for (const c of doc.checks.filter((c) => !c.ok)) assert.ok(c.fix, `a check that is not ok says what to do: ${JSON.stringify(c)}`);
});

test('doctor (root): the same checks as text, a fix under each one not ok, and the verdict', { timeout: scaled(30_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  const [text, json] = await Promise.all([dropwhy(['doctor']), dropwhy(['doctor', '-o', 'json'])]);
  const checks = (JSON.parse(json.stdout) as DoctorJson).checks;
  const expected = expectedChecks();
  const canRun = expected.every((c) => c.ok || !c.required);
  assert.equal(text.code, canRun ? 0 : 3, `exit code; stdout:\n${text.stdout}\nstderr:\n${text.stderr}`);
  assert.equal(text.stderr, '');
  const lines = [`dropwhy doctor: Linux ${os.release()}`];
  expected.forEach((c, i) => {
    const status = c.ok ? 'ok' : c.required ? 'MISSING' : 'limited';
    lines.push(`${status.padEnd(8)} ${c.name.padEnd(13)} ${c.detail}`);
    if (!c.ok) lines.push(`${''.padEnd(23)}→ ${checks[i].fix}`);
  });
  lines.push(canRun ? 'dropwhy can run here.' : 'dropwhy cannot run here until the MISSING items are fixed.');
  assert.deepEqual(text.stdout.trimEnd().split('\n'), lines);
});

for (const who of UNPRIVILEGED) {
  test(`doctor as ${who.who}: exit 3, privileges MISSING with its fix, ring buffer not probed`, { timeout: scaled(30_000) }, async (t) => {
    if (!requireRealKernel(t)) return;
    const caps = await effectiveCapabilities(who.setpriv);
    for (const cap of [21n, 38n, 39n]) assert.equal((caps >> cap) & 1n, 0n, `capability ${cap} in CapEff ${caps.toString(16)}`);
    const res = await dropwhyAs(who.setpriv, ['doctor']);
    assert.equal(res.code, 3, `exit code; stdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
    assertNoStackTrace(res.stderr);
    const lines = res.stdout.trimEnd().split('\n');
    const missing = lines.filter((l) => l.startsWith('MISSING'));
    assert.deepEqual(missing, [`MISSING  privileges    ${who.detail}`], res.stdout);
    const at = lines.indexOf(missing[0]);
    assert.equal(lines[at + 1].trim(), `→ ${who.fix}`);
    assert.ok(lines.includes('limited  ring buffer   could not probe (needs the privileges above)'), res.stdout);
    assert.ok(lines.includes('ok       kernel BTF    /sys/kernel/btf/vmlinux'), res.stdout);
    assert.equal(lines.at(-1), 'dropwhy cannot run here until the MISSING items are fixed.');

    const json = await dropwhyAs(who.setpriv, ['doctor', '-o', 'json']);
    assert.equal(json.code, 3, json.stderr);
    const doc = JSON.parse(json.stdout) as DoctorJson;
    assert.equal(doc.can_run, false);
    assert.deepEqual(
      doc.checks.filter((c) => !c.ok && c.required).map((c) => c.name),
      ['privileges'],
      json.stdout,
    );
  });
}

test('selftest (root): exit 0, three PASS lines, "selftest: PASS", its namespaces are gone', { timeout: scaled(60_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  const res = await dropwhy(['selftest'], 45_000);
  assert.equal(res.code, 0, `exit code; stdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
  assertNoStackTrace(res.stderr);
  const lines = res.stdout.trimEnd().split('\n');
  const m = /^selftest: namespaces (dwself\d+-a) and (dwself\d+-b), 198\.18\.\d+\.1 → 198\.18\.\d+\.2 over veth$/.exec(lines[0]);
  assert.ok(m, `first line names the namespaces:\n${res.stdout}`);
  // what this kernel reports: no reason before 5.17, no location where kallsyms hides addresses
  const verdict = (what: string, count: number, reason: string, ...sites: string[]) => {
    const where = kernelFacts().symbolsVisible ? `at ${sites.join(' or ')}` : '\\(location not checked: /proc/kallsyms hides addresses\\)';
    const seen = `${expectReason(reason).reason ?? 'no reason'} at ${expectTextLocation(...sites).source}`;
    return new RegExp(`^PASS  ${what}: expected ${count} × ${reason} ${where}, saw ${count} \\(${seen}\\)$`);
  };
  const verdicts = [
    verdict('UDP to a closed port', 3, 'NO_SOCKET', '__udp4_lib_rcv'),
    verdict('nft drop rule', 2, 'NETFILTER_DROP', ...NFT_DROP_SITES),
    /^PASS  nothing else dropped in the test namespace: none$/,
  ];
  assert.equal(lines.length, verdicts.length + 2, res.stdout);
  verdicts.forEach((re, i) => assert.match(lines[i + 1], re));
  assert.ok(!res.stdout.includes('FAIL'), res.stdout);
  assert.equal(lines.at(-1), 'selftest: PASS');
  const list = await run('ip', ['netns', 'list']);
  const names = list.stdout.split('\n').map((l) => l.split(' ')[0]);
  const prefix = m[1].slice(0, -2);
  assert.deepEqual(
    names.filter((n) => n.startsWith(prefix)),
    [],
    `selftest left namespaces behind:\n${list.stdout}`,
  );
  assert.ok(!fs.existsSync(`/run/netns/${m[1]}`) && !fs.existsSync(`/run/netns/${m[2]}`));
});

for (const who of UNPRIVILEGED) {
  test(`selftest as ${who.who}: exit 3 with the privileges message, nothing printed on stdout`, { timeout: scaled(30_000) }, async (t) => {
    if (!requireRealKernel(t)) return;
    const res = await dropwhyAs(who.setpriv, ['selftest']);
    assert.equal(res.code, 3, `exit code; stdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
    assert.equal(res.stdout, '');
    assert.equal(res.stderr, who.error);
  });
}
