#!/usr/bin/env bash
# Builds the Lambda deployment zip with cargo-lambda (zig as the cross linker) and reports its size.
# cargo-lambda and ziglang come from PyPI into the git-ignored .venv-lambda/, so this needs only
# cargo and python3. Output: target/lambda/s3-upload-mcp/bootstrap.zip (under CARGO_TARGET_DIR).
#
# Usage: scripts/lambda-build.sh [--arm64|--x86-64]   (default --arm64, what template.yaml deploys)
#   LAMBDA_ZIP_LIMIT_MB (default 12): fail if the zip is larger.
#
# --arm64 needs the aarch64-unknown-linux-gnu standard library; cargo-lambda installs it with rustup
# when missing. Cold build: ~11 min on 2 cores; the zip was 9.0 MB (bootstrap 21.8 MB, glibc <= 2.30).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${root}/.venv-lambda"
arch="${1:---arm64}"
limit_mb="${LAMBDA_ZIP_LIMIT_MB:-12}"
cd "${root}"

if [[ ! -x "${venv}/bin/cargo-lambda" ]]; then
  echo "lambda-build.sh: installing cargo-lambda and ziglang into ${venv}" >&2
  python3 -m venv "${venv}"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check \
    "cargo-lambda${CARGO_LAMBDA_VERSION:+==${CARGO_LAMBDA_VERSION}}" "ziglang${ZIGLANG_VERSION:+==${ZIGLANG_VERSION}}"
fi
# cargo finds `cargo-lambda` on PATH; cargo-lambda finds zig through the venv's python-zig.
export PATH="${venv}/bin:${PATH}"

case "${arch}" in
  --arm64) triple=aarch64-unknown-linux-gnu ;;
  --x86-64) triple=x86_64-unknown-linux-gnu ;;
  *) echo "usage: $0 [--arm64|--x86-64]" >&2; exit 2 ;;
esac
echo "lambda-build.sh: cargo lambda build --release ${arch} --output-format zip" >&2
# cargo-lambda runs `rustup target add` itself when the target's standard library is missing.
if ! cargo lambda build --release "${arch}" --output-format zip --bin s3-upload-mcp; then
  echo "lambda-build.sh: build failed; if the ${triple} standard library could not be installed" >&2
  echo "  (rustup target add ${triple}), try: $0 --x86-64 (and Architectures: [x86_64] in template.yaml)" >&2
  exit 1
fi

target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
zip="${target_dir}/lambda/s3-upload-mcp/bootstrap.zip"
bytes="$(stat -c %s "${zip}")"
mb="$(python3 -c "print(f'{${bytes}/1e6:.1f}')")"
echo "lambda-build.sh: ${zip}: ${bytes} bytes (${mb} MB, ${triple})"
if ((bytes > limit_mb * 1000 * 1000)); then
  echo "lambda-build.sh: the zip is over the ${limit_mb} MB goal" >&2
  exit 1
fi
