#!/usr/bin/env bash
# Makes sure Debian's Chromium is installed for the browser tests (playwright-core drives it; the
# browsers Playwright would download itself cannot be fetched here). Idempotent: does nothing when
# /usr/bin/chromium exists. Prints the browser's path on stdout.
# Usage: scripts/ensure-chromium.sh
set -euo pipefail

chromium=/usr/bin/chromium
if [[ ! -x "${chromium}" ]]; then
  echo "ensure-chromium: installing chromium (apt)" >&2
  sudo=()
  if [[ "$(id -u)" != 0 ]]; then sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >&2
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
"${chromium}" --version >&2
echo "${chromium}"
