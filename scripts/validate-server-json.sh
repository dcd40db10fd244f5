#!/usr/bin/env bash
# Validates server.json (this server's entry for the official MCP registry) offline: against the
# registry's published JSON Schema, kept as a file because CI has no internet, with pinned ajv +
# ajv-formats (tests/registry), and against the crate's version.
# Usage: scripts/validate-server-json.sh [--release]
#   --release   also fail on placeholders (the .mcpb fileSha256) before publishing
# The schema file: $SERVER_SCHEMA, default tests/fixtures/server.schema.json; it must be the file
# published at the URL server.json's "$schema" names (the check compares that URL with its $id).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
checker="${root}/tests/registry"
schema="${SERVER_SCHEMA:-${root}/tests/fixtures/server.schema.json}"
cd "${root}"

log() { echo "validate-server-json: $*" >&2; }

if [[ ! -f "${schema}" ]]; then
  url="$(python3 -c 'import json; print(json.load(open("server.json"))["$schema"])')"
  log "no schema at ${schema}: save ${url} there (or point SERVER_SCHEMA at a copy)"
  exit 1
fi
# The vendored copy is the published file byte for byte (tests/registry/README.md); an edit fails.
pinned=3fba09590c99f61735d234822279f4223fab9e300c0a81e81c91ab62a4114de0
if [[ -z "${SERVER_SCHEMA:-}" ]]; then
  actual="$(sha256sum "${schema}" | cut -d' ' -f1)"
  if [[ "${actual}" != "${pinned}" ]]; then
    log "${schema} has sha256 ${actual}, not the published file's ${pinned}"
    exit 1
  fi
fi
stamp="${checker}/node_modules/.installed-from-lock"
if ! cmp -s "${checker}/package-lock.json" "${stamp}"; then
  log "npm ci (tests/registry: ajv, ajv-formats)"
  (cd "${checker}" && npm ci --silent --no-audit --no-fund)
  cp "${checker}/package-lock.json" "${stamp}"
fi
version="$(python3 -c 'import tomllib; print(tomllib.load(open("Cargo.toml","rb"))["package"]["version"])')"
node "${checker}/validate.mjs" --schema "${schema}" --version "${version}" "$@" server.json
