#!/usr/bin/env bash
# Builds a libvirt Vagrant box of Debian 13 (trixie) from Debian's archive, for a
# host with neither KVM nor Vagrant Cloud:
#
#   scripts/vagrant/build-box.sh OUT.box        (as root: debootstrap, chroot)
#
# The root file system comes from debootstrap; the disk is made without
# mounting anything (mkfs.ext4 -d, the partition table by sfdisk), and GRUB is
# installed in one boot of the disk under qemu TCG. The box holds box.img
# (qcow2), metadata.json and a Vagrantfile with the settings such a host needs
# (scripts/vagrant/box.Vagrantfile), so the project's Vagrantfile runs on it
# unchanged: DROPWHY_BOX=local/trixie-tcg vagrant up --provider=libvirt.
# The guest trusts the CA certificates this host added to its own store
# (/usr/local/share/ca-certificates), so HTTPS from it works where the host's does.
#
# Environment: DROPWHY_DEBIAN_MIRROR (default: the mirror this host's apt uses).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
say() { echo "build-box.sh: $*" >&2; }
die() { say "$*"; exit 1; }

[ $# -eq 1 ] || die "usage: build-box.sh OUT.box"
OUT=$(realpath -m "$1")
[ "$(id -u)" -eq 0 ] || die "run as root: debootstrap needs it"

# shellcheck source=../lib/debian-mirror.sh
. "$HERE/../lib/debian-mirror.sh"
MIRROR="${DROPWHY_DEBIAN_MIRROR:-$(system_debian_mirror)}"
SUITE=trixie
DISK_GIB=20
# What a box needs beyond minbase: boot (kernel, GRUB, udev, kmod), systemd with
# its networkd (DHCP on each NIC), what Vagrant needs (sshd, sudo, rsync for the
# synced folder) and the guest agent, through which vagrant-libvirt finds the address.
PACKAGES=systemd-sysv,udev,kmod,dbus,ca-certificates,openssh-server,sudo,rsync,qemu-guest-agent,linux-image-amd64,grub-pc,iproute2
VAGRANT_KEY=$(ls /usr/share/rubygems-integration/all/gems/vagrant-*/keys/vagrant.pub 2>/dev/null | tail -n1 || true)
[ -r "$VAGRANT_KEY" ] || die "Vagrant's insecure public key (keys/vagrant.pub of the vagrant gem) was not found: apt-get install vagrant"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/dropwhy-box.XXXXXX")
QEMU_PID=""
cleanup() {
  [ -n "$QEMU_PID" ] && kill "$QEMU_PID" 2>/dev/null && wait "$QEMU_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
ROOTFS=$WORK/root

say "debootstrap $SUITE from $MIRROR"
debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$ROOTFS" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
  { tail -n 20 "$WORK/debootstrap.log" >&2; die "debootstrap failed"; }

say "configuring the guest"
ROOT_UUID=$(cat /proc/sys/kernel/random/uuid)
in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"; }
echo dropwhy >"$ROOTFS/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tdropwhy\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$ROOTFS/etc/hosts"
echo "UUID=$ROOT_UUID / ext4 errors=remount-ro 0 1" >"$ROOTFS/etc/fstab"
cat >"$ROOTFS/etc/apt/sources.list" <<EOF
deb $MIRROR $SUITE main
deb $MIRROR $SUITE-updates main
deb ${MIRROR%/debian}/debian-security $SUITE-security main
EOF
# qemu's user-mode networking: DHCP on every NIC, its DNS relay at .3.
mkdir -p "$ROOTFS/etc/systemd/network"
printf '[Match]\nName=en* eth*\n\n[Network]\nDHCP=ipv4\n' >"$ROOTFS/etc/systemd/network/50-dhcp.network"
echo "nameserver 10.0.2.3" >"$ROOTFS/etc/resolv.conf"
in_root systemctl enable systemd-networkd >/dev/null 2>&1
# Each VM gets its own machine id and ssh host keys on its first boot.
: >"$ROOTFS/etc/machine-id"
rm -f "$ROOTFS"/etc/ssh/ssh_host_*
mkdir -p "$ROOTFS/etc/systemd/system/ssh.service.d"
printf '[Service]\nExecStartPre=\nExecStartPre=/usr/bin/ssh-keygen -A\nExecStartPre=/usr/sbin/sshd -t\n' \
  >"$ROOTFS/etc/systemd/system/ssh.service.d/host-keys.conf"
# Vagrant's conventions: user vagrant, sudo without a password, the insecure key
# (Vagrant replaces it with a key of its own on the first vagrant up).
in_root useradd --create-home --shell /bin/bash vagrant
echo 'vagrant ALL=(ALL) NOPASSWD: ALL' >"$ROOTFS/etc/sudoers.d/vagrant"
chmod 0440 "$ROOTFS/etc/sudoers.d/vagrant"
install -d -m 0700 -o 1000 -g 1000 "$ROOTFS/home/vagrant/.ssh"
install -m 0600 -o 1000 -g 1000 "$VAGRANT_KEY" "$ROOTFS/home/vagrant/.ssh/authorized_keys"
[ "$(in_root id -u vagrant)" = 1000 ] || die "the vagrant user did not get uid 1000"
# This host's own CA certificates (an HTTPS proxy's, a company's), trusted by the guest too.
if compgen -G "/usr/local/share/ca-certificates/*.crt" >/dev/null; then
  cp /usr/local/share/ca-certificates/*.crt "$ROOTFS/usr/local/share/ca-certificates/"
  in_root update-ca-certificates >/dev/null 2>&1
fi
# GRUB: no menu wait, the console on the serial port too (virsh console, logs).
cat >>"$ROOTFS/etc/default/grub" <<'EOF'
GRUB_TIMEOUT=0
GRUB_CMDLINE_LINUX="console=tty0 console=ttyS0,115200n8 net.ifnames=1"
GRUB_TERMINAL="console serial"
EOF
cat >"$ROOTFS/root/install-grub" <<'EOF'
#!/bin/sh
# Runs once as init of the box's first boot, then powers off.
mount -t proc proc /proc 2>/dev/null; mount -t sysfs sys /sys 2>/dev/null; mount -t devtmpfs dev /dev 2>/dev/null
grub-install --target=i386-pc /dev/vda && update-grub && echo "install-grub: done"
rm -f /root/install-grub
sync
echo o >/proc/sysrq-trigger
EOF
chmod +x "$ROOTFS/root/install-grub"
in_root apt-get clean
rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/log/*.log "$ROOTFS"/var/cache/debconf/*-old
KERNEL=$(ls "$ROOTFS"/boot/vmlinuz-* | tail -n1)
INITRD=$(ls "$ROOTFS"/boot/initrd.img-* | tail -n1)
cp "$KERNEL" "$WORK/vmlinuz"
cp "$INITRD" "$WORK/initrd.img"

say "making the disk (${DISK_GIB} GiB, sparse)"
# One partition from 1 MiB on; the file system is made from the tree, unmounted.
truncate -s "${DISK_GIB}G" "$WORK/disk.raw"
echo 'start=2048, type=83, bootable' | sfdisk --quiet "$WORK/disk.raw"
mkfs.ext4 -q -U "$ROOT_UUID" -L root -d "$ROOTFS" -E offset=$((2048 * 512)) "$WORK/disk.raw" $(((DISK_GIB * 1024 - 1) * 1024))k
rm -rf "$ROOTFS"

say "installing GRUB (one boot under qemu TCG)"
timeout -k 10 1200 qemu-system-x86_64 -accel tcg -cpu max -smp 2 -m 1024 -nodefaults -display none -no-reboot \
  -nic none -drive file="$WORK/disk.raw",format=raw,if=virtio -kernel "$WORK/vmlinuz" -initrd "$WORK/initrd.img" \
  -append "root=/dev/vda1 rw init=/root/install-grub console=ttyS0 panic=-1 quiet" \
  -serial file:"$WORK/grub.log" &
QEMU_PID=$!
wait "$QEMU_PID" || true
QEMU_PID=""
grep -q "install-grub: done" "$WORK/grub.log" || { tail -n 30 "$WORK/grub.log" >&2; die "installing GRUB failed"; }

say "packing the box"
mkdir "$WORK/box"
qemu-img convert -c -O qcow2 "$WORK/disk.raw" "$WORK/box/box.img"
rm -f "$WORK/disk.raw"
printf '{"provider": "libvirt", "format": "qcow2", "virtual_size": %d}\n' "$DISK_GIB" >"$WORK/box/metadata.json"
cp "$HERE/box.Vagrantfile" "$WORK/box/Vagrantfile"
mkdir -p "$(dirname "$OUT")"
tar -C "$WORK/box" -cf "$OUT.part" metadata.json Vagrantfile box.img
mv "$OUT.part" "$OUT"
say "$OUT: $(du -h "$OUT" | cut -f1)"
