// Filter expressions: libpcap's programs (compiled by the built addon, which
// needs no privileges) checked and written into the config, the reference
// interpreter's verdicts on hand-built packets, and the CLI's positional words.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileExpression, decodeProgram, INSN_BYTES, SNAPLEN } from '../../src/events/expression';
import { lowerFilter } from '../../src/events/filter';
import { CONFIG, MAX_FILTER_INSNS } from '../../src/events/layout';
import { UsageError } from '../../src/errors';
import { loadNativeBinding } from '../../src/kernel/binding';
import { icmp, IPPROTO, ipv4, ipv6, tcp, TCP_FLAGS, udp } from '../e2e/packets';
import { cbpfAccepts, declaredLength } from './cbpf';
import { cliHarness, runNoTrace, runUntilOpened } from './helpers';

const TIMEOUT = { timeout: 20_000 };
const compile = (expression: string, snaplen: number) => loadNativeBinding().compileFilter(expression, snaplen);
const program = (expression: string) => compileExpression(compile, expression);

const v4 = { src: '10.0.0.1', dst: '10.0.0.2' };
const v6 = { src: 'fd00::1', dst: 'fd00::2' };
const PACKETS = {
  dns4: ipv4({ ...v4, proto: IPPROTO.udp }, udp(v4, 40000, 53)),
  dns6: ipv6({ ...v6, proto: IPPROTO.udp }, udp(v6, 40000, 53)),
  syn4: ipv4({ ...v4, proto: IPPROTO.tcp, ttl: 4 }, tcp(v4, 40000, 80, TCP_FLAGS.SYN)),
  ack4Options: ipv4({ ...v4, proto: IPPROTO.tcp, options: Buffer.alloc(40, 1) }, tcp(v4, 40000, 1500, TCP_FLAGS.ACK)),
  syn6Ext: ipv6({ ...v6, proto: IPPROTO.tcp, extensions: [{ kind: 'hop' }, { kind: 'dest' }] }, tcp(v6, 40000, 80, TCP_FLAGS.SYN)),
  echo4: ipv4({ ...v4, proto: IPPROTO.icmp }, icmp(v4, 8, 0)),
  fragment4: ipv4({ ...v4, proto: IPPROTO.udp, fragmentOffset: 3 }, Buffer.alloc(16, 0x40)),
};
type PacketName = keyof typeof PACKETS;

// Which packets each expression selects, by what the packets were built to be.
const VERDICTS: Array<[string, PacketName[]]> = [
  ['udp port 53', ['dns4', 'dns6']],
  ['ip6', ['dns6', 'syn6Ext']],
  ['icmp', ['echo4']],
  ['tcp[tcpflags] & tcp-syn != 0', ['syn4']], // tcp[] is IPv4 only in libpcap
  ['tcp[13] = 16', ['ack4Options']],
  ['ip[8] < 5', ['syn4']],
  ['portrange 1000-2000', ['ack4Options']],
  ['net 10.0.0.0/8 and not udp', ['syn4', 'ack4Options', 'echo4']],
  // libpcap's tcp on IPv6 reads the fixed header's next header only: extension headers hide it.
  ['ip6 and tcp port 80 or icmp', ['echo4']],
  ['ip6 and ip6[6] = 0', ['syn6Ext']],
  ['ip[6:2] & 0x1fff != 0', ['fragment4']],
  ['host fd00::2', ['dns6', 'syn6Ext']],
];

test('the reference interpreter runs libpcap programs on hand-built packets', TIMEOUT, () => {
  for (const [expression, selected] of VERDICTS) {
    const compiled = program(expression);
    for (const [name, bytes] of Object.entries(PACKETS)) {
      assert.equal(cbpfAccepts(compiled, bytes), selected.includes(name as PacketName), `${expression} on ${name}`);
    }
  }
});

test('a load past the declared length rejects, as in classic BPF', TIMEOUT, () => {
  const compiled = program('udp port 53');
  const declaresHeaderOnly = ipv4({ ...v4, proto: IPPROTO.udp, totalLength: 20 }, udp(v4, 40000, 53));
  assert.equal(declaredLength(declaresHeaderOnly), 20);
  assert.equal(cbpfAccepts(compiled, declaresHeaderOnly), false);
  assert.equal(cbpfAccepts(compiled, PACKETS.dns4.subarray(0, 23)), false, 'bytes cut inside the port');
  assert.equal(cbpfAccepts(program('len = 28'), PACKETS.dns4), false);
  assert.equal(cbpfAccepts(program(`len = ${PACKETS.dns4.length}`), PACKETS.dns4), true);
});

test("an invalid expression: libpcap's own message as a UsageError", TIMEOUT, () => {
  assert.throws(
    () => program('udp prot 53'),
    (error: unknown) => {
      assert.ok(error instanceof UsageError);
      assert.equal(error.message, `filter expression "udp prot 53": can't parse filter expression: syntax error`);
      return true;
    },
  );
  assert.throws(
    () => program('port 99999'),
    (error: unknown) => error instanceof UsageError && error.message === 'filter expression "port 99999": illegal port number 99999 > 65535',
  );
});

test('an expression longer than the interpreter runs: one message naming the limit', TIMEOUT, () => {
  const ports = Array.from({ length: 60 }, (_, i) => `port ${1000 + i}`).join(' or ');
  const length = compile(ports, SNAPLEN).length / INSN_BYTES;
  assert.ok(length > MAX_FILTER_INSNS);
  assert.throws(() => program(ports), new RegExp(`compiles to ${length} classic BPF instructions; the in-kernel filter runs at most ${MAX_FILTER_INSNS}$`));
});

test('instructions the interpreter does not run are refused before load', () => {
  const insn = (code: number, jt = 0, jf = 0, k = 0) => {
    const bytes = Buffer.alloc(INSN_BYTES);
    bytes.writeUInt16LE(code, 0);
    bytes.writeUInt8(jt, 2);
    bytes.writeUInt8(jf, 3);
    bytes.writeUInt32LE(k, 4);
    return bytes;
  };
  const ret = insn(0x06, 0, 0, 1);
  const cases: Array<[Buffer, RegExp]> = [
    [Buffer.concat([insn(0x15, 5, 0, 1), ret]), /backward or outside jump \(a loop, as protochain makes\) at instruction 0/], // jeq past the end
    [Buffer.concat([insn(0x02, 0, 0, MAX_FILTER_INSNS), ret]), /scratch word/], // st M[128]
    [Buffer.concat([insn(0xf4), ret]), /ALU operation/],
  ];
  for (const [bytes, message] of cases) assert.throws(() => compileExpression(() => bytes, 'x'), message);
  // libpcap refuses `len / 0` itself; this guards the program, whatever produced it.
  const lenInA = insn(0x80);
  for (const [code, name] of [
    [0x34, 'div'],
    [0x94, 'mod'],
  ] as const) {
    assert.throws(
      () => compileExpression(() => Buffer.concat([lenInA, insn(code, 0, 0, 0), ret]), 'x'),
      (error: unknown) =>
        error instanceof UsageError &&
        error.message === `filter expression: the in-kernel filter cannot run the ${name} #0 (a division by the constant 0) at instruction 1 (code 0x${code.toString(16)})`,
    );
    const byConstant = Buffer.concat([lenInA, insn(code, 0, 0, 3), ret]);
    assert.deepEqual(
      compileExpression(() => byConstant, 'x'),
      byConstant,
      `${name} #3 runs`,
    );
    const byX = Buffer.concat([lenInA, insn(code | 0x08), ret]);
    assert.deepEqual(
      compileExpression(() => byX, 'x'),
      byX,
      `${name} x runs: X is only known per packet`,
    );
  }
  // libpcap's protochain walks IPv6 extension headers with a backward jump.
  assert.throws(() => program('ip6 protochain 6'), /backward or outside jump/);
  assert.deepEqual(
    compileExpression(() => ret, 'x'),
    ret,
  );
});

// Found while writing test/unit/expression-properties.test.ts (which checked programs keep their meaning in the config?).
test('an empty program is refused: the config would read its length 0 as no expression, passing every drop', () => {
  const empty = Buffer.alloc(0);
  assert.equal(cbpfAccepts(empty, PACKETS.dns4), false, 'the interpreter: an empty program rejects');
  assert.equal(lowerFilter({ program: empty }, 4096).readUInt16LE(CONFIG.filter_len), 0);
  assert.throws(
    () => compileExpression(() => empty, 'x'),
    (error: unknown) => error instanceof UsageError && error.message === 'filter expression: compiles to no classic BPF instructions',
  );
});

test('lowerFilter writes the program and its length into the config; none leaves both zero', TIMEOUT, () => {
  const compiled = program('tcp[13] = 2');
  const config = lowerFilter({ program: compiled }, 4096);
  assert.equal(config.readUInt16LE(CONFIG.filter_len), compiled.length / INSN_BYTES);
  assert.deepEqual(decodeProgram(config.subarray(CONFIG.filter_insns, CONFIG.filter_insns + compiled.length)), decodeProgram(compiled));
  const none = lowerFilter({}, 4096);
  assert.equal(none.readUInt16LE(CONFIG.filter_len), 0);
  assert.ok(none.subarray(CONFIG.filter_insns).every((byte) => byte === 0));
});

test('CLI: the positional words are one expression, joined with spaces, ANDed with the flags', TIMEOUT, async (t) => {
  for (const argv of [
    ['udp', 'port', '53'],
    ['summary', 'udp port', '53'],
    ['exporter', '--listen', '127.0.0.1:0', 'udp port 53'],
  ]) {
    const h = cliHarness();
    t.after(() => h.stop());
    const { done } = await runUntilOpened([...argv, '--filter-proto', 'udp'], h);
    const config = h.binding.options.config;
    const expected = program('udp port 53');
    assert.equal(config.readUInt16LE(CONFIG.filter_len), expected.length / INSN_BYTES, argv.join(' '));
    assert.deepEqual(config.subarray(CONFIG.filter_insns, CONFIG.filter_insns + expected.length), expected);
    assert.equal(config.readUInt8(CONFIG.l4_proto), IPPROTO.udp, 'the flag filter stays');
    h.stop();
    assert.equal(await done, 0);
  }
});

test('CLI: an invalid expression is one line, exit 2, nothing loaded', TIMEOUT, async () => {
  const h = cliHarness();
  assert.equal(await runNoTrace(['udp', 'prot', '53'], h), 2);
  assert.equal(h.err[0], `dropwhy: filter expression "udp prot 53": can't parse filter expression: syntax error`);
  assert.equal(h.binding.opened.length, 0);
});
