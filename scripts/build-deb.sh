#!/usr/bin/env bash
# `make deb`: builds the nexcage .deb with dpkg-buildpackage from the current dist/ (make build ran
# just before), moves it to build/deb/ and runs lintian on it (fails on lintian errors).
set -euo pipefail
cd "$(dirname "$0")/.."

# Build tools, installed on first use (not needed by `make test`).
missing=()
for p in debhelper lintian dpkg-dev fakeroot; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deb: installing ${missing[*]}"
  flock /tmp/nexcage-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

version=$(node_modules/.bin/node -p 'require("./package.json").version')
debversion=$(dpkg-parsechangelog -S Version)
if [ "${debversion%-*}" != "$version" ]; then
  echo "deb: debian/changelog is at $debversion but package.json says $version; add a changelog entry (dch -v $version-1)" >&2
  exit 1
fi

arch=$(dpkg-architecture -qDEB_HOST_ARCH)
parent=$(dirname "$PWD")
dpkg-buildpackage -us -uc -b
mkdir -p build/deb
for f in "nexcage_${debversion}_${arch}.deb" "nexcage_${debversion}_${arch}.buildinfo" "nexcage_${debversion}_${arch}.changes"; do
  mv -f "$parent/$f" build/deb/
done
echo "deb: build/deb/nexcage_${debversion}_${arch}.deb ($(du -h "build/deb/nexcage_${debversion}_${arch}.deb" | cut -f1))"
# NEXCAGE_DEB_LINTIAN=0 skips it (the image e2e test builds the package only to install it).
if [ "${NEXCAGE_DEB_LINTIAN:-1}" = 0 ]; then exit 0; fi
echo "deb: lintian:"
lintian --fail-on error --display-info "build/deb/nexcage_${debversion}_${arch}.changes"
echo "deb: lintian found no errors"
