// dropwhy explain against the running kernel: the names it lists and checks
// are this kernel's own enum skb_drop_reason (they differ between kernels).
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { CLI_PATH, assertNoStackTrace, kernelFacts, requireRealKernel, run, scaled } from './harness';

/** The kernel's reason names, without the enum's MAX and SUBSYS_MASK markers, in enum order. */
const kernelReasonNames = (): string[] => [...kernelFacts().reasons.keys()].filter((name) => name !== 'MAX' && name !== 'SUBSYS_MASK');

test("explain --list: one line per name of this kernel's enum skb_drop_reason, in its order", { timeout: scaled(30_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  const res = await run(process.execPath, [CLI_PATH, 'explain', '--list'], { timeoutMs: 30_000 });
  assertNoStackTrace(res.stderr);
  const lines = res.stdout.trimEnd().split('\n');
  if (!kernelFacts().hasReason) {
    assert.deepEqual(lines, ['This kernel reports no drop reasons (they arrived in Linux 5.17), or its BTF could not be read.']);
    return;
  }
  const names = kernelReasonNames();
  assert.ok(names.includes('NO_SOCKET') && names.includes('NOT_SPECIFIED'), `a 5.17+ enum: ${names.join(' ')}`);
  assert.deepEqual(
    lines.map((l) => l.split(' ')[0]),
    names,
    res.stdout,
  );
  for (const line of lines) assert.match(line, /^[A-Z0-9_]+ +\S/, `a name and its summary: ${line}`);
});

test("explain of a name this kernel lacks: exit 2 with this kernel's closest names (or, without reasons, the advice)", { timeout: scaled(30_000) }, async (t) => {
  if (!requireRealKernel(t)) return;
  const res = await run(process.execPath, [CLI_PATH, 'explain', 'NO_SOCK'], { timeoutMs: 30_000, allowFail: true });
  assertNoStackTrace(res.stderr);
  if (!kernelFacts().hasReason) {
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^NO_SOCK: /);
    return;
  }
  assert.equal(res.code, 2, res.stderr);
  assert.equal(res.stdout, '');
  const closest = /^dropwhy: explain: this kernel has no drop reason named NO_SOCK; the closest: (.*) \(dropwhy explain --list shows them all\)$/m.exec(res.stderr)?.[1];
  assert.ok(closest, res.stderr);
  const names = closest.split(', ');
  assert.equal(names[0], 'NO_SOCKET');
  for (const name of names) assert.ok(kernelReasonNames().includes(name), `${name} is one of this kernel's reasons`);
});
