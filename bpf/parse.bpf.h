/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The header parser: the dropped packet's network and transport headers,
 * read from the skb's linear data, into the event's address, protocol, port,
 * ICMP and TCP flag fields. Every field is read only from the packet's own
 * bytes (up to where the skb's data or the IP header's length ends).
 */
#ifndef DROPWHY_PARSE_BPF_H
#define DROPWHY_PARSE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "event.h"

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define IPPROTO_ICMPV6 58
#define NEXTHDR_HOP 0
#define NEXTHDR_ROUTING 43
#define NEXTHDR_FRAGMENT 44
#define NEXTHDR_AUTH 51
#define NEXTHDR_DEST 60
#define MAX_IPV6_EXT_HEADERS 4
/* One read covers an IPv4 header with up to 24 bytes of options or an IPv6
 * header without extension headers, plus the L4 header; anything longer costs
 * one more read. */
#define HEADER_BYTES 64
#define L4_BYTES 20
#define NO_HEADER ((__u16)~0U)

/* The packet's bytes from its network header: hdr holds the first `read` of
 * them, and `end` is where the packet ends (the smaller of the skb's linear
 * data and the length the IP header declares); nothing at or past end is its. */
struct packet_view {
	const __u8 *net;
	__u32 read;
	__u32 end;
};

static __always_inline __u32 min_u32(__u32 a, __u32 b)
{
	return a < b ? a : b;
}

/* Reads of the L4 header take only bytes inside the packet: len is how many
 * of them lie between its start and the packet's end. */
static __always_inline void parse_l4(struct drop_event *ev, const __u8 *l4, __u32 len)
{
	switch (ev->l4_proto) {
	case IPPROTO_TCP:
		if (len >= 14) {
			ev->tcp_flags = l4[13];
			ev->flags |= DROP_HAS_TCP_FLAGS;
		}
		/* fallthrough */
	case IPPROTO_UDP:
		if (len >= 4) {
			ev->sport = bpf_ntohs(*(const __u16 *)&l4[0]);
			ev->dport = bpf_ntohs(*(const __u16 *)&l4[2]);
			ev->flags |= DROP_HAS_PORTS;
		}
		break;
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6:
		if (len >= 2) {
			ev->icmp_type = l4[0];
			ev->icmp_code = l4[1];
			ev->flags |= DROP_HAS_ICMP;
		}
		break;
	}
}

/* The L4 header at offset off: from hdr when it is there, else with one more read. */
static __always_inline void read_l4(struct drop_event *ev, const __u8 *hdr, const struct packet_view *pkt, __u32 off)
{
	__u8 l4[L4_BYTES];

	if (off >= pkt->end)
		return;
	/* (off + L4_BYTES <= read, written so that 6.12's verifier keeps hdr + off a stack pointer) */
	if (pkt->read == HEADER_BYTES && off <= HEADER_BYTES - L4_BYTES) {
		parse_l4(ev, hdr + (off & (HEADER_BYTES - 1)), pkt->end - off);
		return;
	}
	if (bpf_probe_read_kernel(l4, sizeof(l4), pkt->net + off) == 0)
		parse_l4(ev, l4, pkt->end - off);
}

static __always_inline void parse_ipv4(struct drop_event *ev, const __u8 *hdr, struct packet_view *pkt)
{
	__u32 ihl = (hdr[0] & 0x0f) * 4;

	if ((hdr[0] >> 4) != 4 || ihl < 20 || pkt->end < 20)
		return;
	ev->family = DROP_FAMILY_IPV4;
	ev->ttl = hdr[8];
	ev->l4_proto = hdr[9];
	__builtin_memcpy(ev->saddr, &hdr[12], 4);
	__builtin_memcpy(ev->daddr, &hdr[16], 4);
	ev->flags |= DROP_HAS_L3 | DROP_HAS_L4_PROTO;
	/* Only the first fragment carries the L4 header. */
	if (bpf_ntohs(*(const __u16 *)&hdr[6]) & 0x1fff)
		return;
	/* Bytes past the total length are padding, not this packet. */
	pkt->end = min_u32(pkt->end, bpf_ntohs(*(const __u16 *)&hdr[2]));
	read_l4(ev, hdr, pkt, ihl);
}

static __always_inline void parse_ipv6(struct drop_event *ev, const __u8 *hdr, struct packet_view *pkt)
{
	__u16 payload_len = bpf_ntohs(*(const __u16 *)&hdr[4]);
	__u8 next = hdr[6];
	__u32 off = 40;

	if ((hdr[0] >> 4) != 6 || pkt->end < 40)
		return;
	ev->family = DROP_FAMILY_IPV6;
	ev->ttl = hdr[7];
	__builtin_memcpy(ev->saddr, &hdr[8], 16);
	__builtin_memcpy(ev->daddr, &hdr[24], 16);
	ev->flags |= DROP_HAS_L3;
	/* A zero payload length is a jumbogram's (or a broken packet's): the skb bounds it. */
	if (payload_len)
		pkt->end = min_u32(pkt->end, 40 + (__u32)payload_len);

	for (int i = 0; i < MAX_IPV6_EXT_HEADERS; i++) {
		__u8 ext[4];

		if (next != NEXTHDR_HOP && next != NEXTHDR_ROUTING && next != NEXTHDR_DEST &&
		    next != NEXTHDR_FRAGMENT && next != NEXTHDR_AUTH)
			break;
		/* An extension header cut short by the packet's end: what follows is unknown. */
		if (off + 8 > pkt->end || bpf_probe_read_kernel(ext, sizeof(ext), pkt->net + off))
			return;
		if (next == NEXTHDR_FRAGMENT) {
			next = ext[0];
			off += 8;
			if (bpf_ntohs(*(const __u16 *)&ext[2]) & 0xfff8) {
				/* not the first fragment: the L4 protocol but no L4 header */
				ev->l4_proto = next;
				ev->flags |= DROP_HAS_L4_PROTO;
				return;
			}
		} else if (next == NEXTHDR_AUTH) {
			next = ext[0];
			off += ((__u32)ext[1] + 2) * 4;
		} else {
			next = ext[0];
			off += ((__u32)ext[1] + 1) * 8;
		}
	}
	/* More extension headers than the walk follows: the L4 protocol is unknown. */
	if (next == NEXTHDR_HOP || next == NEXTHDR_ROUTING || next == NEXTHDR_DEST || next == NEXTHDR_FRAGMENT ||
	    next == NEXTHDR_AUTH)
		return;
	ev->l4_proto = next;
	ev->flags |= DROP_HAS_L4_PROTO;
	read_l4(ev, hdr, pkt, off);
}

/* Reads the packet's first bytes from its network header into hdr (pkt says
 * how many, 0 when none) and parses what they hold into ev. */
static __always_inline void parse_packet(struct drop_event *ev, struct sk_buff *skb, __u8 *hdr, struct packet_view *pkt)
{
	__u16 network_header = skb->network_header;
	unsigned char *head = skb->head;
	__u32 tail = skb->tail; /* an offset from head on 64-bit kernels */

	pkt->read = 0;
	if (network_header == NO_HEADER || !head || tail <= network_header)
		return;
	pkt->net = head + network_header;
	/* Headers are read from the linear data only: a header in a paged fragment is reported absent. */
	pkt->end = tail - network_header;
	if (bpf_probe_read_kernel(hdr, HEADER_BYTES, pkt->net) == 0) {
		pkt->read = HEADER_BYTES;
	} else if (bpf_probe_read_kernel(hdr, 40, pkt->net) == 0) {
		/* near the end of a mapping: at least an IPv6 header */
		pkt->read = 40;
	} else {
		return;
	}

	if (ev->protocol == ETH_P_IP || (ev->protocol == 0 && (hdr[0] >> 4) == 4))
		parse_ipv4(ev, hdr, pkt);
	else if (ev->protocol == ETH_P_IPV6 || (ev->protocol == 0 && (hdr[0] >> 4) == 6))
		parse_ipv6(ev, hdr, pkt);
}

#endif /* DROPWHY_PARSE_BPF_H */
