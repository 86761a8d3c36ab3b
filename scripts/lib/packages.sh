# Sourced by scripts/setup.sh, scripts/kernels/setup.sh and .ci/run.
#
#   install_missing WHO PKG...
#
# Installs the Debian packages of PKG... that are not installed yet (nothing
# when all are). Refreshes the package lists first, since a fresh machine may
# have none; waits for apt's locks and retries, since another job may hold
# them. WHO names the caller in its messages. Returns 3 when it would need root.

install_missing() {
  local who=$1 pkg try missing=()
  shift
  for pkg; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "$who: missing ${missing[*]}; run it as root (it installs them with apt-get)" >&2
    return 3
  fi
  echo "$who: installing ${missing[*]}" >&2
  for try in 1 2 3; do
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update -qq &&
      DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends \
        "${missing[@]}" >/dev/null &&
      return 0
    sleep $((try * 5))
  done
  echo "$who: apt-get could not install ${missing[*]}" >&2
  return 1
}
