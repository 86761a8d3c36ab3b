#!/usr/bin/env bash
# Builds a variant of a revision's BPF program with one part removed or
# replaced, to measure what that part costs per event (docs/benchmarks.md, "The
# BPF program's parts"): the variant is a copy of REV in DIR with one edit to
# bpf/dropwhy.bpf.c, built as the addon embeds it; measure it against the
# unchanged program (none) with `node dist/bench/bpf-parts.js REF DIR...`.
#
#   bench/bpf-variant.sh NAME DIR [REV]   NAME one of the edits below, of REV's program (default HEAD);
#                                         run from a built checkout
#   bench/bpf-variant.sh none DIR a320281 that program unchanged: the reference to measure against
#   bench/bpf-variant.sh no-output+no-ktime DIR a320281   several edits at once
#   bench/bpf-variant.sh --list
#
# The edits are written against the program of a320281 (main when the parts were
# measured); one that no longer matches stops with an error. A variant is for
# measuring only: some send events with fields left out.
set -euo pipefail

declare -A EDITS=(
  [none]=''
  # The program returns as soon as it runs: the floor (the tracepoint's call into BPF and bpf_stats' own clock reads).
  [empty]='s/(int on_kfree_skb\(__u64 \*ctx\)\n\{\n)/$1\tif (cfg.mode != 255) return 0;\n/'
  # The per-CPU counters live in a global (.bss) instead of a map looked up per event.
  [no-counters-lookup]='s/count = bpf_map_lookup_elem\(&counters, &zero\);/static struct drop_counters bench_counters; count = &bench_counters;/'
  # The tracepoint's reason and rx_sk arguments are not read.
  [no-reason-rx-sk]='s/if \(kfree_skb_has_reason\(\)\)/if (0)/; s/if \(kfree_skb_has_rx_sk\(\)\)/if (0)/'
  # No header parse (no bpf_probe_read_kernel of the headers): no addresses, ports or protocol.
  [no-parse]='s/\tparse_packet\(&ev, skb, hdr, &pkt\);/\tpkt.read = 0;/'
  # The namespace and ifindex are not read for a sent event.
  [no-netns]='s/\tif \(!cfg.netns\)\n\t\tread_netns\(&ev, skb, rx_sk\);\n//'
  [no-ktime]='s/ev->ts_ns = bpf_ktime_get_ns\(\);/ev->ts_ns = 0;/'
  [no-pid-tgid]='s/__u64 pid_tgid = bpf_get_current_pid_tgid\(\);/__u64 pid_tgid = 0;/'
  [no-comm]='s/\tread_comm\(ev->comm\);\n//'
  # The socket section is not read (the blast's drops have no socket: its null checks).
  [no-socket-read]='s/\t\tread_socket\(ev, skb, rx_sk\);\n\tev->stack_id/\t\t;\n\tev->stack_id/'
  # The stack event is not zeroed (only the flags, which are or-ed into): uninitialized bytes are sent.
  [no-zeroing]='s/struct drop_event ev = \{\};/struct drop_event ev; ev.flags = 0;/'
  # Nothing is sent: no reservation, copy or commit (nor wakeup_flag).
  [no-output]='s/if \(bpf_ringbuf_output\(&events, ev, sizeof\(\*ev\), wakeup_flag\(count, sizeof\(\*ev\)\)\)\)/if (0)/'
  # The reader is never woken (it drains the ring on its poll timeout): wakeup_flag's counting and its wake-ups.
  # The reader is woken 8 times as rarely (every 512 KiB by default, not 64 KiB).
  [wakeup-x8]='s/count->unwoken_bytes < cfg.wakeup_bytes\)/count->unwoken_bytes < cfg.wakeup_bytes * 8)/'
  [no-wakeup-flag]='s/wakeup_flag\(count, sizeof\(\*ev\)\)/BPF_RB_NO_WAKEUP/'
)

if [[ ${1:-} == --list ]]; then
  printf '%s\n' "${!EDITS[@]}" | sort
  exit 0
fi
name=${1:?usage: bench/bpf-variant.sh NAME DIR [REV]}
dir=${2:?usage: bench/bpf-variant.sh NAME DIR [REV]}
rev=${3:-HEAD}
edit=''
IFS=+ read -ra parts <<<"$name"
for part in "${parts[@]}"; do
  [[ -v EDITS[$part] ]] || { echo "bpf-variant: no variant $part (--list)" >&2; exit 1; }
  edit="${edit:+$edit;}${EDITS[$part]}"
done
root=$(git rev-parse --show-toplevel)
[[ -d $root/dist && -d $root/node_modules ]] || { echo "bpf-variant: build $root first" >&2; exit 1; }

rm -rf "$dir"
mkdir -p "$dir"
git -C "$root" archive "$rev" | tar -x -C "$dir"
ln -s "$(readlink -f "$root/node_modules")" "$dir/node_modules"
[[ -z $edit ]] || perl -0pi -e "$edit" "$dir/bpf/dropwhy.bpf.c"
if [[ -n $edit ]] && git -C "$root" show "$rev:bpf/dropwhy.bpf.c" | cmp -s - "$dir/bpf/dropwhy.bpf.c"; then
  echo "bpf-variant: the edit for $name matched nothing in bpf/dropwhy.bpf.c" >&2
  exit 1
fi
# Only the addon (which embeds the program) differs: the TypeScript build is this checkout's (REV's
# src/ must match it).
cp -a "$root/dist" "$dir/dist"
(cd "$dir" && npm run --silent build:native >/dev/null)
echo "$dir: $name"
