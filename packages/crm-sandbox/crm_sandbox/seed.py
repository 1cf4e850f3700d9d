"""Seed the sandbox CRMs with an org and a portal that look like years of running both side by side.

`seed_sandbox` writes through the direct loaders (the sandbox may be running or stopped), reproducibly from the seed:
the same seed gives the same records field for field, ids and system timestamps aside. The two halves are generated
independently from one population model (see population.py), in parallel processes for large sizes.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from crm_sandbox.population import Layout

MARKER = "seed.json"
MIN_SIZE, MAX_SIZE = 100, 1_000_000
PARALLEL_FROM = 20_000  # below this, a second process costs more than it saves


@dataclass
class SeedSummary:
    """What a seed wrote; every number can be checked against the sandboxes through their APIs.

    people_on_both_sides counts distinct normalised (trimmed, lower-cased) emails present on both sides;
    companies_on_both_sides counts HubSpot domains equal to a Salesforce Website's host (scheme, www. and path
    removed). Duplicates are second records of one person; bad values are values the other side will reject.
    The User count excludes the org's own admin user; owners are what the owners API lists (archived ones aside),
    so they include the portal's admin owner, as a real portal's owners include the account's own user.
    """

    directory: str
    size: int
    seed: int
    overlap: float
    company_overlap: float
    duplicate_rate: float
    bad_value_rate: float
    salesforce: dict[str, int] = field(default_factory=dict)
    hubspot: dict[str, int] = field(default_factory=dict)
    hubspot_associations: dict[str, int] = field(default_factory=dict)
    people_on_both_sides: int = 0
    companies_on_both_sides: int = 0
    owners_on_both_sides: int = 0
    converted_leads: int = 0
    duplicates: dict[str, dict[str, int]] = field(default_factory=dict)
    bad_values: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def total_records(self) -> int:
        return sum(self.salesforce.values()) + sum(self.hubspot.values())


def _seed_salesforce(directory: str, layout: Layout) -> dict:
    from crm_sandbox.seed_salesforce import SalesforceSeeder

    return SalesforceSeeder(Path(directory), layout).run()


def _seed_hubspot(directory: str, layout: Layout) -> dict:
    from crm_sandbox.seed_hubspot import HubSpotSeeder

    return HubSpotSeeder(Path(directory), layout).run()


def _count_rows(path: Path, tables: tuple[str, ...]) -> int:
    """Rows in the given tables of a sandbox file (read-only; 0 when the file or table does not exist)."""
    if not path.exists():
        return 0
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        return sum(conn.execute(f'SELECT COUNT(*) FROM "{t}"').fetchone()[0] for t in tables if t in present)
    finally:
        conn.close()


def _claim(directory: Path, params: dict) -> Path:
    """Mark the folder as being seeded, or refuse when it already holds seeded (or any person/company) data."""
    marker = directory / MARKER
    held = (_count_rows(directory / "salesforce.sqlite3", ("Lead", "Contact", "Account"))
            + _count_rows(directory / "hubspot.sqlite3", ("obj_0_1", "obj_0_2")))
    if marker.exists() or held:
        why = f"see {marker}" if marker.exists() else f"it already holds {held} people/company records"
        raise ValueError(f"the sandbox in {directory} already holds seeded data ({why}); "
                         "seed a fresh folder instead")
    try:
        with marker.open("x") as out:  # exclusive create: two seeds racing on one folder cannot both proceed
            json.dump({"status": "seeding", **params}, out, indent=2)
    except FileExistsError:
        raise ValueError(f"the sandbox in {directory} is already being seeded (see {marker})") from None
    return marker


def seed_sandbox(directory: Path, size: int, seed: int, *, overlap: float = 0.6, company_overlap: float = 0.5,
                 duplicate_rate: float = 0.02, bad_value_rate: float = 0.01,
                 parallel: bool | None = None) -> SeedSummary:
    """Seed an empty sandbox folder with `size` people per side; raises ValueError when it already holds data.

    parallel: generate the HubSpot half in a second process (default: from PARALLEL_FROM people on).
    """
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ValueError(f"size must be between {MIN_SIZE:,} and {MAX_SIZE:,} people per side, got {size:,}")
    for name, value, high in (("overlap", overlap, 1.0), ("company_overlap", company_overlap, 1.0),
                              ("duplicate_rate", duplicate_rate, 0.2), ("bad_value_rate", bad_value_rate, 0.2)):
        if not 0.0 <= value <= high:
            raise ValueError(f"{name} must be between 0 and {high}, got {value}")
    started = time.perf_counter()
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    params = {"size": size, "seed": seed, "overlap": overlap, "company_overlap": company_overlap,
              "duplicate_rate": duplicate_rate, "bad_value_rate": bad_value_rate}
    marker = _claim(directory, params)
    layout = Layout(**params)
    if parallel if parallel is not None else size >= PARALLEL_FROM:
        # spawn, not fork: the caller may have threads (pytest, Dagster) that a fork would copy mid-flight.
        with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
            hubspot_future = pool.submit(_seed_hubspot, str(directory), layout)
            sf = _seed_salesforce(str(directory), layout)
            hs = hubspot_future.result()
    else:
        sf = _seed_salesforce(str(directory), layout)
        hs = _seed_hubspot(str(directory), layout)
    sf_counts = dict(sf["counts"])
    hs_counts = dict(hs["counts"])
    summary = SeedSummary(
        directory=str(directory), **params, salesforce=sf_counts, hubspot=hs_counts,
        hubspot_associations=hs["associations"], people_on_both_sides=layout.shared,
        companies_on_both_sides=layout.shared_companies, owners_on_both_sides=layout.shared_owners,
        converted_leads=sf["converted_leads"],
        duplicates={"salesforce": sf["duplicates"], "hubspot": hs["duplicates"]},
        bad_values={"salesforce": sf["bad_values"], "hubspot": hs["bad_values"]},
        seconds=round(time.perf_counter() - started, 3))
    marker.write_text(json.dumps({"status": "done", **summary.to_dict()}, indent=2))
    return summary


_ROWS = (("owners", "User", "owners"), ("companies", "Account", "companies"), ("people", "Contact", "contacts"),
         ("", "Lead", None), ("deals", "Opportunity", "deals"), ("", "OpportunityContactRole", None),
         ("products", "Product2", "products"), ("", "PricebookEntry", None),
         ("line items", "OpportunityLineItem", "line_items"),
         ("support", "Case", "tickets"), ("activities", "Task", "tasks"), ("", None, "notes"), ("", None, "calls"),
         ("", None, "emails"), ("", "Event", "meetings"))


def format_summary(summary: SeedSummary) -> str:
    """A readable table of what a seed wrote."""
    sf, hs = summary.salesforce, summary.hubspot
    lines = [f"Seeded {summary.directory} (seed {summary.seed}, {summary.size:,} people per side) "
             f"in {summary.seconds:.1f} s", "",
             f"{'':<12}{'Salesforce':<24}{'':>10}   {'HubSpot':<12}{'':>10}"]
    for label, sf_name, hs_name in _ROWS:
        left = f"{sf_name:<24}{sf.get(sf_name, 0):>10,}" if sf_name else " " * 34
        right = f"{hs_name:<12}{hs.get(hs_name, 0):>10,}" if hs_name else ""
        lines.append(f"{label:<12}{left}   {right}".rstrip())
    lines.append(f"{'total':<12}{'':<24}{sum(sf.values()):>10,}   {'':<12}{sum(hs.values()):>10,}")
    assoc = ", ".join(f"{k} {v:,}" for k, v in summary.hubspot_associations.items())
    lines += ["", f"HubSpot associations: {assoc}", "",
              f"on both sides: {summary.people_on_both_sides:,} people (by email), "
              f"{summary.companies_on_both_sides:,} companies (by domain), {summary.owners_on_both_sides:,} owners",
              f"converted leads: {summary.converted_leads:,}"]
    for title, block in (("duplicates", summary.duplicates), ("bad values", summary.bad_values)):
        for side in ("salesforce", "hubspot"):
            kinds = ", ".join(f"{k} {v:,}" for k, v in sorted(block.get(side, {}).items())) or "none"
            lines.append(f"{title} in {side}: {kinds}")
    return "\n".join(line.rstrip() for line in lines)
