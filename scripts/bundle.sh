#!/usr/bin/env bash
# Builds the Claude Desktop bundle: target/s3-upload-mcp.mcpb, made by the official MCPB CLI
# (@anthropic-ai/mcpb, pinned in bundle/package-lock.json) from bundle/manifest.json, bundle/icon.png
# and the release binary for this machine. The staged manifest gets the crate's version and this
# platform (a bundle carries one platform's binary). `mcpb validate` runs on the source manifest
# and on the staged one; --test then unpacks the bundle and starts it as Claude Desktop would
# (bundle/smoke-test.mjs: tools over stdio, upload by path from the configured folder).
# Usage: scripts/bundle.sh [--binary PATH] [--test]
#   --binary PATH   package this binary instead of running `cargo build --release`
#   --test          after packing, run the smoke test on the unpacked bundle
# Prints the bundle's sha256 (the `fileSha256` of its server.json package entry).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="${root}/bundle"
binary=""
test=false
while (($#)); do
  case "$1" in
    --binary) binary="$2" && shift 2 ;;
    --test) test=true && shift ;;
    *) echo "usage: $0 [--binary PATH] [--test]" >&2 && exit 2 ;;
  esac
done
cd "${root}"

log() { echo "bundle: $*" >&2; }

stamp="${bundle}/node_modules/.installed-from-lock"
if ! cmp -s "${bundle}/package-lock.json" "${stamp}"; then
  log "npm ci (bundle: @anthropic-ai/mcpb, MCP client)"
  (cd "${bundle}" && npm ci --silent --no-audit --no-fund)
  cp "${bundle}/package-lock.json" "${stamp}"
fi
mcpb() { (cd "${bundle}" && npx --no-install mcpb "$@"); }

log "mcpb validate bundle/manifest.json"
mcpb validate "${bundle}/manifest.json"

case "$(uname -s)" in
  Linux) platform=linux exe="" ;;
  Darwin) platform=darwin exe="" ;;
  MINGW* | MSYS* | CYGWIN*) platform=win32 exe=".exe" ;;
  *) log "unsupported build platform $(uname -s)" && exit 1 ;;
esac
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
if [[ -z "${binary}" ]]; then
  log "cargo build --release (the binary the bundle ships)"
  cargo build --release --quiet --bin s3-upload-mcp
  binary="${target_dir}/release/s3-upload-mcp${exe}"
fi
[[ -x "${binary}" ]] || { log "no executable at ${binary}"; exit 1; }
version="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"]=="s3-upload-mcp"))')"

stage="${target_dir}/mcpb"
out="${target_dir}/s3-upload-mcp.mcpb"
rm -rf "${stage}"
mkdir -p "${stage}/server"
cp "${bundle}/icon.png" "${stage}/"
cp "${binary}" "${stage}/server/s3-upload-mcp${exe}"
chmod 755 "${stage}/server/s3-upload-mcp${exe}"
python3 - "${bundle}/manifest.json" "${stage}/manifest.json" "${version}" "${platform}" <<'PY'
import json, sys
source, staged, version, platform = sys.argv[1:]
manifest = json.load(open(source))
manifest["version"] = version
manifest.setdefault("compatibility", {})["platforms"] = [platform]
json.dump(manifest, open(staged, "w"), indent=2, ensure_ascii=False)
PY

log "mcpb validate + pack (${platform}, version ${version})"
mcpb validate "${stage}/manifest.json"
rm -f "${out}"
mcpb pack "${stage}" "${out}" >&2
rm -rf "${stage}" # the unpacked copy of the binary is only an intermediate
sha="$(sha256sum "${out}" | cut -d' ' -f1)"
log "wrote ${out} ($(du -h "${out}" | cut -f1)), sha256 ${sha}"

if "${test}"; then
  images="${CORPUS_IMAGES:-${root}/../shared/corpus/images}"
  unpacked="$(mktemp -d)"
  trap 'rm -rf "${unpacked}"' EXIT
  mcpb unpack "${out}" "${unpacked}" >&2
  log "smoke test of the unpacked bundle"
  node "${bundle}/smoke-test.mjs" --bundle "${unpacked}" --image "${images}/flowers.jpeg"
fi
echo "${sha}"
