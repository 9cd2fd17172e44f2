#!/usr/bin/env bash
# `make helm-package`: the chart as helm would package it, build/helm/<name>-<version>.tgz holding
# <name>/..., minus what .helmignore lists. Reproducible: sorted entries, fixed owner and mtime.
set -euo pipefail
cd "$(dirname "$0")/.."
chart=deploy/helm/nexcage
name=$(sed -n 's/^name: *//p' "$chart/Chart.yaml")
version=$(sed -n 's/^version: *//p' "$chart/Chart.yaml")
mkdir -p build/helm
out=build/helm/$name-$version.tgz
excludes=()
while IFS= read -r line; do
  case $line in '' | '#'*) continue ;; esac
  excludes+=("--exclude=${line%/}")
done <"$chart/.helmignore"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2026-01-01 00:00Z' "${excludes[@]}" \
  -C "$(dirname "$chart")" -cf - "$name" | gzip -n >"$out"
echo "helm-package: $out"
tar -tzf "$out" | sed 's/^/  /'
