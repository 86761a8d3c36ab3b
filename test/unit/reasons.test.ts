import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ReasonTable } from '../../src/events/reasons';
import { fixtureJson, recordedReasons } from './fixtures';

test('names come from the kernel enum without the SKB_DROP_REASON_ prefix', () => {
  const reasons = recordedReasons();
  const { reasons: entries } = fixtureJson<{ reasons: Array<[string, number]> }>('kernel-reasons.json');
  const noSocket = entries.find(([name]) => name === 'SKB_DROP_REASON_NO_SOCKET')![1];
  assert.deepEqual(reasons.decode(noSocket), { name: 'NO_SOCKET', code: noSocket, subsystem: 'CORE' });
  assert.equal(reasons.codeOf('no_socket'), noSocket);
  assert.equal(reasons.codeOf('SKB_DROP_REASON_NO_SOCKET'), noSocket);
  assert.ok(reasons.known);
});

test('markers are not reasons', () => {
  const reasons = recordedReasons();
  assert.equal(reasons.codeOf('MAX'), undefined);
  assert.equal(reasons.codeOf('SUBSYS_MASK'), undefined);
  assert.ok(!reasons.names.includes('MAX'));
});

test('the numbers come from the table given, not a compiled one', () => {
  const reasons = new ReasonTable([['SKB_DROP_REASON_NO_SOCKET', 77]], null);
  assert.equal(reasons.decode(77).name, 'NO_SOCKET');
  assert.equal(reasons.decode(3).name, 'UNKNOWN_3');
});

test('unknown numbers and subsystem bits', () => {
  const reasons = recordedReasons();
  assert.deepEqual(reasons.decode(0xfff0), { name: 'UNKNOWN_65520', code: 0xfff0, subsystem: 'CORE' });
  assert.deepEqual(reasons.decode((2 << 16) | 5), { name: 'OPENVSWITCH:0x5', code: (2 << 16) | 5, subsystem: 'OPENVSWITCH' });
  assert.deepEqual(reasons.decode((1 << 16) | 0x12), {
    name: 'MAC80211_UNUSABLE:0x12',
    code: (1 << 16) | 0x12,
    subsystem: 'MAC80211_UNUSABLE',
  });
  assert.equal(reasons.decode(9 << 16).subsystem, 'SUBSYS_9', 'a subsystem this kernel does not name');
});

test('a kernel without the enum knows no reasons', () => {
  const reasons = new ReasonTable(null, null);
  assert.equal(reasons.known, false);
  assert.equal(reasons.codeOf('NO_SOCKET'), undefined);
});
