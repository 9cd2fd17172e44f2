#!/usr/bin/env bash
# Installs nexcage from this checkout without a package (`make install`), and stages the Debian
# package's files (debian/rules calls it with DESTDIR=debian/nexcage PREFIX=/usr).
#
# Layout: PREFIX/lib/nexcage/node is a private Node.js 24 (the npm `node` package's binary), so the
# host's Node is never used; PREFIX/lib/nexcage/app holds package.json, the compiled dist/src, the
# CRI proto and the production node_modules; PREFIX/bin/nexcage is a two-line wrapper. The code is
# whatever `make build` last put in dist/.
#
# Variables: DESTDIR (staging root, default empty), PREFIX (/usr/local), SYSCONFDIR (/etc),
# UNITDIR (/etc/systemd/system, or /lib/systemd/system when PREFIX=/usr).
set -euo pipefail
cd "$(dirname "$0")/.."

DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
if [ "$PREFIX" = /usr ]; then UNITDIR=${UNITDIR:-/lib/systemd/system}; else UNITDIR=${UNITDIR:-/etc/systemd/system}; fi
LIBDIR=$PREFIX/lib/nexcage
APP=$LIBDIR/app

[ -f dist/src/cli/main.js ] || { echo "install: dist/ is empty; run make build first" >&2; exit 1; }
[ -x node_modules/node/bin/node ] || { echo "install: node_modules/node/bin/node missing; run make deps" >&2; exit 1; }

# Production dependencies only, installed once per package-lock.json from npm's cache.
prod=build/prod-modules
lockhash=$(sha256sum package-lock.json | cut -c1-16)
if [ ! -f "$prod/.lock-$lockhash" ]; then
  rm -rf "$prod"
  mkdir -p "$prod"
  cp package.json package-lock.json "$prod/"
  (cd "$prod" && PATH=$(tr ":" "\n" <<<"$PATH" | grep -v "node_modules/.bin" | paste -sd: -) \
    npm ci --omit=dev --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error >/dev/null)
  touch "$prod/.lock-$lockhash"
fi

install -d "$DESTDIR$PREFIX/bin" "$DESTDIR$APP" "$DESTDIR$UNITDIR" "$DESTDIR$SYSCONFDIR/nexcage" \
  "$DESTDIR$PREFIX/share/bash-completion/completions" "$DESTDIR$PREFIX/share/man/man8" "$DESTDIR$PREFIX/share/doc/nexcage"

install -m 0755 node_modules/node/bin/node "$DESTDIR$LIBDIR/node"

# The app: package.json (version, "type": "module"), the compiled modules the command can load
# (reachable from main.js: no tests, test helpers, type-only or generated modules, source maps),
# the CRI proto read at run time, dependencies.
rm -rf "${DESTDIR:?}$APP"
install -d "$DESTDIR$APP/cri-api/runtime/v1"
install -m 0644 package.json "$DESTDIR$APP/package.json"
install -m 0644 cri-api/runtime/v1/api.proto "$DESTDIR$APP/cri-api/runtime/v1/api.proto"
modules=$(node_modules/node/bin/node scripts/app-modules.mjs dist)
(cd dist && printf '%s\n' "$modules" | xargs -I{} install -D -m 0644 {} "$DESTDIR$APP/dist/{}")
# Helper binaries built next to the code (e.g. dist/native/*), if any.
if [ -d dist/native ]; then
  (cd dist && find native -type f -perm -u+x -print0 | xargs -0 -r -I{} install -D -m 0755 {} "$DESTDIR$APP/dist/{}")
fi
cp -a "$prod/node_modules" "$DESTDIR$APP/node_modules"
rm -f "$DESTDIR$APP/node_modules/.package-lock.json"
# Prebuilt addons for other platforms, and for the Bare runtime (*.bare: never loaded by Node).
nodearch=$(node_modules/node/bin/node -p 'process.arch')
find "$DESTDIR$APP/node_modules" -type d -name prebuilds -print0 |
  while IFS= read -r -d '' d; do find "$d" -mindepth 1 -maxdepth 1 -type d ! -name "linux-$nodearch" -exec rm -rf {} +; done
find "$DESTDIR$APP/node_modules" -type f -name '*.bare' -delete
# TypeScript declarations and source maps are half of node_modules and never read at run time.
find "$DESTDIR$APP/node_modules" -type f \( -name '*.d.ts' -o -name '*.d.mts' -o -name '*.d.cts' -o -name '*.map' \) -delete
rm -rf "$DESTDIR$APP/node_modules/@types"
# The dependencies' own tests, examples and benchmarks npm publishes: never loaded, not shipped.
find "$DESTDIR$APP/node_modules" -type d \( -name test -o -name tests -o -name __tests__ -o -name specs -o -name example -o -name examples -o -name bench -o -name benchmark \) -prune -exec rm -rf {} +
find "$DESTDIR$APP/node_modules" -type f \( -name '*.test.js' -o -name '*.spec.js' -o -name '*.test.mjs' -o -name '*.test.cjs' \) -delete
# Their documentation sites and release scripts (pino's docsify page loads scripts from CDNs).
find "$DESTDIR$APP/node_modules" -type d -name docs -prune -exec rm -rf {} +
find "$DESTDIR$APP/node_modules" -type f \( -name '*.html' -o -name '*.sh' \) -delete
# Development leftovers npm publishes (lint/ignore/VCS files, git hooks).
find "$DESTDIR$APP/node_modules" \( -name '.eslintrc*' -o -name '.npmignore' -o -name '.gitattributes' -o -name '.editorconfig' \) -type f -delete
find "$DESTDIR$APP/node_modules" -type d \( -name .husky -o -name .github \) -prune -exec rm -rf {} +
find "$DESTDIR$APP/node_modules" -type d -empty -delete
# Nothing here is run through its #! line (bin/nexcage runs main.js with the private Node), and a
# `#!/usr/bin/env node` would name a system Node the package does not use: blank those lines
# (keeping line numbers for stack traces).
grep -rlZ --include='*.js' --include='*.mjs' --include='*.cjs' -m1 '^#!.*node' "$DESTDIR$APP" |
  xargs -0 -r sed -i '1s|^#!.*node.*$||'
# Nothing in node_modules is executed directly (addons are dlopen()ed): no executable bits.
find "$DESTDIR$APP/node_modules" -type f -perm /111 -exec chmod a-x {} +

# Node/V8 flags, one per line in deploy/*node-flags (comments and blank lines dropped).
flags() { sed -e 's/#.*//' -e 's/[[:space:]]*$//' "$1" | grep -v '^$' | paste -sd' ' - || true; }
daemon_flags=$(flags deploy/node-flags)
# The daemon's environment, one VAR=value a line in deploy/node-env: exported by the wrapper.
daemon_env=$(sed -e 's/#.*//' -e 's/[[:space:]]*$//' deploy/node-env | grep -v '^$' | sed 's/^/export /' || true)
agent_flags=$(flags deploy/agent-node-flags)
cat >"$DESTDIR$PREFIX/bin/nexcage" <<WRAPPER
#!/bin/sh
# nexcage runs on its own Node.js (Node 24, in $LIBDIR), never on the system's; the agent (a slow
# control loop) and the daemon each with their own V8 flags (deploy/agent-node-flags, deploy/node-flags),
# the daemon with its environment (deploy/node-env).
if [ "\$1" = agent ]; then exec $LIBDIR/node${agent_flags:+ $agent_flags} $APP/dist/src/cli/main.js "\$@"; fi
${daemon_env:+$daemon_env
}exec $LIBDIR/node${daemon_flags:+ $daemon_flags} $APP/dist/src/cli/main.js "\$@"
WRAPPER
chmod 0755 "$DESTDIR$PREFIX/bin/nexcage"

sed "s|@BINDIR@|$PREFIX/bin|g" deploy/systemd/nexcage.service >"$DESTDIR$UNITDIR/nexcage.service"
chmod 0644 "$DESTDIR$UNITDIR/nexcage.service"
install -m 0644 deploy/bash-completion/nexcage "$DESTDIR$PREFIX/share/bash-completion/completions/nexcage"
install -m 0644 deploy/man/nexcage.8 "$DESTDIR$PREFIX/share/man/man8/nexcage.8"
install -m 0644 README.md "$DESTDIR$PREFIX/share/doc/nexcage/README.md"
# An existing configuration is the operator's: never overwrite it (dpkg handles it as a conffile).
if [ ! -e "$DESTDIR$SYSCONFDIR/nexcage/config.json" ]; then
  install -m 0644 deploy/config.json "$DESTDIR$SYSCONFDIR/nexcage/config.json"
fi
if [ -z "$DESTDIR" ]; then
  echo "installed nexcage to $PREFIX (unit $UNITDIR/nexcage.service; run: systemctl daemon-reload && systemctl enable --now nexcage)"
fi
