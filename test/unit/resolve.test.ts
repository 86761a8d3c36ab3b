// resolveFilter() and resolveInterface(): the filter as written → this machine's: netns paths and
// names → inodes, reason names → this kernel's codes, an interface name → its ifindex.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { UsageError } from '../../src/errors';
import type { FilterSpec } from '../../src/commands/options';
import { resolveFilter, resolveInterface } from '../../src/commands/resolve';
import { OWN_NETNS_PATH, type InterfaceIndex, type StatInode } from '../../src/kernel/netns';
import { ReasonTable } from '../../src/events/reasons';
import { loadReasonTable, reasonCode } from './helpers';

function bytesOf(...values: number[]): Uint8Array {
  const bytes = new Uint8Array(16);
  bytes.set(values);
  return bytes;
}

// ---------------------------------------------------------------------------
// resolveFilter()
// ---------------------------------------------------------------------------

const spec = (overrides: Partial<FilterSpec> = {}): FilterSpec => ({ reasonNames: [], excludedReasonNames: [], ...overrides });

/** A statInode that knows a few paths and records every lookup. */
function fakeStat(known: Record<string, number>): StatInode & { calls: string[] } {
  const calls: string[] = [];
  const stat = ((path: string) => {
    calls.push(path);
    return Object.hasOwn(known, path) ? known[path] : null;
  }) as StatInode & { calls: string[] };
  stat.calls = calls;
  return stat;
}

const noStat: StatInode = (path) => assert.fail(`statInode(${path}) should not be called`);

function assertResolveUsage(fn: () => unknown, pattern: RegExp): UsageError {
  let caught: unknown;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof UsageError, `expected a UsageError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  return caught;
}

test('resolveFilter: packet fields pass through, no netns and no reasons when not asked', () => {
  const srcAddr = { family: 4 as const, bytes: bytesOf(10), prefixLength: 8 };
  const filter = resolveFilter(spec({ proto: 'tcp', port: 443, srcAddr }), loadReasonTable(), noStat);
  assert.deepEqual(filter, { proto: 'tcp', port: 443, srcAddr, dstAddr: undefined });
  assert.equal('netns' in filter, false);
  assert.equal('reasons' in filter, false);
});

test('resolveFilter: netns as an inode number needs no lookup', () => {
  assert.equal(resolveFilter(spec({ netns: '4026531840' }), loadReasonTable(), noStat).netns, 4026531840);
  assert.equal(resolveFilter(spec({ netns: '4294967295' }), loadReasonTable(), noStat).netns, 0xffffffff);
});

test('resolveFilter: netns as /proc/PID/ns/net is stat-ed', () => {
  const stat = fakeStat({ '/proc/1234/ns/net': 4026532100 });
  assert.equal(resolveFilter(spec({ netns: '/proc/1234/ns/net' }), loadReasonTable(), stat).netns, 4026532100);
  assert.deepEqual(stat.calls, ['/proc/1234/ns/net']);
});

test('resolveFilter: netns as /run/netns/NAME and as NAME resolve to the same file', () => {
  const stat = fakeStat({ '/run/netns/blue': 4026532200 });
  assert.equal(resolveFilter(spec({ netns: '/run/netns/blue' }), loadReasonTable(), stat).netns, 4026532200);
  assert.equal(resolveFilter(spec({ netns: 'blue' }), loadReasonTable(), stat).netns, 4026532200);
  assert.deepEqual(stat.calls, ['/run/netns/blue', '/run/netns/blue']);
});

test('resolveFilter: a missing namespace is a UsageError naming the path', () => {
  const stat = fakeStat({});
  const byName = assertResolveUsage(
    () => resolveFilter(spec({ netns: 'nosuch' }), loadReasonTable(), stat),
    /^--filter-netns: expected a network namespace \(\/run\/netns\/nosuch is not one\), got "nosuch"$/,
  );
  assert.ok(byName);
  assertResolveUsage(() => resolveFilter(spec({ netns: '/proc/999999/ns/net' }), loadReasonTable(), stat), /^--filter-netns: .*\/proc\/999999\/ns\/net is not one/);
});

test('resolveFilter: a relative path is not a namespace name', () => {
  assertResolveUsage(() => resolveFilter(spec({ netns: 'proc/1/ns/net' }), loadReasonTable(), noStat), /^--filter-netns: expected /);
});

// src/commands/options.ts resolveNetns() turns NAME into /run/netns/NAME without checking NAME:
// "." and ".." stat /run/netns and /run, directories, whose inodes then filter out every drop.
test('resolveFilter: "." and ".." are not namespace names', () => {
  const stat = fakeStat({ '/run/netns/.': 1001, '/run/netns/..': 1002 });
  for (const name of ['.', '..']) {
    assertResolveUsage(() => resolveFilter(spec({ netns: name }), loadReasonTable(), stat), /^--filter-netns: expected /);
  }
});

test('resolveFilter: inode 0 is not an inode, so it is looked up as a name', () => {
  const stat = fakeStat({});
  assertResolveUsage(() => resolveFilter(spec({ netns: '0' }), loadReasonTable(), stat), /^--filter-netns: /);
  assert.deepEqual(stat.calls, ['/run/netns/0']);
});

test('resolveFilter: reason names become the kernel codes from the fixture', () => {
  const table = loadReasonTable();
  const noSocket = reasonCode('NO_SOCKET');
  const netfilter = reasonCode('NETFILTER_DROP');
  assert.equal(noSocket, 3); // as recorded in test/fixtures/kernel-reasons.json
  assert.equal(netfilter, 12);
  const filter = resolveFilter(spec({ reasonNames: ['NO_SOCKET', 'NETFILTER_DROP'] }), table, noStat);
  assert.deepEqual(filter.reasons, [noSocket, netfilter]);
});

test('resolveFilter: reason names are case-insensitive and may carry SKB_DROP_REASON_', () => {
  const table = loadReasonTable();
  for (const name of ['NO_SOCKET', 'no_socket', 'No_Socket', 'SKB_DROP_REASON_NO_SOCKET', 'skb_drop_reason_no_socket']) {
    assert.deepEqual(resolveFilter(spec({ reasonNames: [name] }), table, noStat).reasons, [3], name);
  }
});

test('resolveFilter: an unknown reason is a UsageError that suggests real names', () => {
  const table = loadReasonTable();
  const error = assertResolveUsage(() => resolveFilter(spec({ reasonNames: ['NO_SOCKT'] }), table, noStat), /^--filter-reason: expected a drop reason of this kernel/);
  assert.match(error.message, /NO_SOCKET/);
  assert.match(error.message, /got "NO_SOCKT"$/);
  const suggestions = /e\.g\. (.*), got/.exec(error.message)?.[1].split(', ') ?? [];
  assert.equal(suggestions.length, 3);
  for (const name of suggestions) assert.notEqual(table.codeOf(name), undefined, `${name} is not a reason`);

  const netfilter = assertResolveUsage(() => resolveFilter(spec({ reasonNames: ['netfilter'] }), table, noStat), /NETFILTER_DROP/);
  assert.ok(netfilter);
});

test('resolveFilter: the markers MAX and SUBSYS_MASK are not reasons', () => {
  const table = loadReasonTable();
  assertResolveUsage(() => resolveFilter(spec({ reasonNames: ['MAX'] }), table, noStat), /^--filter-reason: /);
});

test('resolveFilter: reasons on a kernel without drop reasons', () => {
  const error = assertResolveUsage(
    () => resolveFilter(spec({ reasonNames: ['NO_SOCKET'] }), new ReasonTable(null, null), noStat),
    /^--filter-reason: this kernel reports no drop reasons/,
  );
  assert.match(error.message, /5\.17/);
  // Without --filter-reason the same kernel is fine.
  assert.equal(resolveFilter(spec({ port: 53 }), new ReasonTable(null, null), noStat).reasons, undefined);
});

test('resolveFilter: excluded reason names become codes, beside the included ones', () => {
  const table = loadReasonTable();
  const filter = resolveFilter(spec({ reasonNames: ['NO_SOCKET'], excludedReasonNames: ['netfilter_drop', 'SKB_DROP_REASON_TCP_CSUM'] }), table, noStat);
  assert.deepEqual(filter.reasons, [reasonCode('NO_SOCKET')]);
  assert.deepEqual(filter.excludedReasons, [reasonCode('NETFILTER_DROP'), reasonCode('TCP_CSUM')]);
  assert.equal('excludedReasons' in resolveFilter(spec({ reasonNames: ['NO_SOCKET'] }), table, noStat), false);
});

test('resolveFilter: an unknown excluded reason: the same error as --filter-reason, naming --exclude-reason', () => {
  const table = loadReasonTable();
  const error = assertResolveUsage(
    () => resolveFilter(spec({ excludedReasonNames: ['NO_SOCK'] }), table, noStat),
    /^--exclude-reason: expected a drop reason of this kernel \(see dropwhy explain --list\), e\.g\. NO_SOCKET, .*, got "NO_SOCK"$/,
  );
  assert.ok(error);
  assertResolveUsage(
    () => resolveFilter(spec({ excludedReasonNames: ['NO_SOCKET'] }), new ReasonTable(null, null), noStat),
    /^--exclude-reason: this kernel reports no drop reasons/,
  );
});

test('resolveFilter: suggestions put names that contain the typed text first, then the fewest edits', () => {
  const table = loadReasonTable();
  const suggested = (name: string) => /e\.g\. (.*), got/.exec(assertResolveUsage(() => resolveFilter(spec({ reasonNames: [name] }), table, noStat), /./).message)?.[1];
  assert.match(suggested('NO_SOCK') ?? '', /^NO_SOCKET, /);
  assert.match(suggested('NETFLITER_DROP') ?? '', /^NETFILTER_DROP, /);
  assert.match(suggested('tcp_csumm') ?? '', /^TCP_CSUM, /);
  assert.equal(
    suggested('qdisc')
      ?.split(', ')
      .every((name) => name.startsWith('QDISC_')),
    true,
    suggested('qdisc'),
  );
});

test("resolveFilter: --filter-ifname without --filter-netns filters on dropwhy's own namespace", () => {
  const stat = fakeStat({ [OWN_NETNS_PATH]: 4026531840 });
  const filter = resolveFilter(spec({ ifname: 'eth0' }), loadReasonTable(), stat);
  assert.equal(filter.netns, 4026531840);
  assert.deepEqual(stat.calls, [OWN_NETNS_PATH]);
  // With --filter-netns, that namespace; the own one is not looked at.
  const blue = fakeStat({ '/run/netns/blue': 4026532200, [OWN_NETNS_PATH]: 4026531840 });
  assert.equal(resolveFilter(spec({ ifname: 'eth0', netns: 'blue' }), loadReasonTable(), blue).netns, 4026532200);
  assert.deepEqual(blue.calls, ['/run/netns/blue']);
  assert.throws(() => resolveFilter(spec({ ifname: 'eth0' }), loadReasonTable(), fakeStat({})), /cannot read dropwhy's own network namespace/);
});

/** An InterfaceIndex that knows NETNS/IFNAME keys and records every lookup. */
function fakeInterfaces(known: Record<string, number>): InterfaceIndex & { calls: string[] } {
  const calls: string[] = [];
  const lookup = (async (ifname: string, netns: number) => {
    calls.push(`${netns}/${ifname}`);
    return known[`${netns}/${ifname}`] ?? null;
  }) as InterfaceIndex & { calls: string[] };
  lookup.calls = calls;
  return lookup;
}

test('resolveInterface: the ifindex in the filtered namespace', async () => {
  const lookup = fakeInterfaces({ '4026532200/veth1': 7, '4026531840/veth1': 3 });
  const resolved = await resolveInterface(spec({ ifname: 'veth1', netns: 'blue' }), { netns: 4026532200, port: 53 }, lookup);
  assert.deepEqual(resolved, { netns: 4026532200, port: 53, ifindex: 7 });
  assert.deepEqual(lookup.calls, ['4026532200/veth1']);
  // No --filter-ifname: nothing looked up, nothing added.
  const none = { netns: 4026532200 };
  assert.equal(await resolveInterface(spec({ netns: 'blue' }), none, lookup), none);
  assert.equal(lookup.calls.length, 1);
});

test('resolveInterface: an interface the namespace lacks is a UsageError naming the namespace', async () => {
  const lookup = fakeInterfaces({});
  await assert.rejects(
    resolveInterface(spec({ ifname: 'eth9', netns: 'blue' }), { netns: 4026532200 }, lookup),
    (error: unknown) => error instanceof UsageError && error.message === '--filter-ifname: expected an interface in network namespace blue, got "eth9"',
  );
  await assert.rejects(
    resolveInterface(spec({ ifname: 'eth9' }), { netns: 4026531840 }, lookup),
    (error: unknown) => error instanceof UsageError && error.message === `--filter-ifname: expected an interface in dropwhy's own network namespace (4026531840), got "eth9"`,
  );
});
