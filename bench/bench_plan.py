"""Set-based planning at scale: N linked people per side, 1,000 edits per side, link + plan in seconds.

Builds a DuckDB state file in a temporary folder through the engine alone (no CRM, no Dagster): stages N HubSpot
contacts and N Salesforce Contacts (plus owners/Users and, when the people pair has an association field, companies
and Accounts for it to point at) as pandas frames built column by column, links them by email, writes the cross-ids
back (the echo a first sync's id writes would bring), plans once (every field agrees: shadow written, no ops), then
stages a second extract with --edits edited HubSpot contacts (jobtitle) and --edits other Salesforce Contacts
(Title) and times link_pair + plan_pair for it: the incremental cycle's compute. Also times a full re-plan.

Prints each time as a ratio to the issue's budget for the incremental link + plan (10 s: "in seconds, not minutes"),
and peak RSS per phase (psutil, sampled every 20 ms; DuckDB runs in this process). No timed asserts.
Run: `.venv/bin/python bench/bench_plan.py --n 1000000`.
"""

from __future__ import annotations

import argparse
import contextlib
import resource
import tempfile
import threading
import time
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import psutil

from crm_sync.config import load_config
from crm_sync.engine import db
from crm_sync.engine.db import transaction
from crm_sync.engine.link import _link_by_key, build_sides, link_pair
from crm_sync.engine.mapping import PairSpec, pair_specs
from crm_sync.engine.plan import plan_pair
from crm_sync.engine.staging import stage

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 10.0  # incremental link + plan, from the issue
OWNERS = 200
FIRST = np.array(["Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Tim"])
CITIES = np.array(["Springfield", "Shelbyville", "Ogdenville", "North Haverbrook", "Capital City"])
COUNTRIES = np.array(["US", "CA", "GB", "DE", "FR"])


class RssSampler:
    """Peak RSS of this process, overall and per named phase (a thread samples every `every` seconds)."""

    def __init__(self, every: float = 0.02):
        self.proc, self.every = psutil.Process(), every
        self.peak = self.phase_peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.sample()

    def sample(self) -> None:
        rss = self.proc.memory_info().rss
        self.peak, self.phase_peak = max(self.peak, rss), max(self.phase_peak, rss)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @contextlib.contextmanager
    def phase(self, timings: dict, label: str):
        self.sample()
        self.phase_peak = self.proc.memory_info().rss
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        self.sample()
        timings[label] = (seconds, self.phase_peak)
        print(f"  .. {label}: {seconds:.2f} s, peak RSS {self.phase_peak / 2**20:,.0f} MB", flush=True)


def limited(con: duckdb.DuckDBPyConnection, seconds: float | None, fn):
    """fn(), interrupted (DuckDB interrupt) after `seconds`; returns (result, interrupted)."""
    lock, state = threading.Lock(), {"done": False, "fired": False}

    def interrupt() -> None:
        with lock:
            if not state["done"]:
                state["fired"] = True
                con.interrupt()

    timer = threading.Timer(seconds, interrupt) if seconds else None
    if timer:
        timer.start()
    try:
        return fn(), False
    except duckdb.InterruptException:
        if not state["fired"]:
            raise
        return None, True
    finally:
        with lock:
            state["done"] = True
        if timer:
            timer.cancel()


def first_link(con, spec: PairSpec, run_id: str, timeout: float | None, rss: RssSampler, timings: dict,
               label: str) -> tuple[dict, bool]:
    """link_pair for a first extract, within `timeout`; when it runs out, the engine's match-by-key step alone
    (link.py _link_by_key, the step that links a first sync) makes the links so the benchmark can go on."""
    with rss.phase(timings, label):
        result, interrupted = limited(con, timeout, lambda: link_pair(con, spec, run_id))
    if not interrupted:
        return result.as_dict(), False
    print(f"  !! {label}: link_pair interrupted after {timeout:.0f} s; linking with _link_by_key alone", flush=True)
    with rss.phase(timings, label + "_by_key_only"):
        build_sides(con, spec)
        with transaction(con):
            by_key, ambiguous = _link_by_key(con, spec.name, run_id)
    return {"by_key": by_key, "ambiguous": ambiguous}, True


# ---- frames, built column by column (numpy / pandas, no per-record Python) ------------------------------------
def text(prefix: str, numbers: np.ndarray, suffix: str = "") -> np.ndarray:
    return np.char.add(np.char.add(prefix, numbers.astype(str)), suffix).astype(object)


def sf_ids(prefix: str, numbers: np.ndarray) -> np.ndarray:
    """18-character Salesforce-shaped ids: key prefix + zero-padded number."""
    return np.char.add(prefix, np.char.zfill(numbers.astype(str), 15)).astype(object)


def hs_ids(start: int, numbers: np.ndarray) -> np.ndarray:
    return (numbers + start).astype(str).astype(object)


def stamps(base: pd.Timestamp, n: int) -> pd.DatetimeIndex:
    """One distinct modification time per record (a millisecond apart), all before `base`."""
    return base - pd.to_timedelta(np.arange(n, 0, -1), unit="ms")


def frame(ids: np.ndarray, modified: pd.DatetimeIndex, columns: dict[str, np.ndarray | None]) -> pd.DataFrame:
    n = len(ids)
    data = {"id": ids, "cursor_at": modified, "modified_at": modified, "deleted": np.zeros(n, dtype=bool)}
    for name, values in columns.items():
        data[name] = np.full(n, None, dtype=object) if values is None else values
    return pd.DataFrame(data)


def mapped_values(spec: PairSpec, obj: str, i: np.ndarray, owners: dict, links_to: dict) -> list[tuple]:
    """(hubspot property, salesforce field, hubspot values, salesforce values) for each field the pair maps on obj.

    Both sides hold the same value in each side's vocabulary, so every field agrees after linking.
    """
    out = []
    for m in spec.config.fields:
        sf_field = m.salesforce_field(obj)
        if sf_field is None:
            continue
        if m.type == "email":
            v = text("person", i, "@example.com")
            out.append((m.hubspot, sf_field, v, v))
        elif m.type == "owner":
            k = i % OWNERS
            out.append((m.hubspot, sf_field, owners["hubspot"][k], owners["salesforce"][k]))
        elif m.type == "association":
            target = links_to.get(getattr(m, "links_to", None))
            if target is None:
                out.append((m.hubspot, sf_field, None, None))
            else:
                k = i % len(target["hubspot"])
                out.append((m.hubspot, sf_field, target["hubspot"][k], target["salesforce"][k]))
        elif m.type in ("string", "phone"):
            if m.hubspot == "firstname":
                v = FIRST[i % len(FIRST)].astype(object)
            elif m.hubspot == "city":
                v = CITIES[i % len(CITIES)].astype(object)
            elif m.hubspot == "country":
                v = COUNTRIES[i % len(COUNTRIES)].astype(object)
            elif m.type == "phone":
                v = text("+1 555 ", i % 10_000_000)
            else:
                v = text(f"{m.name} ", i % 50_000)
            out.append((m.hubspot, sf_field, v, v))
        elif m.type == "number":
            v = (i % 10_000).astype(str).astype(object)
            out.append((m.hubspot, sf_field, v, v))
        else:  # enums with value maps, dates, bools: left empty on both sides (agreeing)
            out.append((m.hubspot, sf_field, None, None))
    return out


def side_frames(spec: PairSpec, obj: str, n: int, hs_start: int, sf_prefix: str, base: pd.Timestamp, owners: dict,
                links_to: dict, cross_ids: bool, domains: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The HubSpot and Salesforce frames of one pair's first extract: n records per side, record i on each side
    being the same person (or company)."""
    i = np.arange(n)
    hid, sid = hs_ids(hs_start, i), sf_ids(sf_prefix, i)
    hs_cols: dict = {p: None for p in spec.hubspot_properties}
    sf_cols: dict = {f: None for f in spec.salesforce_fields[obj]}
    for hs_prop, sf_field, hv, sv in mapped_values(spec, obj, i, owners, links_to):
        hs_cols[hs_prop], sf_cols[sf_field] = hv, sv
    if domains and spec.hs_match_field:
        v = text("company", i, ".example")
        hs_cols[spec.hs_match_field], sf_cols[spec.sf_match_fields[obj]] = v, np.char.add("https://www.",
                                                                                          v.astype(str)).astype(object)
    if cross_ids:
        hs_cols[spec.hs_salesforce_id], sf_cols[spec.sf_external_id] = sid, hid
    return frame(hid, stamps(base, n), hs_cols), frame(sid, stamps(base, n), sf_cols)


def edited(full: pd.DataFrame, rows: np.ndarray, column: str, now: pd.Timestamp) -> pd.DataFrame:
    """The next extract's version of some records: same values, one field changed, modified now."""
    out = full.iloc[rows].copy()
    out[column] = text("Edited title ", rows)
    out["cursor_at"] = now
    out["modified_at"] = now
    return out


def fmt(label: str, seconds: float, rss: int, ratio: bool = True) -> str:
    tail = f" = {seconds / BUDGET_S:6.2f}x of the 10 s budget" if ratio else ""
    return f"{label:<58} {seconds:8.2f} s{tail:<33} peak RSS {rss / 2**20:7,.0f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1_000_000, help="linked people (per side)")
    parser.add_argument("--edits", type=int, default=1_000, help="edited records per side in the second extract")
    parser.add_argument("--companies", type=int, default=None,
                        help="companies per side for association fields to point at (default n/20; 0: none)")
    parser.add_argument("--link-by", choices=("email", "stored_id"), default="email",
                        help="email: first extract carries no cross-ids (matched by email, ids echoed back "
                             "before the first plan); stored_id: cross-ids present from the start")
    parser.add_argument("--first-link-timeout", type=float, default=300.0,
                        help="seconds the first link_pair may take before it is interrupted (0: no limit)")
    parser.add_argument("--config", default=str(ROOT / "sync.yaml"))
    parser.add_argument("--dir", help="keep the state file in this folder instead of a temporary one")
    parser.add_argument("--memory-limit", default=None, help="the state's DuckDB memory_limit (default: the "
                        "shipped state_memory_limit)")
    args = parser.parse_args()
    n, k = args.n, args.edits
    if 2 * k > n:
        parser.error("--edits must be at most n/2 (HubSpot and Salesforce edits go to different people)")
    specs = {s.name: s for s in pair_specs(load_config(args.config))}
    people = next(s for s in specs.values() if s.hubspot_object == "contacts")
    companies = next((s for s in specs.values() if s.hubspot_object == "companies"), None)
    assoc_targets = {getattr(m, "links_to", None) for m in people.config.fields if m.type == "association"} - {None}
    n_companies = (n // 20 if args.companies is None else args.companies) if companies and assoc_targets else 0
    email_first = args.link_by == "email"
    timings: dict[str, tuple[float, int]] = {}
    now = pd.Timestamp.now(tz="UTC")
    base = now - pd.Timedelta(days=1)

    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp, RssSampler() as rss:
        folder = Path(args.dir) if args.dir else Path(tmp)
        path = folder / "state" / "crm_sync.duckdb"
        if path.exists():
            parser.error(f"{path} exists: give --dir an empty folder")
        con = db.connect(path, args.memory_limit)
        threads, memory = con.execute("SELECT current_setting('threads'), current_setting('memory_limit')").fetchone()
        print(f"people pair {people.name!r}: {len(people.hubspot_properties)} HubSpot properties, "
              f"{len(people.salesforce_fields['Contact'])} Contact fields; {n:,} linked people per side, "
              f"{k:,} edits per side; {n_companies:,} companies per side for associations; "
              f"linked by {args.link_by}; DuckDB {duckdb.__version__}, {threads} threads, memory_limit {memory}")

        # ---- build the frames -------------------------------------------------------------------------------------
        with rss.phase(timings, "build"):
            o = np.arange(OWNERS)
            owners = {"hubspot": hs_ids(500, o), "salesforce": sf_ids("005", o)}
            owner_emails = text("owner", o, "@example.com")
            hs_owners = frame(owners["hubspot"], stamps(base, OWNERS), {"email": owner_emails})
            sf_users = frame(owners["salesforce"], stamps(base, OWNERS),
                             {"Email": owner_emails, "IsActive": np.full(OWNERS, "true", dtype=object)})
            links_to: dict = {}
            if n_companies:
                hs_co, sf_acc = side_frames(companies, "Account", n_companies, 50_000_000, "001", base, owners, {},
                                            cross_ids=not email_first, domains=True)
                links_to[companies.name] = {"hubspot": hs_co["id"].to_numpy(), "salesforce": sf_acc["id"].to_numpy()}
            hs_people, sf_people = side_frames(people, "Contact", n, 100_000_000, "003", base, owners, links_to,
                                               cross_ids=not email_first)
        frame_mb = sum(f.memory_usage(deep=True).sum() for f in (hs_people, sf_people)) / 2**20
        print(f"built frames: {len(hs_people.columns)} + {len(sf_people.columns)} columns, {frame_mb:,.0f} MB "
              f"in pandas, in {timings['build'][0]:.1f} s")

        # ---- first extract: stage, link ---------------------------------------------------------------------------
        with rss.phase(timings, "stage"):
            stage(con, "hubspot", "owners", hs_owners, "run-1")
            stage(con, "salesforce", "User", sf_users, "run-1")
            if n_companies:
                stage(con, "hubspot", companies.hubspot_object, hs_co, "run-1")
                stage(con, "salesforce", "Account", sf_acc, "run-1")
            stage(con, "hubspot", people.hubspot_object, hs_people, "run-1")
            stage(con, "salesforce", "Contact", sf_people, "run-1")
        if n_companies:
            company_links, _ = first_link(con, companies, "run-1", args.first_link_timeout, rss, timings,
                                          "link_companies")
            print(f"companies linked: {company_links}")
        first_links, interrupted = first_link(con, people, "run-1", args.first_link_timeout, rss, timings,
                                              "link_first")
        linked = con.execute("SELECT count(*) FROM sync.links WHERE pair = ?", [people.name]).fetchone()[0]
        print(f"people linked: {linked:,} ({first_links})")

        # ---- the cross-ids our first writes would set, read back; then the first plan -------------------------------
        if email_first:
            hs_people[people.hs_salesforce_id] = sf_people["id"].to_numpy()
            sf_people[people.sf_external_id] = hs_people["id"].to_numpy()
            echo = now - pd.Timedelta(hours=1)
            for f in (hs_people, sf_people):
                f["cursor_at"] = f["modified_at"] = echo
            with rss.phase(timings, "stage_echo"):
                if n_companies:
                    hs_co[companies.hs_salesforce_id] = sf_acc["id"].to_numpy()
                    sf_acc[companies.sf_external_id] = hs_co["id"].to_numpy()
                    for f in (hs_co, sf_acc):
                        f["cursor_at"] = f["modified_at"] = echo
                    stage(con, "hubspot", companies.hubspot_object, hs_co, "run-2")
                    stage(con, "salesforce", "Account", sf_acc, "run-2")
                stage(con, "hubspot", people.hubspot_object, hs_people, "run-2")
                stage(con, "salesforce", "Contact", sf_people, "run-2")
            first_run = "run-2"
            link_pair(con, people, first_run)
        else:
            first_run = "run-1"
        # The second extract's edits (below), taken from the frames before they go
        rng = np.random.default_rng(7)
        picks = rng.choice(n, size=2 * k, replace=False)
        hs_rows, sf_rows = np.sort(picks[:k]), np.sort(picks[k:])
        hs_edit = edited(hs_people, hs_rows, "jobtitle", now)
        sf_edit = edited(sf_people, sf_rows, "Title", now)
        del hs_people, sf_people  # the state holds them now: what follows measures the engine, not the bench's frames
        if n_companies:
            del hs_co, sf_acc
        with rss.phase(timings, "plan_first"):
            first = plan_pair(con, people, first_run)
        shadow = con.execute("SELECT count(*) FROM sync.shadow WHERE pair = ?", [people.name]).fetchone()[0]
        outbox = con.execute("SELECT count(*) FROM sync.outbox WHERE pair = ?", [people.name]).fetchone()[0]
        print(f"first plan: {outbox:,} ops in the outbox (expected 0), {shadow:,} shadow rows "
              f"({shadow / max(linked, 1):.1f} fields per link); {_ops(first)}")

        # The setup's writes are checkpointed here, so the incremental figures do not pay for them; then a new
        # connection, as each step of a cycle (extract, plan) opens its own (defs/resources.py).
        with rss.phase(timings, "checkpoint"):
            con.execute("CHECKPOINT")
            con.close()
            con = db.connect(path, args.memory_limit)

        # ---- second extract: edits on both sides, then the incremental cycle's link + plan --------------------------
        with rss.phase(timings, "stage_edits"):
            stage(con, "hubspot", people.hubspot_object, hs_edit, "run-3")
            stage(con, "salesforce", "Contact", sf_edit, "run-3")
        con.close()
        con = db.connect(path, args.memory_limit)
        with rss.phase(timings, "link_incremental"):
            inc_links = link_pair(con, people, "run-3")
        with rss.phase(timings, "plan_incremental"):
            inc = plan_pair(con, people, "run-3")
        inc_ops = _outbox(con, people.name, "run-3")
        with rss.phase(timings, "plan_full"):
            full = plan_pair(con, people, "run-3", full=True)
        full_ops = _outbox(con, people.name, None)
        con.execute("CHECKPOINT")
        con.close()
        file_mb = sum(p.stat().st_size for p in path.parent.glob("*")) / 2**20

    t = timings
    incremental = t["link_incremental"][0] + t["plan_incremental"][0]
    inc_rss = max(t["link_incremental"][1], t["plan_incremental"][1])
    print()
    print(f"incremental link: {inc_links.as_dict()}")
    print(f"incremental plan: {_ops(inc)}; outbox rows from run-3: {inc_ops}")
    print(f"full re-plan:     {_ops(full)}; pending ops in the outbox: {full_ops}")
    print(f"state file {file_mb:,.0f} MB")
    print()
    stage_s = t["stage"][0] + t.get("stage_echo", (0.0, 0))[0]
    print(fmt(f"stage {n:,} + {n:,} people ({'with echo of cross-ids' if email_first else 'one extract'})",
              stage_s, max(t["stage"][1], t.get("stage_echo", (0, 0))[1]), ratio=False))
    if interrupted:
        print(f"{'link, first: link_pair (interrupted, did not finish)':<58} >{t['link_first'][0]:7.0f} s"
              f" = >{t['link_first'][0] / BUDGET_S:5.1f}x of the 10 s budget")
        print(fmt(f"link, first: _link_by_key alone ({linked:,} links)", *t["link_first_by_key_only"]))
    else:
        print(fmt(f"link, first ({linked:,} links made, by {args.link_by})", *t["link_first"]))
    print(fmt("plan, first (all links are candidates; no ops)", *t["plan_first"]))
    print(fmt("checkpoint + reconnect after the setup (not in any cycle)", *t["checkpoint"], ratio=False))
    print(fmt(f"stage the second extract ({k:,} + {k:,} edited)", *t["stage_edits"], ratio=False))
    print(fmt("incremental link", *t["link_incremental"]))
    print(fmt("incremental plan", *t["plan_incremental"]))
    print(fmt(f"INCREMENTAL LINK + PLAN ({inc.updates_salesforce + inc.updates_hubspot:,} updates planned)",
              incremental, inc_rss))
    print(fmt("full re-plan (plan_pair full=True)", *t["plan_full"]))
    own_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    total_gb = psutil.virtual_memory().total / 2**30
    print(f"peak RSS of the whole run: {rss.peak / 2**20:,.0f} MB sampled, {own_peak:,.0f} MB ru_maxrss "
          f"(= {own_peak / 1024 / total_gb:.2f}x of this machine's {total_gb:.0f} GiB)")
    expected = 2 * k
    got = inc.updates_salesforce + inc.updates_hubspot
    print(f"ops planned by the incremental cycle: {got:,} (expected {expected:,}: {k:,} per direction) "
          f"= {got / expected:.2f}x")


def _ops(result) -> str:
    d = result.as_dict()
    return ", ".join(f"{key} {d[key]:,}" for key in ("updates_salesforce", "updates_hubspot", "creates_salesforce",
                                                      "creates_hubspot", "deletes", "unlinked", "conflicts",
                                                      "superseded"))


def _outbox(con: duckdb.DuckDBPyConnection, pair: str, run_id: str | None) -> str:
    where, params = ("run_id = ?", [pair, run_id]) if run_id else ("status = 'pending'", [pair])
    rows = con.execute(f"SELECT target, action, count(*) FROM sync.outbox WHERE pair = ? AND {where} GROUP BY ALL "
                       "ORDER BY ALL", params).fetchall()
    return ", ".join(f"{t}:{a} {c:,}" for t, a, c in rows) or "none"


if __name__ == "__main__":
    main()
