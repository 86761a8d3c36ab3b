#!/usr/bin/env bash
# Checks the Prometheus files in deploy/prometheus/ with promtool (Debian's
# prometheus package, installed when missing): the alert rules parse and pass
# their unit tests (every *.test.yml), and the scrape config example is a valid configuration.
# Used by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=deploy/prometheus

# shellcheck source=lib/packages.sh
. scripts/lib/packages.sh
if ! command -v promtool >/dev/null; then
  install_missing check-deploy.sh prometheus
  # The package brings the server along, and may have started it: promtool is all that is wanted.
  if [ -d /run/systemd/system ]; then
    systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  elif [ -x /etc/init.d/prometheus ]; then
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
    update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
fi

promtool check rules "$DIR/dropwhy-alerts.yml"
promtool test rules "$DIR"/*.test.yml

# Debian builds Prometheus without Kubernetes service discovery, so its
# promtool rejects kubernetes_sd_configs. Then the rest of the file (its
# relabelling, its rule file) is checked with file_sd_configs in that place.
if ! output=$(promtool check config "$DIR/prometheus.yml" 2>&1); then
  if ! grep -q 'field kubernetes_sd_configs not found' <<<"$output"; then
    printf '%s\n' "$output" >&2
    exit 1
  fi
  echo "check-deploy.sh: this promtool has no Kubernetes service discovery; checking prometheus.yml with file_sd_configs in its place" >&2
  work=$(mktemp -d "${TMPDIR:-/tmp}/dropwhy-check-deploy.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  cp "$DIR/dropwhy-alerts.yml" "$work/"
  echo '[]' >"$work/pods.json"
  awk '
    /^    kubernetes_sd_configs:/ { print "    file_sd_configs:"; print "      - files: [pods.json]"; skipping = 1; replaced++; next }
    skipping && /^    [a-z_]+:/ { skipping = 0 }
    !skipping { print }
    END { if (replaced != 1) exit 1 }
  ' "$DIR/prometheus.yml" >"$work/prometheus.yml"
  output=$(promtool check config "$work/prometheus.yml" 2>&1) || { printf '%s\n' "$output" >&2; exit 1; }
fi
printf '%s\n' "$output"
