#!/usr/bin/env bash
# `make push-image REGISTRY=host:port`: copies the image `make image` built (build/image/oci) to
# $REGISTRY/nexcage/nexcage:<version> with skopeo, and prints the chart values that use it.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${REGISTRY:?set REGISTRY=host:port}"
out=${IMAGE_OUT:-build/image}
[ -f "$out/oci/index.json" ] || { echo "push-image: $out/oci missing; run make image" >&2; exit 1; }
dpkg-query -W -f='${Status}' skopeo 2>/dev/null | grep -q "install ok installed" ||
  flock /tmp/nexcage-apt.lock env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends skopeo >/dev/null
version=$(sed 's/.*://' "$out/name")
dest=$REGISTRY/nexcage/nexcage
skopeo copy --quiet --dest-tls-verify="${TLS_VERIFY:-true}" "oci:$out/oci:$version" "docker://$dest:$version"
echo "push-image: $dest:$version"
echo "push-image: helm install ... --set image.repository=$dest"
