// The parsing corpus: packets with known bytes, each dropped exactly once in
// namespace B, with every field dropwhy must report for it. Sent as raw
// Ethernet frames from A (AF_PACKET), so nothing in A's stack shapes them.
//
// Each case has its own source address, which is how its event is found.
// The cases alternate between two links from A to B (the pair's veth and a
// second one), so that each filter meets drops on two interfaces of B.
// Sources in 198.18.N.192/26 and fd00:dd:N::c0/122 are dropped by an nft rule
// at priority -450, before any defragmentation (fragments, ICMP); the other
// cases are dropped by the kernel's own checks (no socket, headers cut short).
import { ip, MLD_SETTLE_MS, waitUp, type NetnsPair } from '../../src/kernel/netns-pair';
import * as assert from 'node:assert/strict';
import { addStaticNeighbours, loadNftRuleset, NFT_DROP_SITES, sendFrames, sendUdp, sleep } from './harness';
import { ETH_P, ethernet, icmp, IPPROTO, ipv4, ipv6, tcp, TCP_FLAGS, udp, type Endpoints } from './packets';

/** The JSON fields dropwhy reports from the packet's headers. */
export interface HeaderFields {
  family: 'ipv4' | 'ipv6' | null;
  saddr: string | null;
  daddr: string | null;
  proto: string | null;
  sport: number | null;
  dport: number | null;
  icmp_type: number | null;
  icmp_code: number | null;
  ttl: number | null;
  tcp_flags: string | null;
}

/** What dropped it, when the test knows: the reason, and the functions that free it (they differ between kernels). */
export type Culprit = { reason: string; at: string[] } | null;

/** A veth link from A to B: ifA in namespace A, ifB (numbered ifindexB there) in B. */
export interface CorpusLink {
  ifA: string;
  ifB: string;
  macA: string;
  macB: string;
  ifindexB: number;
}

export interface CorpusCase {
  name: string;
  frame: Buffer;
  fields: HeaderFields;
  culprit: Culprit;
  /** The link it is sent over, so the interface of B where it is dropped. */
  link: CorpusLink;
}

export const CLOSED_PORT = 9;
const NFT_PRIORITY = -450; // before defragmentation (-400), conntrack and everything else

const NO_FIELDS: HeaderFields = {
  family: null,
  saddr: null,
  daddr: null,
  proto: null,
  sport: null,
  dport: null,
  icmp_type: null,
  icmp_code: null,
  ttl: null,
  tcp_flags: null,
};

const noSocket = (at: string): Culprit => ({ reason: 'NO_SOCKET', at: [at] });
const FIREWALL: Culprit = { reason: 'NETFILTER_DROP', at: NFT_DROP_SITES };

export interface Corpus {
  cases: CorpusCase[];
  /** The pair's own link, then the second one. */
  links: [CorpusLink, CorpusLink];
  /** The nft ruleset for namespace B that drops the firewalled sources. */
  ruleset: string;
  /** Unicast sources B must reach without neighbour discovery (its replies go to A's MAC). */
  sources: string[];
}

export function buildCorpus(p: NetnsPair, links: [CorpusLink, CorpusLink]): Corpus {
  const hex = p.n.toString(16);
  const v4 = (host: number) => `198.18.${p.n}.${host}`;
  const v6 = (host: number) => `fd00:dd:${hex}::${host.toString(16)}`;
  const cases: CorpusCase[] = [];
  // The case being built is cases[cases.length]: even ones go over the first link, odd ones over the second.
  const nextLink = () => links[cases.length % 2];
  const frame4 = (packet: Buffer) => ethernet(nextLink().macB, nextLink().macA, ETH_P.ip, packet);
  const frame6 = (packet: Buffer) => ethernet(nextLink().macB, nextLink().macA, ETH_P.ipv6, packet);
  let natural = 0x64; // .100 / ::64 upwards: dropped by the kernel's own checks
  let firewalled = 0xc8; // .200 / ::c8 upwards: inside the nft rule's /26 and /122
  const at4 = (fw = false): Endpoints => ({ src: v4(fw ? firewalled++ : natural++), dst: p.v4B });
  const at6 = (fw = false): Endpoints => ({ src: v6(fw ? firewalled++ : natural++), dst: p.v6B });
  const fields = (family: 'ipv4' | 'ipv6', at: Endpoints, more: Partial<HeaderFields>): HeaderFields => ({
    ...NO_FIELDS,
    family,
    saddr: at.src,
    daddr: at.dst,
    ttl: 64,
    ...more,
  });
  const add = (name: string, frame: Buffer, f: HeaderFields, culprit: Culprit) => cases.push({ name, frame, fields: f, culprit, link: nextLink() });
  const NOP = (n: number) => Buffer.alloc(n, 1);

  // --- IPv4 ----------------------------------------------------------------
  let at = at4();
  add(
    'IPv4 with 4 bytes of options, UDP',
    frame4(ipv4({ ...at, proto: IPPROTO.udp, options: NOP(4) }, udp(at, 40001, CLOSED_PORT))),
    fields('ipv4', at, { proto: 'udp', sport: 40001, dport: CLOSED_PORT }),
    noSocket('__udp4_lib_rcv'),
  );
  at = at4();
  add(
    'IPv4 with 40 bytes of options (the longest header), UDP',
    frame4(ipv4({ ...at, proto: IPPROTO.udp, options: NOP(40), ttl: 7 }, udp(at, 40002, CLOSED_PORT))),
    fields('ipv4', at, { proto: 'udp', sport: 40002, dport: CLOSED_PORT, ttl: 7 }),
    noSocket('__udp4_lib_rcv'),
  );
  at = at4();
  add(
    'IPv4 TCP SYN',
    frame4(ipv4({ ...at, proto: IPPROTO.tcp }, tcp(at, 40003, CLOSED_PORT, TCP_FLAGS.SYN))),
    fields('ipv4', at, { proto: 'tcp', sport: 40003, dport: CLOSED_PORT, tcp_flags: 'SYN' }),
    noSocket('tcp_v4_rcv'),
  );
  at = at4();
  add(
    'IPv4 with trailing bytes past its total length',
    frame4(Buffer.concat([ipv4({ ...at, proto: IPPROTO.udp }, udp(at, 40004, CLOSED_PORT)), Buffer.alloc(30, 0xee)])),
    fields('ipv4', at, { proto: 'udp', sport: 40004, dport: CLOSED_PORT }),
    noSocket('__udp4_lib_rcv'),
  );
  at = at4();
  // The total length says 28 but the frame ends after the IP header.
  add(
    'IPv4 cut after its header (UDP header missing)',
    frame4(ipv4({ ...at, proto: IPPROTO.udp, totalLength: 28 }, Buffer.alloc(0))),
    fields('ipv4', at, { proto: 'udp' }),
    null,
  );
  at = at4();
  // A bad header checksum is dropped before the kernel trims the packet to its total length (22):
  // the UDP header's ports lie past it, in bytes that are not the packet's.
  add(
    'IPv4 declaring 2 bytes of UDP, ports in the bytes past it',
    frame4(ipv4({ ...at, proto: IPPROTO.udp, totalLength: 22, badChecksum: true }, udp(at, 40006, CLOSED_PORT))),
    fields('ipv4', at, { proto: 'udp' }),
    null,
  );
  at = at4();
  add(
    'IPv4 whose UDP header is cut to 2 bytes',
    frame4(ipv4({ ...at, proto: IPPROTO.udp }, udp(at, 40007, CLOSED_PORT).subarray(0, 2))),
    fields('ipv4', at, { proto: 'udp' }),
    null,
  );
  at = at4();
  // The header length says 60 bytes; the frame has 24.
  const longHeader = ipv4({ ...at, proto: IPPROTO.udp, options: NOP(40) }, Buffer.alloc(0)).subarray(0, 24);
  add('IPv4 header cut short of its header length', frame4(longHeader), fields('ipv4', at, { proto: 'udp' }), null);
  // Not even the addresses: no IP fields at all. Found as the one event without a source.
  add('IPv4 header cut at 12 bytes', frame4(ipv4({ ...at4(), proto: IPPROTO.udp }, Buffer.alloc(0)).subarray(0, 12)), NO_FIELDS, null);

  at = at4(true);
  add(
    'IPv4 first fragment, UDP',
    frame4(ipv4({ ...at, proto: IPPROTO.udp, moreFragments: true }, udp(at, 40010, CLOSED_PORT, Buffer.alloc(16, 0x61)))),
    fields('ipv4', at, { proto: 'udp', sport: 40010, dport: CLOSED_PORT }),
    FIREWALL,
  );
  at = at4(true);
  // Its first 4 bytes would read as ports 0x4040:0x4040 if the parser took them for a UDP header.
  add('IPv4 non-first fragment, UDP', frame4(ipv4({ ...at, proto: IPPROTO.udp, fragmentOffset: 3 }, Buffer.alloc(16, 0x40))), fields('ipv4', at, { proto: 'udp' }), FIREWALL);
  for (const [type, code] of [
    [8, 0],
    [13, 0],
    [3, 3],
  ]) {
    at = at4(true);
    add(
      `ICMP type ${type} code ${code}`,
      frame4(ipv4({ ...at, proto: IPPROTO.icmp }, icmp(at, type, code))),
      fields('ipv4', at, { proto: 'icmp', icmp_type: type, icmp_code: code }),
      FIREWALL,
    );
  }

  // --- IPv6 ----------------------------------------------------------------
  at = at6();
  add(
    'IPv6 UDP',
    frame6(ipv6({ ...at, proto: IPPROTO.udp, hopLimit: 9 }, udp(at, 40020, CLOSED_PORT))),
    fields('ipv6', at, { proto: 'udp', sport: 40020, dport: CLOSED_PORT, ttl: 9 }),
    noSocket('__udp6_lib_rcv'),
  );
  for (const kind of ['hop', 'dest', 'routing'] as const) {
    at = at6();
    const sport = 40021 + cases.length;
    add(
      `IPv6 ${kind} header, UDP`,
      frame6(ipv6({ ...at, proto: IPPROTO.udp, extensions: [{ kind }] }, udp(at, sport, CLOSED_PORT))),
      fields('ipv6', at, { proto: 'udp', sport, dport: CLOSED_PORT }),
      noSocket('__udp6_lib_rcv'),
    );
  }
  at = at6();
  add(
    'IPv6 TCP SYN',
    frame6(ipv6({ ...at, proto: IPPROTO.tcp }, tcp(at, 40030, CLOSED_PORT, TCP_FLAGS.SYN))),
    fields('ipv6', at, { proto: 'tcp', sport: 40030, dport: CLOSED_PORT, tcp_flags: 'SYN' }),
    noSocket('tcp_v6_rcv'),
  );
  at = at6();
  // 88 bytes of headers before TCP: past the first read, so the parser reads again.
  const chain = [{ kind: 'hop' }, { kind: 'dest' }, { kind: 'routing' }, { kind: 'dest' }] as const;
  add(
    'IPv6 hop + dest + routing + dest headers, TCP SYN',
    frame6(ipv6({ ...at, proto: IPPROTO.tcp, extensions: [...chain] }, tcp(at, 40031, CLOSED_PORT, TCP_FLAGS.SYN))),
    fields('ipv6', at, { proto: 'tcp', sport: 40031, dport: CLOSED_PORT, tcp_flags: 'SYN' }),
    noSocket('tcp_v6_rcv'),
  );
  at = at6();
  // Five extension headers: more than the parser walks, so the protocol is unknown, not guessed.
  add(
    'IPv6 behind five extension headers, UDP',
    frame6(ipv6({ ...at, proto: IPPROTO.udp, extensions: [...chain, { kind: 'dest' }] }, udp(at, 40032, CLOSED_PORT))),
    fields('ipv6', at, {}),
    noSocket('__udp6_lib_rcv'),
  );
  at = at6();
  add(
    'IPv6 cut after its header (payload length 8, none there)',
    frame6(ipv6({ ...at, proto: IPPROTO.udp, payloadLength: 8 }, Buffer.alloc(0))),
    fields('ipv6', at, { proto: 'udp' }),
    null,
  );
  at = at6();
  add(
    'IPv6 hop-by-hop header cut short by the payload length',
    frame6(ipv6({ ...at, proto: IPPROTO.udp, extensions: [{ kind: 'hop' }], payloadLength: 4 }, udp(at, 40034, CLOSED_PORT))),
    fields('ipv6', at, {}),
    null,
  );
  // A multicast source is refused before the kernel trims the packet to its payload length (2):
  // the UDP header's ports lie past it.
  const multicast: Endpoints = { src: `ff02::d7:${hex}`, dst: p.v6B };
  add(
    'IPv6 declaring 2 bytes of UDP, ports in the bytes past it',
    frame6(ipv6({ ...multicast, proto: IPPROTO.udp, payloadLength: 2 }, udp(multicast, 40035, CLOSED_PORT))),
    fields('ipv6', multicast, { proto: 'udp' }),
    null,
  );

  at = at6(true);
  add(
    'IPv6 first fragment, UDP',
    frame6(ipv6({ ...at, proto: IPPROTO.udp, extensions: [{ kind: 'fragment', offset: 0, more: true }] }, udp(at, 40040, CLOSED_PORT, Buffer.alloc(16, 0x61)))),
    fields('ipv6', at, { proto: 'udp', sport: 40040, dport: CLOSED_PORT }),
    FIREWALL,
  );
  at = at6(true);
  add(
    'IPv6 non-first fragment, UDP',
    frame6(ipv6({ ...at, proto: IPPROTO.udp, extensions: [{ kind: 'fragment', offset: 3, more: false }] }, Buffer.alloc(16, 0x40))),
    fields('ipv6', at, { proto: 'udp' }),
    FIREWALL,
  );
  for (const [type, code] of [
    [128, 0],
    [1, 4],
    [200, 7],
  ]) {
    at = at6(true);
    add(
      `ICMPv6 type ${type} code ${code}`,
      frame6(ipv6({ ...at, proto: IPPROTO.icmp6 }, icmp(at, type, code))),
      fields('ipv6', at, { proto: 'icmp6', icmp_type: type, icmp_code: code }),
      FIREWALL,
    );
  }

  const ruleset =
    `table inet dwcorpus {\n  chain prerouting {\n    type filter hook prerouting priority ${NFT_PRIORITY}; policy accept;\n` +
    `    ip saddr 198.18.${p.n}.192/26 drop\n    ip6 saddr fd00:dd:${hex}::c0/122 drop\n  }\n}\n`;
  const sources = cases.map((c) => c.fields.saddr).filter((s): s is string => s !== null && !s.startsWith('ff'));
  return { cases, links, ruleset, sources };
}

/**
 * A second veth link between the pair's namespaces, without addresses (the corpus
 * frames are raw, B's replies leave by the first link): once it is up, it is quiet.
 */
async function addSecondLink(p: NetnsPair): Promise<CorpusLink> {
  const subnet = p.macA.split(':')[2];
  const link = { ifA: `${p.ifA}2`, ifB: `${p.ifB}2`, macA: `02:dd:${subnet}:00:01:01`, macB: `02:dd:${subnet}:00:01:02` };
  await ip(['link', 'add', 'name', link.ifA, 'address', link.macA, 'netns', p.nsA, 'type', 'veth', 'peer', 'name', link.ifB, 'address', link.macB, 'netns', p.nsB]);
  await ip(['-n', p.nsA, 'link', 'set', link.ifA, 'up']);
  await ip(['-n', p.nsB, 'link', 'set', link.ifB, 'up']);
  const [, ifindexB] = await waitUp([
    { ns: p.nsA, dev: link.ifA },
    { ns: p.nsB, dev: link.ifB },
  ]);
  await sleep(MLD_SETTLE_MS);
  return { ...link, ifindexB };
}

/** Readies pair p for the corpus: the second link, and in B the nft rule and neighbours for the sources. */
export async function installCorpus(p: NetnsPair): Promise<Corpus> {
  const first: CorpusLink = { ifA: p.ifA, ifB: p.ifB, macA: p.macA, macB: p.macB, ifindexB: p.ifindexB };
  const corpus = buildCorpus(p, [first, await addSecondLink(p)]);
  await loadNftRuleset(p.nsB, corpus.ruleset);
  await addStaticNeighbours(p.nsB, p.ifB, corpus.sources, p.macA);
  return corpus;
}

/** Sends every corpus packet from A to B over its link, and drops in A meanwhile that no run on B may count. */
export async function sendCorpus(p: NetnsPair, corpus: Corpus): Promise<void> {
  for (const link of corpus.links) {
    await sendFrames(
      p.nsA,
      link.ifA,
      corpus.cases.filter((c) => c.link === link).map((c) => c.frame),
    );
  }
  assert.equal(await sendUdp(p.nsB, p.v4A, CLOSED_PORT, 3), 3);
}
