import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAddress } from '../../src/events/address';
import { decodeBatch, DecodeError, formatKernelAddress } from '../../src/events/decode';
import { EVENT, EVENT_FLAG, EVENT_SIZE, FEATURE, PACKET, recordSize } from '../../src/events/layout';
import { fixtureBytes, fixtureJson, recordedKallsyms, recordedReasons, type RecordedDrops } from './fixtures';
import { encodeEvent, encodePacketRecord } from './helpers';

const batch = fixtureBytes('loopback-drops.bin');
const recorded = fixtureJson<RecordedDrops>('loopback-drops.json');

test('decodes a recorded batch: UDP over IPv4 to a closed port', () => {
  const [udp4] = decodeBatch(batch);
  const sent = recorded.sent[0];
  assert.equal(udp4.family, 4);
  assert.equal(udp4.l4Proto, 17);
  assert.equal(formatAddress(udp4.saddr!, 4), '127.0.0.1');
  assert.equal(formatAddress(udp4.daddr!, 4), '127.0.0.1');
  assert.equal(udp4.sport, sent.sport);
  assert.equal(udp4.dport, sent.dport);
  assert.equal(udp4.ttl, 64);
  assert.equal(udp4.len, 8 + 'dropwhy'.length, 'skb->len at __udp4_lib_rcv: UDP header + payload');
  assert.equal(udp4.netns, recorded.netns);
  assert.equal(udp4.protocol, 0x0800);
  assert.equal(udp4.ifindex, 1, 'loopback');
  assert.equal(udp4.icmpType, null);
  assert.equal(udp4.tcpFlags, null);
  assert.equal(recordedReasons().decode(udp4.reason!).name, 'NO_SOCKET');
  assert.equal(recordedKallsyms().symbolize(udp4.location)?.split('+')[0], '__udp4_lib_rcv');
});

test('decodes a recorded batch: UDP over IPv6 and a TCP SYN', () => {
  const [, udp6, tcp] = decodeBatch(batch);
  assert.equal(udp6.family, 6);
  assert.equal(formatAddress(udp6.daddr!, 6), '::1');
  assert.equal(udp6.sport, recorded.sent[1].sport);
  assert.equal(udp6.dport, 9);
  assert.equal(udp6.ttl, 64, 'hop limit');
  assert.equal(recordedKallsyms().symbolize(udp6.location)?.split('+')[0], '__udp6_lib_rcv');

  assert.equal(tcp.l4Proto, 6);
  assert.equal(tcp.dport, recorded.sent[2].dport);
  assert.equal(tcp.tcpFlags, 0x02, 'a bare SYN');
  assert.equal(recordedReasons().decode(tcp.reason!).name, 'NO_SOCKET');
  assert.equal(recordedKallsyms().symbolize(tcp.location)?.split('+')[0], 'tcp_v4_rcv');
  assert.match(formatKernelAddress(tcp.skb), /^0xffff[0-9a-f]{12}$/);
});

test('optional parts are null when their flag is clear', () => {
  const copy = Buffer.from(batch.subarray(0, EVENT_SIZE));
  copy.writeUInt16LE(0, EVENT.flags);
  const [event] = decodeBatch(copy);
  for (const key of ['reason', 'netns', 'family', 'saddr', 'daddr', 'l4Proto', 'ttl', 'sport', 'dport', 'tcpFlags'] as const) {
    assert.equal(event[key], null, key);
  }
  assert.equal(event.rxSocket, false);
});

test('decodes events at any offset of a buffer view', () => {
  const padded = Buffer.concat([Buffer.alloc(8), batch]).subarray(8);
  assert.deepEqual(
    decodeBatch(padded).map((e) => e.sport),
    decodeBatch(batch).map((e) => e.sport),
  );
});

test('a batch that is not whole events is an error', () => {
  assert.throws(() => decodeBatch(batch.subarray(0, EVENT_SIZE + 1)), DecodeError);
  assert.deepEqual(decodeBatch(Buffer.alloc(0)), []);
});

test('the comm is read up to its NUL', () => {
  const [event] = decodeBatch(batch);
  assert.equal(event.comm, 'node');
});

test('the L4 protocol is read only when the BPF program says it is known', () => {
  const bytes = Buffer.from(batch.subarray(0, EVENT_SIZE));
  const flags = bytes.readUInt16LE(EVENT.flags);
  assert.ok(flags & EVENT_FLAG.HAS_L4_PROTO, 'the recorded UDP drop has its protocol');
  // As after an IPv6 extension header chain cut short: addresses, but no protocol and no ports.
  bytes.writeUInt16LE(flags & ~(EVENT_FLAG.HAS_L4_PROTO | EVENT_FLAG.HAS_PORTS), EVENT.flags);
  const [event] = decodeBatch(bytes);
  assert.equal(event.family, 4);
  assert.equal(event.l4Proto, null);
  assert.equal(event.sport, null);
});

// Found by test/unit/decode-properties.test.ts: both read past the record (a RangeError, or the next event's bytes).
test('a packet flag in a record without room for a packet is a DecodeError', () => {
  const event = encodeEvent({ flags: EVENT_FLAG.HAS_PACKET });
  assert.throws(() => decodeBatch(event), DecodeError);
  assert.throws(() => decodeBatch(Buffer.concat([event, encodeEvent()])), DecodeError, 'not the next event read as a packet');
});

test('a packet longer than its record is a DecodeError, even with a next record to reach into', () => {
  const snaplen = 8;
  const record = encodePacketRecord({}, { link: 'ethernet', wireLength: 60, bytes: new Uint8Array(snaplen) }, snaplen);
  record.writeUInt32LE(recordSize(FEATURE.PACKET, snaplen), EVENT_SIZE + PACKET.captured);
  const next = encodePacketRecord({}, null, snaplen);
  assert.throws(() => decodeBatch(Buffer.concat([record, next]), record.length), DecodeError);
});
