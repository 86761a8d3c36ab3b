#!/usr/bin/env bash
# The kernel matrix: boots Debian kernels under qemu and runs the kernel-facing
# e2e tests inside each (test/kernels/guest.js lists them), with the host's
# root shared read-only over 9p so the guest runs the very same node, python,
# ip and nft. The checkout itself (without .git) rides in the initramfs and is
# mounted over its own path: node loads hundreds of files per process, and
# from 9p under TCG that made every dropwhy start take 5 s instead of under 2.
#
#   npm run test:kernels [-- KERNEL...]     (or test/kernels/run.sh KERNEL...)
#
# KERNEL is one of
#   5.10   Debian bullseye's newest linux-image-5.10.0-*-amd64 (no drop reasons)
#   6.1    Debian bookworm's newest linux-image-6.1.0-*-amd64 (no rx_sk)
#   6.12   Debian trixie's newest linux-image-6.12.*-amd64
#   host   the running kernel (/boot/vmlinuz-$(uname -r) with /lib/modules);
#          when its image is not readable, the newest Debian package of the
#          same major.minor from trixie-backports, bookworm-backports or trixie
#          (else the newest kernel there). Also accepted as $(uname -r | cut -d. -f1,2).
# Default: all four. Prints one line per kernel ("6.1.0-50-amd64 PASS 141.3s (host
# CPU 198s)": what qemu and the rest of the guest cost the host's CPUs),
# under it each e2e file's time, and for each failed file the first failing
# assertion; then "N passed, M failed"; exits 1 if any failed. A kernel that
# cannot be fetched, cannot boot or gives no result in time is a failure,
# never a skip. A failed kernel's console excerpt goes to stderr, its whole
# console log stays in the logs directory.
#
# Environment:
#   DROPWHY_KERNEL_CACHE     cache of packages, unpacked trees, logs
#                            (default ${XDG_CACHE_HOME:-$HOME/.cache}/dropwhy-kernels)
#   DROPWHY_QEMU_ACCEL       kvm or tcg (default: kvm when a probe boot with it
#                            works within DROPWHY_KVM_PROBE_TIMEOUT s, else tcg)
#   DROPWHY_KERNEL_LOGS      where the guests' console logs are kept
#                            (default $DROPWHY_KERNEL_CACHE/logs)
#   DROPWHY_KERNEL_TIMEOUT   hard limit for one guest in seconds (default 3600
#                            under tcg, 600 under kvm): a backstop for a hung
#                            kernel only (guest.js bounds each file, 900 s)
#   DROPWHY_KERNEL_JOBS      guests run side by side (default: one per host
#                            CPU and one more, as far as memory allows 3 GiB
#                            each)
#   DROPWHY_GUEST_E2E        e2e files to run instead of guest.js's list, by
#                            name ("summary filters")
#   DROPWHY_KERNELS_BUILD=1  run `npm run build` first (done anyway when the
#                            build is missing)
#   DROPWHY_GUEST_MODULES    more kernel modules for the guest to load, with
#                            their dependencies (e.g. "sch_tbf")
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
SCRIPTS="$ROOT/scripts/kernels"
HERE="$ROOT/test/kernels"
CACHE="${DROPWHY_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dropwhy-kernels}"
export DROPWHY_KERNEL_CACHE="$CACHE"
LOGS="${DROPWHY_KERNEL_LOGS:-$CACHE/logs}"
ALL=(5.10 6.1 6.12 host)
HOST_RELEASE=$(uname -r)
HOST_SERIES=$(echo "$HOST_RELEASE" | cut -d. -f1,2)

say() { echo "test:kernels: $*" >&2; }
die() { say "$*"; exit 2; }

# ---- arguments ----------------------------------------------------------------
SELECTED=()
for arg in "$@"; do
  case "$arg" in
    -h | --help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    5.10 | 6.1 | 6.12 | host) SELECTED+=("$arg") ;;
    "$HOST_SERIES") SELECTED+=(host) ;;
    *) die "unknown kernel '$arg' (choose from: ${ALL[*]}, or $HOST_SERIES for host)" ;;
  esac
done
[ ${#SELECTED[@]} -gt 0 ] || SELECTED=("${ALL[@]}")

# ---- setup ----------------------------------------------------------------------
"$SCRIPTS/setup.sh" || die "scripts/kernels/setup.sh failed"
if [ "${DROPWHY_KERNELS_BUILD:-0}" = 1 ] || [ ! -f "$ROOT/dist/src/cli.js" ] ||
  [ ! -f "$ROOT/build/native/Release/dropwhy.node" ]; then
  say "building (npm run build)"
  (cd "$ROOT" && npm run build >&2) || die "npm run build failed"
fi
NODE=$(readlink -f "$(command -v node)") || die "node is not on PATH"
GUEST_PATH="$(dirname "$NODE"):/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dropwhy-kernels.XXXXXX")
QEMU_PID=""
GUEST_JOBS=() # test_kernel's subshells, each stopping its own guest on TERM
cleanup() {
  local pid
  for pid in "$QEMU_PID" "${GUEST_JOBS[@]}"; do
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null
      wait "$pid" 2>/dev/null
    fi
  done
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
mkdir -p "$LOGS"

# The checkout as a second initramfs archive (the kernel unpacks both), under
# /repo: built once, appended to each kernel's own.
say "packing the checkout for the guests"
mkdir -p "$WORK/checkout/repo"
EXCLUDES=(--exclude=./.git)
for d in "$CACHE" "$LOGS" "$WORK"; do # a cache kept inside the checkout stays out
  d=$(realpath -m "$d")
  case "$d/" in "$ROOT"/?*) EXCLUDES+=("--exclude=./${d#"$ROOT"/}") ;; esac
done
(cd "$ROOT" && tar -c "${EXCLUDES[@]}" .) | tar -x -C "$WORK/checkout/repo" || die "copying the checkout failed"
(cd "$WORK/checkout" && find repo | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$WORK/checkout.cpio.gz" ||
  die "packing the checkout failed"
rm -rf "$WORK/checkout"

# The modules every guest loads, with their dependencies (mkinitramfs.sh skips
# what a kernel has built in, e.g. ipv6 in Debian's): 9p over virtio for the
# shared root; veth for the e2e tests' namespace pairs; nf_tables for their
# nft and iptables-nft rules (iptables-nft runs only where drop reasons are,
# 5.17+, whose nf_tables has nft_counter built in); nft_counter, a module of its
# own only on older kernels ("?": where it is one), for the socket test's
# counted rule; nf_defrag_ipv4/6 for the parsing tests' fragments; nf_conntrack
# and nft_ct for ledger-host-wide's full conntrack table.
GUEST_MODULES=(virtio_pci 9pnet_virtio 9p veth nf_tables '?nft_counter' nf_defrag_ipv4 nf_defrag_ipv6 nf_conntrack nft_ct)
# shellcheck disable=SC2206 # a list of module names
GUEST_MODULES+=(${DROPWHY_GUEST_MODULES:-})

# ---- kernels ---------------------------------------------------------------------
# fetch_kernel LABEL: sets KVER VMLINUZ MODDIR KERNEL_DESC, or returns 1 with
# the reason in FETCH_ERROR.
fetch_kernel() {
  local label=$1 out err="$WORK/fetch.err"
  KVER="" VMLINUZ="" MODDIR="" KERNEL_DESC="" FETCH_ERROR=""
  if [ "$label" = host ] && [ -r "/boot/vmlinuz-$HOST_RELEASE" ] && [ -d "/lib/modules/$HOST_RELEASE" ]; then
    KVER=$HOST_RELEASE VMLINUZ=/boot/vmlinuz-$HOST_RELEASE MODDIR=/lib/modules/$HOST_RELEASE
    KERNEL_DESC="the running kernel ($VMLINUZ)"
    return 0
  fi
  case "$label" in
    5.10) out=$("$SCRIPTS/fetch.sh" bullseye 2>"$err") ;;
    6.1) out=$("$SCRIPTS/fetch.sh" bookworm 2>"$err") ;;
    6.12) out=$("$SCRIPTS/fetch.sh" trixie 2>"$err") ;;
    host)
      local suites=trixie-backports,bookworm-backports,trixie series=${HOST_SERIES//./\\.}
      out=$("$SCRIPTS/fetch.sh" "$suites" "^linux-image-$series\.[0-9]+(\+deb[0-9]+)?-amd64\$|^linux-image-$series\.0-[0-9]+-amd64\$" 2>"$err") ||
        out=$("$SCRIPTS/fetch.sh" "$suites" '^linux-image-[0-9]+\.[0-9]+(\.[0-9]+\+deb[0-9]+|\.0-[0-9]+)-amd64$' 2>>"$err")
      ;;
  esac
  local rc=$?
  cat "$err" >&2
  if [ $rc -ne 0 ]; then
    local why
    why=$(grep -a '^fetch.sh: ' "$err" | tail -n1 | sed 's/^fetch.sh: //')
    FETCH_ERROR="could not fetch the kernel: ${why:-scripts/kernels/fetch.sh exited with status $rc and said nothing}"
    return 1
  fi
  eval "$out"
  KERNEL_DESC="$KERNEL_PKG $KERNEL_VERSION ($KERNEL_SUITE)"
  if [ "$label" = host ]; then
    KERNEL_DESC="$KERNEL_DESC, standing in for the running $HOST_RELEASE, whose image /boot/vmlinuz-$HOST_RELEASE is not available"
  fi
}

# ---- qemu ------------------------------------------------------------------------
# boot_qemu ACCEL VMLINUZ INITRD LOG TIMEOUT: runs qemu in the background
# under a hard timeout and waits; returns qemu's (or timeout's 124) status.
boot_qemu() {
  local accel=$1 vmlinuz=$2 initrd=$3 log=$4 limit=$5 cpu=max
  [ "$accel" = kvm ] && cpu=host
  : >"$log"
  timeout -k 10 "$limit" qemu-system-x86_64 \
    -accel "$accel" -cpu "$cpu" -smp 2 -m 2048 \
    -nodefaults -display none -no-reboot -nic none \
    -kernel "$vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 quiet loglevel=4 random.trust_cpu=on" \
    -serial "file:$log" \
    -fsdev local,id=hostroot,path=/,readonly=on,security_model=none,multidevs=remap \
    -device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot \
    </dev/null >>"$log.qemu" 2>&1 &
  QEMU_PID=$!
  wait "$QEMU_PID" 2>/dev/null # (no "Aborted" job notice: the caller reports)
  local rc=$?
  QEMU_PID=""
  return $rc
}

ACCEL=""
choose_accel() { # choose_accel VMLINUZ
  if [ -n "${DROPWHY_QEMU_ACCEL:-}" ]; then
    case "$DROPWHY_QEMU_ACCEL" in kvm | tcg) ACCEL=$DROPWHY_QEMU_ACCEL ;; *) die "DROPWHY_QEMU_ACCEL must be kvm or tcg" ;; esac
    say "accelerator: $ACCEL (DROPWHY_QEMU_ACCEL)"
    return
  fi
  ACCEL=tcg
  if [ -r /dev/kvm ] && [ -w /dev/kvm ]; then
    # /dev/kvm can be there and still not run guests (they hang): boot a
    # kernel to an init that powers off at once, with a short timeout.
    local probe="$WORK/probe" limit=${DROPWHY_KVM_PROBE_TIMEOUT:-20}
    mkdir -p "$probe"
    printf '#!/bin/sh\necho DROPWHY-KVM-PROBE-OK\n/bin/busybox poweroff -f\n' >"$probe/init"
    : >"$probe/config"
    "$SCRIPTS/mkinitramfs.sh" - "$probe/init" "$probe/config" "$probe/initrd.gz" none >&2 || die "building the probe initramfs failed"
    rm -f "$probe/console.log.qemu"
    if boot_qemu kvm "$1" "$probe/initrd.gz" "$probe/console.log" "$limit" &&
      grep -aq DROPWHY-KVM-PROBE-OK "$probe/console.log"; then
      ACCEL=kvm
    else
      local why
      why=$(grep -a -m1 -i 'error\|assert' "$probe/console.log.qemu" 2>/dev/null | tr -d '\r')
      say "/dev/kvm is there but a probe boot with KVM did not finish within ${limit}s${why:+ ($why)}: using TCG"
    fi
  fi
  say "accelerator: $ACCEL"
}

# run_guest INITRD LOG TIMEOUT: boots VMLINUZ once with the guest test. Sets
# RESULT ("PASS" or "FAIL: why") and DIED_BEFORE_TEST (1 when the guest gave
# no result and never reached the test: the kernel died while booting).
run_guest() {
  local initrd=$1 log=$2 limit=$3 rc panic
  rm -f "$log.qemu"
  boot_qemu "$ACCEL" "$VMLINUZ" "$initrd" "$log" "$limit"
  rc=$?
  [ -s "$log.qemu" ] && cat "$log.qemu" >>"$log"
  RESULT=$(grep -a -o 'DROPWHY-KERNEL-RESULT: .*' "$log" | tail -n1 | sed 's/^DROPWHY-KERNEL-RESULT: //' | tr -d '\r')
  DIED_BEFORE_TEST=0
  if [ -z "$RESULT" ]; then
    grep -aq 'init: running the guest test' "$log" || DIED_BEFORE_TEST=1
    panic=$(grep -a -m1 -E 'Kernel panic|BUG:|Oops' "$log" | tr -d '\r' | sed 's/^\[[ 0-9.]*\] //')
    if [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
      RESULT="FAIL: no result within ${limit}s: qemu killed${panic:+ ($panic)}"
    else
      RESULT="FAIL: qemu exited with status $rc without a result${panic:+ ($panic)}"
    fi
  fi
}

# ---- the guest's e2e results -----------------------------------------------------------
# e2e_report LOG: one line per e2e file of the guest's plan, from its
# DROPWHY-E2E lines: the passed files with their times on one line, then each
# failed one with its first failing assertion, then the files that gave no
# result (the guest stopped while one ran).
e2e_report() {
  tr -d '\r' <"$1" | awk '
    /DROPWHY-E2E-PLAN: / { sub(/.*DROPWHY-E2E-PLAN: /, ""); n = split($0, plan, " ") }
    /DROPWHY-E2E: / {
      sub(/.*DROPWHY-E2E: /, ""); file = $1; done[file] = 1
      if ($2 == "PASS") { name = file; sub(/\.test\.ts$/, "", name); passed = passed (passed ? ", " : "") name " " $3 }
      else failed = failed "  " $0 "\n"
    }
    END {
      if (passed) print "  passed: " passed
      printf "%s", failed
      for (i = 1; i <= n; i++) if (!(plan[i] in done)) { missing = missing (missing ? ", " : "") plan[i] }
      if (missing) print "  no result: " missing " (the guest stopped during the first)"
    }'
}

# failure_excerpt LOG: the console output of each failed e2e file (its last 60
# lines: node:test ends with the failures), else the console's last 40 lines.
failure_excerpt() {
  local failed file
  failed=$(tr -d '\r' <"$1" | sed -n 's/.*DROPWHY-E2E: \([^ ]*\) FAIL .*/\1/p')
  if [ -z "$failed" ]; then
    say "$label: guest console (last 40 lines of $1):"
    tail -n 40 "$1" | tr -d '\r' | sed 's/^/  | /' >&2
    return
  fi
  for file in $failed; do
    say "$label: $file in the guest (last 60 lines of its output; the whole console is $1):"
    tr -d '\r' <"$1" | awk -v start="node --test dist/test/e2e/${file%.ts}.js" -v end="DROPWHY-E2E: $file " '
      index($0, start) { on = 1; next }
      index($0, end) { on = 0 }
      on' | tail -n 60 | sed 's/^/  | /' >&2
  done
}

# children_cpu PID: CPU seconds used so far by the finished children of the
# (sub)shell PID (qemu under timeout among them): what a guest cost the host.
CLK_TCK=$(getconf CLK_TCK)
children_cpu() { awk -v hz="$CLK_TCK" '{ printf "%.0f", ($16 + $17) / hz }' "/proc/$1/stat"; } # children_cpu PID

# test_kernel LABEL LIMIT: boots the fetched kernel (KVER VMLINUZ MODDIR) with
# the guest test, in a subshell of its own (guests run side by side), and
# writes its summary lines to $WORK/LABEL/summary and PASS or FAIL to
# $WORK/LABEL/status. A TERM (run.sh stopping) stops its guest.
test_kernel() {
  local label=$1 limit=$2 dir="$WORK/$1" log="$LOGS/$1.log" me=$BASHPID start cpu_before secs cpu note="" first report
  local lines=()
  trap '[ -n "$QEMU_PID" ] && kill -TERM "$QEMU_PID" 2>/dev/null; exit 143' TERM
  {
    printf 'DROPWHY_REPO=%q\n' "$ROOT"
    printf 'DROPWHY_NODE=%q\n' "$NODE"
    printf 'DROPWHY_PATH=%q\n' "$GUEST_PATH"
    printf 'DROPWHY_GUEST_TIMEOUT=%q\n' "$((limit > 60 ? limit - 30 : limit))"
    printf 'DROPWHY_GUEST_E2E=%q\n' "${DROPWHY_GUEST_E2E:-}"
  } >"$dir/config"
  rm -f "$log" "$log.first-boot"
  start=$(date +%s.%N)
  cpu_before=$(children_cpu "$me")
  if ! "$SCRIPTS/mkinitramfs.sh" "$MODDIR" "$HERE/init.sh" "$dir/config" "$dir/initrd.gz" \
    "${GUEST_MODULES[@]}" 2>"$dir/mkinitramfs.err"; then
    RESULT="FAIL: building the initramfs failed: $(tail -n1 "$dir/mkinitramfs.err")"
  else
    cat "$WORK/checkout.cpio.gz" >>"$dir/initrd.gz"
    run_guest "$dir/initrd.gz" "$log" "$limit"
    if [ "$DIED_BEFORE_TEST" = 1 ]; then
      # The kernel or the emulator, not dropwhy: a boot under TCG can oops
      # before /init starts the test. Boot once more; a second death fails.
      first=${RESULT#FAIL: }
      say "$label: the guest died before the test started ($first); booting it once more. Its console:"
      tail -n 20 "$log" | tr -d '\r' | sed 's/^/  | /' >&2
      mv "$log" "$log.first-boot"
      run_guest "$dir/initrd.gz" "$log" "$limit"
      note=" (booted twice: the first boot died before the test: $first)"
    fi
  fi
  secs=$(echo "$(date +%s.%N) $start" | awk '{ printf "%.1f", $1 - $2 }')
  cpu=$(($(children_cpu "$me") - cpu_before))
  if [ "$RESULT" = PASS ]; then
    lines+=("$KVER PASS ${secs}s (host CPU ${cpu}s)$note")
  else
    lines+=("$KVER FAIL ${secs}s (host CPU ${cpu}s): ${RESULT#FAIL: }$note")
    [ -f "$log" ] && failure_excerpt "$log"
  fi
  [ -f "$log" ] && report=$(e2e_report "$log") && [ -n "$report" ] && lines+=("$report")
  say "$label: $KVER ${RESULT%%:*} in ${secs}s$note (log: $log)"
  printf '%s\n' "${lines[@]}" >"$dir/summary"
  echo "${RESULT%%:*}" >"$dir/status"
}

# How many guests at a time: a guest keeps about one of its two vCPUs busy
# (most e2e files start one process at a time), so one per host CPU and one
# more to fill the gaps (guests that share CPUs take longer each, but finish
# sooner together), as far as memory allows (2 GiB each, and qemu's own).
mem_jobs=$(awk '/^MemAvailable:/ { print int($2 / (3 * 1024 * 1024)) }' /proc/meminfo)
JOBS=${DROPWHY_KERNEL_JOBS:-$(($(nproc) + 1))}
[ -n "${DROPWHY_KERNEL_JOBS:-}" ] || [ "$JOBS" -le "${mem_jobs:-1}" ] || JOBS=${mem_jobs:-1}
case "$JOBS" in '' | *[!0-9]* | 0) JOBS=1 ;; esac

# ---- the matrix ------------------------------------------------------------------------
# Each kernel is fetched here, one after another (while the guests before it
# run), then booted in the background once fewer than JOBS guests run.
MATRIX_START=$(date +%s.%N)
for label in "${SELECTED[@]}"; do
  say "== $label"
  mkdir -p "$WORK/$label"
  if ! fetch_kernel "$label"; then
    echo "$label FAIL 0.0s: $FETCH_ERROR" >"$WORK/$label/summary"
    echo FAIL >"$WORK/$label/status"
    say "$label: $FETCH_ERROR"
    continue
  fi
  say "$label: $KVER: $KERNEL_DESC"
  [ -n "$ACCEL" ] || choose_accel "$VMLINUZ"
  limit=${DROPWHY_KERNEL_TIMEOUT:-$([ "$ACCEL" = kvm ] && echo 600 || echo 3600)}
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
  test_kernel "$label" "$limit" &
  GUEST_JOBS+=($!)
done
wait

PASSED=0 FAILED=0 SUMMARY=()
for label in "${SELECTED[@]}"; do
  if [ "$(cat "$WORK/$label/status" 2>/dev/null)" = PASS ]; then PASSED=$((PASSED + 1)); else FAILED=$((FAILED + 1)); fi
  if [ -s "$WORK/$label/summary" ]; then
    mapfile -t lines <"$WORK/$label/summary"
    SUMMARY+=("${lines[@]}")
  else
    SUMMARY+=("$label FAIL: its guest gave no result")
  fi
done

total=$(echo "$(date +%s.%N) $MATRIX_START" | awk '{ printf "%.0f", $1 - $2 }')
echo
echo "kernel matrix ($ACCEL, ${total}s):"
printf '%s\n' "${SUMMARY[@]}"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
