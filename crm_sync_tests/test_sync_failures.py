"""Failures end to end: rejected values, rejections only the CRM knows, a killed run, and transient API errors.

Real sync cycles (the Dagster job) against both sandbox CRMs; outcomes checked through the real clients and the
DuckDB state. Bad input must end up in sync.errors with its reason while everything else lands, and heal later.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time

import yaml
from hubspot.crm.companies import SimplePublicObjectInput as CompanyInput
from hubspot.crm.companies import SimplePublicObjectInputForCreate as CompanyCreate
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from simple_salesforce import format_soql

from crm_sync_tests.sync_harness import ROOT, converged_env, sync_env


def sf_by_hubspot_id(sf, obj: str, hubspot_ids, fields: str = "Id") -> dict[str, dict]:
    rows = sf.query_all(format_soql(f"SELECT {fields}, HubSpot_Id__c FROM {obj} WHERE HubSpot_Id__c IN {{}}",
                                    list(hubspot_ids)))["records"]
    return {r["HubSpot_Id__c"]: r for r in rows}


def open_errors(env, record_id: str, pair: str = "companies") -> list[tuple]:
    """Open error rows of one record of the pair (HubSpot ids repeat across object types)."""
    with env.state() as con:
        return con.execute("SELECT system, object, code, fields, kind, message FROM sync.errors "
                           "WHERE record_id = ? AND pair = ? AND resolved_at IS NULL", [record_id, pair]).fetchall()


def error_rows(env, record_id: str, pair: str = "companies") -> list[tuple]:
    with env.state() as con:
        return con.execute("SELECT code, resolved_at FROM sync.errors WHERE record_id = ? AND pair = ?",
                           [record_id, pair]).fetchall()


def people_links(env) -> list[tuple[str, str, str]]:
    with env.state() as con:
        return con.execute("SELECT hubspot_id, salesforce_object, salesforce_id FROM sync.links WHERE pair = 'people' "
                           "ORDER BY hubspot_id").fetchall()


def salesforce_calls(env, run_id: str) -> int:
    with env.state() as con:
        return con.execute("SELECT COALESCE(sum(calls), 0) FROM sync.api_usage WHERE run_id = ? "
                           "AND system = 'salesforce'", [run_id]).fetchone()[0]


def test_restricted_picklist_value_is_quarantined_and_released_once_fixed(tmp_path):
    with sync_env(tmp_path, seed_size=100) as env:
        sf, client = env.sf(), env.hs()
        companies = client.crm.companies.basic_api
        good = [companies.create(CompanyCreate(properties={"name": f"Picklist Good {i}", "industry": industry,
                                                           "domain": f"picklist-good-{i}.example.com"})).id
                for i, industry in enumerate(["COMPUTER_SOFTWARE", "BANKING", "RETAIL"])]
        # A real HubSpot option that has no Salesforce Industry counterpart (see INDUSTRY in config/defaults.py).
        bad = companies.create(CompanyCreate(properties={"name": "Picklist Bad", "industry": "MANAGEMENT_CONSULTING",
                                                         "domain": "picklist-bad.example.com"})).id

        env.cycle()  # the first cycle: the seeded records and these four go out in the same batch

        accounts = sf_by_hubspot_id(sf, "Account", [*good, bad], "Id, Name, Industry")
        assert {h: accounts[h]["Industry"] for h in good if h in accounts} == dict(
            zip(good, ["Technology", "Banking", "Retail"], strict=True))
        # The bad value holds back its field alone: the Account is made (name, domain, cross-id) without Industry.
        assert accounts[bad]["Name"] == "Picklist Bad" and accounts[bad]["Industry"] is None
        errors = open_errors(env, bad)
        assert [(s, o, c, f, k) for s, o, c, f, k, _ in errors] == [
            ("salesforce", "Account", "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", "Industry", "validation")], errors
        assert "MANAGEMENT_CONSULTING" in errors[0][5]
        env.cycle()  # the held value is not planned again while its source is the same
        with env.state() as con:
            industry_ops = con.execute("""SELECT status, held_from IS NOT NULL FROM sync.outbox WHERE record_key = ?
                AND target = 'salesforce' AND json_extract(payload, '$.Industry') IS NOT NULL""", [bad]).fetchall()
        assert industry_ops == [("invalid", True)]

        # The user fixes the value in HubSpot: the next cycle writes it to the Account and closes the error.
        companies.update(bad, CompanyInput(properties={"industry": "FINANCIAL_SERVICES"}))
        env.cycle()

        accounts = sf_by_hubspot_id(sf, "Account", [bad], "Id, Name, Industry")
        assert accounts[bad]["Industry"] == "Finance" and accounts[bad]["Name"] == "Picklist Bad"
        assert open_errors(env, bad) == []
        rows = error_rows(env, bad)
        assert rows and all(resolved is not None for _, resolved in rows), rows


def test_duplicate_rule_rejection_is_recorded_and_retried_after_the_rule_is_relaxed(tmp_path):
    with sync_env(tmp_path, seed_size=100) as env:
        sf, client = env.sf(), env.hs()
        # Salesforce already knows dana.dup@example.org: a Lead converted long ago, whose Contact changed email
        # since. The sync cannot see that (converted leads are not matched), only Salesforce's duplicate rule can.
        lead = sf.Lead.create({"FirstName": "Dana", "LastName": "Dup", "Company": "Dup Works",
                               "Email": "dana.dup@example.org"})["id"]
        contact = env.sf_admin("convert-lead", {"lead_id": lead, "create_opportunity": False})["contactId"]
        sf.Contact.update(contact, {"Email": "dana.moved@example.org"})
        env.converge()

        env.sf_admin("duplicate-rules", {"Lead": "block"})
        try:
            dup = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={
                "email": "dana.dup@example.org", "firstname": "Dana", "lastname": "Dup"})).id
            others = [client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={
                "email": f"batch.mate{i}@example.org", "firstname": "Batch", "lastname": f"Mate {i}"})).id
                for i in range(3)]

            env.cycle()

            leads = sf_by_hubspot_id(sf, "Lead", [dup, *others], "Id, Email")
            assert sorted(leads) == sorted(others)  # the rest of the batch landed
            errors = open_errors(env, dup, "people")
            assert [(s, o, c, k) for s, o, c, _, k, _ in errors] == [
                ("salesforce", "Lead", "DUPLICATES_DETECTED", "write")], errors
            with env.state() as con:
                status = con.execute("SELECT status, attempts FROM sync.outbox WHERE record_key = ? AND "
                                     "target = 'salesforce' AND action = 'create'", [dup]).fetchall()
            assert status == [("failed", 1)], status
        finally:
            env.sf_admin("duplicate-rules", {"Lead": "off"})

        # The admin relaxes the rule. A failed write waits 2^attempts minutes before its next try; rather than
        # sleep, move the outbox's clock back an hour, as if that time had passed.
        with env.state() as con:
            con.execute("UPDATE sync.outbox SET updated_at = now() - INTERVAL 1 HOUR WHERE status = 'failed'")
        env.cycle()

        leads = sf_by_hubspot_id(sf, "Lead", [dup], "Id, Email")
        assert leads[dup]["Email"] == "dana.dup@example.org"
        with env.state() as con:
            link = con.execute("SELECT salesforce_object, salesforce_id FROM sync.links WHERE pair = 'people' "
                               "AND hubspot_id = ?", [dup]).fetchone()
        assert link == ("Lead", leads[dup]["Id"])
        assert open_errors(env, dup, "people") == []
        rows = error_rows(env, dup, "people")
        assert rows and all(resolved is not None for _, resolved in rows), rows


HS_PEOPLE_PROPS = ["email", "firstname", "lastname", "jobtitle", "phone", "salesforce_id"]


def _email(value) -> str:
    return (value or "").strip().lower()


def _hs_people(env) -> dict[str, dict]:
    return {c.id: c.properties for c in env.hs().crm.contacts.get_all(properties=HS_PEOPLE_PROPS)}


def _sf_people(sf) -> dict[str, dict]:
    out = {}
    for obj in ("Lead", "Contact"):
        extra = ", IsConverted" if obj == "Lead" else ""
        for r in sf.query_all(f"SELECT Id, Email, Title, Phone, HubSpot_Id__c{extra} FROM {obj}")["records"]:
            if not r.get("IsConverted"):
                out[r["Id"]] = r
    return out


def test_a_run_killed_during_the_load_leaves_no_duplicates_and_no_lost_update(tmp_path):
    with sync_env(tmp_path, seed_size=200) as env:
        sf, client = env.sf(), env.hs()
        before_hs = collections.Counter(_email(p.get("email")) for p in _hs_people(env).values())
        before_sf = collections.Counter(_email(r["Email"]) for r in _sf_people(sf).values())
        env.converge(max_cycles=6)

        # Work for the run that will be killed: new people on both sides and an edit on each side of a linked pair.
        new_hs = client.crm.contacts.batch_api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            SimplePublicObjectBatchInputForCreate(properties={
                "email": f"killed.run.hs{i}@example.org", "firstname": "Hs", "lastname": f"New {i}"})
            for i in range(80)]))
        assert len(new_hs.results) == 80
        new_sf = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
            {"attributes": {"type": "Lead"}, "FirstName": "Sf", "LastName": f"New {i}", "Company": "Killed Run Inc",
             "Email": f"killed.run.sf{i}@example.org"} for i in range(80)]})
        assert all(r["success"] for r in new_sf)
        contact_links = [link for link in people_links(env) if link[1] == "Contact"]
        hs_edit, _, hs_edit_sf = contact_links[0]
        sf_edit_hs, _, sf_edit = contact_links[1]
        client.crm.contacts.basic_api.update(hs_edit, SimplePublicObjectInput(properties={"jobtitle": "Survivor"}))
        sf.Contact.update(sf_edit, {"Phone": "+1 555 0199"})

        for admin in (env.sf_admin, env.hs_admin):
            admin("latency", {"ms": 150})

        def salesforce_writes() -> int:
            return sum(v for k, v in env.usage("salesforce").items()
                       if "composite/sobjects" in k and not k.startswith("GET"))

        # The Salesforce load sends the Lead upserts and the Contact update as two calls, one after the other, and
        # records both answers after the second. Killing the run once the second call has reached Salesforce leaves
        # the first call's writes applied in Salesforce with their answers never recorded: the hard case for a
        # replay (a kill at the first call, before Salesforce applied anything, is the easy one).
        def lead_upserts() -> int:
            return sum(v for k, v in env.usage("salesforce").items() if "composite/sobjects/Lead/" in k)

        upserts_before = lead_upserts()
        log = (tmp_path / "killed_run.log").open("w")
        proc = subprocess.Popen([sys.executable, "-m", "crm_sync.cli", "run", "--config", str(env.config_path)],
                                cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            # (cross-ids written back to Salesforce by earlier loads of the run are Salesforce writes too: wait for
            # the people load's Lead upserts, then for the next write after them)
            deadline = time.monotonic() + 180
            while time.monotonic() < deadline and proc.poll() is None and lead_upserts() <= upserts_before:
                time.sleep(0.01)
            writes_before = salesforce_writes()
            while time.monotonic() < deadline and proc.poll() is None and salesforce_writes() <= writes_before:
                time.sleep(0.01)
            assert proc.poll() is None, "the run finished before its second Salesforce write: nothing was killed"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)
            log.close()
        for admin in (env.sf_admin, env.hs_admin):
            admin("latency", {"ms": 0})
        with env.state() as con:
            unanswered = con.execute("SELECT count(*) FROM sync.outbox WHERE target = 'salesforce' "
                                     "AND status = 'pending'").fetchone()[0]
        applied = len(sf_by_hubspot_id(sf, "Lead", [r.id for r in new_hs.results]))
        applied += sf.Contact.get(hs_edit_sf)["Title"] == "Survivor"
        assert unanswered > 0 and applied > 0, (unanswered, applied)  # writes Salesforce applied, never recorded

        env.converge(max_cycles=6)

        hs, people = _hs_people(env), _sf_people(sf)
        pairs = people_links(env)
        # Nobody exists twice on a side where they did not exist twice before the sync.
        after_hs = collections.Counter(_email(p.get("email")) for p in hs.values())
        after_sf = collections.Counter(_email(r["Email"]) for r in people.values())
        assert {e: n for e, n in after_hs.items() if e and n > max(1, before_hs[e])} == {}
        assert {e: n for e, n in after_sf.items() if e and n > max(1, before_sf[e])} == {}
        # Cross ids are unique on both sides.
        assert [x for x, n in collections.Counter(r["HubSpot_Id__c"] for r in people.values()).items()
                if x and n > 1] == []
        assert [x for x, n in collections.Counter(p.get("salesforce_id") for p in hs.values()).items()
                if x and n > 1] == []
        # Links are one to one, between live records that carry each other's id.
        assert len({h for h, _, _ in pairs}) == len(pairs) == len({s for _, _, s in pairs})
        with env.state() as con:
            errored = {r[0] for r in con.execute(
                "SELECT record_id FROM sync.errors WHERE pair = 'people' AND resolved_at IS NULL").fetchall()}
            ambiguous = {c.split(":")[-1] for row in con.execute(
                "SELECT record_id, candidates FROM sync.link_candidates WHERE pair = 'people'").fetchall()
                for c in [row[0], *row[1]] if c}
        exempt = errored | ambiguous
        broken = [(h, s) for h, _, s in pairs if h not in hs or s not in people
                  or (h not in exempt and s not in exempt
                      and (people[s]["HubSpot_Id__c"] != h or hs[h].get("salesforce_id") != s))]
        assert broken == []
        # Every person who is neither ambiguous nor rejected has exactly one counterpart.
        linked_hs, linked_sf = {h for h, _, _ in pairs}, {s for _, _, s in pairs}
        assert sorted(set(hs) - linked_hs - exempt) == []
        assert sorted(set(people) - linked_sf - exempt) == []
        for i, result in enumerate(new_sf):
            assert result["id"] in linked_sf, f"new Lead {i} has no HubSpot counterpart"
        assert {r.id for r in new_hs.results} <= linked_hs
        # No lost update: both edits made before the killed run are on the other side now.
        assert sf.Contact.get(hs_edit_sf)["Title"] == "Survivor"
        assert hs[sf_edit_hs].get("phone") == "+1 555 0199"


def test_transient_salesforce_errors_are_retried_and_cost_calls(tmp_path):
    with converged_env(tmp_path) as env:
        sf, client = env.sf(), env.hs()
        contact_links = [link for link in people_links(env) if link[1] == "Contact"]
        (hs_a, _, sf_a), (hs_b, _, sf_b) = contact_links[:2]

        def edit(n: int) -> None:
            client.crm.contacts.basic_api.update(hs_a, SimplePublicObjectInput(properties={"jobtitle": f"Title {n}"}))
            sf.Contact.update(sf_b, {"Phone": f"+1 555 010{n}"})

        def landed(n: int) -> bool:
            phone = client.crm.contacts.basic_api.get_by_id(hs_b, properties=["phone"]).properties["phone"]
            return sf.Contact.get(sf_a)["Title"] == f"Title {n}" and phone == f"+1 555 010{n}"

        edit(1)
        clean = env.cycle()
        assert landed(1)

        edit(2)
        env.sf_admin("faults", {"rules": {"error_503": 1.0}, "max_faults": 3})
        try:
            faulty = env.cycle()  # asserts the run succeeded
            assert env.sf_admin("faults", method="GET")["fired"] == 3
        finally:
            env.sf_admin("faults", {"profile": "none"})
        assert landed(2)
        assert faulty.summary["writes"] == clean.summary["writes"]
        # The same work, plus one call per 503 that was answered and resent.
        assert salesforce_calls(env, faulty.run_id) >= salesforce_calls(env, clean.run_id) + 3


def test_a_crm_rejection_of_one_field_holds_that_field_and_the_rest_lands(tmp_path):
    """Salesforce gives A's Contact the email of B, another HubSpot contact. HubSpot refuses the whole update
    (409, email taken); the sync sends it again without email, so A's new title lands, and the email waits
    with an error row naming the field, HubSpot's code and message."""
    with converged_env(tmp_path) as env:
        sf, client = env.sf(), env.hs()
        with env.state() as con:
            (hs_a, sf_a), (hs_b, _) = con.execute("""SELECT hubspot_id, salesforce_id FROM sync.links
                WHERE pair = 'people' AND salesforce_object = 'Contact' ORDER BY hubspot_id LIMIT 2""").fetchall()
        email_b = client.crm.contacts.basic_api.get_by_id(hs_b, properties=["email"]).properties["email"]
        sf.Contact.update(sf_a, {"Email": email_b, "Title": "Chief Renamer"})

        run_id = env.cycle().run_id

        a = client.crm.contacts.basic_api.get_by_id(hs_a, properties=["email", "jobtitle", "salesforce_id"])
        assert a.properties["jobtitle"] == "Chief Renamer" and a.properties["salesforce_id"] == sf_a
        assert a.properties["email"] != email_b
        with env.state() as con:
            errors = con.execute("""SELECT system, code, fields, message FROM sync.errors WHERE record_id = ?
                AND resolved_at IS NULL""", [sf_a]).fetchall()
            audit = con.execute("""SELECT success, response ->> 'category' FROM sync.audit WHERE target = 'hubspot'
                AND target_id = ? AND run_id = ? ORDER BY sent_at""", [hs_a, run_id]).fetchall()
        assert [(s, c, f) for s, c, f, _ in errors] == [("hubspot", "CONFLICT", "email")]
        assert "already exists" in errors[0][3]
        assert audit == [(False, "CONFLICT"), (True, None)]  # HubSpot's answer to each write is kept


def test_a_step_out_of_the_states_memory_fails_naming_the_setting_and_the_next_run_with_more_syncs(tmp_path):
    """state_memory_limit 1MB: DuckDB cannot hold a plan's tables; the steps that fail say which setting bounds
    them and what to do (before: DuckDB's own advice, about threads and SET memory_limit). Raised, the next run
    syncs everything (nothing the failed run did was lost or half-done)."""
    from dagster import DagsterEventType, DagsterInstance

    from crm_sync.runner import execute_cycle

    with sync_env(tmp_path, seed_size=100, extra={"state_memory_limit": "1MB"}) as env:
        instance = DagsterInstance.ephemeral()
        outcome = execute_cycle(env.config_path, instance=instance)
        assert not outcome.success
        failures = [e.dagster_event.step_failure_data.error for e in instance.all_logs(
            outcome.run_id, of_type=DagsterEventType.STEP_FAILURE)]
        # The step's error (Dagster's wrapper) is caused by the sync's own, which the UI and the CLI show with it.
        causes = [error.cause.message for error in failures]
        assert failures and all("sync.state_memory_limit" in m and "DuckDB may use 1MB" in m for m in causes), \
            causes
        raw = yaml.safe_load(env.config_path.read_text())
        raw["state_memory_limit"] = "1GB"
        env.config_path.write_text(yaml.safe_dump(raw))
        env.converge()
        with env.state() as con:
            linked = con.execute("SELECT count(*) FROM sync.links WHERE pair = 'people'").fetchone()[0]
        assert linked >= 100
