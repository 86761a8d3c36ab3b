// `dropwhy explain`: the advice for a reason as text, and the list of the kernel's reasons.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { explain } from '../../src/knowledge/advice';
import { missingReason, renderExplanation, renderReasonList } from '../../src/output/explain';
import { loadReasonTable } from './helpers';

const KERNEL_NAMES = loadReasonTable().names;
const NO_ADVICE_LINE = '(dropwhy has no specific advice for this reason yet: the text above is derived from its name.)';

/** Joins wrapped lines back into words. */
const unwrap = (text: string) => text.split(/\s+/).filter(Boolean).join(' ');

test('a known reason: summary line, meaning, counters and what to check', () => {
  const text = renderExplanation('SOCKET_RCVBUFF', KERNEL_NAMES);
  const advice = explain('SOCKET_RCVBUFF').advice;
  const lines = text.split('\n');
  assert.equal(lines[0], `SOCKET_RCVBUFF: ${advice.summary}`);
  assert.equal(lines[1], '');
  assert.ok(text.endsWith('\n') && !text.endsWith('\n\n'), 'ends with exactly one newline');

  const countersAt = lines.indexOf('Counters that show it:');
  const checksAt = lines.indexOf('What to check:');
  assert.ok(countersAt > 2, text);
  assert.ok(checksAt > countersAt, text);
  assert.equal(unwrap(lines.slice(2, countersAt).join('\n')), advice.meaning, 'the meaning, wrapped but complete');
  assert.equal(lines[countersAt + 1], '  Udp RcvbufErrors, Udp InErrors, Udp6 RcvbufErrors, Udp6 InErrors (nstat -az to read them)');

  const checkLines = lines.slice(checksAt + 1, -1);
  assert.equal(checkLines.filter((l) => l.startsWith('  - ')).length, advice.checks.length, 'one bullet per check');
  for (const line of checkLines.filter((l) => !l.startsWith('  - '))) assert.match(line, /^ {4}\S/, `continuation indent: ${line}`);
  assert.equal(unwrap(checkLines.join('\n')), advice.checks.map((c) => `- ${c}`).join(' '));

  assert.ok(!text.includes('Note: the running kernel'), 'the kernel knows SOCKET_RCVBUFF');
  assert.ok(!text.includes(NO_ADVICE_LINE), 'hand-written advice');
});

test('the meaning and the checks are wrapped at 100 columns for every reason of the kernel', () => {
  for (const name of KERNEL_NAMES) {
    // Only these sections go through wrap(): the first line (NAME: summary) and the counters line do not.
    const lines = renderExplanation(name, KERNEL_NAMES).split('\n');
    const countersAt = lines.indexOf('Counters that show it:');
    const wrapped = [...lines.slice(1, countersAt), ...lines.slice(lines.indexOf('What to check:'))];
    assert.ok(wrapped.length > 4, name);
    for (const line of wrapped) {
      assert.ok(line.length <= 100, `${name}: ${line.length} columns: ${line}`);
    }
  }
});

test('the name is normalized: lower case and the SKB_DROP_REASON_ prefix', () => {
  const expected = renderExplanation('NO_SOCKET', KERNEL_NAMES);
  assert.equal(renderExplanation('no_socket', KERNEL_NAMES), expected);
  assert.equal(renderExplanation('SKB_DROP_REASON_NO_SOCKET', KERNEL_NAMES), expected);
  assert.ok(expected.startsWith('NO_SOCKET: '));
});

// Issue 25: no reason claims the kernel counts it nowhere else; one without a known counter says dropwhy knows none.
test('a reason without counters says dropwhy knows none', () => {
  assert.deepEqual(explain('NEIGH_FAILED').advice.counters, []);
  const lines = renderExplanation('NEIGH_FAILED', KERNEL_NAMES).split('\n');
  assert.equal(lines[lines.indexOf('Counters that show it:') + 1], '  none that dropwhy knows of: no counter it reads moves one to one with this drop');
  const none = renderExplanation('SOME_BRAND_NEW_THING', KERNEL_NAMES).split('\n');
  assert.equal(none[none.indexOf('Counters that show it:') + 1], '  none that dropwhy knows of: no counter it reads moves one to one with this drop');
});

test('counters beyond the MIBs: the device, qdisc and neighbour-table counters of FULL_RING, QDISC_DROP, NEIGH_QUEUEFULL', () => {
  const counters = (reason: string) => {
    const lines = renderExplanation(reason, KERNEL_NAMES).split('\n');
    return lines
      .slice(lines.indexOf('Counters that show it:') + 1)
      .join(' ')
      .replace(/\s+/g, ' ');
  };
  assert.match(counters('FULL_RING'), /dev DEV tx_dropped of tun devices at tun_net_xmit/);
  assert.match(counters('FULL_RING'), /dev DEV rx_dropped of macvtap\/ipvtap devices at tap_handle_frame/);
  assert.match(counters('QDISC_DROP'), /qdisc DEV root drops at __dev_queue_xmit/);
  assert.match(counters('NEIGH_QUEUEFULL'), /arp_cache unresolved_discards, ndisc_cache unresolved_discards/);
  assert.match(counters('CPU_BACKLOG'), /softnet dropped/);
  assert.match(counters('CPU_BACKLOG'), /dropwhy diagnose reads them all/);
  assert.match(counters('NO_SOCKET'), /nstat -az to read them/);
});

test('a name the running kernel does not have: a note, before the counters', () => {
  // A hand-written reason, on a kernel that lacks it.
  const text = renderExplanation('SOCKET_RCVBUFF', ['NO_SOCKET', 'NETFILTER_DROP']);
  const lines = text.split('\n');
  const note = lines.indexOf('Note: the running kernel has no drop reason named SOCKET_RCVBUFF.');
  assert.ok(note > 0, text);
  assert.equal(lines[note + 1], '');
  assert.ok(note < lines.indexOf('Counters that show it:'));
  assert.ok(!text.includes(NO_ADVICE_LINE));

  // Unknown names are normalized before the note.
  assert.match(renderExplanation('no_such_reason', KERNEL_NAMES), /^Note: the running kernel has no drop reason named NO_SUCH_REASON\.$/m);
});

test('no note when the kernel names are unknown, or for subsystem reasons', () => {
  assert.ok(!renderExplanation('NO_SUCH_REASON', null).includes('Note:'));
  const ovs = renderExplanation('OPENVSWITCH:0x5', KERNEL_NAMES);
  assert.ok(!ovs.includes('Note:'), ovs);
  assert.ok(ovs.startsWith('OPENVSWITCH:0x5: '));
});

test('a generic (not hand-written) reason closes with the no-advice line', () => {
  // In the kernel's list, so no note; but dropwhy has no text of its own for it.
  const text = renderExplanation('TCP_BRAND_NEW_CHECK', [...KERNEL_NAMES, 'TCP_BRAND_NEW_CHECK']);
  const lines = text.split('\n');
  assert.equal(lines[lines.length - 2], NO_ADVICE_LINE);
  assert.equal(lines[lines.length - 3], '');
  assert.equal(lines[lines.length - 1], '');
  assert.ok(!text.includes('Note:'));
  assert.equal(lines[0], `TCP_BRAND_NEW_CHECK: ${explain('TCP_BRAND_NEW_CHECK').advice.summary}`);
  assert.ok(text.includes('What to check:'));
  assert.ok(text.includes('SKB_DROP_REASON_TCP_BRAND_NEW_CHECK'), 'points at the kernel source for the name');

  // Unknown to both: the note and the closing line.
  const both = renderExplanation('FOO_BAR', KERNEL_NAMES);
  assert.ok(both.includes('Note: the running kernel has no drop reason named FOO_BAR.'));
  assert.ok(both.endsWith(`${NO_ADVICE_LINE}\n`));
});

test('renderReasonList: one line per kernel name with its summary', () => {
  const text = renderReasonList(['NO_SOCKET', 'SOCKET_RCVBUFF', 'TCP_BRAND_NEW_CHECK']);
  assert.equal(
    text,
    `${'NO_SOCKET'.padEnd(28)} ${explain('NO_SOCKET').advice.summary}\n` +
      `${'SOCKET_RCVBUFF'.padEnd(28)} ${explain('SOCKET_RCVBUFF').advice.summary}\n` +
      `${'TCP_BRAND_NEW_CHECK'.padEnd(28)} ${explain('TCP_BRAND_NEW_CHECK').advice.summary}\n`,
  );
  const all = renderReasonList(KERNEL_NAMES).split('\n');
  assert.equal(all.length, KERNEL_NAMES.length + 1);
  assert.deepEqual(
    all.slice(0, -1).map((line) => line.split(' ')[0]),
    KERNEL_NAMES,
  );
});

test('renderReasonList: a kernel without reasons', () => {
  const text = renderReasonList(null);
  assert.match(text, /^This kernel reports no drop reasons \(they arrived in Linux 5\.17\), or its BTF could not be read\.\n$/);
});

test('missingReason: a name only guessed at, that the kernel lacks, gets its closest names', () => {
  assert.deepEqual(missingReason('no_sock', KERNEL_NAMES), { name: 'NO_SOCK', closest: missingReason('NO_SOCK', KERNEL_NAMES)?.closest });
  const closest = missingReason('NO_SOCK', KERNEL_NAMES)?.closest ?? [];
  assert.equal(closest.length, 3);
  assert.equal(closest[0], 'NO_SOCKET');
  for (const name of closest) assert.ok(KERNEL_NAMES.includes(name), name);
  assert.equal(missingReason('SKB_DROP_REASON_SOCKET_RCVBUF', KERNEL_NAMES)?.closest[0], 'SOCKET_RCVBUFF');
});

test('missingReason: null for what there is to explain', () => {
  assert.equal(missingReason('NO_SOCKET', KERNEL_NAMES), null, "the kernel's own name");
  assert.equal(missingReason('TCP_BRAND_NEW_CHECK', [...KERNEL_NAMES, 'TCP_BRAND_NEW_CHECK']), null, 'a kernel name without advice');
  assert.equal(missingReason('SOCKET_RCVBUFF', ['NO_SOCKET']), null, 'hand-written: another kernel has it');
  assert.equal(missingReason('UNKNOWN_200', KERNEL_NAMES), null, 'a code dropwhy could not name');
  assert.equal(missingReason('OPENVSWITCH:0x5', KERNEL_NAMES), null, "a subsystem's reason");
  assert.equal(missingReason('NO_SOCK', null), null, "the kernel's names unknown");
});
