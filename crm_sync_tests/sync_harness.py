"""A sandbox, a sync.yaml pointing at it, the real clients, and cycles run through Dagster: for sync tests."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import yaml
from filelock import FileLock
from hubspot import HubSpot

from crm_sandbox.server import running_sandbox
from crm_sync.connectors.salesforce import connect, http_session, sandbox_credentials
from crm_sync.engine import db
from crm_sync.runner import CycleOutcome, execute_cycle

ROOT = Path(__file__).resolve().parents[1]
# The pairs with shipped mappings that the shipped sync.yaml leaves out, as a user adds them.
EXTRA_PAIRS = {"tickets": {"hubspot": "tickets", "salesforce": "Case"},
               "tasks": {"hubspot": "tasks", "salesforce": "Task"},
               "calls": {"hubspot": "calls", "salesforce": "Task"},
               "emails": {"hubspot": "emails", "salesforce": "Task"},
               "meetings": {"hubspot": "meetings", "salesforce": "Event"},
               "notes": {"hubspot": "notes", "salesforce": "Task"},
               "products": {"hubspot": "products", "salesforce": "Product2"},
               "line_items": {"hubspot": "line_items", "salesforce": "OpportunityLineItem"}}
HS_WRITE = re.compile(r"/batch/(create|update|upsert|archive)$|/batch/associate/|/batch/archive$")
HS_READ = re.compile(r"/search$|/batch/read$")


@dataclass
class SyncEnv:
    root: Path
    info: dict
    config_path: Path

    @property
    def sandbox_dir(self) -> Path:
        return self.root / "sandbox"

    def sf(self):
        return connect(sandbox_credentials(self.info))

    def hs(self) -> HubSpot:
        return HubSpot(access_token=self.info["hubspot"]["access_token"], host=self.info["hubspot"]["base_url"])

    def sf_admin(self, path: str, body: dict | None = None, method: str = "POST") -> dict:
        session = http_session(self.info["salesforce"]["ca_file"])
        resp = session.request(method, f"{self.info['salesforce']['admin_url']}/{path}", json=body, timeout=60)
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else {}

    def hs_admin(self, path: str, body: dict | None = None, method: str = "POST") -> dict:
        session = http_session(None)
        session.trust_env = False
        resp = session.request(method, f"{self.info['hubspot']['admin_url']}/{path}", json=body, timeout=60)
        assert resp.status_code < 300, resp.text
        return resp.json() if resp.content else {}

    def cycle(self) -> CycleOutcome:
        outcome = execute_cycle(self.config_path)
        assert outcome.success, f"sync cycle {outcome.run_id} failed"
        return outcome

    def converge(self, max_cycles: int = 5) -> list[CycleOutcome]:
        outcomes = []
        for _ in range(max_cycles):
            outcomes.append(self.cycle())
            if outcomes[-1].planned_writes == 0:
                return outcomes
        raise AssertionError(f"no quiet cycle after {max_cycles}: {[o.summary['writes'] for o in outcomes]}")

    @contextlib.contextmanager
    def state(self):
        con = db.connect(self.root / "state" / "crm_sync.duckdb")
        try:
            yield con
        finally:
            con.close()

    def links(self, pair: str) -> dict[str, str]:
        """hubspot_id -> salesforce_id of a pair's links."""
        with self.state() as con:
            return dict(con.execute("SELECT hubspot_id, salesforce_id FROM sync.links WHERE pair = ?",
                                    [pair]).fetchall())

    def usage(self, system: str) -> dict[str, int]:
        admin = self.sf_admin if system == "salesforce" else self.hs_admin
        return admin("usage", method="GET")["by_endpoint"]


def write_config(root: Path, pairs_override: dict | None = None, extra: dict | None = None,
                 product_instance: bool = False) -> Path:
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    raw["connections"]["salesforce"]["sandbox_dir"] = str(root / "sandbox")
    raw["connections"]["hubspot"]["sandbox_dir"] = str(root / "sandbox")
    raw["state_path"] = str(root / "state" / "crm_sync.duckdb")
    raw["dagster_home"] = str(root / "dagster_home")
    if pairs_override:
        for name, override in pairs_override.items():
            raw["pairs"][name].update(override)
    raw.update(extra or {})
    path = root / "sync.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    if not product_instance:
        _fast_instance(Path(raw["dagster_home"]))
    return path


# The CLI's instance (runner.INSTANCE_YAML: SQLite runs and events in dagster_home) with its event log in memory:
# SQLite opens a connection and commits for every event (some 12 ms each here, a thousand events a cycle), which
# made the CLI runs of the tests spend more time recording events than syncing. Runs still land in the folder's
# run storage; events last as long as the process. The tests of the UI's history use the product's own instance
# (product_instance=True: the product writes the dagster_home's instance on the first run).
FAST_EVENTS = """event_log_storage:
  module: dagster._core.storage.event_log
  class: InMemoryEventLogStorage
"""


def _fast_instance(home: Path) -> None:
    from crm_sync.runner import INSTANCE_YAML

    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(INSTANCE_YAML + FAST_EVENTS)


@contextlib.contextmanager
def sync_env(root: Path, seed_size: int | None = None, seed: int = 11, pairs_override: dict | None = None,
             extra: dict | None = None) -> Iterator[SyncEnv]:
    if seed_size:
        from crm_sandbox.seed import seed_sandbox

        seed_sandbox(root / "sandbox", size=seed_size, seed=seed)
    config = write_config(root, pairs_override, extra)
    with running_sandbox(root / "sandbox") as info:
        yield SyncEnv(root, info, config)


def dump(obj) -> str:
    return json.dumps(obj, indent=1, default=str)


def call_kind(system: str, label: str) -> str:
    """read | write | other for a sandbox usage label ("GET queryAll", "POST /crm/v3/objects/contacts/search");
    other: token, describe, properties, owners."""
    method, _, path = label.partition(" ")
    if system == "salesforce":
        if label.startswith("auth:"):
            return "other"
        if path.split("/")[0] in ("query", "queryAll"):
            return "read"
        if path.startswith("composite/sobjects") or (path.startswith("sobjects/") and method != "GET"):
            return "write"
        if path.startswith("jobs/query"):
            return "read"
        if path.startswith("jobs/ingest"):
            return "write"  # a Bulk API 2.0 ingest job's calls: create, upload, close, polls, results
        if path.startswith("sobjects/") and path.count("/") == 2 and not path.endswith(("describe", "updated",
                                                                                         "deleted")):
            return "read"  # GET sobjects/X/{id}
        return "other"
    if HS_WRITE.search(path) or (method in ("PATCH", "DELETE") and "/objects/" in path):
        return "write"
    if HS_READ.search(path) or (method == "GET" and path.startswith("/crm/v3/objects/")):
        return "read"
    return "other"


_TEMPLATES: dict[tuple[int, int], Path] = {}


def _template(seed_size: int, seed: int) -> Path:
    """A seeded sandbox and the state of a sync that converged on it (default sync.yaml), made once per test run
    and copied for each test that starts from there. Under pytest-xdist the workers share one (the first to get
    the lock builds it, in the run's common temporary folder, which pytest removes with old runs)."""
    key = (seed_size, seed)
    if key in _TEMPLATES:
        return _TEMPLATES[key]
    shared = os.environ.get("CRM_SYNC_TEMPLATE_DIR")
    if shared:
        base = Path(shared)
    else:
        base = Path(tempfile.mkdtemp(prefix="crm-sync-templates-"))
        atexit.register(shutil.rmtree, base, ignore_errors=True)
    root = base / f"converged-{seed_size}-{seed}"
    base.mkdir(parents=True, exist_ok=True)
    with FileLock(str(base / f"converged-{seed_size}-{seed}.lock")):
        if not (root / "done").exists():
            shutil.rmtree(root, ignore_errors=True)
            with sync_env(root, seed_size=seed_size, seed=seed) as env:
                env.converge()
            (root / "done").touch()
    _TEMPLATES[key] = root
    return root


@contextlib.contextmanager
def converged_env(root: Path, seed_size: int = 100, seed: int = 11, pairs_override: dict | None = None,
                  extra: dict | None = None, product_instance: bool = False) -> Iterator[SyncEnv]:
    """Like sync_env followed by converge(), from a copy of the converged template: the sandbox's data and the
    sync's state are the test's own (it starts its own sandbox on them), the seeding and first cycles are shared."""
    template = _template(seed_size, seed)
    shutil.copytree(template / "sandbox", root / "sandbox", ignore=shutil.ignore_patterns("sandbox.json", "*.log"))
    shutil.copytree(template / "state", root / "state")
    config = write_config(root, pairs_override, extra, product_instance)
    with running_sandbox(root / "sandbox") as info:
        yield SyncEnv(root, info, config)
