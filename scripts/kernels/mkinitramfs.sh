#!/usr/bin/env bash
# Builds a tiny initramfs for booting a kernel under qemu with the host's root
# shared over 9p: a static busybox, the kernel modules the guest needs (with
# their dependencies, decompressed), an /init script and its configuration.
#
#   scripts/kernels/mkinitramfs.sh MODDIR INIT CONFIG OUT [MODULE...]
#
# MODDIR  the kernel's unpacked lib/modules/KVER directory
# INIT    the script to install as /init (busybox sh)
# CONFIG  a file installed as /config (sourced by /init)
# OUT     the initramfs to write (gzip-compressed newc cpio)
# MODULE  modules to load (default: virtio_pci 9pnet_virtio 9p); a module the
#         kernel has built in (modules.builtin) is skipped, one it has neither
#         built in nor as a file is an error, unless named "?MODULE" (then
#         loaded only where it is a file). "none": no modules (MODDIR is
#         then not read).
# The modules are listed, in load order, in /modules/order.
set -euo pipefail

die() { echo "mkinitramfs.sh: $*" >&2; exit 1; }
[ $# -ge 4 ] || die "usage: mkinitramfs.sh MODDIR INIT CONFIG OUT [MODULE...]"
MODDIR=$1 INIT=$2 CONFIG=$3 OUT=$4
shift 4
WANTED=("$@")
[ ${#WANTED[@]} -gt 0 ] || WANTED=(virtio_pci 9pnet_virtio 9p)

BUSYBOX=${DROPWHY_BUSYBOX:-/bin/busybox}
[ -x "$BUSYBOX" ] || die "$BUSYBOX is missing (scripts/kernels/setup.sh installs busybox-static)"
if ldd "$BUSYBOX" >/dev/null 2>&1; then die "$BUSYBOX is dynamically linked: install busybox-static"; fi
NO_MODULES=0
[ "${WANTED[*]}" = none ] && NO_MODULES=1
[ $NO_MODULES = 1 ] || [ -d "$MODDIR" ] || die "no module directory $MODDIR"

STAGE=$(mktemp -d "${TMPDIR:-/tmp}/dropwhy-initramfs.XXXXXX")
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE"/{bin,dev,proc,sys,tmp,host,modules}
cp "$BUSYBOX" "$STAGE/bin/busybox"
ln -s busybox "$STAGE/bin/sh"
install -m 0755 "$INIT" "$STAGE/init"
install -m 0644 "$CONFIG" "$STAGE/config"

declare -A FILE=() BUILTIN=() DONE=()
# Module names: dashes and underscores are the same.
index_modules() { # FILE[name] = its file in the tree; BUILTIN[name] = 1 when built in
  local f b
  while IFS= read -r f; do
    b=${f##*/} && b=${b%%.ko*}
    FILE[${b//-/_}]=$f
  done < <(find "$MODDIR" -name '*.ko' -o -name '*.ko.xz' -o -name '*.ko.zst' -o -name '*.ko.gz')
  [ -f "$MODDIR/modules.builtin" ] || return 0
  while IFS= read -r f; do
    b=${f##*/} && b=${b%.ko}
    BUILTIN[${b//-/_}]=1
  done <"$MODDIR/modules.builtin"
}

decompress() { # decompress SRC DST
  case "$1" in
    *.ko.xz) xz -dc "$1" >"$2" ;;
    *.ko.zst) zstd -qdc "$1" >"$2" ;;
    *.ko.gz) gzip -dc "$1" >"$2" ;;
    *) cp "$1" "$2" ;;
  esac
}

# Depth first, so a module's dependencies (modinfo "depends=") load before it.
add_module() {
  local name=${1//-/_} dst info deps dep
  [ -z "${DONE[$name]:-}" ] || return 0
  DONE[$name]=1
  if [ -z "${FILE[$name]:-}" ]; then
    [ -n "${BUILTIN[$name]:-}" ] && return 0
    die "module $name is neither built into this kernel nor in $MODDIR"
  fi
  dst="$STAGE/modules/$name.ko"
  decompress "${FILE[$name]}" "$dst" || die "cannot decompress ${FILE[$name]}"
  info=$(tr '\0' '\n' <"$dst" | grep -a -E '^(depends|softdep)=' || true)
  deps=$(sed -n 's/^depends=//p' <<<"$info" | head -n1)
  for dep in ${deps//,/ }; do add_module "$dep"; done
  # Soft dependencies ("softdep=pre: crc32c") name a module or an alias; load
  # the ones found by name (or as NAME_generic, the crypto drivers' naming).
  for dep in $(sed -n 's/^softdep=.*pre: *\([^:]*\)\( post:.*\)\{0,1\}$/\1/p' <<<"$info"); do
    dep=${dep//-/_}
    if [ -n "${FILE[$dep]:-}" ]; then add_module "$dep"; elif [ -n "${FILE[${dep}_generic]:-}" ]; then add_module "${dep}_generic"; fi
  done
  echo "$name.ko" >>"$STAGE/modules/order"
}

: >"$STAGE/modules/order"
if [ $NO_MODULES = 0 ]; then
  index_modules
  for m in "${WANTED[@]}"; do
    # "?NAME": only where NAME is a file of its own (nft_counter before 5.17; later it is part of nf_tables)
    if [[ $m == \?* ]]; then
      m=${m#\?}
      [ -n "${FILE[${m//-/_}]:-}" ] || continue
    fi
    add_module "$m"
  done
fi

mkdir -p "$(dirname "$OUT")"
(cd "$STAGE" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$OUT.tmp"
mv "$OUT.tmp" "$OUT"
