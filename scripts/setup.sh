#!/usr/bin/env bash
# Create .venv and install crm-sync (with the sandbox, the Dagster UI and the dev tools) and the sandbox package
# from packages/crm-sandbox; a no-op when neither pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.crm-sync-installed
want=$(cat pyproject.toml packages/crm-sandbox/pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  .venv/bin/python -m pip install --quiet --upgrade pip
  # The sandbox first, from this repository, so the `sandbox` extra never looks for it on a package index.
  .venv/bin/python -m pip install --quiet -e 'packages/crm-sandbox[test]'
  .venv/bin/python -m pip install --quiet -e '.[sandbox,ui,dev]'
  echo "$want" > "$stamp"
fi
