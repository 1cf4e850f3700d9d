"""Identity over time: lead conversion and merges on either side move links, never duplicate people."""

from __future__ import annotations

from crm_sync_tests.engine.world import World

ANN_HS = {"id": "11", "email": "ann@example.org", "firstname": "Ann", "lastname": "Lee", "company": "Lee & Co"}
ANN_LEAD = {"id": "00Q1", "Email": "ann@example.org", "FirstName": "Ann", "LastName": "Lee", "Company": "Lee & Co"}
BEN_HS = {"id": "12", "email": "ben@example.org", "lastname": "Berg", "salesforce_id": "0032"}
BEN_SF = {"id": "0032", "Email": "ben@example.org", "LastName": "Berg", "HubSpot_Id__c": "12"}


def people(tmp_path, hs: list[dict], sf: dict[str, list[dict]], **world) -> World:
    """A world whose people are linked and agree (first cycle quiet once the cross-ids are written)."""
    w = World(tmp_path, only=("people",), **world)
    w.stage_hubspot("contacts", hs)
    for obj, rows in sf.items():
        w.stage_salesforce(obj, rows)
    w.cycle()
    w.answer_all()
    w.echo()
    w.cycle()
    assert w.ops() == []
    return w


def test_lead_conversion_moves_the_link_to_the_converted_contact(tmp_path):
    """A converted Lead hands its link to ConvertedContactId: cross-ids written, no creates, syncs as a Contact."""
    w = people(tmp_path, [ANN_HS], {"Lead": [ANN_LEAD]})
    assert w.links("people") == {"11": ("Lead", "00Q1", "match_key")}
    w.stage_salesforce("Lead", [{"id": "00Q1", "IsConverted": "true", "ConvertedContactId": "0031",
                                 "Status": "Closed - Converted"}])
    w.stage_salesforce("Contact", [{"id": "0031", "Email": "ann@example.org", "FirstName": "Ann", "LastName": "Lee"}])
    w.cycle()
    assert w.links("people") == {"11": ("Contact", "0031", "lead_conversion")}
    assert w.ops(action="create") == []
    assert w.op(target="salesforce").payload == {"HubSpot_Id__c": "11"}
    assert w.op(target="hubspot").payload == {"salesforce_id": "0031"}
    w.answer_all()
    w.echo()
    w.stage_salesforce("Contact", [{"id": "0031", "Title": "VP of Conversions"}])
    w.cycle()  # and the pair syncs as a Contact from now on
    assert [(o.target, o.payload) for o in w.ops()] == [("hubspot", {"jobtitle": "VP of Conversions"})]


def test_salesforce_merge_moves_the_link_to_the_master(tmp_path):
    """The loser deleted with MasterRecordId hands its link to the master, which gets the HubSpot id."""
    w = people(tmp_path, [BEN_HS], {"Contact": [BEN_SF]})
    w.stage_salesforce("Contact", [{"id": "0039", "Email": "ben.berg@example.org", "LastName": "Berg"}])
    w.stage_salesforce("Contact", [{"id": "0032", "deleted": True, "MasterRecordId": "0039"}])
    w.cycle()
    assert w.links("people") == {"12": ("Contact", "0039", "salesforce_merge")}
    assert w.tombstones("people") == set()
    assert w.ops(action="create") == [] and w.ops(action="delete") == []
    assert w.op(target="salesforce").payload == {"HubSpot_Id__c": "12"}
    assert w.op(target="hubspot").payload == {"salesforce_id": "0039", "email": "ben.berg@example.org"}


def test_hubspot_merge_moves_the_link_to_the_survivor(tmp_path):
    """The survivor (a new id, as HubSpot gives merged contacts) lists the loser in hs_merged_object_ids."""
    w = people(tmp_path, [BEN_HS], {"Contact": [BEN_SF]})
    w.stage_hubspot("contacts", [{"id": "19", "email": "ben@example.org", "lastname": "Berg", "salesforce_id": "0032",
                                  "hs_merged_object_ids": "12;18"}])
    w.cycle()
    assert w.links("people") == {"19": ("Contact", "0032", "hubspot_merge")}
    assert w.shadow("people", "19")["last_name"] == ("Berg", "Berg")  # the shadow moved with the link
    assert w.ops(action="create") == [] and w.ops(action="delete") == []
    assert [(o.target, o.payload) for o in w.ops()] == [("salesforce", {"HubSpot_Id__c": "19"})]


def test_conversion_into_an_already_linked_contact_keeps_that_link_and_reports(tmp_path):
    """A Lead converted into a Contact someone else is linked to: that link stays, the move is reported."""
    w = people(tmp_path, [ANN_HS, BEN_HS], {"Lead": [ANN_LEAD], "Contact": [BEN_SF]})
    w.stage_salesforce("Lead", [{"id": "00Q1", "IsConverted": "true", "ConvertedContactId": "0032"}])
    w.cycle()
    assert w.links("people")["12"] == ("Contact", "0032", "stored_id")
    [report] = w.candidates("people")
    assert report["record_id"] == "11" and report["candidates"] == ["12"]
    assert "lead_conversion" in report["reason"]


def test_a_blocked_move_is_reported_once(tmp_path):
    """Like an ambiguous key, a blocked conversion is reported once, not on every cycle."""
    w = people(tmp_path, [ANN_HS, BEN_HS], {"Lead": [ANN_LEAD], "Contact": [BEN_SF]})
    w.stage_salesforce("Lead", [{"id": "00Q1", "IsConverted": "true", "ConvertedContactId": "0032"}])
    w.cycle()
    w.cycle()
    assert len(w.candidates("people")) == 1


def duplicates(w) -> list[tuple]:
    return w.con.execute("SELECT system, record_id, duplicate_of, merged_record FROM sync.duplicates "
                         "ORDER BY ALL").fetchall()


def test_hubspot_merge_of_two_linked_contacts_keeps_the_primarys_link_and_reports_the_other(tmp_path):
    """Two linked contacts merged into a new survivor that kept Ann's email: the survivor takes Ann's link (the
    merge's primary); Ben's Contact is now a duplicate, reported with both ids, tombstoned, never overwritten."""
    w = people(tmp_path, [ANN_HS, BEN_HS], {"Lead": [ANN_LEAD], "Contact": [BEN_SF]})
    w.stage_hubspot("contacts", [{"id": "19", "email": "ann@example.org", "lastname": "Lee",
                                  "hs_merged_object_ids": "11;12"}])
    w.cycle()
    assert w.links("people") == {"19": ("Lead", "00Q1", "hubspot_merge")}
    assert duplicates(w) == [("salesforce", "0032", "00Q1", "12")]
    assert not [o for o in w.ops() if o.target_id == "0032" or o.record_key == "0032"]


def test_hubspot_merge_whose_loser_is_the_primary_moves_the_primarys_link(tmp_path):
    """The survivor kept Ben's email (Ben was the primary): it takes Ben's link, not the one whose id sorts first."""
    w = people(tmp_path, [ANN_HS, BEN_HS], {"Lead": [ANN_LEAD], "Contact": [BEN_SF]})
    w.stage_hubspot("contacts", [{"id": "19", "email": BEN_HS["email"], "lastname": "Berg",
                                  "hs_merged_object_ids": "11;12"}])
    w.cycle()
    assert w.links("people") == {"19": ("Contact", "0032", "hubspot_merge")}
    assert duplicates(w) == [("salesforce", "00Q1", "0032", "11")]


def test_salesforce_merge_of_two_linked_contacts_leaves_no_link_on_a_deleted_record(tmp_path):
    """After a merge no link points at a deleted record: one link moves to the master, the other HubSpot contact
    is reported as its duplicate (and not created again)."""
    ann_sf = {"id": "0031", "Email": "ann@example.org", "LastName": "Lee", "HubSpot_Id__c": "11"}
    w = people(tmp_path, [ANN_HS, BEN_HS], {"Contact": [BEN_SF, ann_sf]})
    w.stage_salesforce("Contact", [{"id": "0039", "Email": "lee.berg@example.org", "LastName": "Lee-Berg"}])
    w.stage_salesforce("Contact", [{"id": "0031", "deleted": True, "MasterRecordId": "0039"},
                                   {"id": "0032", "deleted": True, "MasterRecordId": "0039"}])
    w.cycle()
    assert w.links("people") == {"11": ("Contact", "0039", "salesforce_merge")}
    assert duplicates(w) == [("hubspot", "12", "11", "0032")]
    assert not [o for o in w.ops() if o.action == "create"]


def test_salesforce_merge_into_an_already_linked_master_unlinks_the_loser(tmp_path):
    """Ben's Contact merged into Ann's (linked) Contact: Ann's link stays, Ben's link to the deleted loser goes,
    and Ben's HubSpot contact is reported as Ann's duplicate."""
    ann_sf = {"id": "0031", "Email": "ann@example.org", "LastName": "Lee", "HubSpot_Id__c": "11"}
    w = people(tmp_path, [ANN_HS, BEN_HS], {"Contact": [BEN_SF, ann_sf]})
    w.stage_salesforce("Contact", [{"id": "0032", "deleted": True, "MasterRecordId": "0031"}])
    w.cycle()
    assert w.links("people") == {"11": ("Contact", "0031", "stored_id")}
    assert duplicates(w) == [("hubspot", "12", "11", "0032")]
    assert not [o for o in w.ops() if o.action in ("create", "delete")]
