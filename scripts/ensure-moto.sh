#!/usr/bin/env bash
# Installs moto's server (an AWS emulator: S3, Secrets Manager, …) into the git-ignored .venv-moto/
# unless it is there already, and prints the path of its `moto_server` command.
# The Secrets Manager tests call this themselves, so `cargo test` needs nothing installed by hand.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${root}/.venv-moto"
# Tests run in parallel and may all ask at once: one installs, the others wait for it.
exec 9>"${root}/.venv-moto.lock"
flock 9
if [[ ! -x "${venv}/bin/moto_server" ]]; then
  rm -rf "${venv}"
  echo "ensure-moto.sh: installing moto[server] into ${venv}" >&2
  python3 -m venv "${venv}" >&2
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check "moto[server]${MOTO_VERSION:+==${MOTO_VERSION}}" >&2
fi
echo "${venv}/bin/moto_server"
