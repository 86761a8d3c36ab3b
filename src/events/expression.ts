// tcpdump filter expressions: compiled by libpcap (through the addon) to a
// classic BPF program for packets that start at the network header, checked
// here and written into the BPF program's config, whose interpreter runs it on
// every drop's bytes (bpf/dropwhy.bpf.c expression_matches).
import { UsageError } from '../errors';
import { MAX_FILTER_INSNS } from './layout';

/** Bytes of one struct sock_filter: __u16 code, __u8 jt, __u8 jf, __u32 k. */
export const INSN_BYTES = 8;

/** libpcap's snapshot length: what an accepting `ret` returns; any non-zero return is a match. */
export const SNAPLEN = 262144;

export interface Insn {
  code: number;
  jt: number;
  jf: number;
  k: number;
}

/** The instruction classes and modes the BPF program's interpreter runs (what libpcap emits for DLT_RAW). */
const CLASS = { ld: 0, ldx: 1, st: 2, stx: 3, alu: 4, jmp: 5, ret: 6, misc: 7 } as const;
const LD_MODES = [0x00, 0x20, 0x40, 0x60, 0x80]; // imm abs ind mem len
const LDX_MODES = [0x00, 0x60, 0x80, 0xa0]; // imm mem len msh
const ALU_OPS = [0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x80, 0x90, 0xa0];
const ALU_DIVISIONS = new Map([
  [0x30, 'div'],
  [0x90, 'mod'],
]);
const SRC_X = 0x08; // the operand is X, else k
const JMP_OPS = [0x00, 0x10, 0x20, 0x30, 0x40];
export const MEMWORDS = 16;

export function decodeProgram(bytes: Buffer): Insn[] {
  if (bytes.length % INSN_BYTES !== 0) throw new RangeError(`a classic BPF program is a multiple of ${INSN_BYTES} bytes, got ${bytes.length}`);
  const insns: Insn[] = [];
  for (let at = 0; at < bytes.length; at += INSN_BYTES) {
    insns.push({ code: bytes.readUInt16LE(at), jt: bytes.readUInt8(at + 2), jf: bytes.readUInt8(at + 3), k: bytes.readUInt32LE(at + 4) });
  }
  return insns;
}

/** Why the interpreter would not run this instruction at pc, or null when it would. */
function unsupported(insn: Insn, pc: number, length: number): string | null {
  const { code, k } = insn;
  const mode = code & 0xe0;
  const size = code & 0x18;
  switch (code & 0x07) {
    case CLASS.ld:
      if (!LD_MODES.includes(mode) || size === 0x18) return 'load';
      return mode === 0x60 && k >= MEMWORDS ? 'scratch word' : null;
    case CLASS.ldx:
      if (!LDX_MODES.includes(mode)) return 'load';
      if (mode === 0xa0 ? size !== 0x10 : size !== 0) return 'load';
      return mode === 0x60 && k >= MEMWORDS ? 'scratch word' : null;
    case CLASS.st:
    case CLASS.stx:
      return k >= MEMWORDS ? 'scratch word' : null;
    case CLASS.alu: {
      const op = code & 0xf0;
      if (!ALU_OPS.includes(op)) return 'ALU operation';
      // The interpreter would reject every packet from there on; the kernel's classic BPF checker refuses it too.
      const division = ALU_DIVISIONS.get(op);
      return division && (code & SRC_X) === 0 && k === 0 ? `${division} #0 (a division by the constant 0)` : null;
    }
    case CLASS.jmp: {
      if (!JMP_OPS.includes(code & 0xf0)) return 'jump';
      // Classic BPF jumps forward only; the interpreter relies on it to end.
      const targets = (code & 0xf0) === 0 ? [k] : [insn.jt, insn.jf];
      return targets.every((offset) => pc + 1 + offset < length) ? null : 'backward or outside jump (a loop, as protochain makes)';
    }
    case CLASS.ret:
      return size === 0x18 ? 'return' : null;
    default:
      return (code & 0xf8) === 0x00 || (code & 0xf8) === 0x80 ? null : 'instruction';
  }
}

/** Compiles with libpcap; what the BPF program's config carries. */
export type CompileFilter = (expression: string, snaplen: number) => Buffer;

/**
 * The expression's classic BPF program, checked for what the BPF program runs. An expression libpcap
 * rejects is a UsageError with libpcap's message; one too long for the interpreter names the limit.
 */
export function compileExpression(compile: CompileFilter, expression: string): Buffer {
  let program: Buffer;
  try {
    program = compile(expression, SNAPLEN);
  } catch (error) {
    throw new UsageError(`filter expression ${JSON.stringify(expression)}: ${(error as Error).message}`);
  }
  const insns = decodeProgram(program);
  // The config's filter_len 0 means no expression: an empty program, which rejects every packet, would pass them all.
  if (insns.length === 0) throw new UsageError('filter expression: compiles to no classic BPF instructions');
  if (insns.length > MAX_FILTER_INSNS) {
    throw new UsageError(`filter expression: compiles to ${insns.length} classic BPF instructions; the in-kernel filter runs at most ${MAX_FILTER_INSNS}`);
  }
  insns.forEach((insn, pc) => {
    const what = unsupported(insn, pc, insns.length);
    if (what) throw new UsageError(`filter expression: the in-kernel filter cannot run the ${what} at instruction ${pc} (code 0x${insn.code.toString(16)})`);
  });
  return program;
}

/**
 * libpcap's keywords (pcap-filter(7), its scanner.l) that an expression can begin with or contain. A
 * plain word that is none of them cannot begin an expression: libpcap answers "syntax error".
 */
const PCAP_KEYWORDS = new Set(
  (
    'dst src host gateway net netmask mask port portrange proto protochain arp rarp ip sctp tcp udp icmp igmp igrp pim vrrp carp ' +
    'radio ip6 icmp6 ah esp atalk aarp decnet lat sca moprc mopdl iso esis es-is isis is-is l1 l2 iih lsp snp csnp psnp clnp stp ' +
    'ipx netbeui less greater byte broadcast multicast and or not len inbound outbound ifindex vlan mpls pppoed pppoes geneve vxlan ' +
    'lane llc metac bcc oam oamf4 oamf4ec oamf4sc sc ilmic connectmsg metaconnect on ifname rnr rulenum srnr subrulenum reason ' +
    'rset action block pass nat rdr type subtype direction dir fddi tr wlan ether link ppp slip ra ta addr1 addr2 addr3 addr4 hsls'
  ).split(' '),
);

/** Whether an expression could begin with this word: a keyword of libpcap's, or anything but a plain word ('(', '!', 'ip[0]', an address). */
export function mayBeginExpression(word: string): boolean {
  return !/^[A-Za-z][A-Za-z_-]*$/.test(word) || PCAP_KEYWORDS.has(word.toLowerCase());
}
