// Properties of the expression path user space owns. Its lowering is no translation: compileExpression
// checks libpcap's classic BPF program and lowerFilter copies it verbatim into the config, which only the
// BPF program's interpreter (bpf/cbpf.bpf.h cbpf_run) executes. So user space can check that
// the check accepts exactly the programs the reference interpreter (cbpf.ts) runs, and that the config
// carries them unchanged: random programs built from the classic BPF instruction set, with and without
// one defect.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { UsageError } from '../../src/errors';
import { compileExpression, decodeProgram, INSN_BYTES, MEMWORDS, type Insn } from '../../src/events/expression';
import { lowerFilter } from '../../src/events/filter';
import { CONFIG, MAX_FILTER_INSNS } from '../../src/events/layout';
import { cbpfAccepts } from './cbpf';

const SIZES = [0x00, 0x08, 0x10]; // W H B
const LD_MODES = [0x00, 0x20, 0x40, 0x60, 0x80]; // imm abs ind mem len
const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0]; // add sub mul div or and lsh rsh neg mod xor
const JUMP_OPS = [0x10, 0x20, 0x30, 0x40]; // jeq jgt jge jset (ja apart: one target, in k)
const SOURCES = [0x00, 0x08]; // K X

/** The random choices of one instruction; concreteAt turns them into an instruction valid at pc. */
interface Choice {
  kind: 'ld' | 'ldx' | 'st' | 'alu' | 'jump' | 'ja' | 'ret' | 'misc';
  pick: number;
  k: number;
  jt: number;
  jf: number;
}

const kValue = fc.oneof(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 0xffffffff }));
const choice: fc.Arbitrary<Choice> = fc.record({
  kind: fc.constantFrom<Choice['kind']>('ld', 'ld', 'ldx', 'st', 'alu', 'alu', 'jump', 'jump', 'ja', 'ret', 'misc'),
  pick: fc.nat(),
  k: kValue,
  jt: fc.nat(),
  jf: fc.nat(),
});

const at = <T>(list: readonly T[], pick: number): T => list[pick % list.length];

/** A classic BPF instruction the interpreter runs at pc of a length-long program: forward jumps inside it, scratch words below MEMWORDS, no division by the constant 0. */
function concreteAt({ kind, pick, k, jt, jf }: Choice, pc: number, length: number): Insn {
  const ahead = length - pc - 1; // instructions a jump may skip
  const word = k % MEMWORDS;
  if ((kind === 'jump' || kind === 'ja') && ahead === 0) kind = 'ret';
  switch (kind) {
    case 'ld': {
      const mode = at(LD_MODES, pick);
      return { code: mode | at(SIZES, pick >> 3), jt: 0, jf: 0, k: mode === 0x60 ? word : k };
    }
    case 'ldx': {
      const code = at([0x01, 0x61, 0x81, 0xb1], pick); // imm mem len msh
      return { code, jt: 0, jf: 0, k: code === 0x61 ? word : k };
    }
    case 'st':
      return { code: at([0x02, 0x03], pick), jt: 0, jf: 0, k: word };
    case 'alu': {
      const code = 0x04 | at(ALU_OPS, pick) | at(SOURCES, pick >> 4);
      return { code, jt: 0, jf: 0, k: (code === 0x34 || code === 0x94) && k === 0 ? 1 : k }; // not div #0, mod #0
    }
    case 'jump':
      return { code: 0x05 | at(JUMP_OPS, pick) | at(SOURCES, pick >> 3), jt: Math.min(jt % ahead, 255), jf: Math.min(jf % ahead, 255), k };
    case 'ja':
      return { code: 0x05, jt: 0, jf: 0, k: k % ahead };
    case 'ret':
      return { code: 0x06 | at([0x00, 0x08, 0x10], pick), jt: 0, jf: 0, k: pick % 2 === 0 ? 0 : k };
    case 'misc':
      return { code: at([0x07, 0x87], pick), jt: 0, jf: 0, k: 0 }; // tax txa
  }
}

function encodeProgram(insns: Insn[]): Buffer {
  const bytes = Buffer.alloc(insns.length * INSN_BYTES);
  insns.forEach(({ code, jt, jf, k }, i) => {
    bytes.writeUInt16LE(code, i * INSN_BYTES);
    bytes.writeUInt8(jt, i * INSN_BYTES + 2);
    bytes.writeUInt8(jf, i * INSN_BYTES + 3);
    bytes.writeUInt32LE(k, i * INSN_BYTES + 4);
  });
  return bytes;
}

const validProgram: fc.Arbitrary<Insn[]> = fc
  .oneof(fc.array(choice, { minLength: 1, maxLength: 24 }), fc.array(choice, { minLength: MAX_FILTER_INSNS - 4, maxLength: MAX_FILTER_INSNS }))
  .map((choices) => choices.map((c, pc) => concreteAt(c, pc, choices.length)));

/** Raw IP packets as the BPF program reads them: often an IPv4 or IPv6 version nibble, any bytes after it. */
const packet: fc.Arbitrary<Buffer> = fc.tuple(fc.constantFrom(0x45, 0x60, 0x4f, 0x00), fc.uint8Array({ maxLength: 80 })).map(([first, rest]) => Buffer.from([first, ...rest]));

const check = (bytes: Buffer) => compileExpression(() => bytes, 'random');

test('property: every program of interpreter-run instructions is accepted, carried unchanged into the config, and runs', () => {
  fc.assert(
    fc.property(validProgram, fc.array(packet, { maxLength: 4 }), (insns, packets) => {
      const bytes = encodeProgram(insns);
      assert.deepEqual(check(bytes), bytes);
      const config = lowerFilter({ program: bytes }, 4096);
      assert.equal(config.readUInt16LE(CONFIG.filter_len), insns.length);
      assert.deepEqual(decodeProgram(config.subarray(CONFIG.filter_insns, CONFIG.filter_insns + bytes.length)), insns);
      // The reference interpreter knows every instruction (it throws on one it does not).
      for (const bytesOfPacket of packets) assert.equal(typeof cbpfAccepts(bytes, bytesOfPacket), 'boolean');
    }),
    { numRuns: 400, includeErrorInReport: true },
  );
});

/** Instructions the interpreter does not run anywhere (jumps too: they are placed to land past the end). */
const defect: fc.Arbitrary<(pc: number, length: number) => Insn> = fc.oneof(
  fc.constantFrom(0xa0, 0xc0, 0xe0).map((mode) => () => ({ code: mode, jt: 0, jf: 0, k: 0 })), // ld, unknown mode
  fc.constantFrom(0x18, 0x38, 0x58).map((code) => () => ({ code, jt: 0, jf: 0, k: 0 })), // ld of a double word
  fc.constantFrom(0x21, 0x41, 0x69, 0xa1).map((code) => () => ({ code, jt: 0, jf: 0, k: 0 })), // ldx: abs, ind, mem.h, msh.w
  fc.tuple(fc.constantFrom(0x60, 0x61, 0x02, 0x03), fc.integer({ min: MEMWORDS, max: 0xffffffff })).map(([code, k]) => () => ({ code, jt: 0, jf: 0, k })), // scratch word past M[15]
  fc.constantFrom(0xb4, 0xc4, 0xdc, 0xf4).map((code) => () => ({ code, jt: 0, jf: 0, k: 1 })), // ALU, unknown operation
  fc.constantFrom(0x34, 0x94).map((code) => () => ({ code, jt: 0, jf: 0, k: 0 })), // div #0, mod #0
  fc.constantFrom(0x55, 0x65, 0xf5).map((code) => () => ({ code, jt: 0, jf: 0, k: 0 })), // jump, unknown operation
  fc.nat(255).map((extra) => (pc: number, length: number) => ({ code: 0x15, jt: Math.min(255, length - pc - 1 + extra), jf: 0, k: 0 })), // jeq past the end
  fc.nat(1000).map((extra) => (pc: number, length: number) => ({ code: 0x05, jt: 0, jf: 0, k: length - pc - 1 + extra })), // ja past the end
  fc.constant(() => ({ code: 0x1e, jt: 0, jf: 0, k: 0 })), // ret, unknown source
  fc.constantFrom(0x0f, 0x17, 0x47).map((code) => () => ({ code, jt: 0, jf: 0, k: 0 })), // misc, unknown
);

test('property: a program with one instruction the interpreter does not run is refused, naming that instruction', () => {
  fc.assert(
    fc.property(validProgram, fc.nat(), defect, (insns, where, makeDefect) => {
      const pc = where % insns.length;
      const broken = insns.map((insn, i) => (i === pc ? makeDefect(pc, insns.length) : insn));
      assert.throws(
        () => check(encodeProgram(broken)),
        (error: unknown) => error instanceof UsageError && new RegExp(`at instruction ${pc} \\(`).test(error.message),
        `not refused at instruction ${pc}: ${JSON.stringify(broken[pc])}`,
      );
    }),
    { numRuns: 400, includeErrorInReport: true },
  );
});
