// The trace's text on a terminal (src/output/terminal-layout.ts): lines no longer than the width, a
// header naming the columns, addresses never broken; piped, the stable full line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { stripVTControlCharacters } from 'node:util';
import { decodeBatch, type DropEvent } from '../../src/events/decode';
import type { FormatContext } from '../../src/output/format';
import { cutText, fitGroups, fitMessage, fitText, terminalLayout } from '../../src/output/terminal-layout';
import { TextWriter } from '../../src/output/text-writer';
import { recordedKallsyms, recordedReasons } from './fixtures';
import { cliHarness, encodeBatch, encodeEvent, reasonCode, runUntilOpened, waitFor, type EventSpec } from './helpers';

const NO_SOCKET = reasonCode('NO_SOCKET');
const SOCKET_RCVBUFF = reasonCode('SOCKET_RCVBUFF');
// __udp4_lib_rcv+0x4bc in the recorded kallsyms excerpt.
const UDP4_RCV = { hi: 0xffffffff, lo: 0x820a6db0 + 0x4bc };
const V6_SOURCE = 'fd00:1234:5678:9abc:def0:1234:5678:9abc';
const V6_DESTINATION = 'fd00:dead:beef:cafe:f00d:4321:8765:fedc';

const udp4: EventSpec = {
  reason: NO_SOCKET,
  netns: 4026532000,
  ifindex: 2,
  saddr: '198.18.1.1',
  daddr: '198.18.1.2',
  l4Proto: 'udp',
  sport: 45678,
  dport: 5561,
  len: 42,
  comm: 'python3',
  pid: 812,
};
const udp6: EventSpec = { ...udp4, saddr: V6_SOURCE, daddr: V6_DESTINATION, len: 62 };
const socket = { inode: 77, cookie: 5n, rcvbuf: 2304, queued: 2304, drops: 3 };
const rcvbuf4: EventSpec = { ...udp4, reason: SOCKET_RCVBUFF, socket: { ...socket, localAddr: '198.18.1.2', localPort: 5561 } };
const rcvbuf6: EventSpec = { ...udp6, reason: SOCKET_RCVBUFF, socket: { ...socket, localAddr: V6_DESTINATION, localPort: 5561 } };

function context(color = false): FormatContext {
  return {
    reasons: recordedReasons(),
    symbols: recordedKallsyms(),
    sockets: { owner: (inode) => (inode === 77 ? { pid: 4321, comm: 'dw-receiver' } : null), cgroup: () => null },
    interfaces: { name: (_, ifindex) => (ifindex === 2 ? 'veth-b' : null) },
    monotonicToUnixNs: Date.UTC(2026, 0, 2, 3, 4, 5) * 1e6,
    color,
  };
}

const events = (specs: EventSpec[]): DropEvent[] => decodeBatch(encodeBatch(specs.map((spec) => ({ location: UDP4_RCV, ...spec }))));
/** A line as the terminal shows it: colour codes take no columns. */
const visible = stripVTControlCharacters;

/** Every line a session prints for these drops on a terminal this wide. */
function terminalText(width: number, specs: EventSpec[], color = false): string[] {
  const writer = new TextWriter(context(color), terminalLayout(width));
  return events(specs).flatMap((event) => writer.lines(event));
}

for (const width of [80, 120]) {
  test(`terminal at ${width} columns: a header, no line longer than the width, IPv6 addresses whole`, () => {
    const lines = terminalText(width, [udp4, rcvbuf4, udp6, rcvbuf6]);
    for (const line of lines) assert.ok(line.length <= width, `${line.length} columns: ${line}`);
    assert.match(lines[0], /^TIME +REASON +LOCATION /);
    assert.equal(lines.filter((line) => line.startsWith('TIME ')).length, 1, 'the header once, before the first drop');
    const text = lines.join('\n');
    for (const endpoint of [`[${V6_SOURCE}]:45678`, `[${V6_DESTINATION}]:5561`, '198.18.1.1:45678', '198.18.1.2:5561']) {
      assert.ok(
        lines.some((line) => line.includes(endpoint)),
        `${endpoint} on one line:\n${text}`,
      );
    }
    assert.equal(lines.filter((line) => line.includes(' sock dw-receiver[4321] ')).length, 2, text);
    assert.equal(lines.filter((line) => line.includes('(interrupted python3[812])')).length, 2, 'the interrupted task only when no owner is known');
    assert.ok(
      lines.every((line) => !/ (if 2 \(|netns 4026532000|node\[)/.test(line) || width >= 150),
      text,
    );
    assert.ok(
      lines.some((line) => / if veth-b len 42/.test(line)),
      `the interface by its name:\n${text}`,
    );
  });
}

test('terminal at 80 columns: time to the ms, functions without offsets, the flow and socket on their own indented lines', () => {
  const [header, second, first, flow, ...rest] = terminalText(80, [udp4, rcvbuf6]);
  assert.equal(header, 'TIME         REASON           LOCATION                DETAILS');
  assert.equal(second, '    PROTO FLOW');
  assert.match(first, /^\d\d:\d\d:05\.000 NO_SOCKET +__udp4_lib_rcv +if veth-b len 42$/);
  assert.equal(flow, '    udp   198.18.1.1:45678 > 198.18.1.2:5561 (interrupted python3[812])');
  assert.match(rest[0], /^\d\d:\d\d:05\.000 SOCKET_RCVBUFF +__udp4_lib_rcv +if veth-b len 62$/);
  assert.equal(rest[1], `    udp   [${V6_SOURCE}]:45678 >`, 'an IPv6 flow too long for one line breaks between its endpoints');
  assert.equal(rest[2], `    [${V6_DESTINATION}]:5561`);
  assert.equal(rest[3], `    sock dw-receiver[4321] [${V6_DESTINATION}]:5561`, 'a socket too long for one line breaks between its parts');
  assert.equal(rest[4], '    rcvbuf 2304 queued 2304');
});

test('terminal at 120 columns: time to the µs, the flow beside the location, IPv4 padded only to its own width', () => {
  const [header, first, interrupted, v6, v6Rest] = terminalText(120, [udp4, udp6]);
  assert.match(header, /^TIME {12}REASON {11}LOCATION {19}PROTO FLOW {33}DETAILS$/);
  assert.match(first, /^\d\d:\d\d:05\.000000 NO_SOCKET {8}__udp4_lib_rcv\+0x4bc {7}udp {3}198\.18\.1\.1:45678 > 198\.18\.1\.2:5561 {3}if veth-b len 42$/);
  assert.equal(first.indexOf(' if veth-b'), header.indexOf(' DETAILS'), 'the details under their name');
  assert.equal(interrupted, '    (interrupted python3[812])');
  assert.ok(v6.endsWith(` udp   [${V6_SOURCE}]:45678 >`), `an IPv6 flow too long for the line breaks between its endpoints: ${v6}`);
  assert.equal(v6Rest, `    [${V6_DESTINATION}]:5561 if veth-b len 62 (interrupted python3[812])`);
});

test('terminal: colour codes take no columns', () => {
  const lines = terminalText(80, [udp4, rcvbuf6], true);
  assert.ok(lines.some((line) => line.includes('\x1b[31mSOCKET_RCVBUFF')));
  for (const line of lines) assert.ok(visible(line).length <= 80, visible(line));
});

test('terminal: the header again after the width changed, in the new layout', () => {
  const writer = new TextWriter(context(), terminalLayout(120));
  const [first, second] = events([udp4, udp4]);
  assert.match(writer.lines(first)[0], /^TIME {12}REASON/);
  assert.doesNotMatch(writer.lines(second)[0], /^TIME/);
  writer.relayout(terminalLayout(80));
  const lines = writer.lines(second);
  assert.deepEqual(lines.slice(0, 2), ['TIME         REASON           LOCATION                DETAILS', '    PROTO FLOW']);
  assert.ok(lines.every((line) => line.length <= 80));
});

test('piped (no layout): the stable full line, one per drop, no header', () => {
  const writer = new TextWriter(context());
  const [event] = events([rcvbuf4]);
  const lines = writer.lines(event);
  assert.equal(lines.length, 1);
  assert.equal(lines[0], writer.line(event));
  assert.match(lines[0], / netns 4026532000 if 2 \(veth-b\) len 42 sock dw-receiver\[4321\] 198\.18\.1\.2:5561 rcvbuf 2304 queued 2304$/);
  assert.deepEqual(writer.fitted(`  hint: ${'word '.repeat(40)}`), [`  hint: ${'word '.repeat(40)}`]);
});

test('fitText: lines wrapped to the width at spaces, continued 4 further in, a word longer than a line cut or kept', () => {
  assert.deepEqual(fitText('  hint: one two three four', 16), ['  hint: one two', '      three four']);
  assert.deepEqual(fitText('  rule: averyveryverylongword', 14), ['  rule:', '      averyve…']);
  assert.deepEqual(fitText('  rule: averyveryverylongword x', 14, true), ['  rule:', '      averyveryverylongword', '      x']);
  assert.deepEqual(fitText('    5 drops  NO_SOCKET    udp', 20), ['    5 drops', '        NO_SOCKET', '        udp'], 'a line breaks at its spaces');
  assert.deepEqual(fitText('    5 drops  NO_SOCKET    udp', 40), ['    5 drops  NO_SOCKET    udp'], 'the spaces of a line that fits are kept');
  assert.equal(fitMessage('dropwhy: one two\nthree four five', 12), 'dropwhy: one\n    two\nthree four\n    five');
  assert.equal(fitMessage('dropwhy: one two', null), 'dropwhy: one two');
  assert.equal(cutText('abcdef', 4), 'abc…');
  assert.equal(cutText('abc', 4), 'abc');
});

test('fitText: any width, any text: no line longer than the width, every word that fits a line whole', () => {
  fc.assert(
    fc.property(fc.array(fc.stringMatching(/^[a-z:.]{1,30}$/), { maxLength: 20 }), fc.nat(4), fc.integer({ min: 20, max: 120 }), (words, leading, width) => {
      const lines = fitText(' '.repeat(leading) + words.join(' '), width);
      for (const line of lines) assert.ok(line.length <= width, `${line.length} > ${width}: ${line}`);
      const out = lines.flatMap((line) => line.trim().split(/ +/));
      for (const word of words) if (word.length <= width - leading - 4) assert.ok(out.includes(word), `${word} whole`);
    }),
  );
});

test('fitGroups: any width, any pieces: no line longer than the width, every piece that fits a line whole', () => {
  const piece = fc.record({ text: fc.stringMatching(/^[a-z0-9:.[\]]{1,50}$/), pad: fc.nat(40), color: fc.constantFrom('', '\x1b[2m') });
  const group = fc.record({ pieces: fc.array(piece, { minLength: 1, maxLength: 6 }), ownLine: fc.boolean() });
  fc.assert(
    fc.property(fc.array(group, { minLength: 1, maxLength: 6 }), fc.integer({ min: 10, max: 200 }), (groups, width) => {
      const lines = fitGroups(groups, width, (color, text) => `${color}${text}\x1b[0m`).map(visible);
      for (const line of lines) assert.ok(line.length <= width, `${line.length} > ${width}: ${line}`);
      const words = lines.flatMap((line) => line.trim().split(/ +/));
      for (const { text } of groups.flatMap((g) => g.pieces)) if (text.length <= width - 4) assert.ok(words.includes(text), `${text} whole`);
    }),
  );
});

test('trace on an 80-column terminal: the layout under its header; SIGWINCH lays it out again', async (t) => {
  const h = cliHarness({ stdoutIsTty: true, columns: 80, interfaces: { '4026532000/veth-b': 2 } });
  t.after(() => h.stop());
  const { done } = await runUntilOpened(['--color', 'never'], h);
  h.binding.push(encodeBatch([udp4, udp6].map((spec) => ({ location: UDP4_RCV, ...spec }))));
  await waitFor(() => h.stdout().includes('5561 ('), 'the drops printed');
  h.resize.emit('resize', 120);
  h.binding.push(encodeEvent({ location: UDP4_RCV, ...udp4 }));
  await waitFor(() => (h.stdout().match(/^TIME/gm) ?? []).length === 2, 'a second header');
  h.stop();
  assert.equal(await done, 0);
  const lines = h.stdout().trimEnd().split('\n');
  const wide = lines.findIndex((line, i) => i > 0 && line.startsWith('TIME'));
  assert.equal(lines[0], 'TIME         REASON           LOCATION                DETAILS');
  for (const line of lines.slice(0, wide)) assert.ok(line.length <= 80, line);
  assert.ok(lines.slice(0, wide).some((line) => line.includes(`[${V6_SOURCE}]:45678 >`)));
  assert.match(lines[wide + 1], /^\d\d:\d\d:\d\d\.\d{6} NO_SOCKET +kfree_skb_reason\+0x820a726c +udp +198\.18\.1\.1:45678 > 198\.18\.1\.2:5561 /);
});
