#!/usr/bin/env bash
# Real MCP clients against the real binary: the official Python SDK (Streamable HTTP, both the
# 2026-07-28 discover path and the 2025 initialize handshake, then a stdio session uploading by
# `path`), the official TypeScript SDK (Streamable HTTP) and mcp-remote (Claude Desktop's bridge to
# remote servers), against `serve` on free loopback ports; then both SDKs against a `serve` that is
# an OAuth resource server for a real OpenID Provider (tests/oidc/provider.mjs): the TypeScript
# SDK signing in by itself from the 401 challenge, and both sending an access token as a header.
# Installs the clients itself (python venv in .venv-clients/, `npm ci` in tests/clients/ and
# tests/oidc/); needs only cargo, python3, curl and node/npm. Prints `N passed, N failed`; exits
# non-zero on any failure.
# Usage: scripts/client-tests.sh   (S3_UPLOAD_MCP_BIN=path/to/binary skips the cargo build)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
clients="${root}/tests/clients"
images="$(cd "${root}/../shared/corpus/images" && pwd)"
image="${images}/flowers.jpeg"
venv="${root}/.venv-clients"
cd "${root}"

log() { echo "client-tests: $*" >&2; }

# --- the binary (debug is enough; reuses whatever target dir CI already built) -------------------
if [[ -n "${S3_UPLOAD_MCP_BIN:-}" ]]; then
  bin="${S3_UPLOAD_MCP_BIN}"
else
  log "cargo build"
  cargo build --quiet --bin s3-upload-mcp
  target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  bin="${target_dir}/debug/s3-upload-mcp"
fi

# --- the clients -----------------------------------------------------------------------------------
if [[ ! -x "${venv}/bin/python" ]] || ! cmp -s "${clients}/requirements.txt" "${venv}/requirements.txt"; then
  log "installing the MCP Python SDK into ${venv}"
  python3 -m venv "${venv}"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check -r "${clients}/requirements.txt"
  cp "${clients}/requirements.txt" "${venv}/requirements.txt"
fi
if [[ ! -d "${clients}/node_modules/@modelcontextprotocol/sdk" ]] \
  || ! cmp -s "${clients}/package-lock.json" "${clients}/node_modules/.package-lock.json"; then
  log "installing the MCP TypeScript SDK (npm ci)"
  (cd "${clients}" && npm ci --silent --no-audit --no-fund)
fi

# --- a scratch area and servers that die with this script ----------------------------------------
tmp="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "${pid}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "${pid}" 2>/dev/null || true; done
  rm -rf "${tmp}"
}
trap cleanup EXIT INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_serve NAME [VAR=value...]: `serve` on free ports with those variables; sets ${serve_url}.
start_serve() {
  local name="$1"
  shift
  local mcp_port s3_port
  mcp_port="$(free_port)"
  s3_port="$(free_port)"
  while [[ "${s3_port}" == "${mcp_port}" ]]; do s3_port="$(free_port)"; done
  log "starting serve (${name}) on 127.0.0.1:${mcp_port} (store 127.0.0.1:${s3_port})"
  env RUST_LOG="${RUST_LOG:-warn}" "$@" "${bin}" serve --listen "127.0.0.1:${mcp_port}" \
    --s3-listen "127.0.0.1:${s3_port}" --data-dir "${tmp}/${name}" >"${tmp}/${name}.log" 2>&1 &
  local pid="$!"
  pids+=("${pid}")
  for _ in $(seq 1 100); do
    curl -fsS "http://127.0.0.1:${mcp_port}/healthz" >/dev/null 2>&1 && break
    kill -0 "${pid}" 2>/dev/null || { cat "${tmp}/${name}.log" >&2; log "serve exited"; exit 1; }
    sleep 0.1
  done
  curl -fsS "http://127.0.0.1:${mcp_port}/healthz" >/dev/null || { cat "${tmp}/${name}.log" >&2; log "serve not healthy"; exit 1; }
  serve_url="http://127.0.0.1:${mcp_port}/mcp"
}

start_serve serve
url="${serve_url}"

# --- the tests -------------------------------------------------------------------------------------
passed=0
failed=0
run() {
  local name="$1"
  shift
  echo "== ${name}"
  if timeout 180 "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: ${name}"
  fi
}

run "python sdk, streamable http, 2026-07-28 (server/discover)" \
  "${venv}/bin/python" "${clients}/py_client.py" --mode auto http "${url}" "${image}"
run "python sdk, streamable http, 2025 initialize handshake" \
  "${venv}/bin/python" "${clients}/py_client.py" --mode legacy http "${url}" "${image}"
run "typescript sdk, streamable http" \
  node "${clients}/ts_client.mjs" "${url}" "${image}"
# Claude Desktop's remote setup: mcp-remote bridges stdio to HTTP, with the API key header.
run "python sdk, stdio through mcp-remote (Claude Desktop remote config)" \
  "${venv}/bin/python" "${clients}/py_client.py" --mode legacy proxy \
  --env 'AUTH_HEADER=Bearer local-test-key' --env "MCP_REMOTE_CONFIG_DIR=${tmp}/mcp-auth" \
  "${image}" -- "${clients}/node_modules/.bin/mcp-remote" "${url}" --header 'Authorization:${AUTH_HEADER}'

# stdio: the corpus is allowed, plus a scratch dir holding a symlink that points outside it.
mkdir -p "${tmp}/allowed" "${tmp}/elsewhere"
cp "${image}" "${tmp}/elsewhere/outside.jpeg"
ln -s "${tmp}/elsewhere/outside.jpeg" "${tmp}/allowed/escape.jpeg"
stdio_s3_port="$(free_port)"
run "python sdk, stdio, upload by path" \
  "${venv}/bin/python" "${clients}/py_client.py" stdio --bin "${bin}" \
  --allow-dir "${images}" --allow-dir "${tmp}/allowed" --image "${image}" \
  --outside "${tmp}/elsewhere/outside.jpeg" --escape "${tmp}/allowed/escape.jpeg" \
  -- --data-dir "${tmp}/stdio" --s3-listen "127.0.0.1:${stdio_s3_port}"

# --- OAuth: serve as the resource server of a real OpenID Provider ---------------------------------
provider="$("${root}/scripts/ensure-oidc-provider.sh")"
node "${provider}" >"${tmp}/oidc.json" 2>"${tmp}/oidc.log" &
pids+=("$!")
for _ in $(seq 1 100); do
  [[ -s "${tmp}/oidc.json" ]] && break
  sleep 0.1
done
oidc() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "${tmp}/oidc.json" "$1"; }
issuer="$(oidc issuer)"
token_endpoint="$(oidc token_endpoint)"
api_key="client-tests-api-key-0c7e1f"
cat >"${tmp}/principals.json" <<JSON
{"keys": [
  {"id": "design-team", "oauth_group": "designers", "prefixes": ["figma/*"]},
  {"id": "robot", "sha256": "$(printf %s "${api_key}" | sha256sum | cut -d' ' -f1)", "prefixes": ["robot/*"]}
]}
JSON
start_serve oauth AUTH_MODE=api_key,oauth API_KEYS_FILE="${tmp}/principals.json" \
  OAUTH_ISSUER="${issuer}" OAUTH_REQUIRED_SCOPES=upload
oauth_url="${serve_url}"
token="$(curl -fsS -u mcp-tests:mcp-tests-secret -d grant_type=client_credentials \
  --data-urlencode "resource=${oauth_url}" -d scope=upload "${token_endpoint}" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')"

run "typescript sdk, oauth: signs in from the 401 challenge (client credentials)" \
  node "${clients}/ts_client.mjs" "${oauth_url}" "${image}" \
  --oauth-client mcp-tests:mcp-tests-secret --oauth-issuer "${issuer}" --oauth-scope upload \
  --expect-key-prefix images/figma/
run "typescript sdk, oauth: access token in the Authorization header" \
  node "${clients}/ts_client.mjs" "${oauth_url}" "${image}" \
  --header "Authorization: Bearer ${token}" --expect-key-prefix images/figma/
run "python sdk, oauth: access token in the Authorization header" \
  "${venv}/bin/python" "${clients}/py_client.py" --mode auto http "${oauth_url}" "${image}" \
  --header "Authorization: Bearer ${token}"
# The same sign-in with this server standing in for the issuer's metadata (OAUTH_METADATA_PROXY, for
# Cognito and Entra ID): the SDK must accept this server as the authorization server.
start_serve oauth-proxy AUTH_MODE=oauth API_KEYS_FILE="${tmp}/principals.json" \
  OAUTH_ISSUER="${issuer}" OAUTH_REQUIRED_SCOPES=upload OAUTH_METADATA_PROXY=true
run "typescript sdk, oauth: signs in through the metadata proxy" \
  node "${clients}/ts_client.mjs" "${serve_url}" "${image}" \
  --oauth-client mcp-tests:mcp-tests-secret --oauth-issuer "${serve_url%/mcp}" --oauth-scope upload \
  --expect-key-prefix images/figma/
run "typescript sdk, api key on the same api_key,oauth server" \
  node "${clients}/ts_client.mjs" "${oauth_url}" "${image}" \
  --header "x-api-key: ${api_key}" --expect-key-prefix images/robot/

if ((failed)); then
  echo "--- serve log" && tail -n 50 "${tmp}/serve.log"
  echo "--- serve (oauth) log" && tail -n 50 "${tmp}/oauth.log"
fi
echo "${passed} passed, ${failed} failed"
((failed == 0))
