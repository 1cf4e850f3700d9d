#!/usr/bin/env bash
# Quickstart 1: set up, then run crm-sync's main job on the sandbox CRMs (extra arguments go to `crm-sync demo`).
set -euo pipefail
cd "$(dirname "$0")"
scripts/setup.sh
exec .venv/bin/crm-sync demo "$@"
