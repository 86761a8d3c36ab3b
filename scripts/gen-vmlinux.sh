#!/usr/bin/env bash
# Regenerates bpf/vmlinux.h from the running kernel's BTF. The header is committed so builds
# don't depend on the build machine's kernel; CO-RE relocates field offsets at load time.
set -euo pipefail
cd "$(dirname "$0")/.."
bpftool btf dump file /sys/kernel/btf/vmlinux format c > bpf/vmlinux.h
echo "wrote bpf/vmlinux.h ($(wc -l < bpf/vmlinux.h) lines)"
