#!/usr/bin/env bash
# Runs the function under cargo-lambda's Runtime API emulator (`cargo lambda watch`) and replays the
# Function URL events through the real lambda_http path with `cargo lambda invoke`: initialize and
# tools/list must answer with JSON-RPC results. No AWS: the function only needs S3 for uploads.
# cargo-lambda comes from PyPI into the git-ignored .venv-lambda/ (see scripts/lambda-build.sh).
# Usage: scripts/lambda-watch-test.sh   Prints `N passed, N failed`; exits non-zero on any failure.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${root}/.venv-lambda"
cd "${root}"

if [[ ! -x "${venv}/bin/cargo-lambda" ]]; then
  echo "lambda-watch-test.sh: installing cargo-lambda into ${venv}" >&2
  python3 -m venv "${venv}"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check \
    "cargo-lambda${CARGO_LAMBDA_VERSION:+==${CARGO_LAMBDA_VERSION}}" "ziglang${ZIGLANG_VERSION:+==${ZIGLANG_VERSION}}"
fi
export PATH="${venv}/bin:${PATH}"

tmp="$(mktemp -d)"
watch_pid=""
cleanup() {
  # cargo lambda watch runs the function as a child: stop the whole process group we started.
  if [[ -n "${watch_pid}" ]]; then
    kill -- "-${watch_pid}" 2>/dev/null || true
    wait "${watch_pid}" 2>/dev/null || true
  fi
  rm -rf "${tmp}"
}
trap cleanup EXIT INT TERM

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')"
echo "lambda-watch-test.sh: cargo lambda watch on 127.0.0.1:${port}" >&2
# setsid: its own process group, so cleanup stops cargo-lambda and the function it spawned.
setsid cargo lambda watch --ignore-changes --invoke-address 127.0.0.1 --invoke-port "${port}" \
  --env-var S3_BUCKET_NAME=example-bucket --env-var AWS_REGION=us-east-1 \
  --env-var AWS_ACCESS_KEY_ID=test --env-var AWS_SECRET_ACCESS_KEY=test \
  --env-var API_KEYS_FILE="${root}/tests/fixtures/events-api-keys.json" \
  --env-var RUST_LOG=info >"${tmp}/watch.log" 2>&1 &
watch_pid=$!
for _ in $(seq 1 300); do
  (echo >"/dev/tcp/127.0.0.1/${port}") 2>/dev/null && break
  kill -0 "${watch_pid}" 2>/dev/null || { cat "${tmp}/watch.log" >&2; exit 1; }
  sleep 1
done

passed=0
failed=0
invoke() {
  local event="$1" expect="$2" out
  echo "== invoke ${event}"
  # The first invoke waits for the emulator to build and start the function.
  if out="$(timeout 600 cargo lambda invoke s3-upload-mcp --invoke-address 127.0.0.1 \
    --invoke-port "${port}" --data-file "events/${event}" 2>&1)" \
    && python3 - "${expect}" "${out}" <<'EOF'
import json, sys
expect, raw = sys.argv[1], sys.argv[2]
try:
    response = json.loads(raw)
except ValueError:
    # A call that sent progress answers as SSE: the JSON-RPC messages are the `data:` lines,
    # streamed through the Function URL's RESPONSE_STREAM mode.
    messages = [json.loads(line[5:]) for line in raw.splitlines() if line.startswith("data:") and line[5:].strip()]
    response = next(m for m in messages if "result" in m or "error" in m)
# A streaming function (run_with_streaming_response) hands `invoke` the body itself; a buffered
# one would give an API Gateway-style {statusCode, body} envelope.
if "statusCode" in response:
    assert response["statusCode"] == 200, f"status {response['statusCode']}"
    body = response.get("body", "")
    response = json.loads(body)
else:
    body = raw
print(f"response: {body[:200]}…")
assert "result" in response, f"no JSON-RPC result: {response}"
assert expect in body, f"{expect!r} not in the response"
EOF
  then
    passed=$((passed + 1))
  else
    echo "${out}"
    failed=$((failed + 1))
    echo "FAILED: ${event}"
  fi
}

invoke function-url-initialize.json '"serverInfo"'
invoke function-url-tools-list.json '"upload_image_to_s3"'
# Two unreadable items: no S3 needed, yet each finishes with a progress notification, streamed.
invoke function-url-batch-progress.json '"notifications/progress"'

if ((failed)); then echo "--- watch log" && tail -n 40 "${tmp}/watch.log"; fi
echo "${passed} passed, ${failed} failed"
((failed == 0))
