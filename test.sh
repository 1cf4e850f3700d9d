#!/usr/bin/env bash
# Quickstart 2: set up, then run every check: lint, Dagster definitions, the whole test suite.
set -uo pipefail
cd "$(dirname "$0")"
scripts/setup.sh || exit 1
.venv/bin/ruff check crm_sync crm_sync_tests bench packages/crm-sandbox || exit 1
.venv/bin/python -m pytest "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure here" >&2
  exit 1
fi
exit "$rc"
