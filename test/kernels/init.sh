#!/bin/sh
# /init of the kernel-matrix initramfs (built by scripts/kernels/mkinitramfs.sh,
# booted by test/kernels/run.sh). Loads the modules, mounts the host's root
# read-only from the 9p share "hostroot", gives it fresh proc/sys/dev,
# writable tmpfs on /tmp and /run and the checkout from the initramfs (/repo),
# and runs the in-guest test chrooted into it.
# Prints one line "DROPWHY-KERNEL-RESULT: PASS" or "DROPWHY-KERNEL-RESULT: FAIL:
# reason" and powers off. /config (sourced) sets DROPWHY_REPO, DROPWHY_NODE,
# DROPWHY_PATH, DROPWHY_GUEST_TIMEOUT and DROPWHY_GUEST_E2E.
export PATH=/bin
/bin/busybox --install -s /bin

finish() {
  echo "DROPWHY-KERNEL-RESULT: $*"
  sync
  poweroff -f
  sleep 5
  echo o >/proc/sysrq-trigger # poweroff -f did not: force it
}
fail() { finish "FAIL: $*"; }

. /config
mount -t proc proc /proc || fail "mounting /proc"
mount -t sysfs sysfs /sys || fail "mounting /sys"
mount -t devtmpfs devtmpfs /dev || fail "mounting /dev"
echo "init: kernel $(uname -r), $(nproc) CPUs"

while read -r mod; do
  insmod "/modules/$mod" || fail "insmod $mod failed on $(uname -r)"
done </modules/order

opts=trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose
mount -t 9p -o "$opts" hostroot /host || fail "mounting the host's root over 9p (hostroot) failed"
mount -t proc proc /host/proc || fail "mounting /host/proc"
mount -t sysfs sysfs /host/sys || fail "mounting /host/sys"
mount -t devtmpfs devtmpfs /host/dev || fail "mounting /host/dev"
mkdir -p /host/dev/shm /host/dev/pts
mount -t tmpfs -o mode=1777 tmpfs /host/dev/shm
mount -t tmpfs -o mode=1777 tmpfs /host/tmp || fail "mounting a tmpfs on /tmp"
mount -t tmpfs -o mode=0755 tmpfs /host/run || fail "mounting a tmpfs on /run"
[ ! -d /host/var/tmp ] || mount -t tmpfs -o mode=1777 tmpfs /host/var/tmp || fail "mounting a tmpfs on /var/tmp"
# The checkout came in the initramfs (run.sh): faster than 9p. Mounted over its
# own path, which is there in the shared root (or, for a clone in /tmp, made).
mkdir -p "/host$DROPWHY_REPO" && mount --bind /repo "/host$DROPWHY_REPO" || fail "mounting the checkout on $DROPWHY_REPO"
# Tracing and bpffs are not needed (tp_btf), but mount them where the host has
# the mount points, as a normal system would.
[ -d /host/sys/kernel/tracing ] && mount -t tracefs tracefs /host/sys/kernel/tracing 2>/dev/null
[ -d /host/sys/fs/bpf ] && mount -t bpf bpf /host/sys/fs/bpf 2>/dev/null
# cgroup2 where most systems have it: the socket tests put their receiver in a cgroup of its own.
[ -d /host/sys/fs/cgroup ] && mount -t cgroup2 cgroup2 /host/sys/fs/cgroup 2>/dev/null

[ -f "/host$DROPWHY_REPO/test/kernels/guest.js" ] || fail "$DROPWHY_REPO/test/kernels/guest.js not found in the checkout"
[ -x "/host$DROPWHY_NODE" ] || fail "node ($DROPWHY_NODE) not found in the shared host root"
# run.sh reads this line: a guest that gives no result without it died before the test.
echo "init: running the guest test ($DROPWHY_REPO/test/kernels/guest.js)"
chroot /host /usr/bin/env -i HOME=/tmp TERM=dumb PATH="$DROPWHY_PATH" LANG=C.UTF-8 \
  DROPWHY_RESULT_FILE=/tmp/dropwhy-kernel-result DROPWHY_GUEST_E2E="$DROPWHY_GUEST_E2E" \
  timeout -s KILL "$DROPWHY_GUEST_TIMEOUT" "$DROPWHY_NODE" "$DROPWHY_REPO/test/kernels/guest.js"
rc=$?
if [ -s /host/tmp/dropwhy-kernel-result ]; then
  finish "$(head -n1 /host/tmp/dropwhy-kernel-result)"
fi
fail "the guest test exited with status $rc without a result"
