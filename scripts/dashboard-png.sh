#!/usr/bin/env bash
# `make dashboard-png`: docs/dashboard.png from a live daemon (bench/dashboard-snapshot.ts). Needs
# Debian's chromium (installed on first use) and Prometheus (its package is only downloaded and
# unpacked into build/tools: no service is installed or started).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-180}
dpkg-query -W -f='${Status}' chromium 2>/dev/null | grep -q "install ok installed" ||
  flock /tmp/nexcage-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
prom=build/tools/prometheus
if [ ! -x "$prom" ]; then
  # Only the binary: the package's web assets (and their dangling symlinks) are not needed.
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1 && dpkg-deb -x prometheus_*.deb root)
  mkdir -p build/tools
  install -m 0755 "$tmp/root/usr/bin/prometheus" "$prom"
  rm -rf "$tmp"
fi
node_modules/.bin/node dist/bench/dashboard-snapshot.js "$PWD/$prom" "$(command -v chromium)" docs/dashboard.png "$seconds"
