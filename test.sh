#!/usr/bin/env bash
# Quickstart 2: set up, then run every check: lint, the whole test suite of crm-sync and of the sandbox package.
set -uo pipefail
cd "$(dirname "$0")"
scripts/setup.sh || exit 1
.venv/bin/ruff check conftest.py crm_sync crm_sync_tests bench packages/crm-sandbox || exit 1
# Four workers on this 2-core machine kind: much of a sync test is waiting on a sandbox, a sleep or a rate limit;
# each worker starts its own sandbox. `./test.sh -n 0 ...` runs in one process.
.venv/bin/python -m pytest -n 4 --dist worksteal "$@"
rc=$?
if [ "$rc" -eq 5 ]; then
  echo "test.sh: pytest collected no tests; that is a failure here" >&2
  exit 1
fi
exit "$rc"
