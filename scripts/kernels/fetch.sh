#!/usr/bin/env bash
# Fetches a Debian kernel package and unpacks it (never installs it), with a
# private apt configuration per suite: the system's apt configuration and state
# are never touched.
#
#   scripts/kernels/fetch.sh SUITES [PACKAGE_ERE]
#
# SUITES is one suite or several joined by commas (bullseye, bookworm, trixie,
# bookworm-backports, trixie-backports ...). Without PACKAGE_ERE the kernel is
# the linux-image-* dependency of the linux-image-amd64 metapackage of the
# first suite that has it; with it, the newest package whose name matches the
# ERE across all SUITES (e.g. '^linux-image-6\.18\.[0-9]+\+deb[0-9]+-amd64$').
#
# Prints shell assignments on stdout (eval them):
#   KERNEL_PKG KERNEL_VERSION KERNEL_SUITE KVER VMLINUZ MODDIR
#
# Downloads and unpacked trees are cached under
#   ${DROPWHY_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dropwhy-kernels}
# The package lists are refreshed on every call (about a second per suite);
# when that fails (no network) the cached lists and trees are used.
# The Debian mirror is the one the system's apt uses (DROPWHY_DEBIAN_MIRROR
# overrides it); the archive keyring is Debian's (DROPWHY_DEBIAN_KEYRING
# overrides it).
#
# Every failure ends with one "fetch.sh: ..." line on stderr saying why.
set -euo pipefail

die() { echo "fetch.sh: $*" >&2; exit 1; }
log() { echo "fetch.sh: $*" >&2; }
# A command that fails where no die() expected it still says what failed.
trap 'rc=$?; echo "fetch.sh: line $LINENO: \"$BASH_COMMAND\" failed with status $rc" >&2' ERR

[ $# -ge 1 ] || die "usage: fetch.sh SUITES [PACKAGE_ERE]"
IFS=, read -r -a SUITES <<<"$1"
PATTERN="${2:-}"
CACHE="${DROPWHY_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dropwhy-kernels}"
mkdir -p "$CACHE/apt" "$CACHE/debs" "$CACHE/trees"
# One fetch at a time per cache (concurrent runs share the apt state and trees).
exec 9>"$CACHE/.fetch.lock"
flock 9
# Partial downloads and unpacks are removed on any exit.
TEMPS=()
trap 'rm -rf "${TEMPS[@]}"' EXIT

# shellcheck source=../lib/debian-mirror.sh
. "$(dirname "${BASH_SOURCE[0]}")/../lib/debian-mirror.sh"
MIRROR="${DROPWHY_DEBIAN_MIRROR:-$(system_debian_mirror)}"
KEYRING=${DROPWHY_DEBIAN_KEYRING:-/usr/share/keyrings/debian-archive-keyring.gpg}
[ -r "$KEYRING" ] || die "$KEYRING is missing (apt-get install debian-archive-keyring)"

# A private apt configuration for one suite: own sources.list, state, cache.
apt_dir() {
  local suite=$1 d="$CACHE/apt/$1"
  if [ ! -f "$d/apt.conf" ]; then
    mkdir -p "$d/etc/sources.list.d" "$d/etc/apt.conf.d" "$d/etc/preferences.d" \
      "$d/state/lists/partial" "$d/cache/archives/partial"
    touch "$d/state/status"
    cat >"$d/apt.conf" <<EOF
Dir::Etc::main "$d/apt.conf";
Dir::Etc::parts "$d/etc/apt.conf.d";
Dir::Etc::sourcelist "$d/etc/sources.list";
Dir::Etc::sourceparts "$d/etc/sources.list.d";
Dir::Etc::preferences "$d/etc/preferences";
Dir::Etc::preferencesparts "$d/etc/preferences.d";
Dir::State "$d/state";
Dir::State::status "$d/state/status";
Dir::Cache "$d/cache";
APT::Architecture "amd64";
APT::Architectures { "amd64"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Acquire::Retries "3";
EOF
  fi
  echo "deb [signed-by=$KEYRING] $MIRROR $suite main" >"$d/etc/sources.list"
  echo "$d"
}

apt_error() { # apt's own reason in its output on stdin: the last E: line, else the last line
  local out
  out=$(cat)
  grep -E '^E: ' <<<"$out" | tail -n1 | grep . || tail -n1 <<<"$out" | grep . || echo "(apt printed nothing)"
}

papt() { # papt SUITE apt-command args...
  local d; d=$(apt_dir "$1"); shift
  APT_CONFIG="$d/apt.conf" "$@"
}

for suite in "${SUITES[@]}"; do
  if ! papt "$suite" apt-get update -qq >"$CACHE/apt/$suite.update.log" 2>&1; then
    if ls "$CACHE/apt/$suite/state/lists/"*_Packages* >/dev/null 2>&1; then
      log "warning: apt-get update for $suite failed (see $CACHE/apt/$suite.update.log); using the cached package lists"
    else
      cat "$CACHE/apt/$suite.update.log" >&2
      die "apt-get update for suite $suite from $MIRROR failed and nothing is cached: $(apt_error <"$CACHE/apt/$suite.update.log")"
    fi
  fi
done

candidate() { # candidate SUITE PKG: the candidate version, empty when none
  papt "$1" apt-cache policy "$2" 2>/dev/null | awk '/^  Candidate:/ { if ($2 != "(none)") print $2 }'
}

PKG="" VERSION="" SUITE=""
if [ -z "$PATTERN" ]; then
  for suite in "${SUITES[@]}"; do
    PKG=$(papt "$suite" apt-cache depends linux-image-amd64 2>/dev/null |
      awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }')
    if [ -n "$PKG" ]; then SUITE=$suite; VERSION=$(candidate "$suite" "$PKG"); break; fi
  done
  [ -n "$PKG" ] || die "no linux-image-amd64 metapackage in ${SUITES[*]}"
else
  for suite in "${SUITES[@]}"; do
    while read -r name; do
      v=$(candidate "$suite" "$name")
      [ -n "$v" ] || continue
      if [ -z "$VERSION" ] || dpkg --compare-versions "$v" gt "$VERSION"; then
        PKG=$name VERSION=$v SUITE=$suite
      fi
    done < <(papt "$suite" apt-cache pkgnames linux-image- 2>/dev/null | grep -E -- "$PATTERN" || true)
  done
  [ -n "$PKG" ] || die "no package matching /$PATTERN/ in ${SUITES[*]}"
fi
[ -n "$VERSION" ] || die "$PKG has no downloadable version in $SUITE"

# The packages to unpack: the image, plus the linux-binary-*/linux-modules-*
# packages newer kernels split it into.
PKGS=("$PKG")
while read -r dep; do PKGS+=("$dep"); done < <(
  papt "$SUITE" apt-cache depends "$PKG=$VERSION" 2>/dev/null |
    awk '$1 == "Depends:" && $2 ~ /^linux-(binary|modules)-[0-9]/ { print $2 }' | sort -u)

cached_deb() { # cached_deb PKG VERSION: the downloaded .deb of that version; nothing (and success) if none
  local f
  for f in "$CACHE/debs/$1_"*.deb; do
    [ -f "$f" ] && [ "$(dpkg-deb -f "$f" Package Version 2>/dev/null | tr '\n' ' ')" = "Package: $1 Version: $2 " ] &&
      { echo "$f"; return 0; }
  done
  return 0
}

TREE="$CACHE/trees/${PKG}_${VERSION//[:~]/_}"
if [ ! -f "$TREE/.complete" ]; then
  rm -rf "$TREE" "$TREE.tmp"
  mkdir -p "$TREE.tmp"
  TEMPS+=("$TREE.tmp")
  for p in "${PKGS[@]}"; do
    v=$(candidate "$SUITE" "$p")
    [ -n "$v" ] || die "$p (needed by $PKG) has no downloadable version in $SUITE"
    deb=$(cached_deb "$p" "$v")
    if [ -z "$deb" ]; then
      log "downloading $p $v ($SUITE)"
      tmp=$(mktemp -d "$CACHE/debs/.dl.XXXXXX")
      TEMPS+=("$tmp" "$tmp.log")
      if ! (cd "$tmp" && papt "$SUITE" apt-get download -qq "$p=$v") >"$tmp.log" 2>&1; then
        cat "$tmp.log" >&2
        die "apt-get download $p=$v failed: $(apt_error <"$tmp.log")"
      fi
      rm -f "$tmp.log"
      ls "$tmp"/*.deb >/dev/null 2>&1 || die "apt-get download $p=$v succeeded but left no .deb"
      mv "$tmp"/*.deb "$CACHE/debs/"
      rm -rf "$tmp"
      deb=$(cached_deb "$p" "$v")
      [ -n "$deb" ] || die "apt-get download $p=$v gave no package of that version"
    fi
    log "unpacking $(basename "$deb")"
    dpkg-deb -x "$deb" "$TREE.tmp" || die "dpkg-deb -x $deb failed (a damaged download? remove it and run again)"
  done
  touch "$TREE.tmp/.complete"
  mv "$TREE.tmp" "$TREE"
fi

VMLINUZ=$(ls "$TREE"/boot/vmlinuz-* 2>/dev/null | head -n1 || true)
[ -n "$VMLINUZ" ] || die "no /boot/vmlinuz-* in ${PKGS[*]}"
KVER=${VMLINUZ##*/vmlinuz-}
MODDIR=""
for d in "$TREE/lib/modules/$KVER" "$TREE/usr/lib/modules/$KVER"; do
  [ -d "$d" ] && { MODDIR=$d; break; }
done
[ -n "$MODDIR" ] || die "no lib/modules/$KVER in ${PKGS[*]}"

printf 'KERNEL_PKG=%q\nKERNEL_VERSION=%q\nKERNEL_SUITE=%q\nKVER=%q\nVMLINUZ=%q\nMODDIR=%q\n' \
  "$PKG" "$VERSION" "$SUITE" "$KVER" "$VMLINUZ" "$MODDIR"
