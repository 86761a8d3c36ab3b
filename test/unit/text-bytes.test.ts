// The piped text line is written as bytes from cached fragments (text-writer.ts
// writeDrop). Here many varied drops go through it and through the string
// the line was built as before (referenceLine, kept below as it was), and the
// bytes must be the same: padding, colours, sockets, pods, non-ASCII names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { formatKernelAddress, type DropEvent } from '../../src/events/decode';
import { protocolName, tcpFlagsText } from '../../src/events/protocols';
import type { FormatContext } from '../../src/output/format';
import { podName, podOf } from '../../src/output/pod';
import { containerText, resolveSocket, socketName } from '../../src/output/socket';
import { interfaceText, TextWriter } from '../../src/output/text-writer';
import { AddressCache } from '../../src/output/caches';
import { LineBuffer } from '../../src/output/writer';
import { contextOf, dropArbitrary, LOCATIONS } from './arbitrary-drops';

const RED = '\x1b[31m';
const CYAN = '\x1b[36m';
const DIM = '\x1b[2m';
const RESET = '\x1b[0m';

/** The piped line as TextWriter.line built it as a string, before it was written as bytes. */
function referenceLine(event: DropEvent, context: FormatContext): string {
  const paint = (code: string, text: string) => (context.color ? `${code}${text}${RESET}` : text);
  const addresses = new AddressCache<string>((text) => text);
  const endpoint = (address: Uint8Array | null, port: number | null) => {
    const text = addresses.get(address, event.family);
    if (text === null) return '?';
    if (port === null) return text;
    return event.family === 6 ? `[${text}]:${port}` : `${text}:${port}`;
  };
  const localTime = (unixNs: number) => {
    const date = new Date(Math.floor(unixNs / 1e9) * 1000);
    const two = (n: number) => String(n).padStart(2, '0');
    const micros = String(Math.floor((unixNs % 1e9) / 1e3)).padStart(6, '0');
    return `${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}.${micros}`;
  };
  const socket = event.socket === null ? null : resolveSocket(event.socket, context.sockets);
  const reason = event.reason === null ? null : context.reasons.decode(event.reason).name;
  const location = context.symbols.symbolize(event.location) ?? formatKernelAddress(event.location);
  let flow = '';
  if (event.family !== null) flow = `${endpoint(event.saddr, event.sport)} > ${endpoint(event.daddr, event.dport)}`;
  const details: string[] = [];
  if (event.icmpType !== null) details.push(`type ${event.icmpType} code ${event.icmpCode}`);
  if (event.tcpFlags !== null) details.push(`[${tcpFlagsText(event.tcpFlags)}]`);
  details.push(`netns ${event.netns ?? '-'}`, interfaceText(event, context.interfaces), `len ${event.len}`);
  const parts = [
    localTime(event.tsNs + context.monotonicToUnixNs),
    paint(RED, (reason ?? '-').padEnd(22)),
    paint(CYAN, location.padEnd(32)),
    (protocolName(event.l4Proto, event.protocol) ?? '-').padEnd(5),
    flow.padEnd(44),
  ];
  if (socket === null || socket.owner === null) details.push(`${event.comm}[${event.pid}]`);
  parts.push(paint(DIM, details.join(' ')));
  if (event.socket !== null && socket !== null) {
    parts.push(paint(DIM, `sock ${socketName(event.socket, socket)} queued ${event.socket.queued}${containerText(socket)}`));
  }
  const pod = context.pods === undefined ? null : podOf(event.netns, socket, context.pods);
  if (pod !== null) parts.push(paint(DIM, `pod ${podName(pod)}`));
  return parts.join(' ');
}

/** Bytes as the string path made them: the lines added to a UTF-8 buffer. */
function stringBytes(lines: string[]): Buffer {
  const out = new LineBuffer('utf8');
  for (const line of lines) out.add(line);
  return Buffer.from(out.take());
}

test('text: the piped line as bytes is the string line, byte for byte, for any drop', () => {
  // One writer per context, as a session has: its caches carry over from run to run.
  const contexts = [contextOf(false, false), contextOf(true, false), contextOf(false, true), contextOf(true, true)];
  const writers = contexts.map((context) => new TextWriter(context));
  fc.assert(
    fc.property(fc.array(dropArbitrary, { minLength: 1, maxLength: 30 }), fc.nat(contexts.length - 1), (drops, which) => {
      const context = contexts[which];
      const writer = writers[which];
      const out = new LineBuffer('utf8');
      const expected: string[] = [];
      drops.forEach((event, i) => {
        writer.write(out, event);
        expected.push(referenceLine(event, context));
        // A line that is not a drop's between them, as a hint or a frame is: added as a string.
        if (i % 7 === 3) {
          writer.writeLine(out, '    frame_ünï+0x1');
          expected.push('    frame_ünï+0x1');
        }
      });
      assert.deepEqual(Buffer.from(out.take()), stringBytes(expected));
      assert.equal(writer.line(drops[0]), referenceLine(drops[0], context), 'line() is the same line, as a string');
    }),
    { numRuns: 300 },
  );
});

test('text: the bytes carry no cached part of one drop into another drop’s line', () => {
  const context = contextOf(true, true);
  const writer = new TextWriter(context);
  const base: DropEvent = {
    tsNs: 1_999_999_999.5,
    location: LOCATIONS[2][0],
    skb: { hi: 0, lo: 0 },
    reason: 2,
    netns: 8,
    ifindex: 3,
    pid: 7,
    tid: 7,
    comm: 'nöde',
    len: 60,
    protocol: 0x86dd,
    family: 6,
    saddr: Uint8Array.from({ length: 16 }, (_, i) => i),
    daddr: Uint8Array.from({ length: 16 }, () => 0xff),
    l4Proto: 6,
    ttl: 64,
    sport: 1234,
    dport: 443,
    icmpType: null,
    icmpCode: null,
    tcpFlags: 0x12,
    rxSocket: false,
    socket: { cookie: 1n, inode: 11, cgroupId: 21, uid: 0, family: 6, localAddr: new Uint8Array(16), localPort: 443, rcvbuf: 4608, queued: 5000, drops: 1 },
    stackId: null,
    packet: null,
  };
  // Each variant changes one part the writer caches; each line is its own.
  const variants: DropEvent[] = [
    base,
    { ...base, comm: 'node', socket: null },
    { ...base, pid: 8, socket: null },
    { ...base, ifindex: 2 },
    { ...base, netns: 7, socket: null },
    { ...base, reason: 3 },
    { ...base, l4Proto: 17, tcpFlags: null },
    { ...base, family: 4, socket: { ...base.socket!, family: 4, cgroupId: 22 } },
    { ...base, tsNs: base.tsNs + 1e9 },
    base,
  ];
  for (const event of variants) assert.equal(writer.line(event), referenceLine(event, context));
  const lines = variants.map((event) => writer.line(event));
  assert.equal(new Set(lines).size, variants.length - 1, 'only the repeated drop repeats its line');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the ANSI escapes are what is tested
  assert.match(lines[0], / \x1b\[2msock sérveur\[9\] \[::\]:443 rcvbuf 4608 queued 5000 container cccccccccccc\x1b\[0m \x1b\[2mpod café\/wëb-0\x1b\[0m$/);
});

test('text: an interface named after its first drops is named in the bytes from then on', () => {
  const names = new Map<string, string>();
  const context: FormatContext = { ...contextOf(false, false), interfaces: { name: (netns, ifindex) => names.get(`${netns}/${ifindex}`) ?? null } };
  const writer = new TextWriter(context);
  const event: DropEvent = { ...fc.sample(dropArbitrary, { numRuns: 1, seed: 1 })[0], netns: 8, ifindex: 3 };
  assert.match(writer.line(event), / if 3 len /);
  names.set('8/3', 'veth-ü');
  assert.equal(writer.line(event), referenceLine(event, context));
  assert.match(writer.line(event), / if 3 \(veth-ü\) len /);
});
