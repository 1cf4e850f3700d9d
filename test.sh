#!/usr/bin/env bash
# Quickstart 2: set up, then run every check: lint, the whole test suite of crm-sync and of the sandbox package.
set -uo pipefail
cd "$(dirname "$0")"
scripts/setup.sh || exit 1
.venv/bin/ruff check crm_sync crm_sync_tests bench packages/crm-sandbox || exit 1
# Two workers (this machine kind has 2 cores); a module's tests stay on one worker, each worker starts its own
# sandbox. `./test.sh -n 0 ...` runs in one process.
.venv/bin/python -m pytest -n 2 --dist loadscope "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure here" >&2
  exit 1
fi
exit "$rc"
