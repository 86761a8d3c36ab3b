#!/usr/bin/env bash
# npm run test:vagrant: the project's Vagrantfile for real, on a host with
# neither KVM nor Vagrant Cloud. Not part of .ci/run (about 20 minutes under
# TCG): run it whenever the Vagrantfile, scripts/setup.sh or the install
# scripts change.
#
#   1. host packages (Debian's vagrant, vagrant-libvirt, libvirt, qemu,
#      debootstrap), when missing (as root)
#   2. the box: built from Debian's archive by build-box.sh (as root) unless
#      the cache has one built by the same recipe
#   3. vagrant up --provider=libvirt in a copy of the checkout: the
#      Vagrantfile's own provisioner (scripts/setup.sh, then doctor)
#   4. in the VM: selftest, then one kernel-facing e2e file with CI=true
#   5. vagrant destroy; nothing of the run is left behind (a trap does it on
#      any exit): no domain, volume, libvirt daemon, process, file or user
#
# libvirt runs in session mode (qemu:///session) as an unprivileged user:
# invoked as root, the script drops to DROPWHY_VAGRANT_USER (created for the
# run when missing, and removed after it). Vagrant and libvirt get a HOME of
# the run's own either way, so no Vagrant or libvirt state of the user's is
# touched. The host's network state (nft and iptables rules, links, IP
# forwarding) is compared before and after: a difference fails the run.
# Prints each step's time, then PASS or FAIL.
#
# Environment:
#   DROPWHY_VAGRANT_CACHE  where the box is kept
#                          (default ${XDG_CACHE_HOME:-$HOME/.cache}/dropwhy-vagrant);
#                          the last run's whole output is kept there as last-run.log
#   DROPWHY_VAGRANT_USER   the user libvirt runs as when invoked as root
#                          (default dropwhy-vagrant)
#   DROPWHY_VAGRANT_E2E    the e2e file to run in the VM (default udp-closed-port)
#   DROPWHY_DEBIAN_MIRROR  the mirror the box is built from (build-box.sh)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)
HERE="$ROOT/scripts/vagrant"
CACHE="${DROPWHY_VAGRANT_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/dropwhy-vagrant}"
RUN_USER="${DROPWHY_VAGRANT_USER:-dropwhy-vagrant}"
E2E="${DROPWHY_VAGRANT_E2E:-udp-closed-port}"
# The e2e tests' bounds on waits, stretched as in the kernel matrix's guests, which
# run under TCG too (TIMEOUT_SCALE in test/kernels/guest.js says why).
E2E_TIMEOUT_SCALE=5
BOX_NAME=local/trixie-tcg
HOST_PACKAGES=(vagrant vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86
  qemu-utils debootstrap debian-archive-keyring fdisk e2fsprogs rsync openssh-client)
T0=$SECONDS

say() { echo "test:vagrant: $*" >&2; }
die() { say "$*"; exit 2; }
[ "${1:-}" = -h ] || [ "${1:-}" = --help ] && { sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0; }
[ $# -eq 0 ] || die "no arguments expected (see --help)"
IS_ROOT=0
[ "$(id -u)" -eq 0 ] && IS_ROOT=1

mkdir -p "$CACHE" || die "cannot create the cache $CACHE"
# The whole output, each line with the seconds since the start, also in the cache.
# Of a progress bar (redrawn after ESC [K) only its last state.
exec > >(while IFS= read -r line; do printf '[%4ds] %s\n' $((SECONDS - T0)) "${line##*$'\e[K'}"; done | tee "$CACHE/last-run.log") 2>&1
STAMP_PID=$!

# ---- the host's network state, before --------------------------------------
# What a VM could change on a host: rules (NAT), links (bridges, taps),
# forwarding. Counters are left out: they move with any traffic.
network_state() {
  echo "links:"
  ip -o link show | awk -F': ' '{ sub(/@.*/, "", $2); print "  " $2 }' | sort
  echo "ip_forward: $(cat /proc/sys/net/ipv4/ip_forward) ipv6 forwarding: $(cat /proc/sys/net/ipv6/conf/all/forwarding)"
  echo "nft ruleset:"
  nft list ruleset 2>&1 | sed -E 's/counter packets [0-9]+ bytes [0-9]+/counter/'
  local save
  for save in iptables-legacy-save ip6tables-legacy-save; do
    command -v "$save" >/dev/null && { echo "$save:"; "$save" 2>&1 | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]//'; }
  done
}
NETWORK_BEFORE=$(network_state)

# ---- cleanup -----------------------------------------------------------------------
WORK=""
CREATED_USER=0
RUN_ENV=()
STEP_TIMES=()
# as_user COMMAND...: as the unprivileged user, in the copy of the checkout, with the run's environment.
as_user() {
  if [ $IS_ROOT = 1 ]; then
    (cd "$WORK/dropwhy" && setpriv --reuid="$RUN_USER" --regid="$RUN_USER" --init-groups -- env -i "${RUN_ENV[@]}" "$@")
  else
    (cd "$WORK/dropwhy" && env -i "${RUN_ENV[@]}" "$@")
  fi
}
purge() {
  [ -n "$WORK" ] && [ -d "$WORK" ] || return 0
  if [ -f "$WORK/dropwhy/.vagrant/machines/default/libvirt/id" ]; then
    say "cleanup: vagrant destroy"
    as_user timeout -k 10 600 vagrant destroy -f --no-color >/dev/null 2>&1
  fi
  # Whatever is left in the run's own libvirt session: domains, then volumes and pools.
  if [ -S "$WORK/run/libvirt/libvirt-sock" ] || [ -S "$WORK/run/libvirt/virtqemud-sock" ]; then
    local d p v
    for d in $(as_user virsh -q -c qemu:///session list --all --name 2>/dev/null); do
      say "cleanup: removing domain $d"
      as_user virsh -q -c qemu:///session destroy "$d" >/dev/null 2>&1
      as_user virsh -q -c qemu:///session undefine "$d" --nvram >/dev/null 2>&1
    done
    for p in $(as_user virsh -q -c qemu:///session pool-list --all --name 2>/dev/null); do
      for v in $(as_user virsh -q -c qemu:///session vol-list "$p" 2>/dev/null | awk '{ print $1 }'); do
        as_user virsh -q -c qemu:///session vol-delete "$v" --pool "$p" >/dev/null 2>&1
      done
      as_user virsh -q -c qemu:///session pool-destroy "$p" >/dev/null 2>&1
      as_user virsh -q -c qemu:///session pool-undefine "$p" >/dev/null 2>&1
    done
  fi
  # The session daemon libvirt started for this run, and anything else still
  # running from the run's directory (a qemu whose domain could not be destroyed).
  local pidfile pid pids=()
  for pidfile in "$WORK"/run/libvirt/*.pid; do
    [ -f "$pidfile" ] && pid=$(cat "$pidfile") && [ -n "$pid" ] && pids+=("$pid")
  done
  for pid in $(pgrep -f "$WORK/"); do
    say "cleanup: ending process $pid ($(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | cut -c1-80))"
    pids+=("$pid")
  done
  end_processes "${pids[@]}"
  rm -rf "$WORK"
}
# end_processes PID...: SIGTERM, then up to 10 s for them to exit, then SIGKILL.
end_processes() {
  [ $# -gt 0 ] || return 0
  local pid alive=0
  kill "$@" 2>/dev/null
  for _ in $(seq 20); do
    alive=0
    for pid; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ $alive = 0 ] && return 0
    sleep 0.5
  done
  kill -KILL "$@" 2>/dev/null
}
# The user this run created, after whatever still runs as it (all of it the run's).
remove_run_user() {
  [ $CREATED_USER = 1 ] || return 0
  local pids
  pids=$(pgrep -u "$RUN_USER")
  if [ -n "$pids" ]; then
    say "cleanup: ending what still runs as $RUN_USER: $(echo $pids)"
    # shellcheck disable=SC2086 # one pid a word
    end_processes $pids
  fi
  userdel "$RUN_USER" || say "cleanup: could not remove the user $RUN_USER"
}
finish() {
  local rc=$?
  trap - EXIT
  purge
  remove_run_user
  local after
  after=$(network_state)
  if [ "$after" != "$NETWORK_BEFORE" ]; then
    say "the host's network state changed during the run:"
    diff <(echo "$NETWORK_BEFORE") <(echo "$after") >&2
    [ $rc -eq 0 ] && rc=1
  else
    say "the host's network state is as it was (links, forwarding, rules)"
  fi
  say "step times:"
  local t
  for t in "${STEP_TIMES[@]}"; do say "  $t"; done
  say "total $((SECONDS - T0)) s"
  if [ $rc -eq 0 ]; then say "PASS"; else say "FAIL (exit $rc; the whole output: $CACHE/last-run.log)"; fi
  exec >&- 2>&-
  wait "$STAMP_PID" 2>/dev/null
  exit $rc
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# step NAME COMMAND...: runs it, records its time; a failure ends the run.
step() {
  local name=$1 start=$SECONDS
  shift
  say "--- $name"
  "$@"
  local rc=$?
  STEP_TIMES+=("$(printf '%-44s %5d s%s' "$name" $((SECONDS - start)) "$([ $rc -eq 0 ] || echo " (failed, exit $rc)")")")
  [ $rc -eq 0 ] || { say "$name failed (exit $rc)"; exit 1; }
}

# ---- 1. host packages, the user -----------------------------------------------
# shellcheck source=../lib/packages.sh
. "$ROOT/scripts/lib/packages.sh"
step "host packages" install_missing test:vagrant "${HOST_PACKAGES[@]}"
if [ $IS_ROOT = 1 ]; then
  if ! id -u "$RUN_USER" >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER" ||
      die "could not create the user $RUN_USER"
    CREATED_USER=1
  fi
else
  RUN_USER=$(id -un)
fi

# ---- 2. the box --------------------------------------------------------------------
# The cache keeps one box per recipe: a changed build-box.sh or box.Vagrantfile builds anew.
RECIPE=$(cat "$HERE/build-box.sh" "$HERE/box.Vagrantfile" | sha256sum | cut -c1-12)
BOX="$CACHE/trixie-tcg-$RECIPE.box"
build_box() {
  [ $IS_ROOT = 1 ] || die "the box is not in the cache ($BOX) and building it needs root: sudo $HERE/build-box.sh $BOX"
  "$HERE/build-box.sh" "$BOX" || return 1
  find "$CACHE" -maxdepth 1 -name 'trixie-tcg-*.box' ! -name "${BOX##*/}" -delete
}
if [ -f "$BOX" ]; then
  say "the box is cached: $BOX"
else
  step "box: build from Debian's archive" build_box
fi

# ---- the run's own directory, HOME and environment ------------------------------
# It is the run's HOME too, and short: libvirt makes unix sockets (107 bytes at
# most) under HOME, e.g. .config/libvirt/qemu/channel/target/domain-1-dropwhy_default/org.qemu.guest_agent.0.
WORK=$(mktemp -d /tmp/dwv.XXXXXX) || die "mktemp failed"
mkdir -p "$WORK/run" "$WORK/tmp" "$WORK/dropwhy"
chmod 0700 "$WORK/run"
# The checkout as a user has it, less what the Vagrantfile leaves out anyway.
EXCLUDES=(--exclude=./.git --exclude=./node_modules --exclude=./dist --exclude=./build --exclude=./.vagrant
  --exclude=./coverage --exclude=./prebuilds)
CACHE_REAL=$(realpath -m "$CACHE")
case "$CACHE_REAL/" in "$ROOT"/?*) EXCLUDES+=("--exclude=./${CACHE_REAL#"$ROOT"/}") ;; esac
tar -C "$ROOT" -c "${EXCLUDES[@]}" . | tar -x -C "$WORK/dropwhy" ||
  die "copying the checkout failed"
[ $IS_ROOT = 1 ] && chown -R "$RUN_USER:" "$WORK"
# Readable by the user wherever the cache is (root's is in /root).
ln "$BOX" "$WORK/box" 2>/dev/null || cp "$BOX" "$WORK/box" || die "copying the box failed"
chmod 0644 "$WORK/box"
SSH_PORT=$(node -e 'const s = require("node:net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })') ||
  die "could not find a free port"
RUN_ENV=(HOME="$WORK" XDG_RUNTIME_DIR="$WORK/run" TMPDIR="$WORK/tmp" LANG=C.UTF-8
  PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
  VAGRANT_CHECKPOINT_DISABLE=1 VAGRANT_DEFAULT_PROVIDER=libvirt
  DROPWHY_BOX="$BOX_NAME" DROPWHY_VAGRANT_SSH_PORT="$SSH_PORT")
say "running vagrant and libvirt as $RUN_USER in $WORK (ssh on 127.0.0.1:$SSH_PORT)"

# ---- 3. vagrant up: boot and the Vagrantfile's provisioner ------------------------
step "vagrant box add" as_user vagrant box add --no-color --name "$BOX_NAME" "$WORK/box"
rm -f "$WORK/box"
step "vagrant up (boot, setup.sh, doctor)" as_user timeout -k 30 5400 vagrant up --no-color --provider=libvirt

# ---- 4. in the VM ----------------------------------------------------------------
step "in the VM: selftest" as_user timeout -k 30 900 vagrant ssh -c 'cd dropwhy && sudo ./bin/dropwhy.js selftest'
in_vm_e2e() {
  as_user timeout -k 30 1800 vagrant ssh -c "cd dropwhy && sudo CI=true DROPWHY_E2E_TIMEOUT_SCALE=$E2E_TIMEOUT_SCALE node --test --test-reporter=tap dist/test/e2e/$E2E.test.js" 2>&1 |
    tee "$WORK/e2e.out" || return 1
  # A run that tested nothing is no pass.
  grep -Eq '^# pass [1-9]' "$WORK/e2e.out" || { say "no test passed in $E2E"; return 1; }
}
step "in the VM: e2e $E2E" in_vm_e2e

# ---- 5. vagrant destroy ---------------------------------------------------------------
step "vagrant destroy" as_user timeout -k 30 600 vagrant destroy -f --no-color
