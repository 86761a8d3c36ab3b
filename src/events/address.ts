// IP addresses as the BPF program stores them: 16 bytes, IPv4 in the first 4.
import { isIPv4, isIPv6 } from 'node:net';

export type Family = 4 | 6;

/** The name JSON and metrics give a family. */
export function familyName(family: Family | null): 'ipv4' | 'ipv6' | null {
  return family === null ? null : family === 4 ? 'ipv4' : 'ipv6';
}

export interface AddressPrefix {
  family: Family;
  bytes: Uint8Array; // 16 bytes, IPv4 in the first 4
  prefixLength: number;
}

/** Parses ADDR or ADDR/LEN; null when it is not an IPv4 or IPv6 address with a valid length. */
export function parseAddressPrefix(text: string): AddressPrefix | null {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  if (address.includes('%')) return null; // a zone (fe80::1%eth0) cannot be matched in the kernel
  const family: Family | null = isIPv4(address) ? 4 : isIPv6(address) ? 6 : null;
  if (family === null) return null;
  const maxLength = family === 4 ? 32 : 128;
  let prefixLength = maxLength;
  if (slash >= 0) {
    const lengthText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lengthText)) return null;
    prefixLength = Number(lengthText);
    if (prefixLength > maxLength) return null;
  }
  return { family, bytes: addressBytes(address, family), prefixLength };
}

function addressBytes(address: string, family: Family): Uint8Array {
  const bytes = new Uint8Array(16);
  if (family === 4) {
    address.split('.').forEach((part, i) => (bytes[i] = Number(part)));
    return bytes;
  }
  const [head, tail] = address.includes('::') ? address.split('::') : [address, ''];
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const toGroups = (s: string): number[] =>
    s === ''
      ? []
      : s.split(':').flatMap((g) => {
          if (!g.includes('.')) return [parseInt(g, 16)];
          const [a, b, c, d] = g.split('.').map(Number);
          return [(a << 8) | b, (c << 8) | d];
        });
  const headGroups = toGroups(head);
  const tailGroups = toGroups(tail);
  const groups = [...headGroups, ...new Array(8 - headGroups.length - tailGroups.length).fill(0), ...tailGroups];
  groups.forEach((g, i) => {
    bytes[i * 2] = g >> 8;
    bytes[i * 2 + 1] = g & 0xff;
  });
  return bytes;
}

export function prefixMatches(address: Uint8Array, prefix: AddressPrefix): boolean {
  let bits = prefix.prefixLength;
  for (let i = 0; bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((address[i] ^ prefix.bytes[i]) & mask) return false;
  }
  return true;
}

/** Text form: dotted quad, or RFC 5952 IPv6 (longest zero run compressed, lower case). */
export function formatAddress(bytes: Uint8Array, family: Family): string {
  if (family === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i] << 8) | bytes[i + 1]);
  let bestStart = -1;
  let bestLength = 1; // a single zero group is not compressed
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLength))}`;
}
