#!/usr/bin/env bash
# scripts/with-node.sh MAJOR CMD...: runs CMD with Node.js MAJOR (e.g. 24) first on PATH.
# The official binaries come from the npm registry, as its node-linux-<arch>
# package (npm pack: no other download), unpacked once into a cache under
# $TMPDIR (DROPWHY_NODE_CACHE overrides; delete it to pick up a newer release).
# A fresh machine, with empty caches and HOME, fetches it on first use.
set -euo pipefail

major=${1:-}
case "$major" in
  '' | *[!0-9]*)
    echo "with-node.sh: expected a Node.js major version such as 24, then the command; got '${major}'" >&2
    exit 2
    ;;
esac
shift
[ $# -gt 0 ] || { echo "with-node.sh: no command to run with Node.js $major" >&2; exit 2; }
case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64) arch=arm64 ;;
  *) echo "with-node.sh: no official Node.js binary package for $(uname -m)" >&2; exit 3 ;;
esac

cache=${DROPWHY_NODE_CACHE:-${TMPDIR:-/tmp}/dropwhy-node-cache}
dir=$cache/node-$major-linux-$arch
if [ ! -x "$dir/bin/node" ]; then
  mkdir -p "$cache"
  fetch=$(mktemp -d "$cache/.fetch.XXXXXX")
  trap 'rm -rf "$fetch"' EXIT
  # Its own npm cache: the ~30 MB tarball is not kept twice.
  (cd "$fetch" && npm pack --silent --cache "$fetch/npm-cache" "node-linux-$arch@$major" >/dev/null)
  tar -xzf "$fetch"/node-linux-"$arch"-*.tgz -C "$fetch"
  version=$("$fetch/package/bin/node" --version)
  case "$version" in
    "v$major".*) ;;
    *) echo "with-node.sh: node-linux-$arch@$major holds Node.js $version" >&2; exit 1 ;;
  esac
  # A concurrent run may have won: its copy is as good as this one.
  mv -T "$fetch/package" "$dir" 2>/dev/null || [ -x "$dir/bin/node" ]
  rm -rf "$fetch"
  trap - EXIT
  echo "with-node.sh: Node.js $version in $dir" >&2
fi
PATH="$dir/bin:$PATH" exec "$@"
