#!/usr/bin/env bash
# CRIU for CheckpointContainer. Debian 12's criu (3.17) fails every dump on newer kernels, so when
# the host's `criu check` fails (or there is no criu), CRIU 4.x is built from Debian trixie's
# upstream source tarball into a private prefix (never over the distribution's file). The source
# comes through apt with an apt configuration of its own (sources, lists, cache under a temp dir),
# from the mirror the system's bookworm entry already uses; the system's apt sources stay as they
# are. The patches in scripts/criu/ are applied first (each says why). Idempotent and quiet:
# prints nothing when a working CRIU is there (the private one: built with the current patches).
#   install-criu.sh          install if needed
#   install-criu.sh --path   print the criu to run (the private build when present, else `criu`)
set -euo pipefail

cd "$(dirname "$0")/.."
PREFIX=${NEXCAGE_CRIU_PREFIX:-/opt/nexcage/criu}
PRIVATE=$PREFIX/sbin/criu
SUITE=trixie
PATCHES=(scripts/criu/*.patch)
# What the private build was made with: a new patch means a rebuild.
RECIPE="$SUITE $(cat "${PATCHES[@]}" | sha256sum | cut -c1-16)"
STAMP=$PREFIX/recipe
BUILD_DEPS=(gcc make libc6-dev pkg-config libprotobuf-c-dev protobuf-c-compiler libprotobuf-dev
  libnl-3-dev libnet1-dev libcap-dev uuid-dev python3 dpkg-dev xz-utils patch)

works() { [ -x "$(command -v "$1" 2>/dev/null)" ] && "$1" check >/dev/null 2>&1; }

if [ "${1:-}" = --path ]; then
  if [ -x "$PRIVATE" ]; then echo "$PRIVATE"; else echo criu; fi
  exit 0
fi

current() { { [ -x "$PRIVATE" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$RECIPE" ] && works "$PRIVATE"; } || { [ ! -x "$PRIVATE" ] && works criu; }; }
if current; then exit 0; fi
if [ "$(id -u)" != 0 ]; then
  echo "install-criu: no working CRIU (criu check fails or criu is missing); run as root to build CRIU 4 into $PREFIX" >&2
  exit 1
fi
# One build at a time (make targets run this concurrently); a build that waited may find it done.
mkdir -p "$PREFIX"
exec 9>"$PREFIX/.build.lock"
flock 9
if current; then exit 0; fi

echo "install-criu: building CRIU from Debian $SUITE's source into $PREFIX"
missing=()
for p in "${BUILD_DEPS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

work=$(mktemp -d /tmp/nexcage-criu-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT)' | awk '$2 == "bookworm" && $3 == "main" { print $1; exit }')
if [ -z "$mirror" ]; then
  echo "install-criu: no apt source for bookworm main to take the mirror from" >&2
  exit 1
fi
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/parts" "$work/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror $SUITE main" >"$work/apt/sources.list"
apt_private=(-o "Dir::Etc::sourcelist=$work/apt/sources.list" -o "Dir::Etc::sourceparts=$work/apt/parts"
  -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" -o APT::Sandbox::User=root)
apt-get "${apt_private[@]}" update -qq >/dev/null
(cd "$work/src" && apt-get "${apt_private[@]}" source -qq --tar-only "criu/$SUITE" >/dev/null)
tarball=$(ls "$work"/src/criu_*.orig.tar.* | head -1)
tar -xf "$tarball" -C "$work/src"
srcdir=$(find "$work/src" -mindepth 1 -maxdepth 1 -type d -name 'criu-*' | head -1)
log=$work/build.log
for p in "${PATCHES[@]}"; do
  if ! patch -d "$srcdir" -p1 --forward --quiet <"$p" >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-criu: $p does not apply to $(basename "$srcdir"); building without it" >&2
  fi
done
if ! make -C "$srcdir" -j"$(nproc)" criu >"$log" 2>&1; then
  tail -30 "$log" >&2
  echo "install-criu: building CRIU failed" >&2
  exit 1
fi
install -D -m 0755 "$srcdir/criu/criu" "$PRIVATE.new"
mv -f "$PRIVATE.new" "$PRIVATE"
echo "$RECIPE" >"$STAMP"
if ! "$PRIVATE" check >"$log" 2>&1; then
  cat "$log" >&2
  echo "install-criu: the built CRIU ($("$PRIVATE" --version | head -1)) fails \`criu check\` on this kernel; checkpointing stays unavailable" >&2
  exit 1
fi
