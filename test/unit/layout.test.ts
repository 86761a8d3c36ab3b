// The layout is generated from bpf/event.h's BTF (scripts/gen-layout.js): here,
// the generator's refusals on synthetic BTF, and what the decoders assume of the layout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resolve } from 'node:path';
import { COUNT_RECORD, DROP_KEY_SIZE, EVENT, EVENT_SIZE, FEATURE, PACKET_SIZE, recordSize, SOCKET_SIZE } from '../../src/events/layout';

interface BtfType {
  id: number;
  kind: string;
  name: string;
  [field: string]: unknown;
}
interface Layout {
  structs: Record<string, { size: number; offsets: Record<string, number> }>;
  enums: Record<string, Record<string, number>>;
}
const generator = require(resolve(__dirname, '../../../scripts/gen-layout.js')) as {
  layoutFromBtf(btf: { types: BtfType[] }): Layout;
  render(layout: Layout): string;
};

/** BTF as bpftool -j prints it (enumerator values already strings), for a struct of these members and an enum. */
function btf(members: Array<[string, number, number]>, size: number, enumValues: Array<[string, string]> = []): { types: BtfType[] } {
  return {
    types: [
      {
        id: 1,
        kind: 'STRUCT',
        name: 'dropwhy_layout',
        size: size + 4,
        members: [
          { name: 's', type_id: 2, bits_offset: 0 },
          { name: 'e', type_id: 5, bits_offset: size * 8 },
        ],
      },
      { id: 2, kind: 'STRUCT', name: 'thing', size, members: members.map(([name, typeId, offset]) => ({ name, type_id: typeId, bits_offset: offset * 8 })) },
      { id: 3, kind: 'TYPEDEF', name: '__u32', type_id: 4 },
      { id: 4, kind: 'INT', name: 'unsigned int', size: 4 },
      { id: 5, kind: 'ENUM', name: 'things', size: 4, values: enumValues.map(([name, val]) => ({ name, val })) },
      { id: 6, kind: 'ARRAY', name: '(anon)', type_id: 7, nr_elems: 3 },
      { id: 7, kind: 'INT', name: 'unsigned char', size: 1 },
      { id: 8, kind: 'ARRAY', name: '(anon)', type_id: 7, nr_elems: 5 },
    ],
  };
}

test('gen-layout: offsets and size from BTF, pad members left out, enumerators with negative values', () => {
  const layout = generator.layoutFromBtf(
    btf(
      [
        ['a', 3, 0],
        ['b', 6, 4],
        ['pad', 8, 7],
        ['c', 3, 12],
      ],
      16,
      [
        ['THING_ONE', '1'],
        ['THING_NONE', '18446744073709551615'],
      ],
    ),
  );
  assert.deepEqual(layout, {
    structs: { thing: { size: 16, offsets: { a: 0, b: 4, c: 12 } } },
    enums: { things: { THING_ONE: 1, THING_NONE: -1 } },
  });
  const module = generator.render(layout);
  assert.match(module, /^export const thing = \{\n {2}size: 16,\n {2}offsets: \{\n {4}a: 0,\n {4}b: 4,\n {4}c: 12,\n {2}\},\n\} as const;$/m);
  assert.match(module, /^ {2}THING_NONE: -1,$/m);
});

test('gen-layout: a struct with an implicit hole or implicit trailing padding is refused', () => {
  assert.throws(
    () =>
      generator.layoutFromBtf(
        btf(
          [
            ['b', 6, 0],
            ['a', 3, 4],
          ],
          8,
        ),
      ),
    /struct thing has an implicit hole of 1 bytes before a/,
  );
  assert.throws(
    () =>
      generator.layoutFromBtf(
        btf(
          [
            ['a', 3, 0],
            ['b', 6, 4],
          ],
          8,
        ),
      ),
    /struct thing ends with 1 bytes of implicit padding/,
  );
});

test('the layout the decoders assume: records aligned, the socket section ends the event, the count after the key', () => {
  assert.equal(EVENT_SIZE % 8, 0);
  assert.equal(PACKET_SIZE % 8, 0);
  assert.equal(EVENT.socket + SOCKET_SIZE, EVENT_SIZE);
  assert.equal(COUNT_RECORD.count, DROP_KEY_SIZE);
});

test('recordSize: the event alone, or the event, the packet section and snaplen bytes rounded up to 8, as dropwhy_record_size()', () => {
  assert.equal(recordSize(0, 256), EVENT_SIZE);
  assert.equal(recordSize(FEATURE.SOCKET, 256), EVENT_SIZE);
  assert.equal(recordSize(FEATURE.PACKET, 256), EVENT_SIZE + PACKET_SIZE + 256);
  assert.equal(recordSize(FEATURE.PACKET, 1), EVENT_SIZE + PACKET_SIZE + 8);
  assert.equal(recordSize(FEATURE.PACKET, 65535), EVENT_SIZE + PACKET_SIZE + 65536);
  assert.equal(recordSize(FEATURE.PACKET, 65535) % 8, 0);
});
