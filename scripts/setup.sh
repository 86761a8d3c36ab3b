#!/usr/bin/env bash
# Installs what dropwhy needs on Debian 12 / Ubuntu 22.04+ and builds it.
# Used by the README's quick start, by .ci/run, by the Vagrantfile and, with
# --build-only, by the Dockerfile's build stage.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev libpcap-dev pkg-config cmake make g++  # BPF program and addon
)
# --build-only: what building needs and no more (the image's build stage); the rest is for tests and benchmarks.
[ "${1:-}" = --build-only ] || APT_PACKAGES+=(
  iproute2 iptables nftables python3 util-linux                                    # tests, selftest, counters (nsenter)
  ethtool                                                                          # the ledger: driver counters and ring sizes
  tshark                                                                           # the -w tests read the pcapng files back
  tmux                                                                             # the terminal test: an 80-column terminal
  man-db                                                                           # the man page test renders dropwhy.1
  bpftrace                                                                         # the benchmark's peer
  prometheus                                                                       # the exporter's tests: promtool, a real server
)

if [ "$(id -u)" -ne 0 ]; then
  echo "setup.sh: run as root (sudo scripts/setup.sh): it installs packages with apt-get" >&2
  exit 3
fi
command -v node >/dev/null || APT_PACKAGES+=(nodejs npm)
# shellcheck source=lib/packages.sh
. scripts/lib/packages.sh
had_prometheus=$(dpkg-query -W -f='${Status}' prometheus 2>/dev/null | grep -c "ok installed" || true)
install_missing setup.sh "${APT_PACKAGES[@]}"
# The tests run their own Prometheus; the package's service (on systemd hosts) is not wanted.
if [ "$had_prometheus" = 0 ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl disable --now prometheus >/dev/null 2>&1 || true
fi

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt 20 ]; then
  echo "setup.sh: dropwhy needs Node.js 20 or newer (found $(node --version 2>/dev/null || echo none));" \
    "install it from your distribution's backports, NodeSource or nvm, then run this again" >&2
  exit 3
fi

npm ci --no-audit --no-fund
npm run build
