#!/usr/bin/env bash
# `make image`: the nexcage container image (what the Helm chart runs: `nexcage agent`), without
# Docker. A Debian 12 minbase root (debootstrap, as `make test-deb`) gets build/deb/nexcage_*.deb
# installed with its dependencies, is trimmed to what runs (no apt lists or caches, docs, man
# pages, locales, logs, device nodes, package manager), and is packed by umoci as one layer into an
# OCI image layout: build/image/oci, tag <version>, named $IMAGE:<version>.
#
# Reproducible: every mtime is SOURCE_DATE_EPOCH (the debian/changelog date), the config's dates
# too, no generated ids or logs are kept, so the same .deb and the same Debian packages give the
# same image digest. The Debian root with the package's dependencies is cached in
# build/image-base/ (keyed by the dependency list and the mirror), so a rebuild after a code
# change only reinstalls the .deb.
#
# Variables: IMAGE (name without tag, default ghcr.io/nexcage/nexcage), IMAGE_OUT (build/image).
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-ghcr.io/nexcage/nexcage}
out=${IMAGE_OUT:-build/image}
USER_ID=65532

for p in debootstrap umoci; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
    flock /tmp/nexcage-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$p" >/dev/null
done

debversion=$(dpkg-parsechangelog -S Version)
version=${debversion%-*}
arch=$(dpkg-architecture -qDEB_HOST_ARCH)
deb=$PWD/build/deb/nexcage_${debversion}_${arch}.deb
[ -f "$deb" ] || { echo "image: $deb missing; run make deb" >&2; exit 1; }
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(dpkg-parsechangelog -S Timestamp)}
created=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
revision=$(git rev-parse HEAD 2>/dev/null || echo unknown)
mirror=$(grep -hoE '^URIs: *\S+|^deb +\S+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null |
  grep -m1 -E '/debian/?$' | awk '{print $2}' || true)
mirror=${mirror:-http://deb.debian.org/debian}

work=$(mktemp -d /var/tmp/nexcage-image.XXXXXX)
root=$work/rootfs
cleanup() {
  for m in "$root/proc" "$work/base/proc"; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
in_root() { chroot "$1" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "${@:2}"; }

# The base: minbase + the package's dependencies, cached per dependency list and mirror.
depends=$(dpkg-deb -f "$deb" Depends)
key=$(printf '%s\n%s\n%s\n' "$depends" "$mirror" "$arch" | sha256sum | cut -c1-16)
base_tar=build/image-base/base-$key.tar
if [ ! -f "$base_tar" ]; then
  echo "image: Debian 12 minbase + dependencies ($depends) from $mirror"
  mkdir -p build/image-base build/debootstrap-cache
  debootstrap --variant=minbase --cache-dir="$PWD/build/debootstrap-cache" bookworm "$work/base" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log"; echo "image: debootstrap failed" >&2; exit 1; }
  cp /etc/resolv.conf "$work/base/etc/resolv.conf"
  mount -t proc proc "$work/base/proc"
  printf '#!/bin/sh\nexit 101\n' >"$work/base/usr/sbin/policy-rc.d" && chmod 0755 "$work/base/usr/sbin/policy-rc.d"
  cp "$deb" "$work/base/tmp/nexcage.deb"
  # apt resolves the dependencies from the package itself; the package is then removed again so
  # the cached base holds only Debian's packages.
  in_root "$work/base" sh -c 'apt-get update -qq && apt-get install -y -qq --no-install-recommends /tmp/nexcage.deb && dpkg --purge nexcage' \
    >"$work/apt.log" 2>&1 || { tail -30 "$work/apt.log"; echo "image: installing the dependencies failed" >&2; exit 1; }
  umount "$work/base/proc"
  rm -f "$work/base/tmp/nexcage.deb"
  tar --numeric-owner --xattrs --xattrs-include='*' -C "$work/base" -cf "$base_tar.tmp" .
  mv "$base_tar.tmp" "$base_tar"
  rm -rf --one-file-system "$work/base"
fi

mkdir "$root"
tar --numeric-owner --xattrs --xattrs-include='*' -C "$root" -xf "$base_tar"
cp "$deb" "$root/tmp/nexcage.deb"
in_root "$root" dpkg -i /tmp/nexcage.deb >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; echo "image: dpkg -i failed" >&2; exit 1; }
rm -f "$root/tmp/nexcage.deb"

# The user the agent runs as (the chart's runAsUser); no password entry, no home.
echo "nexcage:x:$USER_ID:$USER_ID:nexcage agent:/nonexistent:/usr/sbin/nologin" >>"$root/etc/passwd"
echo "nexcage:x:$USER_ID:" >>"$root/etc/group"
# The socket directory the chart mounts, so the mount point exists in a read-only root.
install -d -m 0755 "$root/run/nexcage/sock"

# What only installing needs: the package manager's state, caches and lists (dpkg's status file
# stays, so the image can be inspected), apt itself, documentation but the copyright files, man
# pages, locales, logs, device nodes (the runtime provides /dev), the container's own resolv.conf.
# Installing and repairing is done at build time: the package tools, their Perl, and the
# filesystem tools minbase carries go (dpkg itself and its status file stay).
in_root "$root" dpkg --purge --force-remove-essential --force-depends \
  apt libapt-pkg6.0 debian-archive-keyring gpgv e2fsprogs libext2fs2 libss2 logsave debconf perl-base >"$work/purge.log" 2>&1 ||
  { cat "$work/purge.log"; echo "image: removing the package tools failed" >&2; exit 1; }
rm -rf "$root"/var/lib/apt "$root"/var/cache/apt "$root"/etc/apt "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
  "$root"/var/cache/ldconfig/aux-cache "$root"/usr/sbin/policy-rc.d "$root"/etc/machine-id "$root"/etc/hostname \
  "$root"/usr/share/man "$root"/usr/share/info "$root"/usr/share/lintian "$root"/usr/share/linda "$root"/usr/share/bash-completion \
  "$root"/usr/share/locale "$root"/usr/share/zoneinfo "$root"/usr/share/i18n "$root"/usr/lib/locale \
  "$root"/usr/lib/x86_64-linux-gnu/gconv "$root"/usr/lib/aarch64-linux-gnu/gconv
find "$root/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete
find "$root/var/log" "$root/tmp" "$root/var/tmp" "$root/root" "$root/dev" -mindepth 1 -delete
: >"$root/etc/resolv.conf"
chmod 1777 "$root/tmp" "$root/var/tmp"
# Dates a build would otherwise stamp: password ages (days since the epoch) and dpkg's last-run time.
days=$((SOURCE_DATE_EPOCH / 86400))
sed -i -E "s/^([^:]*:[^:]*:)[0-9]*:/\1$days:/" "$root/etc/shadow"
find "$root" -newermt "@$SOURCE_DATE_EPOCH" -print0 | xargs -0 -r touch -h -d "@$SOURCE_DATE_EPOCH"

# What runs must still run: the agent's and the daemon's entry points, as the image's user.
in_root "$root" setpriv --reuid=$USER_ID --regid=$USER_ID --clear-groups /usr/bin/nexcage --version >/dev/null ||
  { echo "image: nexcage does not start in the trimmed root" >&2; exit 1; }
in_root "$root" /usr/bin/nexcage agent --help >/dev/null || { echo "image: nexcage agent does not start" >&2; exit 1; }
for b in runc conmon iptables catatonit; do in_root "$root" sh -c "command -v $b" >/dev/null || { echo "image: $b missing" >&2; exit 1; }; done

oci=$out/oci
rm -rf "$oci"
mkdir -p "$out"
umoci init --layout "$oci"
umoci new --image "$oci:$version"
# unpack + repack (not `insert ... /`, whose entries would be absolute paths, which careful
# unpackers such as nexcage's refuse): layer entries are relative, as every runtime expects.
umoci unpack --image "$oci:$version" "$work/bundle" >/dev/null
rmdir "$work/bundle/rootfs"
mv "$root" "$work/bundle/rootfs"
umoci repack --image "$oci:$version" --history.created "$created" --history.author "nexcage developers" \
  --history.created_by "make image: debootstrap --variant=minbase bookworm + nexcage_${debversion}_${arch}.deb" "$work/bundle"
root=$work/bundle/rootfs
labels=(
  "org.opencontainers.image.title=nexcage"
  "org.opencontainers.image.description=nexcage, a Kubernetes CRI runtime: the node agent (nexcage agent) and the daemon, on Debian 12"
  "org.opencontainers.image.version=$version"
  "org.opencontainers.image.revision=$revision"
  "org.opencontainers.image.created=$created"
  "org.opencontainers.image.licenses=Apache-2.0"
  "org.opencontainers.image.vendor=nexcage developers"
  "org.opencontainers.image.source=https://nexcage.invalid/"
  "org.opencontainers.image.base.name=debian:bookworm (debootstrap minbase)"
  "org.opencontainers.image.ref.name=$IMAGE:$version"
)
args=()
for l in "${labels[@]}"; do args+=(--config.label "$l"); done
umoci config --image "$oci:$version" --no-history --created "$created" --author "nexcage developers" \
  --config.user "$USER_ID:$USER_ID" --config.entrypoint /usr/bin/nexcage --config.cmd --help --config.workingdir / \
  --config.env PATH=/usr/sbin:/usr/bin:/sbin:/bin --config.stopsignal SIGTERM \
  --manifest.annotation "org.opencontainers.image.ref.name=$version" \
  --manifest.annotation "org.opencontainers.image.version=$version" \
  --manifest.annotation "org.opencontainers.image.created=$created" \
  "${args[@]}"
umoci gc --layout "$oci"
echo "$IMAGE:$version" >"$out/name"
scripts/app-hash.sh "$root/usr/lib/nexcage/app/dist" >"$out/app-hash"

manifest=$(skopeo inspect --raw "oci:$oci:$version" 2>/dev/null || true)
size=$(du -sb "$oci/blobs" | cut -f1)
unpacked=$(du -sb --apparent-size "$root" | cut -f1)
echo "image: $IMAGE:$version -> $oci (tag $version)"
echo "image: $((size / 1024 / 1024)) MiB compressed, $((unpacked / 1024 / 1024)) MiB unpacked; manifest $(printf '%s' "$manifest" | sha256sum | cut -c1-64 | sed 's/^/sha256:/')"
