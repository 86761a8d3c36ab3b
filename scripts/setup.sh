#!/usr/bin/env bash
# Installs what dropwhy needs on Debian 12 / Ubuntu 22.04+ and builds it.
# Used by the README's quick start, by .ci/run and by the Vagrantfile.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev pkg-config cmake make g++  # BPF program and addon
  iproute2 iptables nftables python3                                               # end-to-end tests
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (sudo scripts/setup.sh): it installs packages with apt-get" >&2
  exit 3
fi
if ! command -v node >/dev/null || [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 20 ]; then
  APT_PACKAGES+=(nodejs npm)
fi
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

npm ci --no-audit --no-fund
npm run build
