// The knowledge base's data, checked as a schema: every hand-written entry, counter link and socket
// fix has the right shape and is keyed by a reason name of the recorded kernel.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ADVICE_ENTRIES, SOCKET_FIXES, SUMMARY_MAX } from '../../src/knowledge/advice-entries';
import { COUNTER_RULES } from '../../src/knowledge/counter-links';
import { loadReasonTable } from './helpers';

const KERNEL_NAMES = new Set(loadReasonTable().names);
const ENTRY_FIELDS = new Set(['summary', 'meaning', 'checks', 'related', 'atFunction']);
// The MIBs' counters, and (issue 25) softnet's, the neighbour tables' and conntrack's.
const COUNTER_NAME = /^((Ip|IpExt|Ip6|Icmp|Icmp6|Tcp|TcpExt|Udp|Udp6|MPTcpExt) [A-Za-z0-9]+|(softnet|arp_cache|ndisc_cache|conntrack) [a-z_]+)$/;
const L4_NAMES = new Set(['udp', 'tcp', 'icmp', 'icmp6', null]);

/** Problems with one line of text, [] when none: empty, blank around it, or more than one line. */
function lineProblems(text: unknown): string[] {
  if (typeof text !== 'string') return [`not a string: ${typeof text}`];
  const problems: string[] = [];
  if (text.trim() === '') problems.push('empty');
  if (text !== text.trim()) problems.push('blank at an end');
  if (text.includes('\n')) problems.push('more than one line');
  return problems;
}

function assertLine(text: unknown, what: string): void {
  assert.deepEqual(lineProblems(text), [], what);
}

function assertCounters(counters: unknown, what: string): void {
  assert.ok(Array.isArray(counters) && counters.length > 0, `${what}: a non-empty list`);
  for (const counter of counters) assert.match(String(counter), COUNTER_NAME, what);
  assert.equal(new Set(counters).size, counters.length, `${what}: a counter twice`);
}

test('lineProblems finds what the schema tests reject', () => {
  assert.deepEqual(lineProblems('Freed with plain kfree_skb()'), []);
  assert.deepEqual(lineProblems(''), ['empty']);
  assert.deepEqual(lineProblems(' padded'), ['blank at an end']);
  assert.deepEqual(lineProblems('two\nlines'), ['more than one line']);
  assert.deepEqual(lineProblems(undefined), ['not a string: undefined']);
});

test('every entry is keyed by a reason of the kernel fixture', () => {
  const names = Object.keys(ADVICE_ENTRIES);
  assert.ok(names.length > 0);
  for (const name of names) assert.ok(KERNEL_NAMES.has(name), `${name} is not a reason of test/fixtures/kernel-reasons.json (a typo, or a newer kernel's)`);
});

test('every entry has a one-line summary of at most SUMMARY_MAX characters, a meaning and checks; related counters are counter names', () => {
  for (const [name, entry] of Object.entries(ADVICE_ENTRIES)) {
    for (const field of Object.keys(entry)) assert.ok(ENTRY_FIELDS.has(field), `${name}: unknown field ${field}`);
    assertLine(entry.summary, `${name}: summary`);
    assert.ok(entry.summary.length <= SUMMARY_MAX, `${name}: summary has ${entry.summary.length} characters`);
    assertLine(entry.meaning, `${name}: meaning`);
    assert.ok(entry.meaning.length >= 40, `${name}: meaning too short`);
    assert.ok(Array.isArray(entry.checks) && entry.checks.length > 0, `${name}: no checks`);
    entry.checks.forEach((check, i) => assertLine(check, `${name}: check ${i}`));
    assert.equal(new Set(entry.checks).size, entry.checks.length, `${name}: a check twice`);
    if (entry.related !== undefined) assertCounters(entry.related, `${name}: related`);
    for (const [fn, there] of Object.entries(entry.atFunction ?? {})) {
      assert.match(fn, /^[a-z_][a-z0-9_.]*$/, `${name}: a function name, without an offset: ${fn}`);
      assertLine(there.summary, `${name} at ${fn}: summary`);
      assert.ok(there.summary.length <= SUMMARY_MAX, `${name} at ${fn}: summary has ${there.summary.length} characters`);
      assert.ok(there.checks.length > 0, `${name} at ${fn}: no checks`);
      there.checks.forEach((check, i) => assertLine(check, `${name} at ${fn}: check ${i}`));
    }
  }
});

test('every counter link is keyed by a reason with an entry, and its rules are well formed', () => {
  for (const [name, rules] of Object.entries(COUNTER_RULES)) {
    assert.ok(KERNEL_NAMES.has(name), `${name} is not a reason of test/fixtures/kernel-reasons.json`);
    assert.ok(ADVICE_ENTRIES[name], `${name} has counter links but no entry`);
    assert.ok(rules.length > 0, `${name}: no rules`);
    for (const rule of rules) {
      assert.deepEqual(Object.keys(rule).sort(), ['counters', 'family', 'protos'], `${name}: rule fields`);
      if (rule.protos !== 'any') {
        assert.ok(rule.protos.length > 0, `${name}: an empty protocol list matches nothing`);
        for (const proto of rule.protos) assert.ok(L4_NAMES.has(proto), `${name}: protocol ${proto}`);
      }
      assert.ok(rule.family === 4 || rule.family === 6 || rule.family === 'any', `${name}: family ${rule.family}`);
      assertCounters(rule.counters, `${name}: linked counters`);
    }
  }
});

test("an entry's related counters are not also its linked counters (related ones are never compared)", () => {
  for (const [name, entry] of Object.entries(ADVICE_ENTRIES)) {
    const linked = new Set((COUNTER_RULES[name] ?? []).flatMap((rule) => rule.counters));
    for (const counter of entry.related ?? []) assert.ok(!linked.has(counter), `${name}: ${counter} is both linked and related`);
  }
});

test('every socket fix is keyed by a reason with an entry, and is one line', () => {
  assert.ok(Object.keys(SOCKET_FIXES).length > 0);
  for (const [name, fix] of Object.entries(SOCKET_FIXES)) {
    assert.ok(KERNEL_NAMES.has(name), `${name} is not a reason of test/fixtures/kernel-reasons.json`);
    assert.ok(ADVICE_ENTRIES[name], `${name} has a socket fix but no entry`);
    assertLine(fix, `${name}: fix`);
  }
});
