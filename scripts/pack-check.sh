#!/usr/bin/env bash
# npm run pack:check: dropwhy as a user installs it. Packs (prepack builds dist/
# and prebuilds/), checks the tarball holds what runs and nothing else, installs
# it globally into a temporary prefix with --ignore-scripts (nothing may compile
# at install), then runs the installed CLI: --version, --help, doctor, selftest, exporter;
# every command again with libbpf.so.1 and libelf.so.1 hidden (one line naming
# the package, exit 3; explain still works); npx from the tarball; the
# installed CLI under Node 24; and last the build from source in the installed
# package, as on a machine no prebuild fits. Needs root (selftest, the hidden libraries) and
# the npm registry (dependencies, Node 24). Cleans up after itself.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/dropwhy-pack-check.XXXXXX")
trap 'rm -rf "$work"' EXIT
# npm's cache for this check alone: nothing from earlier installs is reused or left behind.
export npm_config_cache="$work/npm-cache" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false

step() { printf -- '--- pack-check: %s\n' "$*"; }
fail() {
  echo "pack-check: FAIL: $*" >&2
  exit 1
}
# expect CODE CMD...: runs CMD, fails unless it exits CODE; leaves its output in $out and $err.
expect() {
  local want=$1 rc=0
  shift
  timeout 120 "$@" >"$work/stdout" 2>"$work/stderr" || rc=$?
  out=$(<"$work/stdout")
  err=$(<"$work/stderr")
  [ "$rc" = "$want" ] || fail "$* exited $rc, expected $want
stdout: $out
stderr: $err"
}
has_line() { grep -qxF -- "$2" <<<"$1" || fail "expected the line '$2' in:
$1"; }

version=$(node -p 'require("./package.json").version')

step "npm pack (prepack: npm run build, npm run prebuilds)"
npm pack --pack-destination "$work" >"$work/pack.log" 2>&1 || { cat "$work/pack.log" >&2; fail "npm pack failed"; }
tarball=$work/dropwhy-$version.tgz
[ -f "$tarball" ] || fail "npm pack made no $tarball"
echo "$(du -k "$tarball" | cut -f1) KiB, $(tar -tzf "$tarball" | wc -l) files"
# Only what runs, builds the addon from source, or documents it.
unexpected=$(tar -tzf "$tarball" | grep -Ev '^package/(package\.json|README\.md|LICENSE|bin/dropwhy\.js|dropwhy\.1|dist/src/.+\.js|prebuilds/linux-x64/dropwhy\.node|native/.+|bpf/.+|docs/.+\.md|scripts/install-addon\.js)$' || true)
[ -z "$unexpected" ] || fail "the tarball holds files that do not belong to the package:
$unexpected"
for file in bin/dropwhy.js dropwhy.1 dist/src/cli.js prebuilds/linux-x64/dropwhy.node scripts/install-addon.js native/CMakeLists.txt bpf/vmlinux.h; do
  tar -tzf "$tarball" "package/$file" >/dev/null 2>&1 || fail "the tarball lacks $file"
done

step "npm install -g --prefix TMP --ignore-scripts"
prefix=$work/prefix
npm install -g --prefix "$prefix" --ignore-scripts "$tarball" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; fail "npm install failed"; }
installed=$prefix/lib/node_modules/dropwhy
dropwhy=$prefix/bin/dropwhy
[ ! -e "$installed/build" ] || fail "the install built something: $installed/build exists"
[ -e "$prefix/share/man/man1/dropwhy.1" ] || fail "the man page was not installed in $prefix/share/man/man1"

# check_installed: what a user runs first, on the installed CLI with whichever node is on PATH.
check_installed() {
  expect 0 "$dropwhy" --version
  [ "$out" = "$version" ] || fail "--version printed '$out', expected $version"
  expect 0 "$dropwhy" --help
  has_line "$out" 'dropwhy [command] [options] [EXPRESSION] [-- COMMAND ARGS...]'
  expect 0 "$dropwhy" doctor
  has_line "$out" "ok       native addon  $installed/prebuilds/linux-x64/dropwhy.node"
  has_line "$out" 'dropwhy can run here.'
  expect 0 "$dropwhy" selftest
  has_line "$out" 'selftest: PASS'
  check_exporter
}
# check_exporter: the installed exporter serves its metrics (prom-client came with the package).
check_exporter() {
  local pid url body rc=0
  "$dropwhy" exporter --listen 127.0.0.1:0 --duration 4 2>"$work/exporter.err" &
  pid=$!
  for _ in $(seq 50); do
    url=$(grep -o 'http://[^ ]*/metrics' "$work/exporter.err" || true)
    [ -n "$url" ] && break
    sleep 0.1
  done
  [ -n "$url" ] || { kill "$pid" 2>/dev/null; fail "the installed exporter printed no URL: $(<"$work/exporter.err")"; }
  body=$(node -e 'fetch(process.argv[1]).then((r) => r.text()).then((t) => process.stdout.write(t))' "$url") ||
    { kill "$pid" 2>/dev/null; fail "scraping $url failed"; }
  wait "$pid" || rc=$?
  [ "$rc" = 0 ] || fail "the installed exporter exited $rc: $(<"$work/exporter.err")"
  grep -q "^dropwhy_build_info{version=\"$version\"," <<<"$body" || fail "no dropwhy_build_info for $version in: $body"
}
step "the installed dropwhy: --version, --help, doctor, selftest, exporter"
check_installed

declare -A fix=(
  [libbpf.so.1]='install libbpf1 (Debian/Ubuntu) or libbpf (Fedora/RHEL)'
  [libelf.so.1]='install libelf1 (Debian/Ubuntu) or elfutils-libelf (Fedora/RHEL)'
  [libpcap.so.0.8]='install libpcap0.8 (Debian/Ubuntu) or libpcap (Fedora/RHEL)'
)
for lib in libbpf.so.1 libelf.so.1 libpcap.so.0.8; do
  step "the installed dropwhy without $lib: one line, exit 3, from every command"
  line="dropwhy: the native addon needs $lib, which is not installed: ${fix[$lib]}"
  for args in '--duration 5' 'summary --duration 5' 'exporter --duration 5' 'selftest'; do
    # shellcheck disable=SC2086 # args is split on purpose
    expect 3 scripts/lib/without-library.sh "$lib" "$dropwhy" $args
    [ "$err" = "$line" ] || fail "dropwhy $args without $lib: stderr was '$err', expected '$line'"
    [ -z "$out" ] || fail "dropwhy $args without $lib printed '$out'"
  done
  expect 3 scripts/lib/without-library.sh "$lib" "$dropwhy" doctor
  has_line "$out" "MISSING  libraries     the native addon needs $lib, which is not installed"
  has_line "$out" "                       → ${fix[$lib]}"
  expect 0 scripts/lib/without-library.sh "$lib" "$dropwhy" explain NO_SOCKET
  grep -q '^NO_SOCKET: ' <<<"$out" || fail "explain without $lib printed: $out"
done

step "npx from the tarball (install scripts run: the prebuild loads, nothing is built)"
expect 0 npx --yes --package "$tarball" -- dropwhy --version
[ "$out" = "$version" ] || fail "npx dropwhy --version printed '$out'"
expect 0 npx --yes --package "$tarball" -- dropwhy doctor
has_line "$out" 'dropwhy can run here.'
grep -q '/prebuilds/linux-x64/dropwhy.node$' <<<"$out" || fail "npx dropwhy doctor did not load the prebuild: $out"

step "the installed dropwhy under Node 24"
node24=$(scripts/with-node.sh 24 sh -c 'dirname "$(command -v node)"')
echo "Node.js $("$node24/node" --version)"
PATH="$node24:$PATH" check_installed

# Last: they change the installed copy. The build from source (it needs clang,
# libbpf-dev, bpftool, cmake), first asked for, then on its own where no
# prebuild fits (the prebuild removed, as on another architecture).
rebuild() {
  npm rebuild -g --prefix "$prefix" --allow-scripts=dropwhy dropwhy >"$work/rebuild.log" 2>&1 ||
    { cat "$work/rebuild.log" >&2; fail "npm rebuild failed"; }
  [ -f "$installed/build/native/Release/dropwhy.node" ] || fail "npm rebuild built no addon: $(cat "$work/rebuild.log")"
  expect 0 "$dropwhy" doctor
  has_line "$out" "ok       native addon  $installed/build/native/Release/dropwhy.node"
}
step "build from source when asked: DROPWHY_BUILD_FROM_SOURCE=1 npm rebuild -g dropwhy"
DROPWHY_BUILD_FROM_SOURCE=1 rebuild
step "build from source when no prebuild fits: npm rebuild -g dropwhy without prebuilds/"
rm -rf "$installed/build" "$installed/prebuilds"
expect 3 "$dropwhy" doctor
grep -qF -- '→ build it from source with DROPWHY_BUILD_FROM_SOURCE=1 npm rebuild dropwhy' <<<"$out" || fail "doctor without an addon: $out"
rebuild
expect 0 "$dropwhy" selftest
has_line "$out" 'selftest: PASS'

step "PASS"
