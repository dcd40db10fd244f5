#!/usr/bin/env bash
# Builds the MCP Apps upload view (ui/uploader) into the one self-contained HTML file the server
# embeds: src/mcp/ui/uploader.html. Pinned dependencies (npm ci from the committed lock file) and a
# deterministic bundler make the output byte-for-byte reproducible, so CI can hold the committed
# file to its source.
# Usage: scripts/build-ui.sh           rebuild and replace src/mcp/ui/uploader.html
#        scripts/build-ui.sh --check   rebuild and fail if the committed file differs (CI)
# Needs node >= 20.19 and npm.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
view="${root}/ui/uploader"
out="${root}/src/mcp/ui/uploader.html"
mode="${1:-build}"
case "${mode}" in
  build | --check) ;;
  *) echo "usage: $0 [--check]" >&2 && exit 2 ;;
esac

log() { echo "build-ui: $*" >&2; }

# npm ci only when the lock changed since the last install (it wipes node_modules every time);
# the stamp is a copy of the lock file that install was made from.
stamp="${view}/node_modules/.installed-from-lock"
if ! cmp -s "${view}/package-lock.json" "${stamp}"; then
  log "npm ci (ui/uploader)"
  (cd "${view}" && npm ci --silent --no-audit --no-fund)
  cp "${view}/package-lock.json" "${stamp}"
fi

log "type-check and bundle"
(cd "${view}" && npx --no-install tsc --noEmit && npx --no-install vite build --logLevel warn)
built="${view}/dist/index.html"

if [[ "${mode}" == "--check" ]]; then
  if cmp -s "${built}" "${out}"; then
    log "src/mcp/ui/uploader.html is up to date ($(wc -c <"${out}") bytes)"
  else
    log "src/mcp/ui/uploader.html is stale or missing: run scripts/build-ui.sh and commit the result"
    exit 1
  fi
else
  mkdir -p "$(dirname "${out}")"
  cp "${built}" "${out}"
  log "wrote src/mcp/ui/uploader.html ($(wc -c <"${out}") bytes)"
fi
