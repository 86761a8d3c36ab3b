// dropwhy doctor's pure part: diagnose() on made-up machines, canTrace(),
// and the text and JSON renderings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canTrace, diagnose, kallsymsShows, renderChecks, renderChecksJson, ringbufFact, type Check, type DoctorFacts } from '../../src/commands/doctor';
import { permissionDenied } from '../../src/errors';
import { seccompMode } from '../../src/kernel/seccomp';

const CAP_PERFMON = 1n << 38n;
const CAP_BPF = 1n << 39n;
const FIELDS_6X = ['ent', 'skbaddr', 'location', 'protocol', 'reason', 'rx_sk', '__data'];
const PREBUILD = '/usr/lib/node_modules/dropwhy/prebuilds/linux-x64/dropwhy.node';
const FIELDS_5_10 = ['ent', 'skbaddr', 'location', 'protocol', '__data'];

/** A root process on a machine where everything works. */
function goodFacts(overrides: Partial<DoctorFacts> = {}): DoctorFacts {
  return {
    kernel: '6.18.0-test',
    process: { euid: 0, capEff: (1n << 41n) - 1n, btfPresent: true },
    addon: { path: PREBUILD, libbpfVersion: 'v1.4' },
    tracepointFields: FIELDS_6X,
    reasonNames: 128,
    ringbuf: true,
    tracefs: true,
    kallsyms: 'symbols',
    ...overrides,
  };
}

const byName = (checks: Check[], name: string): Check => {
  const check = checks.find((c) => c.name === name);
  assert.ok(check, `no "${name}" check in ${JSON.stringify(checks.map((c) => c.name))}`);
  return check;
};

/** Status word as renderChecks prints it. */
const status = (c: Check) => (c.ok ? 'ok' : c.required ? 'MISSING' : 'limited');

test('diagnose: everything present -> every check ok, canTrace true', () => {
  const checks = diagnose(goodFacts());
  assert.deepEqual(
    checks.map((c) => [c.name, c.ok, c.required]),
    [
      ['privileges', true, true],
      ['kernel BTF', true, true],
      ['native addon', true, true],
      ['libraries', true, true],
      ['tracepoint', true, true],
      ['drop reasons', true, false],
      ['ring buffer', true, false],
      ['locations', true, false],
      ['tracefs', true, false],
    ],
  );
  assert.equal(canTrace(checks), true);
  assert.equal(byName(checks, 'privileges').detail, 'root');
  assert.equal(byName(checks, 'native addon').detail, PREBUILD);
  assert.equal(byName(checks, 'libraries').detail, 'libbpf v1.4');
  assert.equal(byName(checks, 'tracepoint').detail, 'skb:kfree_skb with skbaddr, location, reason, rx_sk');
  assert.equal(byName(checks, 'drop reasons').detail, '128 names in enum skb_drop_reason');
  assert.equal(byName(checks, 'ring buffer').detail, 'BPF ring buffers supported');
  assert.equal(byName(checks, 'tracefs').detail, 'mounted (not needed: dropwhy attaches as tp_btf)');
});

test('diagnose: a non-root process with CAP_BPF and CAP_PERFMON is privileged', () => {
  const checks = diagnose(goodFacts({ process: { euid: 1000, capEff: CAP_BPF | CAP_PERFMON, btfPresent: true } }));
  assert.equal(byName(checks, 'privileges').ok, true);
  assert.equal(byName(checks, 'privileges').detail, 'CAP_BPF and CAP_PERFMON');
  assert.equal(canTrace(checks), true);
});

test('diagnose: not root, without both capabilities -> privileges MISSING, cannot trace', () => {
  for (const capEff of [0n, CAP_BPF, CAP_PERFMON]) {
    // what gatherFacts reports for such a process: ring buffer not probed, kallsyms zeroed
    const checks = diagnose(goodFacts({ process: { euid: 65534, capEff, btfPresent: true }, ringbuf: null, kallsyms: 'hidden' }));
    const privileges = byName(checks, 'privileges');
    assert.equal(status(privileges), 'MISSING', `capEff ${capEff}`);
    assert.equal(privileges.detail, 'uid 65534 without CAP_BPF and CAP_PERFMON');
    assert.equal(privileges.fix, 'run as root (sudo dropwhy), or grant CAP_BPF and CAP_PERFMON');
    assert.equal(canTrace(checks), false);
    // the only required failure: the rest is limited, not missing
    assert.deepEqual(
      checks.filter((c) => status(c) === 'MISSING').map((c) => c.name),
      ['privileges'],
    );
    assert.deepEqual(
      checks.filter((c) => status(c) === 'limited').map((c) => c.name),
      ['ring buffer', 'locations'],
    );
  }
});

test('diagnose: CAP_SYS_ADMIN alone (all a root process has before 5.8) is privileged', () => {
  const checks = diagnose(goodFacts({ process: { euid: 0, capEff: (1n << 38n) - 1n, btfPresent: true } }));
  assert.equal(byName(checks, 'privileges').ok, true);
  assert.equal(byName(checks, 'privileges').detail, 'root');
});

test('diagnose: root whose capabilities were dropped (a container, setpriv) -> privileges MISSING, names them', () => {
  for (const capEff of [0n, CAP_BPF, CAP_PERFMON, (1n << 21n) - 1n]) {
    const checks = diagnose(goodFacts({ process: { euid: 0, capEff, btfPresent: true }, ringbuf: null }));
    const privileges = byName(checks, 'privileges');
    assert.equal(status(privileges), 'MISSING', `capEff ${capEff}`);
    assert.equal(privileges.detail, 'root without CAP_BPF and CAP_PERFMON');
    assert.equal(privileges.fix, 'give this root process CAP_BPF and CAP_PERFMON back (a container: --cap-add BPF --cap-add PERFMON)');
    assert.equal(canTrace(checks), false);
    // It is root: the other fixes name what it lacks, not "run as root".
    assert.equal(byName(checks, 'ring buffer').fix, 'to probe, give this root process CAP_BPF and CAP_PERFMON back (a container: --cap-add BPF --cap-add PERFMON)');
  }
  const hidden = diagnose(goodFacts({ process: { euid: 0, capEff: 0n, btfPresent: true }, kallsyms: 'hidden' }));
  assert.equal(byName(hidden, 'locations').fix, 'give this root process CAP_SYSLOG, or lower kernel.kptr_restrict');
});

test('diagnose: no kernel BTF -> kernel BTF MISSING, cannot trace, no tracepoint check', () => {
  // gatherFacts does not look at the tracepoint without BTF: tracepointFields stays undefined
  const checks = diagnose(goodFacts({ process: { euid: 0, capEff: (1n << 41n) - 1n, btfPresent: false }, tracepointFields: undefined, reasonNames: undefined }));
  const btf = byName(checks, 'kernel BTF');
  assert.equal(status(btf), 'MISSING');
  assert.equal(btf.detail, '/sys/kernel/btf/vmlinux is missing');
  assert.match(btf.fix ?? '', /CONFIG_DEBUG_INFO_BTF=y/);
  assert.equal(canTrace(checks), false);
  assert.equal(
    checks.some((c) => c.name === 'tracepoint' || c.name === 'drop reasons'),
    false,
  );
});

test('diagnose: no addon that loads -> native addon MISSING with its error and fix, no libraries check, cannot trace', () => {
  const error = 'no native addon for linux-arm64 (neither /p/build/native/Release/dropwhy.node nor /p/prebuilds/linux-arm64/dropwhy.node exists)';
  const fix = 'run npm run build';
  // gatherFacts stops after a failed load: no tracepoint, reason or ring buffer facts
  const checks = diagnose(goodFacts({ addon: { error, fix }, tracepointFields: undefined, reasonNames: undefined, ringbuf: undefined }));
  const addon = byName(checks, 'native addon');
  assert.equal(status(addon), 'MISSING');
  assert.equal(addon.detail, error);
  assert.equal(addon.fix, fix);
  assert.equal(canTrace(checks), false);
  assert.deepEqual(
    checks.map((c) => c.name),
    ['privileges', 'kernel BTF', 'native addon', 'locations', 'tracefs'],
  );
});

test('diagnose: the addon is there but libbpf.so.1 is not -> native addon ok, libraries MISSING with the package to install', () => {
  const error = 'the native addon needs libbpf.so.1, which is not installed';
  const fix = 'install libbpf1 (Debian/Ubuntu) or libbpf (Fedora/RHEL)';
  const facts = goodFacts({ addon: { path: PREBUILD, library: 'libbpf.so.1', error, fix }, tracepointFields: undefined, reasonNames: undefined, ringbuf: undefined });
  const checks = diagnose(facts);
  assert.deepEqual(checks.map((c) => [c.name, status(c)]).slice(2, 4), [
    ['native addon', 'ok'],
    ['libraries', 'MISSING'],
  ]);
  assert.equal(canTrace(checks), false);
  assert.deepEqual(renderChecks(checks, facts.kernel).split('\n').slice(3, 6), [
    `ok       native addon  ${PREBUILD}`,
    `MISSING  libraries     ${error}`,
    `                       → ${fix}`,
  ]);
});

test('diagnose: the tracepoint has no BTF record (null) -> tracepoint MISSING, no drop reasons check', () => {
  const checks = diagnose(goodFacts({ tracepointFields: null, reasonNames: 0 }));
  const tracepoint = byName(checks, 'tracepoint');
  assert.equal(status(tracepoint), 'MISSING');
  assert.equal(tracepoint.detail, 'skb:kfree_skb is not in the kernel BTF');
  assert.match(tracepoint.fix ?? '', /skb:kfree_skb/);
  assert.equal(canTrace(checks), false);
  assert.equal(
    checks.some((c) => c.name === 'drop reasons'),
    false,
  );
});

test('diagnose: a 5.10-like tracepoint without "reason" -> drop reasons limited, can still trace', () => {
  const checks = diagnose(goodFacts({ tracepointFields: FIELDS_5_10, reasonNames: 0 }));
  const tracepoint = byName(checks, 'tracepoint');
  assert.equal(tracepoint.ok, true);
  assert.equal(tracepoint.detail, 'skb:kfree_skb with skbaddr, location');
  const reasons = byName(checks, 'drop reasons');
  assert.equal(status(reasons), 'limited');
  assert.equal(reasons.detail, 'this kernel reports no drop reason (before 5.17): "reason" will be null');
  assert.equal(reasons.fix, 'drop reasons need Linux 5.17 or newer');
  assert.equal(canTrace(checks), true);
});

test('diagnose: "reason" in the tracepoint but no enum names -> drop reasons limited', () => {
  const checks = diagnose(goodFacts({ reasonNames: 0 }));
  assert.equal(status(byName(checks, 'drop reasons')), 'limited');
  assert.equal(canTrace(checks), true);
});

test('diagnose: ring buffers unsupported (false) -> ring buffer MISSING and required, cannot trace', () => {
  const checks = diagnose(goodFacts({ ringbuf: false }));
  const ringbuf = byName(checks, 'ring buffer');
  assert.equal(ringbuf.ok, false);
  assert.equal(ringbuf.required, true);
  assert.equal(ringbuf.detail, 'BPF ring buffers not supported');
  assert.equal(ringbuf.fix, 'BPF ring buffers need Linux 5.8 or newer');
  assert.equal(canTrace(checks), false);
});

test('diagnose: ring buffer not probed (null) -> limited, not required, can trace', () => {
  const checks = diagnose(goodFacts({ ringbuf: null }));
  const ringbuf = byName(checks, 'ring buffer');
  assert.equal(status(ringbuf), 'limited');
  assert.equal(ringbuf.detail, 'could not probe (needs the privileges above)');
  assert.match(ringbuf.fix!, /^to probe, give this root process CAP_BPF and CAP_PERFMON/);
  assert.equal(canTrace(checks), true);
  const user = diagnose(goodFacts({ process: { euid: 1000, capEff: 0n, btfPresent: true }, ringbuf: null }));
  assert.equal(byName(user, 'ring buffer').fix, 'to probe, run as root (sudo dropwhy), or grant CAP_BPF and CAP_PERFMON');
});

test('diagnose: kallsyms hidden or unreadable -> locations limited, can trace', () => {
  const hidden = byName(diagnose(goodFacts({ process: { euid: 1000, capEff: 0n, btfPresent: true }, kallsyms: 'hidden' })), 'locations');
  assert.equal(status(hidden), 'limited');
  assert.equal(hidden.detail, '/proc/kallsyms addresses are hidden: locations print as raw addresses');
  assert.equal(hidden.fix, 'run as root, or lower kernel.kptr_restrict');
  const unreadable = byName(diagnose(goodFacts({ kallsyms: 'unreadable' })), 'locations');
  assert.equal(status(unreadable), 'limited');
  assert.equal(unreadable.detail, '/proc/kallsyms unreadable: locations print as raw addresses');
  assert.equal(canTrace(diagnose(goodFacts({ kallsyms: 'hidden' }))), true);
});

test('diagnose: tracefs missing is fine (tp_btf needs none)', () => {
  const tracefs = byName(diagnose(goodFacts({ tracefs: false })), 'tracefs');
  assert.equal(tracefs.ok, true);
  assert.equal(tracefs.detail, 'not mounted (not needed: dropwhy attaches as tp_btf)');
});

test('canTrace: only failed required checks matter', () => {
  const check = (ok: boolean, required: boolean): Check => ({ name: 'x', ok, required, detail: '' });
  assert.equal(canTrace([]), true);
  assert.equal(canTrace([check(true, true), check(false, false)]), true);
  assert.equal(canTrace([check(true, false), check(false, true)]), false);
});

test('renderChecks: all ok -> status column, no fix lines, "dropwhy can run here."', () => {
  const text = renderChecks(diagnose(goodFacts()), '6.18.0-test');
  assert.equal(
    text,
    [
      'dropwhy doctor: Linux 6.18.0-test',
      'ok       privileges    root',
      'ok       kernel BTF    /sys/kernel/btf/vmlinux',
      `ok       native addon  ${PREBUILD}`,
      'ok       libraries     libbpf v1.4',
      'ok       tracepoint    skb:kfree_skb with skbaddr, location, reason, rx_sk',
      'ok       drop reasons  128 names in enum skb_drop_reason',
      'ok       ring buffer   BPF ring buffers supported',
      'ok       locations     /proc/kallsyms readable: locations print as symbol+0xoff',
      'ok       tracefs       mounted (not needed: dropwhy attaches as tp_btf)',
      'dropwhy can run here.',
      '',
    ].join('\n'),
  );
  assert.ok(!text.includes('→'));
});

test('renderChecks: a → fix line follows each failed check, and only those', () => {
  const facts = goodFacts({ process: { euid: 1000, capEff: 0n, btfPresent: true }, ringbuf: null, kallsyms: 'hidden', tracepointFields: FIELDS_5_10 });
  const lines = renderChecks(diagnose(facts), facts.kernel).trimEnd().split('\n');
  assert.deepEqual(lines, [
    'dropwhy doctor: Linux 6.18.0-test',
    'MISSING  privileges    uid 1000 without CAP_BPF and CAP_PERFMON',
    '                       → run as root (sudo dropwhy), or grant CAP_BPF and CAP_PERFMON',
    'ok       kernel BTF    /sys/kernel/btf/vmlinux',
    `ok       native addon  ${PREBUILD}`,
    'ok       libraries     libbpf v1.4',
    'ok       tracepoint    skb:kfree_skb with skbaddr, location',
    'limited  drop reasons  this kernel reports no drop reason (before 5.17): "reason" will be null',
    '                       → drop reasons need Linux 5.17 or newer',
    'limited  ring buffer   could not probe (needs the privileges above)',
    '                       → to probe, run as root (sudo dropwhy), or grant CAP_BPF and CAP_PERFMON',
    'limited  locations     /proc/kallsyms addresses are hidden: locations print as raw addresses',
    '                       → run as root, or lower kernel.kptr_restrict',
    'ok       tracefs       mounted (not needed: dropwhy attaches as tp_btf)',
    'dropwhy cannot run here until the MISSING items are fixed.',
  ]);
  // every fix line sits right under a check that is not ok
  lines.forEach((line, i) => {
    if (line.trimStart().startsWith('→')) assert.match(lines[i - 1], /^(MISSING|limited) /);
  });
});

test('renderChecks: a failed check without a fix gets no → line', () => {
  const text = renderChecks([{ name: 'custom', ok: false, required: false, detail: 'no fix known' }], '6.1');
  assert.equal(text, 'dropwhy doctor: Linux 6.1\nlimited  custom        no fix known\ndropwhy can run here.\n');
});

test('renderChecksJson: one line {kernel, can_run, checks} with the checks as they are', () => {
  const checks = diagnose(goodFacts({ ringbuf: false }));
  const json = renderChecksJson(checks, '5.4.0-old');
  assert.ok(json.endsWith('\n'));
  assert.equal(json.trimEnd().includes('\n'), false, 'a single line');
  const doc = JSON.parse(json) as { kernel: string; can_run: boolean; checks: Check[] };
  assert.deepEqual(Object.keys(doc), ['kernel', 'can_run', 'checks']);
  assert.equal(doc.kernel, '5.4.0-old');
  assert.equal(doc.can_run, false);
  assert.deepEqual(doc.checks, checks);
  for (const c of doc.checks) {
    assert.deepEqual(Object.keys(c).slice(0, 4), ['name', 'ok', 'required', 'detail']);
    assert.equal(typeof c.ok, 'boolean');
  }
  assert.equal(JSON.parse(renderChecksJson(diagnose(goodFacts()), 'k')).can_run, true);
});

test('kallsymsShows: judged by the first code symbol, not by the per-CPU symbols x86-64 lists at 0', () => {
  const percpu = '0000000000000000 A fixed_percpu_data\n0000000000000000 A __per_cpu_start\n0000000000001000 D cpu_debug_store\n';
  assert.equal(kallsymsShows(`${percpu}ffffffff81000000 T _stext\nffffffff81000010 t startup_64\n`), 'symbols');
  assert.equal(kallsymsShows('ffffffff81000000 T _stext\n'), 'symbols');
  assert.equal(kallsymsShows(`${percpu}0000000000000000 T _stext\n`), 'hidden', 'kptr_restrict: every address 0');
  assert.equal(kallsymsShows('0000000000000000 A fixed_percpu_data\n0000000000000000 W ftrace_stub\n'), 'hidden');
  assert.equal(kallsymsShows(percpu), undefined, 'no code symbol read yet');
});

test('diagnose: a table left by a killed --nft-trace run is reported (limited), with how to remove it', () => {
  const tables = [
    { table: 'dropwhy_trace_4242', netns: null },
    { table: 'dropwhy_trace_7', netns: 'blue' },
  ];
  const stale = byName(diagnose(goodFacts({ staleNftTables: tables })), 'nft trace');
  assert.deepEqual([stale.ok, stale.required], [false, false]);
  assert.equal(stale.detail, 'left by a killed --nft-trace run: inet dropwhy_trace_4242, inet dropwhy_trace_7 (netns blue)');
  // The exact commands, with each table's name and namespace.
  assert.equal(
    stale.fix,
    'the next dropwhy --nft-trace in that namespace removes it, or: nft delete table inet dropwhy_trace_4242; ip netns exec blue nft delete table inet dropwhy_trace_7',
  );
  assert.equal(byName(diagnose(goodFacts({ staleNftTables: [] })), 'nft trace').ok, true);
  assert.equal(
    diagnose(goodFacts({ staleNftTables: null })).some((c) => c.name === 'nft trace'),
    false,
    'no nft: nothing to say',
  );
});

// A container runtime's default seccomp profile from before CAP_BPF (podman 4.3's, older Docker's and
// containerd's) refuses bpf() with EPERM to a process holding CAP_BPF and CAP_PERFMON. The image check
// (scripts/image-check.sh) shows it on the real thing; these are its facts.
const CONTAINER = { euid: 0, capEff: CAP_BPF | CAP_PERFMON | (1n << 34n) | (1n << 24n), btfPresent: true };

test('diagnose: a seccomp filter that refuses bpf() -> seccomp MISSING with its fix, ring buffer not called unsupported', () => {
  const facts = goodFacts({ process: CONTAINER, seccomp: 'filter', ringbuf: 'EPERM' });
  const checks = diagnose(facts);
  assert.deepEqual(
    checks.filter((c) => !c.ok).map((c) => [c.name, status(c)]),
    [
      ['seccomp', 'MISSING'],
      ['ring buffer', 'limited'],
    ],
  );
  assert.equal(canTrace(checks), false);
  const lines = renderChecks(checks, facts.kernel).split('\n');
  assert.deepEqual(lines.slice(1, 4), [
    'ok       privileges    root',
    'MISSING  seccomp       a seccomp filter refuses bpf() although this process holds CAP_BPF and CAP_PERFMON',
    '                       → run it without that filter: Kubernetes seccompProfile type Unconfined (as deploy/kubernetes/ does), docker or podman --security-opt seccomp=unconfined',
  ]);
  assert.ok(lines.includes('limited  ring buffer   could not probe: bpf() failed with EPERM'), lines.join('\n'));
  assert.equal(
    lines.some((l) => l.includes('5.8')),
    false,
    'a refused probe says nothing about the kernel version',
  );
});

test("diagnose: every command's load error under that filter says what doctor says", () => {
  const seccomp = byName(diagnose(goodFacts({ process: CONTAINER, seccomp: 'filter', ringbuf: 'EPERM' })), 'seccomp');
  const error = permissionDenied('load', 'filter');
  assert.ok(error.startsWith('permission denied at load: '), error);
  assert.ok(error.includes(seccomp.detail) && error.includes(seccomp.fix!), error);
  // without a filter, EPERM is a missing privilege
  for (const mode of ['none', 'strict', null] as const) {
    assert.equal(permissionDenied('load', mode), 'permission denied at load: root, or CAP_BPF and CAP_PERFMON, is needed (try sudo)');
  }
});

test('diagnose: a seccomp filter that allows bpf() -> seccomp ok, said once', () => {
  const checks = diagnose(goodFacts({ process: CONTAINER, seccomp: 'filter', ringbuf: true }));
  const seccomp = byName(checks, 'seccomp');
  assert.deepEqual([seccomp.ok, seccomp.detail], [true, 'a seccomp filter is on, and it allows bpf()']);
  assert.equal(canTrace(checks), true);
  assert.deepEqual(checks.map((c) => c.name).slice(0, 3), ['privileges', 'seccomp', 'kernel BTF']);
});

test('diagnose: no filter, or nothing probed -> no seccomp check', () => {
  for (const facts of [
    goodFacts({ seccomp: 'none' }),
    goodFacts({ seccomp: null }),
    goodFacts({ seccomp: 'filter', process: { euid: 1000, capEff: 0n, btfPresent: true }, ringbuf: null }),
    goodFacts({ seccomp: 'filter', ringbuf: undefined, addon: { error: 'no addon', fix: 'build it' } }),
  ]) {
    assert.equal(
      diagnose(facts).some((c) => c.name === 'seccomp'),
      false,
      JSON.stringify(facts, (_k, v) => (typeof v === 'bigint' ? String(v) : v)),
    );
  }
});

test('diagnose: EPERM without a seccomp filter -> ring buffer MISSING, names user namespaces and LSMs, not seccomp', () => {
  const checks = diagnose(goodFacts({ process: CONTAINER, seccomp: 'none', ringbuf: 'EPERM' }));
  const ringbuf = byName(checks, 'ring buffer');
  assert.equal(status(ringbuf), 'MISSING');
  assert.equal(ringbuf.detail, 'could not probe: bpf() failed with EPERM although this process holds CAP_BPF and CAP_PERFMON');
  assert.match(ringbuf.fix!, /user namespace.*hostUsers.*LSM/);
  assert.equal(canTrace(checks), false);
});

test('diagnose: another errno from the probe -> ring buffer limited, named, not called unsupported', () => {
  const ringbuf = byName(diagnose(goodFacts({ seccomp: 'filter', ringbuf: 'ENOMEM' })), 'ring buffer');
  assert.equal(status(ringbuf), 'limited');
  assert.equal(ringbuf.detail, 'could not probe: bpf() failed with ENOMEM');
  assert.equal(byName(diagnose(goodFacts({ seccomp: 'filter', ringbuf: 'ENOMEM' })), 'seccomp').ok, true);
});

test('ringbufFact: 0 is supported, EINVAL a kernel without ring buffers, any other errno by its name', () => {
  assert.equal(ringbufFact(0), true);
  assert.equal(ringbufFact(22), false);
  assert.equal(ringbufFact(1), 'EPERM');
  assert.equal(ringbufFact(12), 'ENOMEM');
  assert.equal(ringbufFact(100_000), 'errno 100000');
});

test('seccompMode: the Seccomp field of /proc/PID/status', () => {
  const status = (mode: string) => `Name:\tnode\nCapEff:\t000001c001000000\nNoNewPrivs:\t1\n${mode}Speculation_Store_Bypass:\tthread force mitigated\n`;
  assert.equal(seccompMode(status('Seccomp:\t0\n')), 'none');
  assert.equal(seccompMode(status('Seccomp:\t1\n')), 'strict');
  assert.equal(seccompMode(status('Seccomp:\t2\nSeccomp_filters:\t1\n')), 'filter');
  assert.equal(seccompMode(status('')), null, 'a kernel without CONFIG_SECCOMP has no such field');
  assert.equal(seccompMode(status('Seccomp:\t7\n')), null);
});
