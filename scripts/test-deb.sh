#!/usr/bin/env bash
# `make test-deb`: installs build/deb/nexcage_*.deb into a fresh Debian 12 root made by debootstrap
# (minbase: no Node.js anywhere) with apt resolving only the package's declared dependencies from
# the configured Debian mirror, then checks what an operator relies on: the files (and no test
# files), hardened helpers, the conffile, `nexcage version`, `nexcage config`, the daemon starting
# from the package and answering on its socket (NetworkReady false until a CNI config exists),
# `nexcage doctor`, and a clean purge. Slow (downloads ~100 MB the first time), so not part of `make test`.
set -euo pipefail
cd "$(dirname "$0")/.."

for p in debootstrap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    flock /tmp/nexcage-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done

debversion=$(dpkg-parsechangelog -S Version)
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$PWD/build/deb/nexcage_${debversion}_${arch}.deb
[ -f "$deb" ] || { echo "test-deb: $deb missing; run make deb" >&2; exit 1; }
# The mirror this machine's apt uses (deb822 or one-line sources), else Debian's CDN.
mirror=$(grep -hoE '^URIs: *\S+|^deb +\S+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
  grep -m1 -E '/debian/?$' | awk '{print $2}' || true)
mirror=${mirror:-http://deb.debian.org/debian}
cache=$PWD/build/debootstrap-cache
mkdir -p "$cache"

root=$(mktemp -d /var/tmp/nexcage-test-deb.XXXXXX)
daemon_pid=
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  for m in "$root/sys" "$root/proc"; do mountpoint -q "$m" && umount -l "$m"; done
  rm -rf --one-file-system "$root"
}
trap cleanup EXIT
in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 "$@"; }
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }
checks=0
ok() { checks=$((checks + 1)); echo "test-deb: ok - $*"; }

echo "test-deb: debootstrap bookworm (minbase) from $mirror into $root"
debootstrap --variant=minbase --cache-dir="$cache" bookworm "$root" "$mirror" >"$root.debootstrap.log" 2>&1 ||
  { tail -20 "$root.debootstrap.log"; fail "debootstrap failed"; }
rm -f "$root.debootstrap.log"
cp /etc/resolv.conf "$root/etc/resolv.conf"
mount -t proc proc "$root/proc"
mount --rbind /sys "$root/sys" && mount --make-rslave "$root/sys"
# Nothing starts services inside the test root.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d" && chmod 0755 "$root/usr/sbin/policy-rc.d"

in_root sh -c 'command -v node nodejs' >/dev/null && fail "the fresh root already has a node"
ok "fresh root has no Node.js"

cp "$deb" "$root/tmp/"
echo "test-deb: apt-get install ./$(basename "$deb") (dependencies from the mirror)"
in_root env DEBIAN_FRONTEND=noninteractive sh -c "apt-get update -qq && apt-get install -y -qq --no-install-recommends /tmp/$(basename "$deb")" \
  >"$root/tmp/apt.log" 2>&1 || { tail -30 "$root/tmp/apt.log"; fail "apt-get install failed"; }
ok "installed with its declared dependencies"
in_root sh -c 'command -v node nodejs' >/dev/null && fail "installing nexcage pulled in a system Node.js"
ok "still no system Node.js: nexcage uses its private one"

for f in /usr/bin/nexcage /usr/lib/nexcage/node /etc/nexcage/config.json /lib/systemd/system/nexcage.service \
  /usr/share/bash-completion/completions/nexcage /usr/share/man/man8/nexcage.8.gz /usr/share/doc/nexcage/copyright; do
  [ -e "$root$f" ] || fail "$f missing"
done
ls "$root/usr/share/doc/nexcage/" | grep -q '^README.md' || fail "README missing from /usr/share/doc/nexcage"
ok "binary, private node, config, unit, completion, man page and docs are installed"
in_root dpkg-query -W -f='${Conffiles}\n' nexcage | grep -q '/etc/nexcage/config.json' || fail "config.json is not a conffile"
ok "/etc/nexcage/config.json is a conffile"
for dep in runc conmon catatonit iptables setfattr /bin/kill; do in_root sh -c "command -v $dep" >/dev/null || fail "dependency $dep not installed"; done
[ -x "$root/usr/lib/cni/bridge" ] || fail "containernetworking-plugins not installed"
ok "runc, conmon, catatonit, iptables, setfattr, kill (ExecReload) and the CNI plugins came in as dependencies"
tests=$(in_root dpkg -L nexcage | grep -E '\.(test|spec)\.[cm]?js$|/test-host\.js$|/(tests?|__tests__|examples?)/' || true)
[ -z "$tests" ] || { echo "$tests" | head; fail "the package ships test files"; }
ok "no test files in the package (ours or the dependencies')"
for f in "$root"/usr/lib/nexcage/app/dist/native/*; do
  h=$(basename "$f")
  # Read whole first: `readelf | grep -q` would die of SIGPIPE under pipefail.
  elf=$(readelf -W -h -d -l --dyn-syms "$f")
  grep -q 'DYN (Position-Independent' <<<"$elf" || fail "$h is not PIE"
  grep -q 'BIND_NOW' <<<"$elf" || fail "$h has no BIND_NOW (full RELRO)"
  grep -q 'GNU_RELRO' <<<"$elf" || fail "$h has no RELRO segment"
  grep -q '__stack_chk_fail' <<<"$elf" || fail "$h has no stack protector"
  grep -qE '__[a-z_]+_chk@' <<<"$elf" || fail "$h has no fortified calls"
done
ok "native helpers are built hardened (PIE, full RELRO, stack protector, _FORTIFY_SOURCE)"

out=$(in_root nexcage version) || fail "nexcage version exited $?"
echo "$out" | sed 's/^/    /'
echo "$out" | grep -q "Version: ${debversion%-*}" || fail "nexcage version does not print ${debversion%-*}"
ok "nexcage version"
out=$(in_root nexcage config) || fail "nexcage config exited $?"
echo "$out" | grep -q '"path": "/usr/sbin/runc"' || fail "nexcage config does not show the packaged config.json"
echo "$out" | in_root /usr/lib/nexcage/node -e 'JSON.parse(require("fs").readFileSync(0, "utf8"))' || fail "nexcage config is not JSON"
ok "nexcage config prints the packaged configuration as JSON"
in_root man -w nexcage >/dev/null 2>&1 || [ -e "$root/usr/share/man/man8/nexcage.8.gz" ] || fail "man page"
in_root bash -c 'source /usr/share/bash-completion/completions/nexcage && COMP_WORDS=(nexcage se) COMP_CWORD=1 && _nexcage && [ "${COMPREPLY[*]}" = serve ]' ||
  fail "bash completion does not complete 'se' to serve"
ok "bash completion completes commands"

# The installed unit, checked by systemd's own verifier inside the root (systemd is not PID 1
# there or on this VM: verify works offline). man-db lets it check Documentation=man:nexcage(8).
in_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd man-db >/dev/null 2>&1 ||
  fail "installing systemd into the test root failed"
out=$(in_root systemd-analyze verify /lib/systemd/system/nexcage.service 2>&1) || { echo "$out"; fail "systemd-analyze verify failed"; }
[ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify printed warnings"; }
ok "systemd-analyze verify /lib/systemd/system/nexcage.service: no findings"
in_root sh -c 'systemctl is-enabled nexcage.service' | grep -qx enabled || fail "nexcage.service is not enabled by the package"
ok "nexcage.service is enabled (multi-user.target)"

# The daemon from the package, as systemd would start it (minus systemd): serves and is healthy.
sock=/run/nexcage/sock/nexcage.sock
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin nexcage serve --metrics-address '' >"$root/tmp/daemon.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 100); do [ -S "$root$sock" ] && break; sleep 0.2; done
[ -S "$root$sock" ] || { cat "$root/tmp/daemon.log"; fail "the packaged daemon did not create $sock"; }
out=$(in_root nexcage version)
echo "$out" | grep -q "RuntimeName: nexcage" || { echo "$out"; fail "nexcage version did not reach the daemon"; }
in_root nexcage health | sed 's/^/    /' || true
in_root nexcage health >/dev/null || fail "nexcage health: runtime not ready in the package's root"
ok "the packaged daemon serves on $sock and reports RuntimeReady"
in_root nexcage health | grep -q '^NetworkReady: false (NetworkPluginNotReady: network plugin not initialized: no CNI config in /etc/cni/net.d' ||
  fail "with no CNI config the packaged daemon must report NetworkReady false"
ok "no CNI config yet: NetworkReady false (the packaged config turns the built-in network off)"
set +e
out=$(in_root nexcage doctor --json --registry http://127.0.0.1:1)
code=$?
set -e
echo "$out" | in_root /usr/lib/nexcage/node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
  for (const x of r.results) console.log(`    ${x.level.toUpperCase().padEnd(4)} ${x.check}: ${x.message}`);
  const socket = r.results.find((x) => x.check === "socket");
  if (socket.level !== "ok") { console.error("socket check:", socket); process.exit(1); }
  process.exit({ ok: 0, warn: 1, fail: 2 }[r.worst] === Number(process.argv[1]) ? 0 : 1);' "$code" ||
  fail "nexcage doctor (exit $code) did not find the running daemon or its exit code does not match its worst result"
ok "nexcage doctor runs from the package (exit $code) and finds the daemon's socket"
kill -TERM "$daemon_pid"; wait "$daemon_pid" || fail "daemon exited non-zero on SIGTERM"
daemon_pid=
[ -e "$root$sock" ] && fail "socket left after SIGTERM"
ok "the daemon stops cleanly on SIGTERM"

in_root env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq nexcage >/dev/null 2>&1 || fail "purge failed"
for f in /usr/bin/nexcage /usr/lib/nexcage /etc/nexcage/config.json /lib/systemd/system/nexcage.service; do
  [ -e "$root$f" ] && fail "$f left after purge"
done
ok "purge removes the program, the unit and the conffile"
echo "test-deb: all $checks checks passed"
