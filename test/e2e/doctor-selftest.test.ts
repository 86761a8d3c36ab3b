// dropwhy doctor and dropwhy selftest on the real machine, as root and
// without the privileges to trace.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { CLI_PATH, assertNoStackTrace, requireRealKernel, run, type RunResult } from './harness';

const CHECK_NAMES = ['privileges', 'kernel BTF', 'native addon', 'tracepoint', 'drop reasons', 'ring buffer', 'locations', 'tracefs'];

const dropwhy = (args: string[], timeoutMs = 30_000): Promise<RunResult> =>
  run(process.execPath, [CLI_PATH, ...args], { allowFail: true, timeoutMs });

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
      'dropwhy: dropwhy needs CAP_BPF and CAP_PERFMON to load its BPF program, and this root process lacks them: ' +
      'give this root process CAP_BPF and CAP_PERFMON back (a container: --cap-add BPF --cap-add PERFMON)\n',
  },
  {
    who: 'uid 65534',
    setpriv: ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all,+dac_read_search', '--ambient-caps=+dac_read_search'],
    detail: 'uid 65534 without CAP_BPF and CAP_PERFMON',
    fix: 'run as root (sudo dropwhy), or grant CAP_BPF and CAP_PERFMON',
    error: 'dropwhy: dropwhy needs root, or CAP_BPF and CAP_PERFMON, to load its BPF program: run it with sudo\n',
  },
];

const dropwhyAs = (setpriv: string[], args: string[], timeoutMs = 30_000): Promise<RunResult> =>
  run('setpriv', [...setpriv, process.execPath, CLI_PATH, ...args], { allowFail: true, timeoutMs });

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

test('doctor (root, this machine): exit 0, every check ok, "dropwhy can run here."', { timeout: 30_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  const res = await dropwhy(['doctor']);
  assert.equal(res.code, 0, `exit code; stdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
  assert.equal(res.stderr, '');
  const lines = res.stdout.trimEnd().split('\n');
  assert.equal(lines[0], `dropwhy doctor: Linux ${os.release()}`);
  assert.equal(lines.at(-1), 'dropwhy can run here.');
  const checks = lines.slice(1, -1);
  assert.equal(checks.length, CHECK_NAMES.length, res.stdout);
  checks.forEach((line, i) => {
    assert.match(line, /^ok {7}\S/, `not ok: ${line}`);
    assert.equal(line.slice(9, 9 + 13).trimEnd(), CHECK_NAMES[i], line);
  });
  assert.ok(!res.stdout.includes('→'), `no fix lines when everything is ok:\n${res.stdout}`);
  assert.ok(lines.includes('ok       privileges    root'), res.stdout);
});

test('doctor -o json (root): can_run true, tracepoint has reason and rx_sk', { timeout: 30_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  const res = await dropwhy(['doctor', '-o', 'json']);
  assert.equal(res.code, 0, `exit code; stderr:\n${res.stderr}`);
  assert.equal(res.stdout.split('\n').filter((l) => l !== '').length, 1, 'one JSON line');
  const doc = JSON.parse(res.stdout) as DoctorJson;
  assert.deepEqual(Object.keys(doc), ['kernel', 'can_run', 'checks']);
  assert.equal(doc.kernel, os.release());
  assert.equal(doc.can_run, true);
  assert.deepEqual(doc.checks.map((c) => c.name), CHECK_NAMES);
  for (const c of doc.checks) assert.equal(c.ok, true, JSON.stringify(c));
  const tracepoint = doc.checks.find((c) => c.name === 'tracepoint')!;
  assert.equal(tracepoint.required, true);
  assert.match(tracepoint.detail, /\breason\b/);
  assert.match(tracepoint.detail, /\brx_sk\b/);
  assert.equal(tracepoint.detail, 'skb:kfree_skb with skbaddr, location, reason, rx_sk');
  assert.match(doc.checks.find((c) => c.name === 'drop reasons')!.detail, /^[1-9]\d* names in enum skb_drop_reason$/);
  assert.equal(doc.checks.find((c) => c.name === 'privileges')!.detail, 'root');
});

for (const who of UNPRIVILEGED) {
  test(`doctor as ${who.who}: exit 3, privileges MISSING with its fix, ring buffer not probed`, { timeout: 30_000 }, async (t) => {
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

test('selftest (root): exit 0, three PASS lines, "selftest: PASS", its namespaces are gone', { timeout: 60_000 }, async (t) => {
  if (!requireRealKernel(t)) return;
  const res = await dropwhy(['selftest'], 45_000);
  assert.equal(res.code, 0, `exit code; stdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
  assertNoStackTrace(res.stderr);
  const lines = res.stdout.trimEnd().split('\n');
  const m = /^selftest: namespaces (dwself\d+-a) and (dwself\d+-b), 198\.18\.\d+\.1 → 198\.18\.\d+\.2 over veth$/.exec(lines[0]);
  assert.ok(m, `first line names the namespaces:\n${res.stdout}`);
  const verdicts = [
    /^PASS  UDP to a closed port: expected 3 × NO_SOCKET at __udp4_lib_rcv, saw 3 \(NO_SOCKET at __udp4_lib_rcv\+0x[0-9a-f]+\)$/,
    /^PASS  nft drop rule: expected 2 × NETFILTER_DROP at nft_do_chain or nf_hook_slow, saw 2 \(NETFILTER_DROP at (nft_do_chain|nf_hook_slow)\+0x[0-9a-f]+\)$/,
    /^PASS  nothing else dropped in the test namespace: none$/,
  ];
  assert.equal(lines.length, verdicts.length + 2, res.stdout);
  verdicts.forEach((re, i) => assert.match(lines[i + 1], re));
  assert.ok(!res.stdout.includes('FAIL'), res.stdout);
  assert.equal(lines.at(-1), 'selftest: PASS');
  const list = await run('ip', ['netns', 'list']);
  const names = list.stdout.split('\n').map((l) => l.split(' ')[0]);
  const prefix = m[1].slice(0, -2);
  assert.deepEqual(names.filter((n) => n.startsWith(prefix)), [], `selftest left namespaces behind:\n${list.stdout}`);
  assert.ok(!fs.existsSync(`/run/netns/${m[1]}`) && !fs.existsSync(`/run/netns/${m[2]}`));
});

for (const who of UNPRIVILEGED) {
  test(`selftest as ${who.who}: exit 3 with the privileges message, nothing printed on stdout`, { timeout: 30_000 }, async (t) => {
    if (!requireRealKernel(t)) return;
    const res = await dropwhyAs(who.setpriv, ['selftest']);
    assert.equal(res.code, 3, `exit code; stdout:\n${res.stdout}\nstderr:\n${res.stderr}`);
    assert.equal(res.stdout, '');
    assert.equal(res.stderr, who.error);
  });
}
