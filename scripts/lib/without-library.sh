#!/usr/bin/env bash
# scripts/lib/without-library.sh SONAME CMD...: runs CMD as on a machine where
# the shared library SONAME (e.g. libbpf.so.1) is not installed. In a private
# mount namespace, an overlay on the library's directory whites out the soname
# and the file it names, so the dynamic loader finds neither. Needs root; the
# rest of the machine keeps its view.
set -euo pipefail
if [ -z "${WITHOUT_LIBRARY_NS:-}" ]; then
  exec env WITHOUT_LIBRARY_NS=1 unshare --mount --propagation private "$0" "$@"
fi
unset WITHOUT_LIBRARY_NS
soname=$1
shift
# awk reads to the end: exiting at the match could kill ldconfig with SIGPIPE, failing the pipeline.
path=$(PATH="$PATH:/sbin:/usr/sbin" ldconfig -p | awk -v soname="$soname" '$1 == soname && !found { print $NF; found = 1 }')
[ -n "$path" ] || { echo "without-library.sh: $soname is not installed to begin with" >&2; exit 1; }
file=$(readlink -f "$path")
libdir=$(dirname "$file")

scratch=$(mktemp -d "${TMPDIR:-/tmp}/dropwhy-without-library.XXXXXX")
cleanup() { umount "$libdir" 2>/dev/null || true; umount "$scratch" 2>/dev/null || true; rmdir "$scratch"; }
trap cleanup EXIT
mount -t tmpfs tmpfs "$scratch"
mkdir "$scratch/upper" "$scratch/work"
for name in "$soname" "$(basename "$file")"; do mknod "$scratch/upper/$name" c 0 0; done # overlayfs whiteouts
mount -t overlay overlay -o "lowerdir=$libdir,upperdir=$scratch/upper,workdir=$scratch/work" "$libdir"
"$@"
