// The dropped packets as a pcapng file (-w) for Wireshark and tshark: a section
// header once, an interface block per (netns, ifindex, link type) the first
// time one is seen, and an enhanced packet block per drop whose comment says
// why the kernel dropped it. Pure: it turns events into bytes, the caller
// writes them. Block layouts: draft-ietf-opsawg-pcapng (all little-endian here).
import { formatKernelAddress, type DropEvent, type DropPacket } from '../events/decode';
import type { FormatContext } from './format';
import { interfaceText } from './text-writer';

const BLOCK = { section: 0x0a0d0d0a, interface: 0x00000001, enhancedPacket: 0x00000006 } as const;
const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPTION = { end: 0, comment: 1, shbUserAppl: 4, ifName: 2, ifDescription: 3, ifTsresol: 9 } as const;
/** LINKTYPE_ETHERNET and LINKTYPE_RAW (an IPv4 or IPv6 header first). */
const LINK_TYPE = { ethernet: 1, rawIp: 101 } as const;
/** if_tsresol 9: timestamps count nanoseconds. */
const NANOSECONDS = 9;

type Option = [code: number, value: Uint8Array];

const text = (value: string): Uint8Array => Buffer.from(value, 'utf8');
const padded = (length: number) => (length + 3) & ~3;

function optionsLength(options: Option[]): number {
  return options.length === 0 ? 0 : options.reduce((sum, [, value]) => sum + 4 + padded(value.length), 4);
}

/** A block: type, total length, body, options, total length again; every part padded to 4 bytes. */
function block(type: number, body: Uint8Array, options: Option[]): Buffer {
  const length = 12 + padded(body.length) + optionsLength(options);
  const bytes = Buffer.alloc(length);
  bytes.writeUInt32LE(type, 0);
  bytes.writeUInt32LE(length, 4);
  bytes.set(body, 8);
  let at = 8 + padded(body.length);
  if (options.length > 0) {
    for (const [code, value] of options) {
      bytes.writeUInt16LE(code, at);
      bytes.writeUInt16LE(value.length, at + 2);
      bytes.set(value, at + 4);
      at += 4 + padded(value.length);
    }
    at += 4; // opt_endofopt: code 0, length 0
  }
  bytes.writeUInt32LE(length, at);
  return bytes;
}

function sectionHeader(application: string): Buffer {
  const body = Buffer.alloc(16);
  body.writeUInt32LE(BYTE_ORDER_MAGIC, 0);
  body.writeUInt16LE(1, 4); // version 1.0
  body.writeUInt16LE(0, 6);
  body.writeBigInt64LE(-1n, 8); // section length unknown: the file is written as drops come
  return block(BLOCK.section, body, [[OPTION.shbUserAppl, text(application)]]);
}

function interfaceDescription(link: DropPacket['link'], snaplen: number, name: string | null, netns: number | null): Buffer {
  const body = Buffer.alloc(8);
  body.writeUInt16LE(LINK_TYPE[link], 0);
  body.writeUInt32LE(snaplen, 4);
  const options: Option[] = [];
  if (name !== null) options.push([OPTION.ifName, text(name)]);
  options.push([OPTION.ifDescription, text(`netns ${netns ?? '-'}`)], [OPTION.ifTsresol, Uint8Array.of(NANOSECONDS)]);
  return block(BLOCK.interface, body, options);
}

function enhancedPacket(interfaceId: number, unixNs: bigint, packet: DropPacket, comment: string): Buffer {
  const body = Buffer.alloc(20 + packet.bytes.length);
  body.writeUInt32LE(interfaceId, 0);
  body.writeUInt32LE(Number(unixNs >> 32n), 4);
  body.writeUInt32LE(Number(unixNs & 0xffffffffn), 8);
  body.writeUInt32LE(packet.bytes.length, 12);
  body.writeUInt32LE(Math.max(packet.wireLength, packet.bytes.length), 16);
  body.set(packet.bytes, 20);
  return block(BLOCK.enhancedPacket, body, [[OPTION.comment, text(comment)]]);
}

/** `NO_SOCKET at __udp4_lib_rcv+0x4bc netns 4026532290 if 2 (veth0)`: the text line's words for why. */
export function packetComment(event: DropEvent, context: FormatContext): string {
  const reason = event.reason === null ? '-' : context.reasons.decode(event.reason).name;
  const location = context.symbols.symbolize(event.location) ?? formatKernelAddress(event.location);
  return `${reason} at ${location} netns ${event.netns ?? '-'} ${interfaceText(event, context.interfaces)}`;
}

/**
 * One pcapng section. start() gives the section header; add() the blocks for
 * one drop (an interface block first when its interface is new), or null for
 * an event without packet bytes (the kernel counts those: packet_unread).
 */
export class PcapngWriter {
  private readonly interfaces = new Map<string, number>();

  constructor(
    private readonly context: FormatContext,
    private readonly snaplen: number,
  ) {}

  start(application: string): Buffer {
    return sectionHeader(application);
  }

  add(event: DropEvent): Buffer | null {
    const { packet } = event;
    if (packet === null) return null;
    const key = `${event.netns ?? '-'} ${event.ifindex} ${packet.link}`;
    let id = this.interfaces.get(key);
    let description: Buffer | null = null;
    if (id === undefined) {
      id = this.interfaces.size;
      this.interfaces.set(key, id);
      const name = event.ifindex === 0 ? null : this.context.interfaces.name(event.netns, event.ifindex);
      description = interfaceDescription(packet.link, this.snaplen, name, event.netns);
    }
    // The JSON's time (the same offset from the monotonic clock), summed as integers: a double near 2^60 is exact only to 256 ns.
    const unixNs = BigInt(event.tsNs) + BigInt(Math.round(this.context.monotonicToUnixNs));
    const epb = enhancedPacket(id, unixNs, packet, packetComment(event, this.context));
    return description === null ? epb : Buffer.concat([description, epb]);
  }
}
