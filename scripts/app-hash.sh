#!/usr/bin/env bash
# Prints one hash of the nexcage code an install or an image carries: every compiled module (path
# and content) under DIR/src, DIR being an installed app's dist/. With --reachable, DIR is a build's
# dist/ and only the modules the package ships (scripts/app-modules.mjs) count, so the two agree
# when the image holds the current build. Tests use it to tell a current image from a stale one.
set -euo pipefail
dir=$1
cd "$(dirname "$0")/.."
if [ "${2:-}" = --reachable ]; then
  list=$(node_modules/node/bin/node scripts/app-modules.mjs "$dir")
else
  list=$(cd "$dir" && find src -type f -name '*.js')
fi
# The install blanks `#!...node` lines (scripts/install.sh): hash every file without one.
(cd "$dir" && printf '%s\n' "$list" | LC_ALL=C sort | while IFS= read -r f; do
  printf '%s %s\n' "$f" "$(sed '1s|^#!.*node.*$||' "$f" | sha256sum | cut -c1-64)"
done) | sha256sum | cut -c1-64
