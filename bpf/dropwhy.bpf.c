// SPDX-License-Identifier: GPL-2.0
/*
 * dropwhy: one event per dropped skb that passes the filter.
 *
 * Attached to the skb:kfree_skb tracepoint as tp_btf (typed arguments, no
 * tracefs needed). The tracepoint grew arguments over time:
 *   (skb, location)                  before 5.17
 *   (skb, location, reason)          5.17 ..
 *   (skb, location, reason, rx_sk)   6.11 ..
 * Whether the running kernel's tracepoint has each optional argument is a
 * CO-RE check in core_fixes.bpf.h, as is every other kernel difference the
 * program reads across: never a kernel version.
 * The header parser is in parse.bpf.h, the filter expression's interpreter
 * in cbpf.bpf.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "event.h"
#include "parse.bpf.h"
#include "cbpf.bpf.h"
#include "core_fixes.bpf.h"
#include "maps.bpf.h"

#define AF_INET 2
#define AF_INET6 10
#define ETH_HLEN 14
#define ARPHRD_ETHER 1
#define ARPHRD_LOOPBACK 772

char LICENSE[] SEC("license") = "GPL";

const volatile struct dropwhy_config cfg = {};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20); /* resized by user space before load */
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(max_entries, 4096); /* resized by user space before load */
	__type(key, struct drop_key);
	__type(value, __u64);
} drop_counts SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct drop_counters);
} counters SEC(".maps");

/* Kernel stacks by id, for DROPWHY_FEATURE_STACK; resized by user space
 * before load, to 1 entry when the feature is off. Without
 * BPF_F_REUSE_STACKID an id, once given, keeps naming the same stack: user
 * space reads each id's frames once. */
struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__uint(value_size, DROPWHY_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

/* Not preallocated: costs nothing unless summary counts sockets. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DROPWHY_MAX_SOCKET_COUNTS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct socket_key);
	__type(value, struct socket_count);
} socket_counts SEC(".maps");

/* -- CMD: the flows the traced command sent, written at its cgroup's egress.
 * Sized to one entry unless a command is traced. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DROPWHY_MAX_COMMAND_FLOWS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct command_flow);
	__type(value, __u8);
} command_flows SEC(".maps");

static __always_inline bool reason_listed(const volatile __u32 *list, __u8 count, __u32 reason)
{
	for (int i = 0; i < DROPWHY_MAX_REASONS; i++) {
		if (i >= count)
			break;
		if (list[i] == reason)
			return true;
	}
	return false;
}

/* One of the reasons (when any are given) and none of the excluded ones. */
static __always_inline bool reason_matches(__u32 reason)
{
	if (cfg.reason_count && !reason_listed(cfg.reasons, cfg.reason_count, reason))
		return false;
	return !reason_listed(cfg.excluded_reasons, cfg.excluded_reason_count, reason);
}

/* Compares the first prefix_len bits of two addresses, 32 bits at a time. */
static __always_inline bool prefix_matches(const __u8 *addr, const volatile __u8 *want, __u8 prefix_len)
{
	for (int word = 0; word < 4; word++) {
		int bits = (int)prefix_len - word * 32;
		if (bits <= 0)
			break;
		__u32 mask = bits >= 32 ? ~0U : bpf_htonl(~0U << (32 - bits));
		__u32 a = ((const __u32 *)addr)[word];
		__u32 w = ((const volatile __u32 *)want)[word];
		if ((a ^ w) & mask)
			return false;
	}
	return true;
}

static __always_inline bool addr_matches(const struct drop_event *ev, __u8 family, const __u8 *addr,
					 const volatile __u8 *want, __u8 prefix_len)
{
	if (family == DROP_FAMILY_NONE)
		return true;
	if (ev->family != family)
		return false;
	return prefix_matches(addr, want, prefix_len);
}

static __always_inline bool packet_matches(const struct drop_event *ev)
{
	if (cfg.l4_proto && (!(ev->flags & DROP_HAS_L4_PROTO) || ev->l4_proto != cfg.l4_proto))
		return false;
	if (cfg.port && (!(ev->flags & DROP_HAS_PORTS) || (ev->sport != cfg.port && ev->dport != cfg.port)))
		return false;
	if (!addr_matches(ev, cfg.saddr_family, ev->saddr, cfg.saddr, cfg.saddr_prefix))
		return false;
	return addr_matches(ev, cfg.daddr_family, ev->daddr, cfg.daddr, cfg.daddr_prefix);
}

/* The filter expression (cfg.filter_insns, compiled by libpcap) on the packet's bytes. */
static __always_inline bool expression_matches(const __u8 *hdr, const struct packet_view *pkt)
{
	return cbpf_run(cfg.filter_insns, &cfg.filter_len, hdr, pkt);
}

/* tp_btf arguments are typed kernel pointers: plain dereferences are CO-RE
 * relocated and verified as safe loads, much cheaper than probe_read calls. */
static __always_inline void read_netns(struct drop_event *ev, struct sk_buff *skb, struct sock *rx_sk)
{
	struct net_device *dev = skb->dev;
	struct sock *sk = skb->sk;
	__u32 inum = 0;

	if (dev) {
		inum = dev->nd_net.net->ns.inum;
		ev->ifindex = dev->ifindex;
	} else {
		ev->ifindex = skb->skb_iif;
	}
	if (!sk)
		sk = rx_sk;
	if (!inum && sk)
		inum = sk->__sk_common.skc_net.net->ns.inum;
	if (inum) {
		ev->netns = inum;
		ev->flags |= DROP_HAS_NETNS;
	}
}

/* The socket the drop happened at: the receiving one the tracepoint passes, else
 * the skb's owner. Only a full socket has the fields: a TIME_WAIT or request
 * socket (TCP_NEW_SYN_RECV) is a smaller struct that merely starts like one. */
static __always_inline struct sock *full_socket(struct sk_buff *skb, struct sock *rx_sk)
{
	struct sock *sk = rx_sk ? rx_sk : skb->sk;
	__u8 state;

	if (!sk)
		return NULL;
	state = sk->__sk_common.skc_state;
	return state == TCP_TIME_WAIT || state == TCP_NEW_SYN_RECV ? NULL : sk;
}

/* Its fields into out, which the caller has zeroed; false without a full socket. */
static __always_inline bool read_socket(struct drop_socket *out, struct sk_buff *skb, struct sock *rx_sk)
{
	struct sock *sk = full_socket(skb, rx_sk);
	struct sock_common *common;

	if (!sk)
		return false;
	common = &sk->__sk_common;
	out->cookie = common->skc_cookie.counter;
	out->inode = sk->sk_socket->file->f_inode->i_ino;
	out->cgroup = socket_cgroup(sk);
	out->uid = sk->sk_uid.val;
	out->rcvbuf = sk->sk_rcvbuf;
	out->queued = sk->sk_backlog.rmem_alloc.counter;
	out->drops = socket_drops(sk);
	if (common->skc_family == AF_INET) {
		__builtin_memcpy(out->local_addr, &common->skc_rcv_saddr, 4);
		out->local_port = common->skc_num;
		out->local_family = DROP_SOCKET_FAMILY_IPV4;
	} else if (common->skc_family == AF_INET6 && read_v6_rcv_saddr(common, out->local_addr)) {
		out->local_port = common->skc_num;
		out->local_family = DROP_SOCKET_FAMILY_IPV6;
	}
	return true;
}

/* -- CMD: a drop at a socket the command created (it takes the cgroup it was
 * created in), or of a packet from or to an address and port it sent from. */
static __always_inline bool command_matches(const struct drop_event *ev, struct sk_buff *skb, struct sock *rx_sk)
{
	struct sock *sk = full_socket(skb, rx_sk);
	struct command_flow flow = { .family = ev->family, .l4_proto = ev->l4_proto };

	if (sk && socket_cgroup(sk) == cfg.command_cgroup)
		return true;
	if (!(ev->flags & DROP_HAS_PORTS))
		return false;
	__builtin_memcpy(flow.addr, ev->saddr, sizeof(flow.addr));
	flow.port = ev->sport;
	if (bpf_map_lookup_elem(&command_flows, &flow))
		return true;
	__builtin_memcpy(flow.addr, ev->daddr, sizeof(flow.addr));
	flow.port = ev->dport;
	return bpf_map_lookup_elem(&command_flows, &flow) != NULL;
}

/* DROPWHY_FEATURE_STACK: the id of the kernel stack that freed the skb, or a
 * negative error when the stacks map could not take it (full, or its bucket
 * holds another stack: -EEXIST), counted so that no stack is lost silently. */
static __always_inline __s32 read_stack(void *ctx, struct drop_counters *count)
{
	long id = bpf_get_stackid(ctx, &stacks, 0);

	if (id < 0)
		count->stack_missed++;
	return id;
}

/* Count mode: one more drop under its (location, reason, namespace, packet kind[, stack]) key. */
static __always_inline void count_drop(void *ctx, const struct drop_event *ev, __u64 location, struct drop_counters *count)
{
	struct drop_key key = {
		.location = location, .reason = ev->reason, .netns = ev->netns, .stack_id = DROPWHY_NO_STACK, .family = ev->family,
		.l4_proto = ev->l4_proto, .has_l4_proto = !!(ev->flags & DROP_HAS_L4_PROTO),
	};
	if (cfg.features & DROPWHY_FEATURE_STACK) {
		__s32 id = read_stack(ctx, count);

		if (id >= 0)
			key.stack_id = id;
	}
	__u64 one = 1, *drops;

	switch (lookup_or_try_init(&drop_counts, &key, &one, (void **)&drops)) {
	case MAP_SLOT_FOUND:
		(*drops)++;
		break;
	case MAP_SLOT_INSERTED: /* counted: its value is this drop's one */
		break;
	case MAP_SLOT_FULL:
		count->overflow++;
		break;
	}
}

/* Count mode: one more drop at this socket, which keeps the socket's latest
 * state. Shared between CPUs: the count is added atomically, the state is
 * whichever CPU wrote last. A socket past the map's size is not counted.
 * The socket is read straight into the entry a first drop inserts (not
 * lookup_or_try_init, whose init would be a copy of it). */
static __always_inline void count_socket(const struct drop_event *ev, struct sk_buff *skb, struct sock *rx_sk)
{
	struct socket_key key = { .reason = ev->reason };
	struct socket_count first = { .count = 1 };
	struct socket_count *counted;

	if (!read_socket(&first.socket, skb, rx_sk) || !first.socket.inode)
		return;
	key.inode = first.socket.inode;
	counted = bpf_map_lookup_elem(&socket_counts, &key);
	if (counted) {
		counted->socket = first.socket;
		__sync_fetch_and_add(&counted->count, 1);
		return;
	}
	if (bpf_map_update_elem(&socket_counts, &key, &first, BPF_NOEXIST) == 0)
		return;
	/* Another CPU added it meanwhile; else the map is full. */
	counted = bpf_map_lookup_elem(&socket_counts, &key);
	if (counted)
		__sync_fetch_and_add(&counted->count, 1);
}

/* Waking the reader per event costs ~2 us (irq_work): wake it once this CPU
 * has submitted wakeup_bytes since its last wake-up; the reader drains the
 * rest on its poll timeout. Counted per CPU: asking the ring how much is
 * pending reads a cache line the reader keeps writing from another CPU. */
static __always_inline __u64 wakeup_flag(struct drop_counters *count, __u32 record_size)
{
	count->unwoken_bytes += record_size + BPF_RINGBUF_HDR_SZ;
	if (count->unwoken_bytes < cfg.wakeup_bytes)
		return BPF_RB_NO_WAKEUP;
	count->unwoken_bytes = 0;
	return BPF_RB_FORCE_WAKEUP;
}

/* -w: the packet's first bytes, from its Ethernet header when the device has
 * one, else from its network header; read from the linear data as
 * parse_packet reads headers. False when the skb has neither header or the
 * read fails. */
static __always_inline bool read_packet(struct drop_packet *out, __u8 *bytes, struct sk_buff *skb)
{
	__u16 mac_header = skb->mac_header, network_header = skb->network_header;
	unsigned char *head = skb->head, *data = skb->data;
	struct net_device *dev = skb->dev;
	__u32 tail = skb->tail; /* an offset from head on 64-bit kernels */
	__u32 data_off, start;
	__u64 captured;

	if (!head || network_header == NO_HEADER)
		return false;
	if (mac_header != NO_HEADER && network_header >= mac_header + ETH_HLEN && dev &&
	    (dev->type == ARPHRD_ETHER || dev->type == ARPHRD_LOOPBACK)) {
		start = mac_header;
		out->link = DROP_PACKET_LINK_ETHERNET;
	} else {
		start = network_header;
		out->link = DROP_PACKET_LINK_RAW_IP;
	}
	data_off = data - head;
	if (tail <= start || data_off + skb->len < start)
		return false;
	/* skb->len counts from skb->data: add the headers before it. */
	out->wire_len = data_off + skb->len - start;
	captured = min_u32(min_u32(tail - start, out->wire_len), cfg.snaplen);
	/* Bounds the very register the read gets: clang may test a copy. */
	barrier_var(captured);
	if (captured > cfg.snaplen)
		return false;
	if (bpf_probe_read_kernel(bytes, captured, head + start))
		return false;
	out->captured = captured;
	return true;
}

/* The part of a drop_event that is built on the stack, where the filter reads it;
 * comm and the socket section follow it and are written in the ring record only. */
#define EVENT_HEAD_BYTES __builtin_offsetof(struct drop_event, comm)
_Static_assert(EVENT_HEAD_BYTES + DROPWHY_COMM_LEN == __builtin_offsetof(struct drop_event, socket) &&
		       __builtin_offsetof(struct drop_event, socket) + sizeof(struct drop_socket) == sizeof(struct drop_event),
	       "a record is written whole: its head, comm, then the socket section");

/* Trace mode: the event, built in its ring record, reserved once the drop has
 * passed the filter: the stack's head copied, the rest written in place (no
 * zeroed stack event copied whole, measured in docs/benchmarks.md). With -w the
 * record also holds the packet section and its bytes (they do not fit the
 * 512-byte BPF stack); its size is constant for the verifier: features and
 * snaplen are in the frozen .rodata. */
static __always_inline void submit_drop(void *ctx, struct drop_event *ev, struct sk_buff *skb, struct sock *rx_sk,
					__u64 location, struct drop_counters *count)
{
	__u32 size = dropwhy_record_size(cfg.features, cfg.snaplen);
	struct drop_event *record = bpf_ringbuf_reserve(&events, size, 0);
	__u64 pid_tgid;

	if (!record) {
		count->lost++;
		return;
	}
	pid_tgid = bpf_get_current_pid_tgid();
	ev->ts_ns = bpf_ktime_get_ns();
	ev->location = location;
	ev->skb_addr = (__u64)skb;
	ev->len = skb->len;
	ev->pid = pid_tgid >> 32;
	ev->tid = (__u32)pid_tgid;
	ev->stack_id = DROPWHY_NO_STACK;
	if (cfg.features & DROPWHY_FEATURE_STACK) {
		ev->stack_id = read_stack(ctx, count);
		if (ev->stack_id >= 0)
			ev->flags |= DROP_HAS_STACK;
	}
	__builtin_memset(&record->socket, 0, sizeof(record->socket));
	if ((cfg.features & DROPWHY_FEATURE_SOCKET) && read_socket(&record->socket, skb, rx_sk))
		ev->flags |= DROP_HAS_SOCKET;
	if (cfg.features & DROPWHY_FEATURE_PACKET) {
		struct drop_packet *packet = (struct drop_packet *)(record + 1);

		__builtin_memset(packet, 0, sizeof(*packet));
		if (read_packet(packet, (__u8 *)(packet + 1), skb))
			ev->flags |= DROP_HAS_PACKET;
		else
			count->packet_unread++;
	}
	__builtin_memcpy(record, ev, EVENT_HEAD_BYTES);
	read_comm(record->comm);
	bpf_ringbuf_submit(record, wakeup_flag(count, size));
}

/* Arguments, filter, then count or submit. */
SEC("tp_btf/kfree_skb")
int on_kfree_skb(__u64 *ctx)
{
	struct sk_buff *skb = (struct sk_buff *)ctx[0];
	struct drop_counters *count;
	struct drop_event head_only, *ev = &head_only;
	struct sock *rx_sk = NULL;
	struct packet_view pkt;
	__u8 hdr[HEADER_BYTES];
	__u32 zero = 0;

	count = bpf_map_lookup_elem(&counters, &zero);
	if (!count)
		return 0;
	count->seen++;
	__builtin_memset(ev, 0, EVENT_HEAD_BYTES);
	/* Keeps the event one object in memory: split into scalars, as clang does
	 * with a struct no helper takes, its fields are spilled one by one, ~25 ns
	 * more per drop (measured). */
	barrier_var(ev);

	/* Separate ifs into separate variables: merged, clang may turn them
	 * into a variable ctx offset, which the verifier rejects. */
	if (kfree_skb_has_reason()) {
		ev->reason = (__u32)ctx[2];
		ev->flags |= DROP_HAS_REASON;
	}
	if (kfree_skb_has_rx_sk()) {
		rx_sk = (struct sock *)ctx[3];
		if (rx_sk)
			ev->flags |= DROP_HAS_RX_SK;
	}
	if (!reason_matches(ev->reason))
		return 0;

	/* The namespace is read early only when it filters; else only for events sent.
	 * An ifindex filter always comes with one: ifindexes are per namespace. */
	if (cfg.netns) {
		read_netns(ev, skb, rx_sk);
		if (ev->netns != cfg.netns)
			return 0;
		if (cfg.ifindex && ev->ifindex != cfg.ifindex)
			return 0;
	}

	ev->protocol = bpf_ntohs(skb->protocol);
	parse_packet(ev, skb, hdr, &pkt);
	if (!packet_matches(ev))
		return 0;
	/* A filter expression is about the packet's bytes: a drop without them does not match it. */
	if (cfg.filter_len && !expression_matches(hdr, &pkt))
		return 0;
	if (cfg.command_cgroup && !command_matches(ev, skb, rx_sk))
		return 0;
	count->matched++;

	if (!cfg.netns)
		read_netns(ev, skb, rx_sk);
	if (cfg.mode == DROPWHY_MODE_COUNT) {
		count_drop(ctx, ev, ctx[1], count);
		if (cfg.features & DROPWHY_FEATURE_SOCKET)
			count_socket(ev, skb, rx_sk);
	} else
		submit_drop(ctx, ev, skb, rx_sk, ctx[1], count);
	return 0;
}

/* -- CMD: attached to the command's cgroup, records the address and port of
 * every TCP and UDP packet the command sends. Lets every packet pass. */
SEC("cgroup_skb/egress")
int record_command_flow(struct __sk_buff *skb)
{
	struct command_flow flow = {};
	__u32 ports_at, zero = 0;
	struct drop_counters *count;
	__u8 one = 1;
	void *recorded; /* the flow's value: only whether it is there matters */
	__u16 port;

	if (skb->protocol == bpf_htons(ETH_P_IP)) {
		struct iphdr ip;

		if (bpf_skb_load_bytes(skb, 0, &ip, sizeof(ip)) || ip.frag_off & bpf_htons(0x1fff))
			return 1;
		flow.family = DROP_FAMILY_IPV4;
		flow.l4_proto = ip.protocol;
		__builtin_memcpy(flow.addr, &ip.saddr, 4);
		ports_at = ip.ihl * 4;
	} else if (skb->protocol == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr ip6;

		/* A packet behind extension headers is not recorded: a command's TCP and UDP carry none. */
		if (bpf_skb_load_bytes(skb, 0, &ip6, sizeof(ip6)))
			return 1;
		flow.family = DROP_FAMILY_IPV6;
		flow.l4_proto = ip6.nexthdr;
		__builtin_memcpy(flow.addr, &ip6.saddr, 16);
		ports_at = sizeof(ip6);
	} else {
		return 1;
	}
	if (flow.l4_proto != IPPROTO_TCP && flow.l4_proto != IPPROTO_UDP)
		return 1;
	if (bpf_skb_load_bytes(skb, ports_at, &port, sizeof(port)))
		return 1;
	flow.port = bpf_ntohs(port);
	if (lookup_or_try_init(&command_flows, &flow, &one, &recorded) == MAP_SLOT_FULL) {
		count = bpf_map_lookup_elem(&counters, &zero);
		if (count)
			count->unrecorded_flows++;
	}
	return 1;
}
