"""Merges on either side, every combination of linked and unlinked loser and survivor, under both `merges:`
settings: the survivor keeps the primary's link, no link points at a deleted record, the loser's counterpart is
never written with the survivor's values, and with `propagate` the two counterparts are merged too."""

from __future__ import annotations

import pytest

from crm_sync_tests.engine.test_identity import people
from crm_sync_tests.engine.world import World

ANN_HS = {"id": "11", "email": "ann@example.org", "firstname": "Ann", "lastname": "Lee", "salesforce_id": "0031"}
BEN_HS = {"id": "12", "email": "ben@example.org", "firstname": "Ben", "lastname": "Berg", "salesforce_id": "0032"}
ANN_SF = {"id": "0031", "Email": "ann@example.org", "FirstName": "Ann", "LastName": "Lee", "HubSpot_Id__c": "11"}
BEN_SF = {"id": "0032", "Email": "ben@example.org", "FirstName": "Ben", "LastName": "Berg", "HubSpot_Id__c": "12"}
COMBINATIONS = [(loser, survivor) for loser in (True, False) for survivor in (True, False)]


def world(tmp_path, merges: str, hs: list[dict], sf: list[dict]) -> World:
    """People only, creates off both ways (an unlinked record stays unlinked), linked and quiet."""
    return people(tmp_path, hs, {"Contact": sf}, pairs={"people": {"merges": merges, "create_in_salesforce": False,
                                                                    "create_in_hubspot": False}})


def dead_links(w: World, dead: set[str]) -> list:
    return [(h, s) for h, (_, s, _) in w.links("people").items() if h in dead or s in dead]


def duplicates(w: World) -> list[tuple]:
    return w.con.execute("SELECT system, record_id, duplicate_of, resolution FROM sync.duplicates").fetchall()


def settle(w: World) -> None:
    """Send what is due (merges included), read back what changed, plan again: then nothing is left to send."""
    w.answer_all()
    w.echo()
    w.cycle()
    w.answer_all()
    w.echo()
    w.cycle()
    assert w.ops() == []


@pytest.mark.parametrize("merges", ["link", "propagate"])
@pytest.mark.parametrize(("loser_linked", "survivor_linked"), COMBINATIONS)
def test_salesforce_merge(tmp_path, merges, loser_linked, survivor_linked):
    """Ben's Contact (the loser) merged into Ann's (the master, MasterRecordId)."""
    hs = [r for r, on in ((ANN_HS, survivor_linked), (BEN_HS, loser_linked)) if on]
    w = world(tmp_path, merges, hs, [ANN_SF, BEN_SF])
    w.stage_salesforce("Contact", [{"id": "0032", "deleted": True, "MasterRecordId": "0031"}])
    w.cycle()
    assert dead_links(w, {"0032"}) == []
    links = w.links("people")
    if survivor_linked:
        assert {h: s for h, (_, s, _) in links.items()} == {"11": "0031"}
    elif loser_linked:  # Ben's HubSpot contact follows its record into the master
        assert {h: s for h, (_, s, _) in links.items()} == {"12": "0031"}
    else:
        assert links == {}
    merge_ops = [o for o in w.ops() if o.action == "merge"]
    if loser_linked and survivor_linked:
        resolution = "merge pending" if merges == "propagate" else "reported"
        assert duplicates(w) == [("hubspot", "12", "11", resolution)]
        # Ben's HubSpot contact is never written with Ann's values.
        assert not [o for o in w.ops() if o.target == "hubspot" and o.target_id == "12" and o.action != "merge"]
    else:
        assert duplicates(w) == []
    if merges == "propagate" and loser_linked and survivor_linked:
        assert [(o.target, o.target_id, o.payload) for o in merge_ops] == [("hubspot", "11", {"merge_id": "12"})]
        settle(w)
        assert w.record("hubspot", "contacts", "12")["deleted"]
        assert duplicates(w) == [("hubspot", "12", "11", "merged into 11")]
        audit = w.con.execute("SELECT target, action, target_id, success FROM sync.audit WHERE action = 'merge'")
        assert audit.fetchall() == [("hubspot", "merge", "11", True)]
    else:
        assert merge_ops == []
        settle(w)
    assert {h: s for h, (_, s, _) in w.links("people").items()} == {h: s for h, (_, s, _) in links.items()}


@pytest.mark.parametrize("merges", ["link", "propagate"])
@pytest.mark.parametrize(("loser_linked", "survivor_linked"), COMBINATIONS)
def test_hubspot_merge(tmp_path, merges, loser_linked, survivor_linked):
    """Ben's contact (12, the loser) merged into Ann's (11, the primary): the survivor is a new record (19) that
    kept Ann's email and lists both old ids in hs_merged_object_ids."""
    sf = [r for r, on in ((ANN_SF, survivor_linked), (BEN_SF, loser_linked)) if on]
    w = world(tmp_path, merges, [ANN_HS, BEN_HS], sf)
    survivor = {"id": "19", "email": ANN_HS["email"], "firstname": "Ann", "lastname": "Lee",
                "salesforce_id": "0031" if survivor_linked else "0032" if loser_linked else None,
                "hs_merged_object_ids": "11;12"}
    w.stage_hubspot("contacts", [survivor])
    w.cycle()
    assert dead_links(w, {"11", "12"}) == []
    links = {h: s for h, (_, s, _) in w.links("people").items()}
    if survivor_linked:
        assert links == {"19": "0031"}
    elif loser_linked:
        assert links == {"19": "0032"}
    else:
        assert links == {}
    merge_ops = [o for o in w.ops() if o.action == "merge"]
    if loser_linked and survivor_linked:
        resolution = "merge pending" if merges == "propagate" else "reported"
        assert duplicates(w) == [("salesforce", "0032", "0031", resolution)]
        assert not [o for o in w.ops() if o.target == "salesforce" and o.target_id == "0032" and o.action != "merge"]
    else:
        assert duplicates(w) == []
    if merges == "propagate" and loser_linked and survivor_linked:
        assert [(o.target, o.object, o.target_id, o.payload) for o in merge_ops] == [
            ("salesforce", "Contact", "0031", {"merge_id": "0032"})]
        settle(w)
        assert w.record("salesforce", "Contact", "0032")["deleted"]
        assert duplicates(w) == [("salesforce", "0032", "0031", "merged into 0031")]
    else:
        assert merge_ops == []
        settle(w)
    assert {h: s for h, (_, s, _) in w.links("people").items()} == links


def test_a_lead_is_not_merged_into_a_contact(tmp_path):
    """Salesforce merges records of one object: the redundant Lead is reported, with why, not sent to fail."""
    ann_lead = {**ANN_SF, "id": "00Q1"}
    w = world(tmp_path, "propagate", [{**ANN_HS, "salesforce_id": "00Q1"}, BEN_HS], [BEN_SF])
    w.stage_salesforce("Lead", [ann_lead])
    w.cycle()
    w.answer_all()
    w.echo()
    w.cycle()
    assert {h: s for h, (_, s, _) in w.links("people").items()} == {"11": "00Q1", "12": "0032"}
    w.stage_hubspot("contacts", [{"id": "19", "email": BEN_HS["email"], "lastname": "Berg",
                                  "salesforce_id": "0032", "hs_merged_object_ids": "11;12"}])
    w.cycle()
    assert {h: s for h, (_, s, _) in w.links("people").items()} == {"19": "0032"}
    assert duplicates(w) == [("salesforce", "00Q1", "0032", "reported: a Lead cannot be merged into a Contact")]
    assert [o for o in w.ops() if o.action == "merge"] == []


def test_a_failed_merge_says_why_and_is_retried(tmp_path):
    w = world(tmp_path, "propagate", [ANN_HS, BEN_HS], [ANN_SF, BEN_SF])
    w.stage_salesforce("Contact", [{"id": "0032", "deleted": True, "MasterRecordId": "0031"}])
    w.cycle()
    w.answer_all(success=False, error_code="UNKNOWN_EXCEPTION", error_message="merge refused by the test")
    assert duplicates(w) == [("hubspot", "12", "11", "merge failed: UNKNOWN_EXCEPTION: merge refused by the test")]
    errors = [e for e in w.errors() if e["code"] == "UNKNOWN_EXCEPTION"]
    assert [(e["system"], e["record_id"]) for e in errors] == [("hubspot", "12")]
    w.cycle()  # a new plan does not drop the merge
    w.make_failed_ops_due()
    assert [o.action for o in w.sendable()] == ["merge"]
    settle(w)
    assert duplicates(w) == [("hubspot", "12", "11", "merged into 11")]
    assert [e for e in w.errors() if e["code"] == "UNKNOWN_EXCEPTION"] == []


def test_a_deleted_survivor_takes_its_merged_ids_with_it(tmp_path):
    """Ann and Ben merged in HubSpot into 19, which is then deleted (someone archived it by an old id). Neither
    old id may be linked again by its stored cross-id: both are gone for good."""
    w = world(tmp_path, "link", [ANN_HS, BEN_HS], [ANN_SF, BEN_SF])
    w.stage_hubspot("contacts", [{"id": "19", "email": ANN_HS["email"], "lastname": "Lee", "salesforce_id": "0031",
                                  "hs_merged_object_ids": "11;12"}])
    w.cycle()
    w.stage_hubspot("contacts", [{"id": "19", "deleted": True}])
    w.cycle()
    w.cycle()
    assert dead_links(w, {"11", "12", "19"}) == []
    assert w.links("people") == {}


def test_a_merge_the_crm_made_whose_answer_was_never_recorded_is_not_sent_again(tmp_path):
    """The run was killed between HubSpot's answer to the merge and its recording: the next read shows the
    merge done (the survivor lists both ids), so the op is settled, not sent again to fail on a loser now gone."""
    w = world(tmp_path, "propagate", [ANN_HS, BEN_HS], [ANN_SF, BEN_SF])
    w.stage_salesforce("Contact", [{"id": "0032", "deleted": True, "MasterRecordId": "0031"}])
    w.cycle()
    assert [o.action for o in w.sendable()] == ["merge"]
    # HubSpot applied it (a new survivor listing both old ids); the answer never reached the state file.
    w.stage_hubspot("contacts", [{"id": "19", "email": ANN_HS["email"], "lastname": "Lee", "salesforce_id": "0031",
                                  "hs_merged_object_ids": "11;12"}])
    w.cycle()
    assert [o.action for o in w.sendable() if o.action == "merge"] == []
    assert [o.status for o in w.ops(status=None) if o.action == "merge"] == ["sent"]
    assert duplicates(w) == [("hubspot", "12", "11", "merged into 11")]
    assert {h: s for h, (_, s, _) in w.links("people").items()} == {"19": "0031"}
