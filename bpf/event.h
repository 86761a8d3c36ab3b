/* SPDX-License-Identifier: MIT */
/*
 * The one definition of what the BPF program hands to user space and of the
 * configuration user space hands to the BPF program. Included by the BPF
 * program and by the addon; the TypeScript layout (src/events/layout.generated.ts)
 * is generated from its BTF by scripts/gen-layout.js.
 *
 * Fixed-width fields, largest first, explicit padding (members named pad), no
 * implicit holes: the generator refuses a struct with one. Constants are
 * enumerators rather than #defines so that BTF carries them too.
 */
#ifndef DROPWHY_EVENT_H
#define DROPWHY_EVENT_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

enum dropwhy_limit {
	DROPWHY_COMM_LEN = 16,
	DROPWHY_MAX_REASONS = 16,
	/* The longest classic BPF program (a compiled filter expression) the BPF program interprets. */
	DROPWHY_MAX_FILTER_INSNS = 128,
	/* At most this many flows of a traced command are recorded; more are counted in unrecorded_flows. */
	DROPWHY_MAX_COMMAND_FLOWS = 16384,
	/* At most this many sockets are counted: the ones whose first drop came first. */
	DROPWHY_MAX_SOCKET_COUNTS = 1024,
};

/* drop_event.flags: which optional parts of the event are valid. */
enum drop_event_flag {
	DROP_HAS_REASON = 1 << 0, /* the kernel's tracepoint reports a reason */
	DROP_HAS_L3 = 1 << 1,     /* family, addresses, ttl parsed */
	DROP_HAS_PORTS = 1 << 2,  /* sport/dport parsed (TCP or UDP) */
	DROP_HAS_ICMP = 1 << 3,   /* icmp_type/icmp_code parsed */
	DROP_HAS_TCP_FLAGS = 1 << 4,
	DROP_HAS_NETNS = 1 << 5,
	DROP_HAS_RX_SK = 1 << 6,  /* the tracepoint passed the receiving socket */
	DROP_HAS_L4_PROTO = 1 << 7, /* l4_proto is known (not behind a cut-short IPv6 header chain) */
	DROP_HAS_SOCKET = 1 << 8, /* socket holds a full socket's fields (rx_sk, else skb->sk) */
	DROP_HAS_STACK = 1 << 9,  /* stack_id names the kernel stack in the stacks map */
	DROP_HAS_PACKET = 1 << 10, /* the record's packet section holds the packet's bytes */
};

enum dropwhy_stack {
	/* Frames kept per kernel stack (the stacks map's value: __u64 addresses, zero after the last). */
	DROPWHY_STACK_DEPTH = 64,
	/* drop_event.stack_id and drop_key.stack_id without a stack. */
	DROPWHY_NO_STACK = -1,
};

/* drop_socket.local_family: which of local_addr's forms is valid. */
enum drop_socket_family {
	DROP_SOCKET_FAMILY_OTHER = 0, /* not an inet socket: no local address or port */
	DROP_SOCKET_FAMILY_IPV4 = 4,
	DROP_SOCKET_FAMILY_IPV6 = 6,
};

/* The socket the drop happened at: the receiving one the tracepoint passes
 * (rx_sk, 6.11+), else the one owning the skb. Zero where unknown. */
struct drop_socket {
	__u64 cookie;     /* skc_cookie: 0 until something (ss -e, SO_COOKIE, BPF) asked for it */
	__u64 inode;      /* the socket's inode, as in /proc/PID/fd's "socket:[INODE]"; 0 without a file */
	__u64 cgroup;     /* the cgroup v2 id (its directory's inode) the socket was created in; 0 unknown */
	__u8 local_addr[16]; /* IPv4 in the first 4 bytes, network order */
	__u32 uid;
	__u32 rcvbuf;     /* sk_rcvbuf, bytes */
	__u32 queued;     /* sk_rmem_alloc: bytes charged to the receive queue */
	__u32 drops;      /* the socket's own drop counter */
	__u16 local_port; /* host order */
	__u8 local_family; /* enum drop_socket_family */
	__u8 pad[5];
};

enum drop_family {
	DROP_FAMILY_NONE = 0,
	DROP_FAMILY_IPV4 = 4,
	DROP_FAMILY_IPV6 = 6,
};

struct drop_event {
	__u64 ts_ns;    /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 location; /* kernel address that freed the skb */
	__u64 skb_addr;
	__u8 saddr[16]; /* IPv4 in the first 4 bytes, network order */
	__u8 daddr[16];
	__u32 reason;   /* raw enum skb_drop_reason: subsystem in the high 16 bits */
	__u32 netns;    /* inode of the network namespace */
	__u32 ifindex;
	__u32 pid;      /* tgid of the task running when the kernel freed the skb (in softirq: whichever it interrupted) */
	__u32 tid;
	__u32 len;      /* skb->len */
	__s32 stack_id; /* with DROP_HAS_STACK: the stacks map's key; else bpf_get_stackid's error (e.g. -EEXIST) or DROPWHY_NO_STACK */
	__u16 protocol; /* skb->protocol, host order (an ethertype) */
	__u16 sport;    /* host order */
	__u16 dport;    /* host order */
	__u16 flags;    /* enum drop_event_flag */
	__u8 family;    /* enum drop_family */
	__u8 l4_proto;  /* IPPROTO_* */
	__u8 icmp_type;
	__u8 icmp_code;
	__u8 ttl;       /* TTL or hop limit */
	__u8 tcp_flags;
	__u8 pad[6];
	char comm[DROPWHY_COMM_LEN];
	struct drop_socket socket; /* valid with DROP_HAS_SOCKET */
};

/* drop_packet.link: which header the packet's bytes start at. */
enum drop_packet_link {
	DROP_PACKET_LINK_ETHERNET = 1, /* the MAC header of an Ethernet (or loopback) device */
	DROP_PACKET_LINK_RAW_IP = 2,   /* the network header: the skb has no Ethernet header */
};

enum dropwhy_packet_limit {
	/* The longest --snaplen: packet bytes are read from the skb's linear data only. */
	DROPWHY_MAX_SNAPLEN = 65535,
	/* Every ring record's size is a multiple of this (the ring buffer aligns them so anyway). */
	DROPWHY_RECORD_ALIGN = 8,
};

/*
 * With DROPWHY_FEATURE_PACKET every record of the session is a drop_event, then
 * this section, then DROPWHY_PACKET_BYTES(snaplen) bytes of which the first
 * `captured` hold the packet; valid with DROP_HAS_PACKET.
 */
struct drop_packet {
	__u32 captured; /* bytes copied: at most snaplen, the linear data and wire_len */
	__u32 wire_len; /* the packet's length from the header it starts at (skb->len plus the headers before skb->data) */
	__u8 link;      /* enum drop_packet_link */
	__u8 pad[7];
};

/* Room for snaplen bytes, rounded up so that records stay aligned. */
#define DROPWHY_PACKET_BYTES(snaplen) ((((__u32)(snaplen)) + DROPWHY_RECORD_ALIGN - 1) & ~(__u32)(DROPWHY_RECORD_ALIGN - 1))

/* Per-CPU counters, one slot; summed by user space. */
struct drop_counters {
	__u64 seen;     /* every kfree_skb the program ran for */
	__u64 matched;  /* passed the filter */
	__u64 lost;     /* matched but the ring buffer was full */
	__u64 overflow; /* summary mode: matched but the count map was full */
	__u64 stack_missed; /* a stack was asked for but not recorded (stacks map full, or a bucket collision) */
	__u64 unwoken_bytes; /* internal: bytes this CPU submitted since it last woke the reader */
	__u64 unrecorded_flows; /* -- CMD: a flow of the command not recorded because command_flows was full */
	__u64 packet_unread; /* -w: an event sent without its packet's bytes (no header, or the read failed) */
};

/* Count mode (summary, exporter): drops are counted in a per-CPU hash under this key. */
struct drop_key {
	__u64 location;
	__u32 reason;
	__u32 netns;   /* inode of the network namespace, 0 when unknown */
	__s32 stack_id; /* with DROPWHY_FEATURE_STACK the stacks map's key, else (or when not recorded) DROPWHY_NO_STACK */
	__u8 family;   /* enum drop_family */
	__u8 l4_proto; /* IPPROTO_*, valid with has_l4_proto */
	__u8 has_l4_proto;
	__u8 pad[1];
};

/* Count mode with DROPWHY_FEATURE_SOCKET: drops per (socket, reason), each
 * with the socket as its latest drop found it. */
struct socket_key {
	__u64 inode;
	__u32 reason;
	__u32 pad;
};

struct socket_count {
	struct drop_socket socket;
	__u64 count;
};

/* -- CMD: a local address and port the traced command sent from (recorded
 * at its cgroup's egress), so that drops of its packets that no longer
 * carry its socket (at the far end of a veth, in another namespace) are
 * still its. */
struct command_flow {
	__u8 addr[16];  /* IPv4 in the first 4 bytes, network order */
	__u16 port;     /* host order */
	__u8 family;    /* enum drop_family */
	__u8 l4_proto;  /* IPPROTO_TCP or IPPROTO_UDP */
};

enum dropwhy_mode {
	DROPWHY_MODE_STREAM = 0, /* one ring buffer event per matching drop */
	DROPWHY_MODE_COUNT = 1,  /* count per drop_key in the kernel */
};

/* dropwhy_config.features: optional parts of a streamed event, each read only when asked for. */
enum dropwhy_feature {
	DROPWHY_FEATURE_SOCKET = 1 << 0, /* the drop_socket section; in count mode, socket_counts */
	DROPWHY_FEATURE_STACK = 1 << 1,  /* the kernel stack's id (stacks map); in count mode, part of drop_key */
	DROPWHY_FEATURE_PACKET = 1 << 2, /* a drop_packet section and snaplen bytes after every event (-w) */
};

/*
 * The session's configuration, written into .rodata between open and load:
 * the filter, the mode, the optional features and their sizes. Zero means "no
 * filter" for every filter field, so an all-zero config passes every drop.
 */
struct dropwhy_config {
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 reasons[DROPWHY_MAX_REASONS];          /* any of them, when reason_count > 0 */
	__u32 excluded_reasons[DROPWHY_MAX_REASONS]; /* none of them: wins over reasons */
	__u32 netns;
	__u32 ifindex;      /* only with netns: ifindexes are per namespace */
	__u32 wakeup_bytes; /* wake the reader once this much data is pending */
	__u16 port;         /* matches sport or dport */
	__u8 l4_proto;      /* IPPROTO_*, 0 = any */
	__u8 saddr_family;  /* enum drop_family, 0 = any */
	__u8 daddr_family;
	__u8 saddr_prefix;  /* prefix length in bits */
	__u8 daddr_prefix;
	__u8 reason_count;
	__u8 excluded_reason_count;
	__u8 mode;          /* enum dropwhy_mode */
	__u16 filter_len;   /* instructions in filter_insns; 0 = no filter expression */
	/* A classic BPF program for packets that start at the network header: each
	 * a struct sock_filter (__u16 code, __u8 jt, __u8 jf, __u32 k) in the host's
	 * byte order, as libpcap's pcap_compile writes it. */
	__u64 filter_insns[DROPWHY_MAX_FILTER_INSNS];
	__u64 features;     /* enum dropwhy_feature bits */
	/* -- CMD: only drops at a socket of this cgroup v2 id, or of a flow the
	 * command sent (command_flows); 0 = any. */
	__u64 command_cgroup;
	__u32 snaplen;      /* with DROPWHY_FEATURE_PACKET: packet bytes per record, 1..DROPWHY_MAX_SNAPLEN */
	__u32 pad;
};

/* The size of every ring record of a session with this config. */
static inline __u32 dropwhy_record_size(__u64 features, __u32 snaplen)
{
	if (!(features & DROPWHY_FEATURE_PACKET))
		return sizeof(struct drop_event);
	return sizeof(struct drop_event) + sizeof(struct drop_packet) + DROPWHY_PACKET_BYTES(snaplen);
}

#endif /* DROPWHY_EVENT_H */
