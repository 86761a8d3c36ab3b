#!/usr/bin/env bash
# Installs the host packages the kernel matrix (npm run test:kernels) needs:
# qemu to boot the kernels, a static busybox for the initramfs, cpio to pack it,
# xz/zstd to unpack compressed kernel modules, Debian's archive keyring to
# verify the kernel packages. Idempotent: installs only what is
# missing. Debian 12 / Ubuntu 22.04+. Called by test/kernels/run.sh.
set -euo pipefail

APT_PACKAGES=(qemu-system-x86 busybox-static cpio xz-utils zstd debian-archive-keyring)

# shellcheck source=../lib/packages.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/packages.sh"
install_missing scripts/kernels/setup.sh "${APT_PACKAGES[@]}"
