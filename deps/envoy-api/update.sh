#!/usr/bin/env bash
# Re-vendors the Envoy API .proto files sluice's ext_proc driver needs from the pinned npm
# package @grpc/grpc-js-xds (package.json), keeping only external_processor.proto and its
# transitive imports. Run after `npm ci` when the pinned version changes:
#   deps/envoy-api/update.sh
# Writes the files under deps/envoy-api/ (one include root) and MANIFEST, which maps each
# vendored file to its path inside the package; src/extproc's vendor test compares them.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pkg="$here/../../node_modules/@grpc/grpc-js-xds"
[ -f "$pkg/package.json" ] || { echo "update.sh: run npm ci first ($pkg missing)" >&2; exit 1; }
version=$(sed -n 's/.*"version": *"\([^"]*\)".*/\1/p' "$pkg/package.json" | head -n 1)
roots=(envoy-api xds protoc-gen-validate)
root_files=(envoy/service/ext_proc/v3/external_processor.proto)

declare -A seen=()
queue=("${root_files[@]}")
manifest=()
while [ ${#queue[@]} -gt 0 ]; do
  f=${queue[0]}; queue=("${queue[@]:1}")
  [ -n "${seen[$f]:-}" ] && continue
  seen[$f]=1
  case "$f" in google/protobuf/*) continue ;; esac  # protobuf's well-known types ship with protoc
  src=""
  for r in "${roots[@]}"; do
    if [ -f "$pkg/deps/$r/$f" ]; then src="deps/$r/$f"; break; fi
  done
  [ -n "$src" ] || { echo "update.sh: $f not found in the package" >&2; exit 1; }
  manifest+=("$f $src")
  while read -r imp; do queue+=("$imp"); done < <(sed -n 's/^import \(public \|weak \)\{0,1\}"\([^"]*\)";.*/\2/p' "$pkg/$src")
done

# Replace the vendored tree wholesale so files dropped upstream disappear here too.
find "$here" -name '*.proto' -delete
find "$here" -mindepth 1 -type d -empty -delete
{
  echo "# @grpc/grpc-js-xds $version: vendored path, then its path inside the npm package"
  printf '%s\n' "${manifest[@]}" | sort
} > "$here/MANIFEST"
for line in "${manifest[@]}"; do
  read -r dst src <<<"$line"
  mkdir -p "$here/$(dirname "$dst")"
  cp "$pkg/$src" "$here/$dst"
done
echo "vendored ${#manifest[@]} files from @grpc/grpc-js-xds $version"
