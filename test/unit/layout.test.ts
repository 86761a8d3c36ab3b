// Checks src/events/layout.ts against bpf/event.h by computing the C layout of the
// header's structs (natural alignment, as clang and gcc lay them out).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  CONFIG,
  CONFIG_SIZE,
  STACK_DEPTH,
  MAX_SNAPLEN,
  PACKET,
  PACKET_LINK,
  PACKET_SIZE,
  recordSize,
  COUNT_RECORD,
  COUNT_RECORD_SIZE,
  DROP_KEY_SIZE,
  EVENT,
  EVENT_FLAG,
  EVENT_SIZE,
  COMM_LEN,
  FEATURE,
  MAX_FILTER_INSNS,
  MAX_REASONS,
  MAX_SOCKET_COUNTS,
  MODE,
  SOCKET,
  SOCKET_COUNT_RECORD,
  SOCKET_COUNT_RECORD_SIZE,
  SOCKET_KEY_SIZE,
  SOCKET_SIZE,
} from '../../src/events/layout';

const header = readFileSync(resolve(__dirname, '../../../bpf/event.h'), 'utf8');
const TYPE_SIZES: Record<string, number> = { __u8: 1, char: 1, __u16: 2, __u32: 4, __s32: 4, __u64: 8 };

function defines(): Record<string, number> {
  const values: Record<string, number> = {};
  for (const [, name, value] of header.matchAll(/^#define (\w+) (\d+)$/gm)) values[name] = Number(value);
  return values;
}

interface Layout {
  offsets: Record<string, number>;
  size: number;
  align: number;
}

/** A member's size and alignment: a base type's, or a struct of the header's own. */
function memberType(type: string, structName: string): { size: number; align: number } {
  if (type.startsWith('struct ')) {
    const { size, align } = layoutOf(type.slice('struct '.length));
    return { size, align };
  }
  const size = TYPE_SIZES[type];
  assert.ok(size, `unknown type ${type} in struct ${structName}`);
  return { size, align: size };
}

function layoutOf(structName: string): Layout {
  const body = new RegExp(`struct ${structName} \\{([^}]*)\\};`).exec(header);
  assert.ok(body, `struct ${structName} not found in bpf/event.h`);
  const constants = defines();
  const offsets: Record<string, number> = {};
  let offset = 0;
  let maxAlign = 1;
  for (const [, type, name, count] of body[1].replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/((?:struct\s+)?\w+)\s+(\w+)(?:\[(\w+)\])?;/g)) {
    const { size, align } = memberType(type.replace(/\s+/, ' '), structName);
    const elements = count === undefined ? 1 : Number(constants[count] ?? count);
    offset = Math.ceil(offset / align) * align;
    offsets[name] = offset;
    offset += size * elements;
    maxAlign = Math.max(maxAlign, align);
  }
  return { offsets, size: Math.ceil(offset / maxAlign) * maxAlign, align: maxAlign };
}

test('struct drop_event: src/events/layout.ts matches bpf/event.h', () => {
  const { offsets, size } = layoutOf('drop_event');
  const { pad, ...fields } = offsets;
  assert.equal(pad, EVENT.tcp_flags + 1, 'explicit padding follows tcp_flags');
  assert.deepEqual(fields, EVENT);
  assert.equal(size, EVENT_SIZE);
  assert.match(header, new RegExp(`sizeof\\(struct drop_event\\) == ${EVENT_SIZE}`), 'the static assert agrees');
});

test('struct drop_socket: src/events/layout.ts matches bpf/event.h', () => {
  const { offsets, size } = layoutOf('drop_socket');
  const { pad, ...fields } = offsets;
  assert.equal(pad, SOCKET.local_family + 1, 'explicit padding follows local_family');
  assert.deepEqual(fields, SOCKET);
  assert.equal(size, SOCKET_SIZE);
  assert.equal(EVENT.socket + SOCKET_SIZE, EVENT_SIZE, 'the socket section ends the event');
});

test('struct dropwhy_config: src/events/layout.ts matches bpf/event.h', () => {
  const { offsets, size } = layoutOf('dropwhy_config');
  const { pad, ...fields } = offsets;
  assert.equal(pad, CONFIG.snaplen + 4, 'explicit padding follows snaplen');
  assert.deepEqual(fields, CONFIG);
  assert.equal(size, CONFIG_SIZE);
});

test('struct drop_packet: src/events/layout.ts matches bpf/event.h', () => {
  const { offsets, size } = layoutOf('drop_packet');
  const { pad, ...fields } = offsets;
  assert.equal(pad, PACKET.link + 1, 'explicit padding follows link');
  assert.deepEqual(fields, PACKET);
  assert.equal(size, PACKET_SIZE);
  assert.match(header, new RegExp(`sizeof\\(struct drop_packet\\) == ${PACKET_SIZE}`), 'the static assert agrees');
  assert.match(header, new RegExp(`DROP_PACKET_LINK_ETHERNET = ${PACKET_LINK.ethernet},`));
  assert.match(header, new RegExp(`DROP_PACKET_LINK_RAW_IP = ${PACKET_LINK.rawIp},`));
  assert.equal(defines().DROPWHY_MAX_SNAPLEN, MAX_SNAPLEN);
});

test('recordSize: the event alone, or the event, the packet section and snaplen bytes rounded up to 8, as dropwhy_record_size()', () => {
  assert.match(header, /#define DROPWHY_PACKET_BYTES\(snaplen\) \(\(\(\(__u32\)\(snaplen\)\) \+ 7\) & ~7U\)/);
  assert.equal(recordSize(0, 256), EVENT_SIZE);
  assert.equal(recordSize(FEATURE.SOCKET, 256), EVENT_SIZE);
  assert.equal(recordSize(FEATURE.PACKET, 256), EVENT_SIZE + PACKET_SIZE + 256);
  assert.equal(recordSize(FEATURE.PACKET, 1), EVENT_SIZE + PACKET_SIZE + 8);
  assert.equal(recordSize(FEATURE.PACKET, 65535), EVENT_SIZE + PACKET_SIZE + 65536);
  assert.equal(recordSize(FEATURE.PACKET, 65535) % 8, 0);
});

test('summary count records: struct drop_key followed by a __u64 count', () => {
  const { offsets, size } = layoutOf('drop_key');
  const { pad, ...fields } = offsets;
  const { count, ...keyFields } = COUNT_RECORD;
  assert.equal(pad, COUNT_RECORD.has_l4_proto + 1);
  assert.deepEqual(fields, keyFields);
  assert.equal(size, count);
  assert.equal(size, DROP_KEY_SIZE);
  assert.equal(COUNT_RECORD_SIZE, size + 8);
});

test('summary socket count records: struct socket_key followed by struct socket_count', () => {
  const key = layoutOf('socket_key');
  const value = layoutOf('socket_count');
  assert.equal(key.size, SOCKET_KEY_SIZE);
  assert.deepEqual({ inode: key.offsets.inode, reason: key.offsets.reason }, { inode: SOCKET_COUNT_RECORD.inode, reason: SOCKET_COUNT_RECORD.reason });
  assert.equal(SOCKET_KEY_SIZE + value.offsets.socket, SOCKET_COUNT_RECORD.socket);
  assert.equal(SOCKET_KEY_SIZE + value.offsets.count, SOCKET_COUNT_RECORD.count);
  assert.equal(SOCKET_KEY_SIZE + value.size, SOCKET_COUNT_RECORD_SIZE);
  assert.equal(defines().DROPWHY_MAX_SOCKET_COUNTS, MAX_SOCKET_COUNTS);
});

test('constants and flag bits match bpf/event.h', () => {
  assert.match(header, new RegExp(`DROPWHY_MODE_STREAM = ${MODE.stream},`));
  assert.match(header, new RegExp(`DROPWHY_MODE_COUNT = ${MODE.count},`));
  assert.match(header, new RegExp(`DROPWHY_FEATURE_SOCKET = 1 << ${Math.log2(FEATURE.SOCKET)},`));
  assert.match(header, new RegExp(`DROPWHY_FEATURE_STACK = 1 << ${Math.log2(FEATURE.STACK)},`));
  assert.match(header, new RegExp(`DROPWHY_FEATURE_PACKET = 1 << ${Math.log2(FEATURE.PACKET)},`));
  const constants = defines();
  assert.equal(constants.DROPWHY_COMM_LEN, COMM_LEN);
  assert.equal(constants.DROPWHY_MAX_REASONS, MAX_REASONS);
  assert.equal(constants.DROPWHY_MAX_FILTER_INSNS, MAX_FILTER_INSNS);
  assert.equal(constants.DROPWHY_STACK_DEPTH, STACK_DEPTH);
  const flags: Record<string, number> = {};
  for (const [, name, bit] of header.matchAll(/DROP_(HAS_\w+) = 1 << (\d+)/g)) flags[name] = 1 << Number(bit);
  assert.deepEqual(flags, EVENT_FLAG);
});

test('the layout parser itself notices a moved field', () => {
  const { offsets } = layoutOf('drop_event');
  assert.notEqual(offsets.reason, EVENT.netns);
  assert.ok(Object.keys(offsets).length >= 20);
});
