"""`crm-sync explain`: a record on each side, linked to what and how, and if not in sync, why."""

from __future__ import annotations

from crm_sync.cli import main
from crm_sync.engine.explain import explain
from crm_sync_tests.engine.test_create_echo import STATUS
from crm_sync_tests.engine.world import World

ANN_HS = {"id": "11", "salesforce_id": "00Q1", "email": "ann@example.org", "firstname": "Ann", "lastname": "Lee",
          "company": "Lee Co", "jobtitle": "CTO"}
ANN_SF = {"id": "00Q1", "HubSpot_Id__c": "11", "Email": "ann@example.org", "FirstName": "Ann", "LastName": "Lee",
          "Company": "Lee Co", "Title": "CTO"}


def linked(tmp_path, **world) -> World:
    w = World(tmp_path, only=("people",), **world)
    w.stage_hubspot("contacts", [ANN_HS])
    w.stage_salesforce("Lead", [ANN_SF])
    w.cycle()
    w.answer_all()
    w.echo()
    w.cycle()
    return w


def about(w: World, key: str) -> list[dict]:
    return explain(w.con, w.specs, key, w.config.sync.max_attempts)


def test_a_linked_record_in_sync_by_email_or_either_id(tmp_path):
    w = linked(tmp_path)
    for key in ("ANN@example.org", "11", "00Q1"):
        [entry] = about(w, key)
        assert entry["in_sync"] and entry["reasons"] == [] and entry["next_writes"] == []
        assert (entry["link"]["hubspot_id"], entry["link"]["salesforce_id"], entry["link"]["linked_by"]) == (
            "11", "00Q1", "stored_id")
        assert entry["last_synced"]["title"] == ("CTO", "CTO")


def test_waiting_in_the_outbox_and_what_the_next_run_sends(tmp_path):
    w = linked(tmp_path)
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "CEO"}])
    w.cycle()
    [entry] = about(w, "00Q1")
    assert not entry["in_sync"] and entry["reasons"] == ["waiting in the outbox: 1 write(s)"]
    [write] = entry["next_writes"]
    assert (write["target"], write["action"], write["payload"], write["due"]) == (
        "salesforce", "update", '{"Title":"CEO"}', True)


def test_a_quarantined_field_with_its_error(tmp_path):
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Lead", STATUS)
    w.stage_salesforce("Lead", [ANN_SF])
    w.stage_hubspot("contacts", [{**ANN_HS, "hs_lead_status": "NURTURING"}])
    w.cycle()
    [entry] = about(w, "11")
    assert any("validation error on salesforce field Status: INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST" in r
               for r in entry["reasons"]), entry["reasons"]
    assert [x["status"] for x in entry["next_writes"] if x["payload"] == '{"Status":"NURTURING"}'] == ["invalid"]


def test_an_ambiguous_match_names_its_candidates(tmp_path):
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "lastname": "Lee"},
                                 {"id": "12", "email": "Ann@Example.org", "lastname": "Lee"}])
    w.stage_salesforce("Lead", [{"id": "00Q1", "Email": "ann@example.org", "LastName": "Lee", "Company": "C"}])
    w.cycle()
    entries = about(w, "12")
    [entry] = entries
    assert entry["link"] is None and not entry["in_sync"]
    assert any(r.startswith("ambiguous match on ann@example.org: candidates 11, 12") for r in entry["reasons"])


def test_a_tombstone_and_an_exclusion(tmp_path):
    w = linked(tmp_path)
    w.stage_hubspot("contacts", [{"id": "11", "deleted": True}])
    w.cycle()
    [entry] = about(w, "00Q1")
    assert entry["link"] is None
    assert any(r.startswith("tombstone: salesforce 00Q1 is not synced again") for r in entry["reasons"])
    rules = {"people": {"include": {"hubspot": "coalesce(hs_lead_status, '') <> 'UNQUALIFIED'"}}}
    (tmp_path / "x").mkdir()
    x = World(tmp_path / "x", only=("people",), pairs=rules)
    x.stage_hubspot("contacts", [{"id": "21", "email": "bo@example.org", "lastname": "Bo",
                                  "hs_lead_status": "UNQUALIFIED"}])
    x.cycle()
    [entry] = about(x, "bo@example.org")
    assert entry["reasons"] == ["hubspot 21 is outside include.hubspot: coalesce(hs_lead_status, '') <> "
                                "'UNQUALIFIED'"]


def test_the_command(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    w = linked(tmp_path)
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "CEO"}])
    w.cycle()
    w.con.close()
    assert main(["explain", "ann@example.org", "--config", str(w.config_path)]) == 0
    out = capsys.readouterr().out
    assert "Linked: HubSpot 11 <-> Salesforce Lead 00Q1, by the cross-ids the records hold" in out
    assert "Next: update salesforce Lead 00Q1" in out and "CEO" in out and "(next run)" in out
    assert main(["explain", "nobody@example.org", "--config", str(w.config_path)]) == 1


def test_how_a_link_was_made_by_email_or_by_a_create(tmp_path):
    w = World(tmp_path, only=("people",))
    w.stage_hubspot("contacts", [{"id": "11", "email": "ann@example.org", "lastname": "Lee"},
                                 {"id": "12", "email": "bo@example.org", "lastname": "Bo"}])
    w.stage_salesforce("Lead", [{"id": "00Q1", "Email": " Ann@Example.org", "LastName": "Lee", "Company": "C"}])
    w.cycle()
    w.answer_all(ids={"12": "00Q2"})
    [matched] = about(w, "11")
    [created] = about(w, "12")  # (00Q2 is read by the next cycle)
    assert (matched["link"]["linked_by"], created["link"]["linked_by"]) == ("match_key", "created")
    assert "matching key" in matched["link"]["how"] and "created" in created["link"]["how"]
