#!/usr/bin/env bash
# Lint template.yaml with cfn-lint (SAM transform included); exit non-zero on any finding.
# cfn-lint comes from PyPI into the repo's git-ignored .venv, so CI needs only python3.
# Usage: scripts/cfn-lint.sh [extra cfn-lint args...]   (CFN_LINT_VERSION pins a version)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${root}/.venv"
lint="${venv}/bin/cfn-lint"

if [[ ! -x "${lint}" ]]; then
  echo "cfn-lint.sh: installing cfn-lint${CFN_LINT_VERSION:+==${CFN_LINT_VERSION}} into ${venv}" >&2
  [[ -x "${venv}/bin/python" ]] || python3 -m venv "${venv}"
  "${venv}/bin/python" -m pip install --quiet --disable-pip-version-check \
    "cfn-lint${CFN_LINT_VERSION:+==${CFN_LINT_VERSION}}"
fi

cd "${root}"
echo "cfn-lint $("${lint}" --version | awk '{print $2}'): template.yaml" >&2
# Informational checks (I*) are included: cfn-lint exits 0 only when it reports nothing at all.
"${lint}" --include-checks I "$@" -- template.yaml
echo "cfn-lint: template.yaml is clean" >&2
