// Property: decoding any bytes either yields events or throws DecodeError (decode.ts's contract); a packet
// never reaches past its own record. Records are random bytes, biased towards the flags and packet lengths
// the decoder branches on; the batch is sometimes cut or padded by a few bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeBatch, DecodeError, Decoder, type DropEvent } from '../../src/events/decode';
import { decodeCounts, decodeSocketCounts } from '../../src/events/counts';
import { COUNT_RECORD_SIZE, EVENT, EVENT_SIZE, FEATURE, PACKET, PACKET_SIZE, recordSize, SOCKET_COUNT_RECORD_SIZE } from '../../src/events/layout';

const layout = fc
  .record({ features: fc.constantFrom(0, FEATURE.SOCKET, FEATURE.PACKET, FEATURE.SOCKET | FEATURE.STACK | FEATURE.PACKET), snaplen: fc.integer({ min: 0, max: 200 }) })
  .map(({ features, snaplen }) => recordSize(features, snaplen));

/** One record of recordBytes random bytes; flags and the packet's captured length are often small or boundary values. */
function record(recordBytes: number): fc.Arbitrary<Uint8Array> {
  const packetRoom = recordBytes - EVENT_SIZE - PACKET_SIZE;
  return fc
    .record({
      bytes: fc.uint8Array({ minLength: recordBytes, maxLength: recordBytes }),
      flags: fc.option(fc.integer({ min: 0, max: 0x7ff })),
      captured: fc.option(fc.oneof(fc.integer({ min: 0, max: Math.max(0, packetRoom + 2) }), fc.constantFrom(packetRoom, packetRoom + 1, 2 ** 32 - 1))),
    })
    .map(({ bytes, flags, captured }) => {
      const view = new DataView(bytes.buffer);
      if (flags !== null) view.setUint16(EVENT.flags, flags, true);
      if (captured !== null && recordBytes >= EVENT_SIZE + PACKET_SIZE) view.setUint32(EVENT_SIZE + PACKET.captured, Math.max(0, captured), true);
      return bytes;
    });
}

const batchArbitrary = layout.chain((recordBytes) =>
  fc.record({
    recordBytes: fc.constant(recordBytes),
    records: fc.array(record(recordBytes), { maxLength: 4 }),
    // Not whole records: DecodeError.
    tail: fc.oneof({ weight: 4, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  }),
);

function concat(parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(Buffer.concat(parts));
}

/** Runs decode; its result, or undefined when it threw DecodeError. Anything else thrown fails the property. */
function decodeOrDecodeError<T>(decode: () => T): T | undefined {
  try {
    return decode();
  } catch (error) {
    if (error instanceof DecodeError) return undefined;
    throw new Error(`threw ${String(error)}, not a DecodeError`, { cause: error });
  }
}

test('random batches: decodeBatch returns events or throws DecodeError, and Decoder.forEachEvent agrees', () => {
  fc.assert(
    fc.property(batchArbitrary, ({ recordBytes, records, tail }) => {
      const batch = concat([...records, tail]);
      const events = decodeOrDecodeError(() => decodeBatch(batch, recordBytes));
      const visited = decodeOrDecodeError(() => {
        const copies: DropEvent[] = [];
        new Decoder(recordBytes).forEachEvent(batch, (event) => void copies.push(structuredClone(event)));
        return copies;
      });
      assert.equal(visited === undefined, events === undefined, 'one decoder threw DecodeError, the other did not');
      if (events === undefined) return;
      assert.equal(events.length, records.length);
      for (const event of events) {
        if (event.packet)
          assert.ok(
            event.packet.bytes.byteLength <= recordBytes - EVENT_SIZE - PACKET_SIZE,
            `a packet of ${event.packet.bytes.byteLength} bytes in a ${recordBytes}-byte record`,
          );
      }
      assert.deepEqual(visited, events);
    }),
    { numRuns: 500, includeErrorInReport: true },
  );
});

/** Whole records of recordBytes random bytes, sometimes followed by a partial one. */
const countRecords = (recordBytes: number) =>
  fc
    .record({
      records: fc.integer({ min: 0, max: 4 }),
      tail: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: recordBytes - 1 }) }),
    })
    .chain(({ records, tail }) => fc.uint8Array({ minLength: records * recordBytes + tail, maxLength: records * recordBytes + tail }));

test('random count records: decodeCounts and decodeSocketCounts return one entry per record, or throw DecodeError for a partial one', () => {
  const cases = [
    { decode: decodeCounts, recordBytes: COUNT_RECORD_SIZE },
    { decode: decodeSocketCounts, recordBytes: SOCKET_COUNT_RECORD_SIZE },
  ];
  for (const { decode, recordBytes } of cases) {
    fc.assert(
      fc.property(countRecords(recordBytes), fc.boolean(), (records, hasReason) => {
        const counts = decodeOrDecodeError(() => decode(records, hasReason));
        if (records.byteLength % recordBytes !== 0) assert.equal(counts, undefined, `${records.byteLength} bytes decoded without a DecodeError`);
        else assert.equal(counts?.length, records.byteLength / recordBytes);
      }),
      { numRuns: 300, includeErrorInReport: true },
    );
  }
});
