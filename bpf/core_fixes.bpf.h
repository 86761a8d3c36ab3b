/* SPDX-License-Identifier: GPL-2.0 */
/*
 * CO-RE shims: one per kernel change the program reads across, each naming
 * the change that made it (the first release with it, the commit and its
 * subject). Each picks its path with a CO-RE check that libbpf resolves
 * against the running kernel's BTF at load, never with a version number: the
 * path for the other kernels is never reached, so the verifier never checks
 * its reads.
 */
#ifndef DROPWHY_CORE_FIXES_BPF_H
#define DROPWHY_CORE_FIXES_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "event.h"

/*
 * Whether skb:kfree_skb has a third argument, the reason for the drop.
 * Linux 5.17, c504e5c2f964 ("net: skb: introduce kfree_skb_reason()").
 */
static __always_inline bool kfree_skb_has_reason(void)
{
	return bpf_core_field_exists(struct trace_event_raw_kfree_skb, reason);
}

/*
 * Whether skb:kfree_skb has a fourth argument, the socket that was receiving
 * the packet (NULL when none).
 * Linux 6.11, c53795d48ee8 ("net: add rx_sk to trace_kfree_skb").
 */
static __always_inline bool kfree_skb_has_rx_sk(void)
{
	return bpf_core_field_exists(struct trace_event_raw_kfree_skb, rx_sk);
}

/*
 * The current task's name: read directly from the typed current task where
 * the kernel has bpf_get_current_task_btf(), else copied by the older helper.
 * Linux 5.11, 3ca1032ab7ab ("bpf: Implement get_current_task_btf and
 * RET_PTR_TO_BTF_ID").
 */
static __always_inline void read_comm(char *comm)
{
	if (bpf_core_enum_value_exists(enum bpf_func_id, BPF_FUNC_get_current_task_btf)) {
		struct task_struct *task = bpf_get_current_task_btf();

		__builtin_memcpy(comm, task->comm, DROPWHY_COMM_LEN);
		return;
	}
	bpf_get_current_comm(comm, DROPWHY_COMM_LEN);
}

/* sock_cgroup_data before the change below: the cgroup v2 pointer shares one
 * word with net_prio and net_cls data, and is a pointer only while bit 0 is clear. */
struct sock_cgroup_data___old {
	union {
		__u64 val;
	};
};

/*
 * The cgroup v2 id (the cgroup directory's inode) the socket was created in,
 * 0 unknown.
 * Linux 5.15 (and 5.10.226), 8520e224f547 ("bpf, cgroups: Fix cgroup v2
 * fallback on v1/v2 mixed mode"): sock_cgroup_data has a cgroup pointer field
 * of its own.
 */
static __always_inline __u64 socket_cgroup(struct sock *sk)
{
	struct cgroup *cgroup;

	if (bpf_core_field_exists(struct sock_cgroup_data, cgroup)) {
		cgroup = sk->sk_cgrp_data.cgroup;
	} else {
		struct sock_cgroup_data___old *data = (void *)&sk->sk_cgrp_data;
		__u64 val = BPF_CORE_READ(data, val);

		if (val & 1)
			return 0;
		cgroup = (struct cgroup *)val;
	}
	return BPF_CORE_READ(cgroup, kn, id);
}

/*
 * The socket's own drop counter, as sk_drops_read() sums it.
 * Linux 6.18, c51613fa276f ("net: add sk->sk_drop_counters"): UDP and raw
 * sockets count their drops in the two NUMA-spread counters sk_drop_counters
 * points to instead of in sk_drops. Their struct got the name
 * numa_drop_counters in the same release, from fdae0ab67d57 ("net: use NUMA
 * drop counters for softnet_data.dropped").
 */
static __always_inline __u32 socket_drops(struct sock *sk)
{
	if (bpf_core_field_exists(struct sock, sk_drop_counters)) {
		struct numa_drop_counters *numa = sk->sk_drop_counters;

		if (numa)
			return numa->drops0.counter + numa->drops1.counter;
	}
	return sk->sk_drops.counter;
}

/*
 * The socket's bound local IPv6 address into addr; false when the kernel has
 * no field for it. Not a release but a build option: struct sock_common has
 * skc_v6_rcv_saddr only in kernels built with CONFIG_IPV6.
 */
static __always_inline bool read_v6_rcv_saddr(const struct sock_common *common, __u8 *addr)
{
	if (!bpf_core_field_exists(common->skc_v6_rcv_saddr))
		return false;
	__builtin_memcpy(addr, &common->skc_v6_rcv_saddr, 16);
	return true;
}

#endif /* DROPWHY_CORE_FIXES_BPF_H */
