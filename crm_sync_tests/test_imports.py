"""Every module imports on its own, first thing in a process: an import cycle that only the order of a whole test
run hides (db -> config -> expressions -> db) fails here, where a user's `python -c 'import ...'` would."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import crm_sync

# One process; before each module, every crm_sync module is forgotten, so each is imported first (third-party
# libraries stay loaded: they are not what the check is about, and reloading Dagster would take minutes).
PROBE = """
import importlib, sys, traceback
failed = []
for name in sys.argv[1:]:
    for loaded in [m for m in sys.modules if m == "crm_sync" or m.startswith(("crm_sync.", "crm_sync_tests"))]:
        del sys.modules[loaded]
    try:
        importlib.import_module(name)
    except Exception:
        failed.append(name + ": " + traceback.format_exc().strip().splitlines()[-1])
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def _modules(package) -> list[str]:
    return [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]


def test_every_module_imports_first_in_a_process():
    names = _modules(crm_sync) + ["crm_sync_tests.sync_harness", "crm_sync_tests.convergence"]
    assert len(names) > 30  # the walk found the package
    done = subprocess.run([sys.executable, "-c", PROBE, *names], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
