// A reference interpreter of classic BPF, written from the classic BPF
// semantics (libpcap's bpf_filter), not from bpf/cbpf.bpf.h: the tests check
// the kernel's verdict against it on the same program and the same bytes.
import { decodeProgram, MEMWORDS } from '../../src/events/expression';

/**
 * A raw IP packet as the BPF program sees it: its bytes from the network header, and its length as
 * that header declares it (IPv4 total length, IPv6 40 + payload length; when zero, the bytes').
 */
export function declaredLength(bytes: Buffer): number {
  const version = bytes.length > 0 ? bytes[0] >> 4 : 0;
  if (version === 4 && bytes.length >= 4 && bytes.readUInt16BE(2) > 0) return bytes.readUInt16BE(2);
  if (version === 6 && bytes.length >= 6 && bytes.readUInt16BE(4) > 0) return 40 + bytes.readUInt16BE(4);
  return bytes.length;
}

/** Whether the program accepts the packet (a non-zero return); a load outside it, or a division by zero, rejects. */
export function cbpfAccepts(program: Buffer, packet: Buffer, length = declaredLength(packet)): boolean {
  const insns = decodeProgram(program);
  const end = Math.min(packet.length, length);
  const mem = new Uint32Array(MEMWORDS);
  let a = 0;
  let x = 0;
  const load = (offset: number, size: number): number | null => {
    if (offset + size > end) return null;
    return size === 4 ? packet.readUInt32BE(offset) : size === 2 ? packet.readUInt16BE(offset) : packet[offset];
  };
  for (let pc = 0; pc < insns.length; pc++) {
    const { code, jt, jf, k } = insns[pc];
    // biome-ignore lint/complexity/useSimpleNumberKeys: the BPF_SIZE codes as the kernel writes them
    const size = { 0x00: 4, 0x08: 2, 0x10: 1 }[code & 0x18] ?? 0;
    const mode = code & 0xe0;
    switch (code & 0x07) {
      case 0x00: // ld
      case 0x01: {
        // ldx
        let value: number | null;
        if (mode === 0x00) value = k;
        else if (mode === 0x80) value = length;
        else if (mode === 0x60) value = mem[k];
        else if (mode === 0x20) value = load(k, size);
        else if (mode === 0x40) value = load((x + k) >>> 0, size);
        else if (mode === 0xa0) {
          const byte = load(k, 1);
          value = byte === null ? null : (byte & 0x0f) * 4;
        } else throw new Error(`unknown load 0x${code.toString(16)}`);
        if (value === null) return false;
        if ((code & 0x07) === 0x00) a = value >>> 0;
        else x = value >>> 0;
        break;
      }
      case 0x02:
        mem[k] = a;
        break;
      case 0x03:
        mem[k] = x;
        break;
      case 0x04: {
        const operand = code & 0x08 ? x : k;
        switch (code & 0xf0) {
          case 0x00:
            a = (a + operand) >>> 0;
            break;
          case 0x10:
            a = (a - operand) >>> 0;
            break;
          case 0x20:
            a = Math.imul(a, operand) >>> 0;
            break;
          case 0x30:
            if (operand === 0) return false;
            a = Math.floor(a / operand) >>> 0;
            break;
          case 0x90:
            if (operand === 0) return false;
            a = (a % operand) >>> 0;
            break;
          case 0x40:
            a = (a | operand) >>> 0;
            break;
          case 0x50:
            a = (a & operand) >>> 0;
            break;
          case 0xa0:
            a = (a ^ operand) >>> 0;
            break;
          case 0x60:
            a = operand < 32 ? (a << operand) >>> 0 : 0;
            break;
          case 0x70:
            a = operand < 32 ? a >>> operand : 0;
            break;
          case 0x80:
            a = -a >>> 0;
            break;
          default:
            throw new Error(`unknown ALU op 0x${code.toString(16)}`);
        }
        break;
      }
      case 0x05: {
        const operand = code & 0x08 ? x : k;
        const op = code & 0xf0;
        if (op === 0x00) {
          pc += k;
          break;
        }
        const taken = op === 0x10 ? a === operand : op === 0x20 ? a > operand : op === 0x30 ? a >= operand : (a & operand) !== 0;
        pc += taken ? jt : jf;
        break;
      }
      case 0x06: {
        const rval = code & 0x18;
        return (rval === 0x10 ? a : rval === 0x08 ? x : k) !== 0;
      }
      default:
        if ((code & 0xf8) === 0x80) a = x;
        else x = a;
    }
  }
  return false;
}
