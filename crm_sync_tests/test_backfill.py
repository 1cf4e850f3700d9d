"""The initial sync as a partitioned backfill, end to end: the backfill job through Dagster over creation-time
partitions of a seeded org and portal with years of history, the real clients, then the incremental cycle."""

from __future__ import annotations

import yaml

from crm_sync.runner import backfill_batches, run_backfill
from crm_sync_tests.sync_harness import call_kind, converged_env, sync_env

# Monthly partitions from 2021 (the seed's history starts there), three years a run: 2 runs for the whole org.
BACKFILL = {"backfill": {"start": "2021-01-01", "partition": "month", "partitions_per_run": 36}}
SF_OBJECTS = ("Account", "Lead", "Contact", "Opportunity")
HS_OBJECTS = ("companies", "contacts", "deals")


def live_ids(env) -> dict[tuple[str, str], set[str]]:
    """Every live record of the synced objects, read through the real clients."""
    sf, hs = env.sf(), env.hs()
    out = {("salesforce", o): {r["Id"] for r in sf.query_all(f"SELECT Id FROM {o}")["records"]} for o in SF_OBJECTS}
    for o in HS_OBJECTS:
        out[("hubspot", o)] = {r.id for r in hs.crm.objects.get_all(o)}
    return out


def writes_sent(env) -> int:
    return sum(n for s in ("salesforce", "hubspot") for k, n in env.usage(s).items() if call_kind(s, k) == "write")


def test_partitions_cover_every_record_once_creates_wait_for_the_last_and_a_rerun_writes_nothing(tmp_path, capsys):
    with sync_env(tmp_path, seed_size=100, seed=21, extra=BACKFILL) as env:
        before = live_ids(env)
        runs = list(backfill_batches(env.config_path))
        assert all(len(r.partitions) == 36 for r in runs[:-1]) and len(runs) >= 2 and all(r.success for r in runs)
        with env.state() as con:
            # No create before the run that read the last partition: a counterpart could be in a later one.
            first_runs = [r.run_id for r in runs[:-1]]
            early = con.execute(f"SELECT count(*) FROM sync.audit WHERE action = 'create' AND run_id IN "
                                f"({', '.join('?' for _ in first_runs)})", first_runs).fetchone()[0]
            assert early == 0
            for (system, obj), ids in before.items():
                staged = {r[0] for r in con.execute(f'SELECT id FROM raw_{system}."{obj}"').fetchall()}
                assert staged >= ids, (system, obj, len(ids - staged))  # every record read ...
                twice = con.execute(f'SELECT count(*) FROM (SELECT id FROM raw_{system}."{obj}" GROUP BY id '
                                    "HAVING count(*) > 1)").fetchone()[0]
                assert twice == 0, (system, obj)  # ... by one partition only
                read = con.execute("SELECT sum(rows_read) FROM sync.backfill_reads WHERE system = ? AND object = ?",
                                   [system, obj]).fetchone()[0]
                assert read == len(ids), (system, obj)
            creates = con.execute("SELECT count(*) FROM sync.audit WHERE action = 'create' AND success").fetchone()[0]
        assert creates > 0
        assert run_backfill(str(env.config_path)) == 0  # everything read: nothing left to run
        assert "0 records read, 0 writes" in capsys.readouterr().out

        # A partition run again (with records in it) reads them again and writes nothing.
        env.converge()
        env.sf_admin("usage/reset")
        env.hs_admin("usage/reset")
        again = list(backfill_batches(env.config_path, again=True, first="2023-01-01", last="2024-12-01"))
        assert [r.success for r in again] == [True] and again[0].rows_read > 0
        assert again[0].writes == 0 and writes_sent(env) == 0


def synced_people(env) -> list[tuple]:
    """What both sides hold for each person, by email: the identity-free picture of a converged sync."""
    hs = env.hs()
    people = sorted((str(c.properties.get("email") or "").strip().lower(), c.properties.get("firstname"),
                     c.properties.get("lastname"), c.properties.get("jobtitle"))
                    for c in hs.crm.contacts.get_all(properties=["email", "firstname", "lastname", "jobtitle"]))
    sf = env.sf()
    sf_people = sorted((str(r["Email"] or "").strip().lower(), r["FirstName"], r["LastName"], r["Title"])
                       for o in ("Lead", "Contact")
                       for r in sf.query_all(f"SELECT Email, FirstName, LastName, Title FROM {o}"
                                             + (" WHERE IsConverted = false" if o == "Lead" else ""))["records"])
    return [people, sf_people]


def test_the_backfill_converges_to_what_the_incremental_cycle_does(tmp_path):
    # The incremental cycle's converged org and portal of seed 11 are shared by the suite (converged_env).
    with converged_env(tmp_path / "incremental") as env:
        with env.state() as con:
            incremental_links = dict(con.execute("SELECT pair, count(*) FROM sync.links GROUP BY ALL").fetchall())
        incremental = synced_people(env)
    with sync_env(tmp_path / "backfill", seed_size=100, seed=11, extra=BACKFILL) as env:
        assert all(r.success for r in backfill_batches(env.config_path))
        env.converge()
        with env.state() as con:
            backfill_links = dict(con.execute("SELECT pair, count(*) FROM sync.links GROUP BY ALL").fetchall())
        assert backfill_links == incremental_links
        assert synced_people(env) == incremental


def test_edits_made_during_the_backfill_reach_the_other_side_after_it(tmp_path):
    """A Contact already read by an earlier run is edited in Salesforce, and a HubSpot contact of a later
    partition is edited before its partition runs: once the backfill is done, the incremental cycle (which
    starts where the backfill began) carries both."""
    with sync_env(tmp_path, seed_size=100, seed=24, extra=BACKFILL) as env:
        runs = backfill_batches(env.config_path)
        first = next(runs)
        assert first.success
        sf, hs = env.sf(), env.hs()
        with env.state() as con:
            early_sf = [r[0] for r in con.execute("""SELECT id FROM raw_salesforce."Contact" WHERE _run_id = ?
                ORDER BY id LIMIT 5""", [first.run_id]).fetchall()]
        late = next(c for c in hs.crm.contacts.get_all(properties=["createdate"])
                    if c.properties["createdate"] >= "2025-01-01")
        for contact in early_sf:
            sf.Contact.update(contact, {"Title": "Edited Mid Backfill"})
        hs.crm.contacts.basic_api.update(late.id, {"properties": {"jobtitle": "Edited Before Its Partition"}})
        assert all(r.success for r in runs)
        cycle = env.cycle()
        with env.state() as con:
            # The hand-off: the first incremental read starts where the backfill began, not from scratch: it
            # reads back what the backfill wrote and what users edited meanwhile, nothing else.
            reread = {system: {r[0] for r in con.execute(f'SELECT id FROM raw_{system}."{obj}" WHERE _run_id = ?',
                                                         [cycle.run_id]).fetchall()}
                      for system, obj in (("salesforce", "Contact"), ("hubspot", "contacts"))}
            written = {system: {r[0] for r in con.execute("SELECT target_id FROM sync.audit WHERE target = ? AND "
                                                          "run_id <> ?", [system, cycle.run_id]).fetchall()}
                       for system in ("salesforce", "hubspot")}
            # ... and the overlap before that start (sync.overlap_seconds): records the seed stamped just before
            overlap = {system: {r[0] for r in con.execute(
                f'SELECT id FROM raw_{system}."{obj}" WHERE _run_id = ? AND modified_at < '
                '(SELECT min(started_at) FROM sync.backfill)', [cycle.run_id]).fetchall()}
                for system, obj in (("salesforce", "Contact"), ("hubspot", "contacts"))}
        assert set(early_sf) <= reread["salesforce"]
        assert reread["salesforce"] - overlap["salesforce"] <= written["salesforce"] | set(early_sf)
        assert late.id in reread["hubspot"]
        assert reread["hubspot"] - overlap["hubspot"] <= written["hubspot"] | {late.id}
        env.converge()
        with env.state() as con:
            # (a Contact whose email another record shares stays unlinked and is reported, so not all five)
            marks = ", ".join("?" for _ in early_sf)
            hs_ids = [r[0] for r in con.execute(f"SELECT hubspot_id FROM sync.links WHERE pair = 'people' AND "
                                                f"salesforce_id IN ({marks})", early_sf).fetchall()]
            sf_id, sf_object = con.execute("SELECT salesforce_id, salesforce_object FROM sync.links WHERE "
                                           "pair = 'people' AND hubspot_id = ?", [late.id]).fetchone()
        assert len(hs_ids) >= 3
        assert {hs.crm.contacts.basic_api.get_by_id(h, properties=["jobtitle"]).properties["jobtitle"]
                for h in hs_ids} == {"Edited Mid Backfill"}
        assert getattr(sf, sf_object).get(sf_id)["Title"] == "Edited Before Its Partition"


def assert_converged_cleanly(env) -> None:
    """The convergence oracle over both CRMs, with no user edits: nothing duplicated, every record linked or
    explained, no link to a dead record, no value held without its error row."""
    from crm_sync_tests.convergence import Report, judge

    report = judge(env, env.root / "no-edits.jsonl", Report(seed=0))
    assert {k: getattr(report, k) for k in ("duplicates", "dead_links", "creates_missing", "held_unexplained")} \
        == {"duplicates": 0, "dead_links": 0, "creates_missing": 0, "held_unexplained": 0}, report.examples


def test_a_spent_allocation_stops_the_backfill_and_the_retry_after_the_day_rolls_over_finishes(tmp_path, capsys):
    with sync_env(tmp_path, seed_size=100, seed=25, extra=BACKFILL) as env:
        today = env.sf_admin("usage", method="GET")["today"]
        env.sf_admin("allocation", {"daily": today + 12})  # enough for the first run's reads, not the backfill
        assert run_backfill(str(env.config_path)) == 1
        err = capsys.readouterr().err
        assert "salesforce daily API limit reached" in err and "partitions done" in err
        assert "run `crm-sync backfill` again to resume" in err
        with env.state() as con:
            read_before = con.execute("SELECT count(DISTINCT partition_key) FROM sync.backfill_reads").fetchone()[0]
        env.sf_admin("usage/reset")  # the day rolls over
        env.sf_admin("allocation", {"daily": 100_000})
        assert run_backfill(str(env.config_path)) == 0
        with env.state() as con:
            assert con.execute("SELECT count(DISTINCT partition_key) FROM sync.backfill_reads").fetchone()[0] \
                > read_before
        env.converge()
        assert_converged_cleanly(env)


def test_a_spent_run_budget_stops_between_batches_and_the_next_run_goes_on(tmp_path, capsys):
    budget = {"budget": {"hubspot": {"per_run": 8}}}
    with sync_env(tmp_path, seed_size=100, seed=26, extra={**BACKFILL, **budget}) as env:
        assert run_backfill(str(env.config_path)) == 1
        assert "hubspot API budget of 8 calls for this run is spent" in capsys.readouterr().err
        raw = yaml.safe_load(env.config_path.read_text())
        raw["budget"]["hubspot"]["per_run"] = 10_000
        env.config_path.write_text(yaml.safe_dump(raw))
        assert run_backfill(str(env.config_path)) == 0
        env.converge()
        assert_converged_cleanly(env)
