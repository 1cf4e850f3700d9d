"""Test ordering for the whole repository: the longest tests start first, so that pytest-xdist's workers finish
together instead of one worker running a long test alone at the end."""

from __future__ import annotations

# Modules whose tests take seconds each (sandboxes seeded and synced), longest first; the rest keep their order.
LONG_FIRST = ("test_convergence.py", "test_backfill.py", "test_sync_calls.py", "test_demo.py",
              "test_sync_failures.py", "test_salesforce_collections.py",
              "test_sync_cycle.py", "test_ui.py", "test_sync_identity.py", "test_install.py",
              "test_hubspot_connector.py", "test_churn.py", "test_salesforce_connector.py", "test_definitions.py",
              "test_reconcile.py")


def pytest_collection_modifyitems(session, config, items):
    rank = {name: n for n, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FIRST)))
