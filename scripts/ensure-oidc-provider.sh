#!/usr/bin/env bash
# Installs the test OpenID Provider's npm packages (oidc-provider, jose) into the git-ignored
# tests/oidc/node_modules/ unless they are there already for the current package-lock.json, and
# prints the path of tests/oidc/provider.mjs. The OAuth tests call this themselves, so
# `cargo test` needs nothing installed by hand (only node >= 20 and npm on PATH).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="${root}/tests/oidc"
stamp="${dir}/node_modules/.installed-lock-sha256"
# Tests run in parallel and may all ask at once: one installs, the others wait for it.
exec 9>"${dir}/.install.lock"
flock 9
want="$(sha256sum "${dir}/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "${stamp}" || "$(cat "${stamp}")" != "${want}" || ! -d "${dir}/node_modules/oidc-provider" ]]; then
  echo "ensure-oidc-provider.sh: npm ci in ${dir}" >&2
  (cd "${dir}" && npm ci --no-audit --no-fund --loglevel=error) >&2
  echo "${want}" > "${stamp}"
fi
echo "${dir}/provider.mjs"
