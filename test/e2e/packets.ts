// Builds packets byte by byte for the parsing corpus: IPv4 (with options,
// fragments, any total length), IPv6 with extension headers, UDP, TCP, ICMP
// and ICMPv6 with correct checksums, inside Ethernet frames for an AF_PACKET
// socket. Nothing here is clever: every byte is where RFC 791/8200/768/793/792/4443 put it.
import { parseAddressPrefix } from '../../src/events/address';

export function addressBytes(text: string): Buffer {
  const prefix = parseAddressPrefix(text);
  if (!prefix || text.includes('/')) throw new Error(`not an address: ${text}`);
  return Buffer.from(prefix.bytes.subarray(0, prefix.family === 4 ? 4 : 16));
}

/** The Internet checksum (RFC 1071) over the buffers, one after the other. */
export function checksum(...parts: Buffer[]): number {
  const bytes = Buffer.concat(parts);
  let sum = 0;
  for (let i = 0; i < bytes.length; i += 2) sum += (bytes[i] << 8) | (i + 1 < bytes.length ? bytes[i + 1] : 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

export const IPPROTO = { icmp: 1, tcp: 6, udp: 17, icmp6: 58 } as const;
export const NEXTHDR = { hop: 0, routing: 43, fragment: 44, dest: 60 } as const;

/** The pseudo-header an L4 checksum covers (RFC 768 / RFC 8200 8.1). */
function pseudoHeader(src: string, dst: string, proto: number, length: number): Buffer {
  const s = addressBytes(src);
  const d = addressBytes(dst);
  if (s.length === 4) {
    const tail = Buffer.alloc(4);
    tail.writeUInt8(proto, 1);
    tail.writeUInt16BE(length, 2);
    return Buffer.concat([s, d, tail]);
  }
  const tail = Buffer.alloc(8);
  tail.writeUInt32BE(length, 0);
  tail.writeUInt8(proto, 7);
  return Buffer.concat([s, d, tail]);
}

export interface Endpoints {
  src: string;
  dst: string;
}

export function udp(at: Endpoints, sport: number, dport: number, payload = Buffer.from('dropwhy-corpus'), opts: { badChecksum?: boolean } = {}): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16BE(sport, 0);
  header.writeUInt16BE(dport, 2);
  header.writeUInt16BE(8 + payload.length, 4);
  const sum = checksum(pseudoHeader(at.src, at.dst, IPPROTO.udp, 8 + payload.length), header, payload);
  // 0 means "no checksum" in UDP over IPv4, so a wrong one is never 0.
  header.writeUInt16BE((sum === 0 ? 0xffff : sum) ^ (opts.badChecksum ? 0x5a5a : 0), 6);
  return Buffer.concat([header, payload]);
}

export const TCP_FLAGS = { FIN: 0x01, SYN: 0x02, RST: 0x04, PSH: 0x08, ACK: 0x10 } as const;

export function tcp(at: Endpoints, sport: number, dport: number, flags: number): Buffer {
  const header = Buffer.alloc(20);
  header.writeUInt16BE(sport, 0);
  header.writeUInt16BE(dport, 2);
  header.writeUInt32BE(0x10203040, 4); // sequence number
  header.writeUInt8(5 << 4, 12); // data offset: 5 words
  header.writeUInt8(flags, 13);
  header.writeUInt16BE(64240, 14); // window
  header.writeUInt16BE(checksum(pseudoHeader(at.src, at.dst, IPPROTO.tcp, 20), header), 16);
  return header;
}

/** ICMP (IPv4: checksum over the message) or ICMPv6 (with the pseudo-header), echo-shaped body. */
export function icmp(at: Endpoints, type: number, code: number): Buffer {
  const message = Buffer.alloc(16);
  message.writeUInt8(type, 0);
  message.writeUInt8(code, 1);
  message.writeUInt32BE(0x0d70_0001, 4); // identifier and sequence
  message.write('dropwhy!', 8, 'latin1');
  const v6 = at.src.includes(':');
  message.writeUInt16BE(v6 ? checksum(pseudoHeader(at.src, at.dst, IPPROTO.icmp6, message.length), message) : checksum(message), 2);
  return message;
}

export interface Ipv4Options extends Endpoints {
  proto: number;
  ttl?: number;
  /** Header options, a multiple of 4 bytes (e.g. NOPs): the header grows to 20 + options.length. */
  options?: Buffer;
  id?: number;
  moreFragments?: boolean;
  /** Fragment offset in 8-byte units. */
  fragmentOffset?: number;
  /** The declared total length; default: header + payload. */
  totalLength?: number;
  /** Store a wrong header checksum (the kernel drops such a packet before it trims it to its total length). */
  badChecksum?: boolean;
}

export function ipv4(o: Ipv4Options, payload: Buffer): Buffer {
  const options = o.options ?? Buffer.alloc(0);
  if (options.length % 4 !== 0 || options.length > 40) throw new Error('IPv4 options must be 0..40 bytes, a multiple of 4');
  const header = Buffer.alloc(20 + options.length);
  header.writeUInt8(0x40 | (header.length / 4), 0);
  header.writeUInt16BE(o.totalLength ?? header.length + payload.length, 2);
  header.writeUInt16BE(o.id ?? 0x4242, 4);
  header.writeUInt16BE((o.moreFragments ? 0x2000 : 0) | (o.fragmentOffset ?? 0), 6);
  header.writeUInt8(o.ttl ?? 64, 8);
  header.writeUInt8(o.proto, 9);
  addressBytes(o.src).copy(header, 12);
  addressBytes(o.dst).copy(header, 16);
  options.copy(header, 20);
  header.writeUInt16BE(checksum(header) ^ (o.badChecksum ? 0x5a5a : 0), 10);
  return Buffer.concat([header, payload]);
}

/** An IPv6 extension header: next header, length in 8-octet units past the first 8, then body (padded). */
function extensionHeader(next: number, body: Buffer): Buffer {
  const length = Math.ceil((2 + body.length) / 8) * 8;
  const header = Buffer.alloc(length);
  header.writeUInt8(next, 0);
  header.writeUInt8(length / 8 - 1, 1);
  body.copy(header, 2);
  if (length - 2 - body.length >= 2) {
    // PadN option over the rest (harmless in a routing header body, whose bytes we set below)
    header.writeUInt8(1, 2 + body.length);
    header.writeUInt8(length - 4 - body.length, 3 + body.length);
  }
  return header;
}

export type Extension =
  | { kind: 'hop' | 'dest' }
  | { kind: 'routing' } // type 0, segments left 0: the kernel passes over it
  | { kind: 'fragment'; offset: number; more: boolean };

const EXTENSION_CODE: Record<Extension['kind'], number> = {
  hop: NEXTHDR.hop,
  dest: NEXTHDR.dest,
  routing: NEXTHDR.routing,
  fragment: NEXTHDR.fragment,
};

export interface Ipv6Options extends Endpoints {
  /** The upper-layer protocol after the extension headers. */
  proto: number;
  hopLimit?: number;
  extensions?: Extension[];
  /** The declared payload length; default: everything after the fixed header. */
  payloadLength?: number;
}

export function ipv6(o: Ipv6Options, payload: Buffer): Buffer {
  const extensions = o.extensions ?? [];
  const codes = [...extensions.map((e) => EXTENSION_CODE[e.kind]), o.proto];
  const chain = extensions.map((e, i) => {
    const next = codes[i + 1];
    if (e.kind === 'fragment') {
      const header = Buffer.alloc(8);
      header.writeUInt8(next, 0);
      header.writeUInt16BE((e.offset << 3) | (e.more ? 1 : 0), 2);
      header.writeUInt32BE(0x0d70_4242, 4);
      return header;
    }
    if (e.kind === 'routing') {
      const header = Buffer.alloc(24); // type 0 with one address, segments left 0
      header.writeUInt8(next, 0);
      header.writeUInt8(2, 1);
      addressBytes(o.dst).copy(header, 8);
      return header;
    }
    return extensionHeader(next, Buffer.alloc(0));
  });
  const body = Buffer.concat([...chain, payload]);
  const header = Buffer.alloc(40);
  header.writeUInt32BE(0x6000_0000, 0);
  header.writeUInt16BE(o.payloadLength ?? body.length, 4);
  header.writeUInt8(codes[0], 6);
  header.writeUInt8(o.hopLimit ?? 64, 7);
  addressBytes(o.src).copy(header, 8);
  addressBytes(o.dst).copy(header, 24);
  return Buffer.concat([header, body]);
}

export const ETH_P = { ip: 0x0800, ipv6: 0x86dd } as const;

export function ethernet(dstMac: string, srcMac: string, ethertype: number, payload: Buffer): Buffer {
  const mac = (text: string) => Buffer.from(text.split(':').map((b) => parseInt(b, 16)));
  const type = Buffer.alloc(2);
  type.writeUInt16BE(ethertype);
  return Buffer.concat([mac(dstMac), mac(srcMac), type, payload]);
}
