#!/usr/bin/env bash
# Packaging test (`make test-wheel`): builds the wheel and the sdist, installs the wheel into a
# fresh venv whose PATH has no Rust toolchain, checks what was installed, and runs the demo.
# The wheel is built with the dev profile to keep CI short; the release workflow
# (.github/workflows/release.yml) builds the same wheel with --release on every platform.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

.venv/bin/maturin build -q --profile dev --out "$work/dist"
.venv/bin/maturin sdist --out "$work/dist"
python3 -m venv "$work/venv"

# Only the new venv on PATH: no cargo, no rustc, no project venv.
clean_env=(env -i HOME="$work" PATH="$work/venv/bin" LANG=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1)
for tool in cargo rustc maturin; do
  if "${clean_env[@]}" /bin/sh -c "command -v $tool" >/dev/null; then
    echo "wheel-test: $tool is on the clean PATH" >&2
    exit 1
  fi
done
"${clean_env[@]}" python -m pip install -q "$work"/dist/*.whl
"${clean_env[@]}" python .ci/check_install.py "$work/dist"
"${clean_env[@]}" python -m synapse_agent_rs.demo --lines 100000
echo "wheel-test: OK"
