#!/usr/bin/env bash
# Load benchmark: starts `s3-upload-mcp serve` (release build, embedded store, fresh data dir),
# fires UPLOADS uploads at CONCURRENCY through the MCP endpoint with scripts/load.py, checks every
# returned URL serves the reported sha256, and reports latency percentiles and the server's peak RSS.
#
#   scripts/load.sh                    # 200 uploads, all at once
#   UPLOADS=400 CONCURRENCY=64 scripts/load.sh
#   PROFILE=debug scripts/load.sh      # skip the release build (numbers are not representative)
#
# Not a test: no assertion on speed. Exit status 1 if any upload was lost or corrupted.
set -euo pipefail

cd "$(dirname "$0")/.."
UPLOADS="${UPLOADS:-200}"
CONCURRENCY="${CONCURRENCY:-$UPLOADS}"
PROFILE="${PROFILE:-release}"
PORT="${PORT:-18480}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"

if [[ "$PROFILE" == release ]]; then
  cargo build --release --quiet
else
  cargo build --quiet
fi
BIN="$TARGET_DIR/$PROFILE/s3-upload-mcp"

DATA_DIR="$(mktemp -d)"
cleanup() {
  if [[ -n "${SERVER_PID:-}" ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  rm -rf "$DATA_DIR"
}
trap cleanup EXIT

# Every upload holds a connection while it runs: let all of them in (the default cap is 170).
MAX_CONNECTIONS="${MAX_CONNECTIONS:-$((CONCURRENCY + 64))}" RUST_LOG="${RUST_LOG:-warn}" "$BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$DATA_DIR" >"$DATA_DIR/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then break; fi
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null

RSS_BEFORE_KB=$(awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
status=0
python3 scripts/load.py --endpoint "http://127.0.0.1:$PORT/mcp" --uploads "$UPLOADS" --concurrency "$CONCURRENCY" || status=$?
# VmHWM: the peak resident set size of the server over its whole life.
PEAK_KB=$(awk '/^VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
OBJECTS=$(find "$DATA_DIR/s3" -path '*/load/*' -type f | wc -l)
echo "server: profile=$PROFILE idle_rss_mb=$((RSS_BEFORE_KB / 1024)) peak_rss_mb=$((PEAK_KB / 1024)) objects_on_disk=$OBJECTS"
if [[ $status -ne 0 ]]; then
  echo "--- server log (tail) ---"; tail -20 "$DATA_DIR/server.log"
fi
exit $status
