"""Identity end to end: lead conversion, merges on either side, ambiguous matches and deletes keep sync.links true.

Every test runs real sync cycles (the Dagster job) against both sandbox CRMs and checks the outcome through the
real clients (simple-salesforce, hubspot-api-client) and the DuckDB state.
"""

from __future__ import annotations

import pytest
from hubspot.crm.contacts import SimplePublicObjectInputForCreate
from hubspot.crm.contacts.exceptions import NotFoundException
from simple_salesforce import format_soql

from crm_sandbox.hubspot.loader import load_objects
from crm_sync_tests.sync_harness import call_kind, converged_env


def hs_contact_ids(env) -> set[str]:
    return {c.id for c in env.hs().crm.contacts.get_all()}


def sf_people_ids(sf) -> set[str]:
    return {r["Id"] for obj in ("Lead", "Contact") for r in sf.query_all(f"SELECT Id FROM {obj}")["records"]}


def people_links(env) -> list[tuple[str, str, str, str]]:
    """(hubspot_id, salesforce_object, salesforce_id, linked_by) of the people pair, in a stable order."""
    with env.state() as con:
        return con.execute("SELECT hubspot_id, salesforce_object, salesforce_id, linked_by FROM sync.links "
                           "WHERE pair = 'people' ORDER BY hubspot_id").fetchall()


def link_of(env, hubspot_id: str) -> tuple[str, str, str] | None:
    with env.state() as con:
        return con.execute("SELECT salesforce_object, salesforce_id, linked_by FROM sync.links WHERE pair = 'people' "
                           "AND hubspot_id = ?", [hubspot_id]).fetchone()


def linked_to_salesforce(env, salesforce_id: str) -> str | None:
    with env.state() as con:
        row = con.execute("SELECT hubspot_id FROM sync.links WHERE pair = 'people' AND salesforce_id = ?",
                          [salesforce_id]).fetchone()
    return row[0] if row else None


def hs_props(env, hubspot_id: str, *props: str) -> dict:
    return env.hs().crm.contacts.basic_api.get_by_id(hubspot_id, properties=list(props)).properties


def test_converted_lead_keeps_its_hubspot_contact_linked_to_the_new_contact(tmp_path):
    with converged_env(tmp_path) as env:
        sf = env.sf()
        hs_id, _, lead_id, _ = next(link for link in people_links(env) if link[1] == "Lead")
        hs_before, sf_leads_before = hs_contact_ids(env), sf.query("SELECT COUNT() FROM Lead")["totalSize"]

        converted = env.sf_admin("convert-lead", {"lead_id": lead_id})
        contact_id = converted["contactId"]
        env.cycle()

        assert link_of(env, hs_id) == ("Contact", contact_id, "lead_conversion")
        assert linked_to_salesforce(env, lead_id) is None
        # Nobody new on either side for this person: the HubSpot contact was kept, no Lead was made again.
        assert hs_contact_ids(env) == hs_before
        assert sf.query("SELECT COUNT() FROM Lead")["totalSize"] == sf_leads_before
        # Both records now carry the other's id.
        assert sf.Contact.get(contact_id)["HubSpot_Id__c"] == hs_id
        assert hs_props(env, hs_id, "salesforce_id")["salesforce_id"] == contact_id

        # And the pair syncs as a Contact from now on.
        sf.Contact.update(contact_id, {"Title": "VP of Conversions"})
        env.cycle()
        assert hs_props(env, hs_id, "jobtitle")["jobtitle"] == "VP of Conversions"


def test_hubspot_merge_moves_the_link_to_the_survivor(tmp_path):
    with converged_env(tmp_path) as env:
        sf, client = env.sf(), env.hs()
        hs_a, sf_object, sf_id, _ = people_links(env)[0]
        # A second record of the same person, made after the last cycle (so never linked), merged into A.
        b = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={
            "email": "merge.loser@example.org", "firstname": "Merge", "lastname": "Loser"})).id
        sf_before = sf_people_ids(sf)
        survivor = env.hs_admin("merge", {"type": "contacts", "primary_id": hs_a, "merge_id": b})["id"]
        # The sandbox (like HubSpot for contacts) gives the merged record a new id; both old ids resolve to it.
        assert survivor not in (hs_a, b)
        assert client.crm.contacts.basic_api.get_by_id(hs_a).id == survivor
        assert client.crm.contacts.basic_api.get_by_id(b).id == survivor

        env.cycle()

        assert link_of(env, survivor) == (sf_object, sf_id, "hubspot_merge")
        assert link_of(env, hs_a) is None and link_of(env, b) is None
        assert linked_to_salesforce(env, sf_id) == survivor
        assert getattr(sf, sf_object).get(sf_id)["HubSpot_Id__c"] == survivor
        assert hs_props(env, survivor, "salesforce_id")["salesforce_id"] == sf_id
        # Nothing was created in Salesforce, neither for B nor for A's old id.
        assert sf_people_ids(sf) == sf_before
        assert sf.query(format_soql("SELECT Id FROM Lead WHERE Email = {}", "merge.loser@example.org"))[
            "totalSize"] == 0
        assert env.cycle().planned_writes == 0  # and it stays quiet


def test_salesforce_merge_moves_the_link_to_the_master(tmp_path):
    with converged_env(tmp_path) as env:
        sf, client = env.sf(), env.hs()
        hs_id, _, loser, _ = next(link for link in people_links(env) if link[1] == "Contact")
        # The same person entered again in Salesforce after the last cycle (so never linked): the master.
        master = sf.Contact.create({"FirstName": "Master", "LastName": "Record",
                                    "Email": "master.record@example.org"})["id"]
        hs_before = hs_contact_ids(env)
        env.sf_admin("merge", {"type": "Contact", "master_id": master, "merge_ids": [loser]})

        env.cycle()

        assert link_of(env, hs_id) == ("Contact", master, "salesforce_merge")
        assert linked_to_salesforce(env, loser) is None
        assert sf.Contact.get(master)["HubSpot_Id__c"] == hs_id
        # No HubSpot contact was made for the master, and the one linked to the loser is still there.
        assert hs_contact_ids(env) == hs_before
        contact = client.crm.contacts.basic_api.get_by_id(hs_id, properties=["salesforce_id", "email"])
        assert not contact.archived
        assert contact.properties["salesforce_id"] == master
        assert env.cycle().planned_writes == 0


def test_ambiguous_matches_are_reported_never_guessed(tmp_path):
    with converged_env(tmp_path) as env:
        sf, client = env.sf(), env.hs()
        h1 = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={
            "email": "pat.twin@example.org", "firstname": "Pat", "lastname": "Twin"})).id
        # HubSpot's API refuses a second contact with the same email (409), but portals hold such pairs from
        # imports and older data; the sandbox's direct loader writes one the way those got in.
        [h2] = load_objects(env.sandbox_dir, "contacts", [{"email": "Pat.Twin@Example.org", "firstname": "Patricia",
                                                          "lastname": "Twin"}])
        lead = sf.Lead.create({"FirstName": "Pat", "LastName": "Twin", "Company": "Twin Brothers",
                               "Email": "PAT.TWIN@example.org"})["id"]
        hs_before, sf_before = hs_contact_ids(env), sf_people_ids(sf)
        assert {h1, h2} <= hs_before

        env.cycle()

        linked = {x for h, _, s, _ in people_links(env) for x in (h, s)}
        assert not linked & {h1, h2, lead}
        with env.state() as con:
            reports = con.execute("SELECT system, record_id, candidates, reason FROM sync.link_candidates "
                                  "WHERE pair = 'people' AND match_key = 'pat.twin@example.org'").fetchall()
            ops = con.execute("SELECT target, action, record_key FROM sync.outbox WHERE pair = 'people' "
                              "AND (record_key IN (?, ?, ?) OR target_id IN (?, ?, ?))",
                              [h1, h2, lead, h1, h2, lead]).fetchall()
        assert len(reports) == 1, reports
        system, record_id, candidates, reason = reports[0]
        assert system == "hubspot" and set(candidates) == {h1, h2} and lead in record_id and "ambiguous" in reason
        assert ops == []  # no create, no update planned for any of the three
        assert hs_contact_ids(env) == hs_before
        assert sf_people_ids(sf) == sf_before

        # The next cycle neither guesses nor reports the same key again.
        env.cycle()
        linked = {x for h, _, s, _ in people_links(env) for x in (h, s)}
        assert not linked & {h1, h2, lead}
        with env.state() as con:
            assert con.execute("SELECT count(*) FROM sync.link_candidates WHERE pair = 'people' "
                               "AND match_key = 'pat.twin@example.org'").fetchone()[0] == 1
        assert hs_contact_ids(env) == hs_before
        assert sf_people_ids(sf) == sf_before


@pytest.mark.parametrize("mode", ["propagate", "unlink"])
def test_salesforce_delete_per_deletes_rule(tmp_path, mode):
    override = {"people": {"deletes": "propagate"}} if mode == "propagate" else None
    with converged_env(tmp_path, pairs_override=override) as env:
        sf, client = env.sf(), env.hs()
        hs_id, _, contact_id, _ = next(link for link in people_links(env) if link[1] == "Contact")
        sf_before = sf_people_ids(sf)
        sf.Contact.delete(contact_id)

        env.cycle()

        assert link_of(env, hs_id) is None
        assert linked_to_salesforce(env, contact_id) is None
        if mode == "propagate":
            with pytest.raises(NotFoundException):
                client.crm.contacts.basic_api.get_by_id(hs_id)
            assert client.crm.contacts.basic_api.get_by_id(hs_id, archived=True).archived
        else:
            assert not client.crm.contacts.basic_api.get_by_id(hs_id).archived
        # Either way the person is not made again in Salesforce: the delete sticks.
        env.cycle()
        assert link_of(env, hs_id) is None
        assert sf_people_ids(sf) == sf_before - {contact_id}
        assert sf.query(format_soql("SELECT Id FROM Lead WHERE HubSpot_Id__c = {}", hs_id))["totalSize"] == 0


@pytest.mark.parametrize("mode", ["propagate", "unlink"])
def test_hubspot_delete_per_deletes_rule(tmp_path, mode):
    """HubSpot deletes are read from the archived list (hubspot_deletes_minutes; every cycle here)."""
    import yaml

    from crm_sync_tests.sync_harness import ROOT

    settings = (yaml.safe_load((ROOT / "sync.yaml").read_text()) or {}).get("sync") or {}
    override = {"people": {"deletes": "propagate"}} if mode == "propagate" else None
    with converged_env(tmp_path, pairs_override=override,
                  extra={"sync": {**settings, "hubspot_deletes_minutes": 0}}) as env:
        sf, client = env.sf(), env.hs()
        hs_id, _, contact_id, _ = next(link for link in people_links(env) if link[1] == "Contact")
        hs_before = hs_contact_ids(env)
        client.crm.contacts.basic_api.archive(hs_id)

        env.cycle()

        assert link_of(env, hs_id) is None
        assert linked_to_salesforce(env, contact_id) is None
        gone = sf.query_all(format_soql("SELECT Id FROM Contact WHERE Id = {}", contact_id))["totalSize"] == 0
        assert gone == (mode == "propagate")
        # Either way the person is not made again in HubSpot: the delete sticks.
        env.cycle()
        assert hs_contact_ids(env) == hs_before - {hs_id}


def test_relink_after_the_state_file_is_lost_creates_nothing(tmp_path):
    """With the DuckDB file deleted, the next run rebuilds the links from the cross-ids both CRMs hold and creates
    no record on either side."""
    import shutil

    with converged_env(tmp_path) as env:
        with env.state() as con:
            before = sorted(con.execute("SELECT pair, hubspot_id, salesforce_id FROM sync.links").fetchall())
        sf = env.sf()
        hs_before, sf_before = hs_contact_ids(env), sf_people_ids(sf)
        shutil.rmtree(env.root / "state")

        outcome = env.cycle()

        assert not {k: v for k, v in outcome.summary["writes"].items() if k.endswith(":create")}
        with env.state() as con:
            after = sorted(con.execute("SELECT pair, hubspot_id, salesforce_id FROM sync.links").fetchall())
            how = dict(con.execute("SELECT linked_by, count(*) FROM sync.links GROUP BY ALL").fetchall())
        assert after == before and set(how) <= {"stored_id"}, how
        assert hs_contact_ids(env) == hs_before and sf_people_ids(sf) == sf_before


def test_the_relink_verb_rebuilds_every_link_and_writes_nothing(tmp_path, capsys):
    """`crm-sync relink` with the state file gone: the same links as before, all from stored cross-ids, no write
    to either CRM (the sandboxes count none); the next cycle then creates nothing either."""
    import shutil

    from crm_sync.cli import main

    with converged_env(tmp_path) as env:
        with env.state() as con:
            before = sorted(con.execute("SELECT pair, hubspot_id, salesforce_id FROM sync.links").fetchall())
        shutil.rmtree(env.root / "state")
        env.sf_admin("usage/reset")
        env.hs_admin("usage/reset")

        assert main(["relink", "--config", str(env.config_path)]) == 0

        assert "people: by stored id" in capsys.readouterr().out
        with env.state() as con:
            after = sorted(con.execute("SELECT pair, hubspot_id, salesforce_id FROM sync.links").fetchall())
            how = {r[0] for r in con.execute("SELECT DISTINCT linked_by FROM sync.links").fetchall()}
            assert con.execute("SELECT count(*) FROM sync.outbox").fetchone()[0] == 0
        assert after == before and how == {"stored_id"}
        writes = {s: [k for k in env.usage(s) if call_kind(s, k) == "write"] for s in ("salesforce", "hubspot")}
        assert writes == {"salesforce": [], "hubspot": []}
        outcome = env.cycle()
        assert not {k: v for k, v in outcome.summary["writes"].items() if k.endswith(":create")}


def two_contact_links(env) -> tuple[tuple[str, str], tuple[str, str]]:
    """Two people linked HubSpot contact <-> Salesforce Contact: ((hs, sf), (hs, sf))."""
    contacts = [(h, s) for h, obj, s, _ in people_links(env) if obj == "Contact"]
    return contacts[0], contacts[1]


def duplicate_rows(env) -> list[tuple]:
    with env.state() as con:
        return con.execute("SELECT system, record_id, duplicate_of, resolution FROM sync.duplicates "
                           "WHERE pair = 'people'").fetchall()


@pytest.mark.parametrize("merges", ["link", "propagate"])
def test_salesforce_merge_of_two_linked_contacts(tmp_path, merges):
    """B's Contact merged into A's in Salesforce. link: A keeps its link, B's HubSpot contact is reported as A's
    duplicate. propagate: B's HubSpot contact is merged into A's too, so HubSpot has one record for the person."""
    with converged_env(tmp_path, pairs_override={"people": {"merges": merges}}) as env:
        sf, client = env.sf(), env.hs()
        (hs_a, sf_a), (hs_b, sf_b) = two_contact_links(env)
        hs_before = hs_contact_ids(env)
        env.sf_admin("merge", {"type": "Contact", "master_id": sf_a, "merge_ids": [sf_b]})

        env.cycle()

        assert linked_to_salesforce(env, sf_b) is None
        if merges == "link":
            assert link_of(env, hs_a)[1] == sf_a
            assert duplicate_rows(env) == [("hubspot", hs_b, hs_a, "reported")]
            assert hs_contact_ids(env) == hs_before  # both HubSpot contacts stay; the user decides
        else:
            assert duplicate_rows(env) == [("hubspot", hs_b, hs_a, f"merged into {hs_a}")]
            survivor = client.crm.contacts.basic_api.get_by_id(hs_b).id  # B's old id resolves to the survivor
            assert client.crm.contacts.basic_api.get_by_id(hs_a).id == survivor
            assert hs_contact_ids(env) == (hs_before - {hs_a, hs_b}) | {survivor}
            with env.state() as con:
                audit = con.execute("SELECT target, target_id, success, response ->> 'id' FROM sync.audit "
                                    "WHERE action = 'merge'").fetchall()
            assert audit == [("hubspot", hs_a, True, survivor)]  # the CRM's answer is kept with the write
            env.cycle()  # the merge HubSpot made is read back: the survivor takes A's link
            assert link_of(env, survivor)[1] == sf_a
            assert sf.Contact.get(sf_a)["HubSpot_Id__c"] == survivor
        assert env.cycle().planned_writes == 0


@pytest.mark.parametrize("merges", ["link", "propagate"])
def test_hubspot_merge_of_two_linked_contacts(tmp_path, merges):
    """B's HubSpot contact merged into A's (the primary). link: the survivor keeps A's link, B's Contact is
    reported. propagate: B's Contact is merged into A's by SOAP merge() (deleted with MasterRecordId)."""
    with converged_env(tmp_path, pairs_override={"people": {"merges": merges}}) as env:
        sf = env.sf()
        (hs_a, sf_a), (hs_b, sf_b) = two_contact_links(env)
        survivor = env.hs_admin("merge", {"type": "contacts", "primary_id": hs_a, "merge_id": hs_b})["id"]

        env.cycle()

        assert link_of(env, survivor)[1] == sf_a
        assert link_of(env, hs_a) is None and link_of(env, hs_b) is None
        loser = sf.query_all(format_soql("SELECT Id, IsDeleted, MasterRecordId FROM Contact WHERE Id = {}", sf_b),
                             include_deleted=True)["records"]
        if merges == "link":
            assert duplicate_rows(env) == [("salesforce", sf_b, sf_a, "reported")]
            assert loser[0]["IsDeleted"] is False
        else:
            assert duplicate_rows(env) == [("salesforce", sf_b, sf_a, f"merged into {sf_a}")]
            assert (loser[0]["IsDeleted"], loser[0]["MasterRecordId"]) == (True, sf_a)
            with env.state() as con:
                audit = con.execute("SELECT target, target_id, success, response -> 'mergedRecordIds' ->> 0 "
                                    "FROM sync.audit WHERE action = 'merge'").fetchall()
            assert audit == [("salesforce", sf_a, True, sf_b)]
        assert sf.Contact.get(sf_a)["HubSpot_Id__c"] == survivor
        env.cycle()
        assert env.cycle().planned_writes == 0
