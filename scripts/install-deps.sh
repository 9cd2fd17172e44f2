#!/usr/bin/env bash
# Installs what nexcage needs to build, run and test, and nothing that is already there;
# `install-deps.sh build` only what building needs (`make deb` on a build host: no test toolchain).
# System packages come from Debian; JavaScript packages (Node 24 included) from npm, pinned by
# package-lock.json. Idempotent and quiet: a second run does nothing and prints nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

# What the daemon runs (runc, conmon, CNI plugins, catatonit for the infra container, iptables for
# portmap) and what the tests use (a registry, busybox-static to build images, ping, socat, zstd,
# skopeo + umoci as the pull benchmark's reference); gcc builds the pty helper (native/nexcage-pty.c);
# Go + moby/spdystream (Kubernetes' SPDY library) drive the streaming interop test, Go + grpc-go the
# kubelet-like client of the list benchmark; systemd gives
# systemd-notify (readiness/watchdog) and systemd-analyze + man-db for the unit test.
# dpkg-dev gives dpkg-buildflags, the hardening flags the C helpers are compiled with.
BUILD_PACKAGES=(gcc libc6-dev dpkg-dev)
APT_PACKAGES=(
  "${BUILD_PACKAGES[@]}"
  runc conmon containernetworking-plugins catatonit iptables iproute2 util-linux
  docker-registry busybox-static iputils-ping socat zstd skopeo umoci attr
  golang-go golang-github-docker-spdystream-dev golang-google-grpc-dev
  systemd man-db
)
case ${1:-all} in
  all) ;;
  build) APT_PACKAGES=("${BUILD_PACKAGES[@]}") ;;
  *) echo "install-deps: unknown set \"$1\" (all or build)" >&2; exit 2 ;;
esac

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v npm >/dev/null 2>&1; then missing+=(nodejs npm); fi
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "install-deps: missing Debian packages (${missing[*]}); run as root or install them" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  # The Debian registry package starts a system service we do not use; tests run their own.
  if [ -d /run/systemd/system ] && systemctl is-active --quiet docker-registry 2>/dev/null; then
    systemctl disable --now docker-registry >/dev/null 2>&1 || true
  fi
fi

# CRIU for checkpoints: a private build when the host's cannot dump (scripts/install-criu.sh).
[ "${1:-all}" = build ] || scripts/install-criu.sh

# npm ci only when the lock file changed since the last install (or nothing is installed).
stamp=node_modules/.nexcage-installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ ! -x node_modules/.bin/node ]; then
  echo "install-deps: npm ci"
  PATH=$(tr ":" "\n" <<<"$PATH" | grep -v "node_modules/.bin" | paste -sd: -) npm ci --no-audit --no-fund --loglevel=error >/dev/null
  # npm 11 runs a dependency's install script only when package.json's allowScripts approves it;
  # the `node` package fetches its binary in one, so say so plainly if it did not run.
  if [ ! -x node_modules/.bin/node ]; then
    echo "install-deps: npm ci did not install Node 24 (node_modules/.bin/node); is \"node\" in package.json allowScripts?" >&2
    exit 1
  fi
  touch "$stamp"
fi
