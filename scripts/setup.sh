#!/usr/bin/env bash
# Installs what dropwhy needs on Debian 12 / Ubuntu 22.04+ and builds it.
# Used by the README's quick start, by .ci/run and by the Vagrantfile.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config cmake make g++  # BPF program and addon
  iproute2 iptables nftables python3 util-linux                                    # tests, selftest, counters (nsenter)
  bpftrace                                                                         # the benchmark's peer
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (sudo scripts/setup.sh): it installs packages with apt-get" >&2
  exit 3
fi
command -v node >/dev/null || APT_PACKAGES+=(nodejs npm)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 20 ]; then
  echo "setup.sh: dropwhy needs Node.js 20 or newer (found $(node --version 2>/dev/null || echo none));" \
    "install it from your distribution's backports, NodeSource or nvm, then run this again" >&2
  exit 3
fi

npm ci --no-audit --no-fund
npm run build
