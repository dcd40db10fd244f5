#!/usr/bin/env bash
# Builds the Lambda deployment zip with cargo-lambda (zig as the cross linker) and reports its size.
# cargo-lambda and ziglang come from PyPI into the git-ignored .venv-lambda/, so this needs only
# cargo and python3. Output: target/lambda/s3-upload-mcp/bootstrap.zip (under CARGO_TARGET_DIR).
#
# Usage: scripts/lambda-build.sh [--arm64|--x86-64]   (default --arm64, what template.yaml deploys)
#   LAMBDA_ZIP_LIMIT_MB (default 12): fail if the zip is larger.
#
# --arm64 needs the aarch64-unknown-linux-gnu standard library (`rustup target add
# aarch64-unknown-linux-gnu`); where it cannot be installed, --x86-64 builds the closest substitute.
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
if ! rustc --print target-libdir --target "${triple}" >/dev/null 2>&1 \
  || [[ ! -d "$(rustc --print target-libdir --target "${triple}")" ]]; then
  echo "lambda-build.sh: the Rust standard library for ${triple} is not installed" >&2
  echo "  install it with: rustup target add ${triple}" >&2
  [[ "${triple}" == aarch64* ]] && echo "  or build the x86-64 zip instead: $0 --x86-64 (and set Architectures: [x86_64] in template.yaml)" >&2
  exit 1
fi

echo "lambda-build.sh: cargo lambda build --release ${arch} --output-format zip" >&2
cargo lambda build --release "${arch}" --output-format zip --bin s3-upload-mcp

target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
zip="${target_dir}/lambda/s3-upload-mcp/bootstrap.zip"
bytes="$(stat -c %s "${zip}")"
mb="$(python3 -c "print(f'{${bytes}/1e6:.1f}')")"
echo "lambda-build.sh: ${zip}: ${bytes} bytes (${mb} MB, ${triple})"
if ((bytes > limit_mb * 1000 * 1000)); then
  echo "lambda-build.sh: the zip is over the ${limit_mb} MB goal" >&2
  exit 1
fi
