// The pcapng writer against golden bytes, laid out field by field from the
// pcapng specification (draft-ietf-opsawg-pcapng), and the packet section's decoding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeBatch, DecodeError, Decoder } from '../../src/events/decode';
import { EVENT_SIZE, FEATURE, PACKET, recordSize } from '../../src/events/layout';
import type { FormatContext } from '../../src/output/format';
import { packetComment, PcapngWriter } from '../../src/output/pcapng';
import { recordedReasons } from './fixtures';
import { encodePacketRecord, reasonCode, UNRESOLVED_SOCKETS } from './helpers';

const NETNS = 4026532290;
const SNAPLEN = 40;
const context: FormatContext = {
  reasons: recordedReasons(),
  symbols: { symbolize: () => '__udp4_lib_rcv+0x4bc' },
  sockets: UNRESOLVED_SOCKETS,
  interfaces: { name: (netns, ifindex) => (netns === NETNS && ifindex === 2 ? 'veth0' : null) },
  // 2026-01-02T03:04:05Z at monotonic 0: a multiple of 512 ns, exact as a double.
  monotonicToUnixNs: Date.UTC(2026, 0, 2, 3, 4, 5) * 1e6,
  color: false,
};
const FRAME = Uint8Array.from({ length: SNAPLEN }, (_, i) => i); // 40 of a 44-byte frame
const DROP = { reason: reasonCode('NO_SOCKET'), netns: NETNS, ifindex: 2, saddr: '10.0.0.1', daddr: '10.0.0.2', l4Proto: 'udp', sport: 1, dport: 2 } as const;
const TS_NS = 5_000_000_768; // a multiple of 256: unix time in ns stays exact

const hex = (...parts: string[]) => Buffer.from(parts.join('').replace(/\s+/g, ''), 'hex');
const u32 = (value: number) => {
  const bytes = Buffer.alloc(4);
  bytes.writeUInt32LE(value);
  return bytes.toString('hex');
};
const u16 = (value: number) => u32(value).slice(0, 4);
const COMMENT = Buffer.from('NO_SOCKET at __udp4_lib_rcv+0x4bc netns 4026532290 if 2 (veth0)'); // 63 bytes

/** An enhanced packet block with the comment above; its fields as the spec orders them. */
function goldenPacket(interfaceId: number, tsHigh: number, tsLow: number, data: Uint8Array, wireLength: number): Buffer {
  const padded = Math.ceil(data.length / 4) * 4;
  const length = 4 + 4 + 20 + padded + 4 + 64 + 4 + 4;
  return hex(
    '06000000',
    u32(length), // block type 6, total length
    u32(interfaceId),
    u32(tsHigh),
    u32(tsLow), // interface, timestamp (ns since the epoch) high and low
    u32(data.length),
    u32(wireLength), // captured, original length
    Buffer.from(data).toString('hex'),
    '00'.repeat(padded - data.length),
    '0100 3f00',
    COMMENT.toString('hex'),
    '00', // opt_comment, 63 bytes, padded to 64
    '0000 0000', // opt_endofopt
    u32(length),
  );
}

const SECTION_HEADER = hex(
  '0a0d0d0a 30000000', // block type, total length 48
  '4d3c2b1a 0100 0000 ffffffffffffffff', // byte-order magic, version 1.0, section length unknown (-1)
  '0400 0c00',
  Buffer.from('dropwhy test').toString('hex'), // shb_userappl, 12 bytes
  '0000 0000 30000000', // opt_endofopt, total length
);

function goldenInterface(linkType: number): Buffer {
  return hex(
    '01000000 40000000', // block type 1, total length 64
    u16(linkType),
    '0000',
    u32(SNAPLEN), // link type, reserved, snaplen
    '0200 0500',
    Buffer.from('veth0').toString('hex'),
    '000000', // if_name, padded
    '0300 1000',
    Buffer.from(`netns ${NETNS}`).toString('hex'), // if_description, 16 bytes
    '0900 0100 09000000', // if_tsresol: 10^-9 s
    '0000 0000 40000000', // opt_endofopt, total length
  );
}

test('pcapng: the section header, then an interface block the first time each (netns, ifindex, link) is seen, then the packet', () => {
  const writer = new PcapngWriter(context, SNAPLEN);
  const [first, rawIp, second] = decodeBatch(
    Buffer.concat([
      encodePacketRecord({ ...DROP, tsNs: TS_NS }, { link: 'ethernet', wireLength: 44, bytes: FRAME }, SNAPLEN),
      encodePacketRecord({ ...DROP, tsNs: TS_NS + 1000 }, { link: 'rawIp', wireLength: 3, bytes: FRAME.subarray(0, 3) }, SNAPLEN),
      encodePacketRecord({ ...DROP, tsNs: TS_NS + 2000 }, { link: 'ethernet', wireLength: 44, bytes: FRAME }, SNAPLEN),
    ]),
    recordSize(FEATURE.PACKET, SNAPLEN),
  );
  // 2026-01-02T03:04:10.000000768Z = 1767323050000000768 ns = 0x1886caf3_469c2700
  assert.deepEqual(writer.start('dropwhy test'), SECTION_HEADER);
  assert.deepEqual(writer.add(first), Buffer.concat([goldenInterface(1), goldenPacket(0, 0x1886caf3, 0x469c2700, FRAME, 44)]));
  assert.deepEqual(writer.add(rawIp), Buffer.concat([goldenInterface(101), goldenPacket(1, 0x1886caf3, 0x469c2700 + 1000, FRAME.subarray(0, 3), 3)]));
  assert.deepEqual(writer.add(second), goldenPacket(0, 0x1886caf3, 0x469c2700 + 2000, FRAME, 44));
});

test('pcapng: an event without packet bytes writes nothing', () => {
  const writer = new PcapngWriter(context, SNAPLEN);
  const [event] = decodeBatch(encodePacketRecord(DROP, null, SNAPLEN), recordSize(FEATURE.PACKET, SNAPLEN));
  assert.equal(event.packet, null);
  assert.equal(writer.add(event), null);
});

test('pcapng comment: the reason, where, the namespace and the interface; - for what is unknown', () => {
  const [event] = decodeBatch(encodePacketRecord(DROP, { link: 'ethernet', wireLength: 44, bytes: FRAME }, SNAPLEN), recordSize(FEATURE.PACKET, SNAPLEN));
  assert.equal(packetComment(event, context), 'NO_SOCKET at __udp4_lib_rcv+0x4bc netns 4026532290 if 2 (veth0)');
  assert.equal(packetComment({ ...event, reason: null, netns: null, ifindex: 0 }, context), '- at __udp4_lib_rcv+0x4bc netns - if -');
  assert.equal(packetComment({ ...event, ifindex: 3 }, context), 'NO_SOCKET at __udp4_lib_rcv+0x4bc netns 4026532290 if 3');
});

test('decode: records of the packet size are walked by that size; the packet section is read only with HAS_PACKET', () => {
  const size = recordSize(FEATURE.PACKET, SNAPLEN);
  const batch = Buffer.concat([
    encodePacketRecord({ ...DROP, sport: 7 }, { link: 'rawIp', wireLength: 1500, bytes: FRAME.subarray(0, 20) }, SNAPLEN),
    encodePacketRecord({ ...DROP, sport: 8 }, null, SNAPLEN),
  ]);
  const seen: Array<[number | null, string | null, number | null, number[] | null]> = [];
  new Decoder(size).forEachEvent(
    batch,
    (event) => void seen.push([event.sport, event.packet?.link ?? null, event.packet?.wireLength ?? null, event.packet ? [...event.packet.bytes] : null]),
  );
  assert.deepEqual(seen, [
    [7, 'rawIp', 1500, [...FRAME.subarray(0, 20)]],
    [8, null, null, null],
  ]);
  assert.throws(() => decodeBatch(batch.subarray(0, size + 8), size), DecodeError);
  // A captured length past the record is a broken record, not bytes of the next one.
  const broken = Buffer.from(batch.subarray(0, size));
  broken.writeUInt32LE(SNAPLEN + 100, EVENT_SIZE + PACKET.captured);
  assert.throws(() => decodeBatch(broken, size), /overruns its record/);
});
