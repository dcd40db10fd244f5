#!/usr/bin/env bash
# The MCP Apps upload view in a real browser: headless Debian Chromium, driven by playwright-core,
# loads the view through a minimal web host (tests/browser: official TypeScript MCP client +
# ext-apps AppBridge + sandbox proxy on a second origin with the resource's CSP) and uploads two
# corpus images and one non-image file through the file input.
#   1. the committed src/mcp/ui/uploader.html is built from ui/uploader (scripts/build-ui.sh --check)
#   2. the view against tests/browser/stub-server.mjs (the same contract in TypeScript, no Rust)
#   3. the view against the real binary: `serve` on free loopback ports, embedded store
# Installs what it needs (Chromium via scripts/ensure-chromium.sh, `npm ci` in tests/browser).
# Screenshots go to $BROWSER_SCREENSHOTS (default target/browser-screenshots/{stub,serve}); copy
# the serve ones to docs/ when the view changes. Prints `N passed, N failed`; exits non-zero on
# any failure.
# Usage: scripts/browser-tests.sh [--stub | --binary PATH]
#   --stub         steps 1-2 only, no cargo build
#   --binary PATH  run step 3 against this s3-upload-mcp binary instead of building one
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
browser_tests="${root}/tests/browser"
# The shared corpus sits beside the repository (CI's layout); CORPUS_IMAGES points elsewhere.
images="${CORPUS_IMAGES:-${root}/../shared/corpus/images}"
shots="${BROWSER_SCREENSHOTS:-${root}/target/browser-screenshots}"
stub_only=false
bin=""
case "${1:-}" in
  "") ;;
  --stub) stub_only=true ;;
  --binary) bin="$(realpath "${2:?--binary needs a path}")" ;;
  *) echo "usage: $0 [--stub | --binary PATH]" >&2 && exit 2 ;;
esac
cd "${root}"

log() { echo "browser-tests: $*" >&2; }
[[ -d "${images}" ]] || { log "no image corpus at ${images} (set CORPUS_IMAGES)"; exit 1; }

# --- the browser and the harness -------------------------------------------------------------------
chromium="$(scripts/ensure-chromium.sh)"
stamp="${browser_tests}/node_modules/.installed-from-lock"
if ! cmp -s "${browser_tests}/package-lock.json" "${stamp}"; then
  log "installing the harness (npm ci in tests/browser)"
  (cd "${browser_tests}" && npm ci --silent --no-audit --no-fund)
  cp "${browser_tests}/package-lock.json" "${stamp}"
fi
if ! "${stub_only}" && [[ -z "${bin}" ]]; then
  log "cargo build"
  cargo build --quiet --bin s3-upload-mcp
  target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
  bin="${target_dir}/debug/s3-upload-mcp"
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

# Waits for `MCP <url>` on the first line of a log, or for an HTTP health URL; prints the MCP URL.
wait_for_stub() {
  local log_file="$1" pid="$2"
  for _ in $(seq 1 100); do
    if grep -q '^MCP ' "${log_file}" 2>/dev/null; then
      awk '/^MCP /{print $2; exit}' "${log_file}"
      return 0
    fi
    kill -0 "${pid}" 2>/dev/null || break
    sleep 0.1
  done
  cat "${log_file}" >&2
  return 1
}

passed=0
failed=0
run() {
  local name="$1"
  shift
  echo "== ${name}"
  if timeout 300 "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED: ${name}"
  fi
}
harness=(node "${browser_tests}/run.mjs" --chromium "${chromium}"
  --image "${images}/flowers.jpeg" --image "${images}/ui-dashboard-light.png")

# --- 1. the committed view is its source, built ---------------------------------------------------
run "src/mcp/ui/uploader.html is built from ui/uploader" scripts/build-ui.sh --check

# --- 2. the view against the TypeScript stub -------------------------------------------------------
node "${browser_tests}/stub-server.mjs" --html "${root}/src/mcp/ui/uploader.html" >"${tmp}/stub.log" 2>&1 &
pids+=("$!")
if stub_url="$(wait_for_stub "${tmp}/stub.log" "${pids[-1]}")"; then
  run "upload view, test host, stub server" "${harness[@]}" --mcp-url "${stub_url}" --screenshots "${shots}/stub"
else
  failed=$((failed + 1))
  echo "FAILED: stub server did not start"
fi

# --- 3. the view against the real server -----------------------------------------------------------
if ! "${stub_only}"; then
  mcp_port="$(free_port)"
  s3_port="$(free_port)"
  while [[ "${s3_port}" == "${mcp_port}" ]]; do s3_port="$(free_port)"; done
  log "starting serve on 127.0.0.1:${mcp_port} (store 127.0.0.1:${s3_port})"
  RUST_LOG="${RUST_LOG:-warn}" "${bin}" serve --listen "127.0.0.1:${mcp_port}" \
    --s3-listen "127.0.0.1:${s3_port}" --data-dir "${tmp}/serve" >"${tmp}/serve.log" 2>&1 &
  serve_pid="$!"
  pids+=("${serve_pid}")
  healthy=false
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:${mcp_port}/healthz" >/dev/null 2>&1; then healthy=true && break; fi
    kill -0 "${serve_pid}" 2>/dev/null || break
    sleep 0.1
  done
  if "${healthy}"; then
    run "upload view, test host, s3-upload-mcp serve (embedded store)" \
      "${harness[@]}" --mcp-url "http://127.0.0.1:${mcp_port}/mcp" --screenshots "${shots}/serve"
  else
    failed=$((failed + 1))
    echo "FAILED: serve did not become healthy"
  fi
  if ((failed)); then
    echo "--- serve log" && tail -n 50 "${tmp}/serve.log"
  fi
fi

echo "${passed} passed, ${failed} failed"
((failed == 0))
