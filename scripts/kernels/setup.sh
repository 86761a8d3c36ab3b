#!/usr/bin/env bash
# Installs the host packages the kernel matrix (npm run test:kernels) needs:
# qemu to boot the kernels, a static busybox for the initramfs, cpio to pack it,
# xz/zstd to unpack compressed kernel modules. Idempotent: installs only what is
# missing. Debian 12 / Ubuntu 22.04+. Called by test/kernels/run.sh.
set -euo pipefail

APT_PACKAGES=(qemu-system-x86 busybox-static cpio xz-utils zstd)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/kernels/setup.sh: missing ${missing[*]}; run as root (it installs packages with apt-get)" >&2
  exit 3
fi
echo "scripts/kernels/setup.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Other jobs may hold apt's locks (a concurrent setup.sh): wait for them, and retry.
apt_get() {
  local try
  for try in 1 2 3 4 5; do
    apt-get -o DPkg::Lock::Timeout=300 "$@" && return 0
    sleep $((try * 5))
  done
  return 1
}
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
