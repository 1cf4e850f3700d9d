"""Notes <-> Tasks of Type Note, and what an engagement is logged on (issue 14's engagements row): the person on
WhoId, and the deal or else the company on WhatId, both ways. WhatId holds one record: an engagement with a deal
and a company puts the deal there, says why the company waits (LOOKUP_TAKEN), and writes the company once the deal
is gone."""

from __future__ import annotations

import pytest
import yaml
from hubspot.crm.objects import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.objects.exceptions import NotFoundException

from crm_sync_tests.sync_harness import ROOT, converged_env

NOTE_TO_CONTACT, NOTE_TO_COMPANY, NOTE_TO_DEAL = 202, 190, 214  # HubSpot-defined association types
MEETING_TO_COMPANY, MEETING_TO_DEAL = 188, 212


def _assoc(to: str, type_id: int) -> dict:
    return {"to": {"id": to}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}]}


def associated(env, obj: str, record_id: str, to: str) -> list[str]:
    r = env.hs().crm.objects.basic_api.get_by_id(obj, record_id, associations=[to])
    found = (r.associations or {}).get(to)
    return sorted(a.id for a in found.results) if found else []


def open_skips(env, pair: str, code: str) -> list[tuple]:
    with env.state() as con:
        return con.execute("SELECT record_id, fields, message FROM sync.errors WHERE pair = ? AND code = ? "
                           "AND resolved_at IS NULL ORDER BY record_id", [pair, code]).fetchall()


def test_notes_sync_both_ways_as_note_tasks_on_their_person_and_company(tmp_path):
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    pairs = {**raw["pairs"], "tasks": {"hubspot": "tasks", "salesforce": "Task"},
             "notes": {"hubspot": "notes", "salesforce": "Task", "deletes": "propagate"}}
    with converged_env(tmp_path, extra={"pairs": pairs, "sync": {**raw["sync"], "hubspot_deletes_minutes": 0}}) as env:
        env.converge()
        sf, hs = env.sf(), env.hs()
        contact_hs, contact_sf = next((h, s) for h, s in env.links("people").items() if s.startswith("003"))
        lead_hs, lead_sf = next((h, s) for h, s in env.links("people").items() if s.startswith("00Q"))
        (company_hs, account_sf), (other_hs, other_sf) = list(env.links("companies").items())[:2]

        # New on each side: a HubSpot note on a Contact and a company; a Salesforce note (a Task of Type Note) on a
        # Lead and an Account; and an ordinary Salesforce task, which stays the tasks pair's.
        made_hs = hs.crm.objects.basic_api.create("notes", SimplePublicObjectInputForCreate(
            properties={"hs_note_body": "Asked for a discount", "hs_timestamp": "2026-12-02T10:00:00Z"},
            associations=[_assoc(contact_hs, NOTE_TO_CONTACT), _assoc(company_hs, NOTE_TO_COMPANY)])).id
        made_sf = sf.Task.create({"Subject": "Note", "Type": "Note", "Description": "Prefers email",
                                  "Status": "Completed", "ActivityDate": "2026-12-03", "WhoId": lead_sf,
                                  "WhatId": other_sf})["id"]
        plain = sf.Task.create({"Subject": "Follow up", "Status": "Not Started", "ActivityDate": "2026-12-04"})["id"]
        env.cycle()
        notes = env.links("notes")
        task = sf.Task.get(notes[made_hs])
        assert (task["Subject"], task["Type"], task["TaskSubtype"], task["Status"], task["Description"],
                task["ActivityDate"], task["WhoId"], task["WhatId"], task["HubSpot_Note_Id__c"],
                task["HubSpot_Id__c"]) == ("Note", "Note", "Task", "Completed", "Asked for a discount", "2026-12-02",
                                           contact_sf, account_sf, made_hs, None)
        back = {v: k for k, v in notes.items()}[made_sf]
        note = hs.crm.objects.basic_api.get_by_id("notes", back, properties=["hs_note_body", "hs_timestamp",
                                                                             "salesforce_id"])
        assert (note.properties["hs_note_body"], note.properties["hs_timestamp"][:10],
                note.properties["salesforce_id"]) == ("Prefers email", "2026-12-03", made_sf)
        assert associated(env, "notes", back, "contacts") == [lead_hs]
        assert associated(env, "notes", back, "companies") == [other_hs]
        assert plain in env.links("tasks").values() and plain not in notes.values()
        assert made_sf not in env.links("tasks").values()
        assert env.cycle().planned_writes == 0

        # Updates both ways: the HubSpot note is edited; the Salesforce note moves to the other Account.
        hs.crm.objects.basic_api.update("notes", made_hs, SimplePublicObjectInput(
            properties={"hs_note_body": "Asked for a 10% discount"}))
        sf.Task.update(made_sf, {"WhatId": account_sf})
        env.cycle()
        assert sf.Task.get(notes[made_hs])["Description"] == "Asked for a 10% discount"
        assert associated(env, "notes", back, "companies") == [company_hs]
        assert env.cycle().planned_writes == 0

        # Every note of the seed is a note Task too, and none of them is a task.
        assert set(notes) == {n.id for n in hs.crm.objects.get_all("notes")}
        note_tasks = {r["Id"] for r in sf.query_all("SELECT Id FROM Task WHERE Type = 'Note'")["records"]}
        assert set(notes.values()) == note_tasks and not note_tasks & set(env.links("tasks").values())

        # Deletes follow the pair's rule (propagate), both ways.
        hs.crm.objects.basic_api.archive("notes", made_hs)
        sf.Task.delete(made_sf)
        env.cycle()
        assert sf.query_all("SELECT Id FROM Task WHERE Type = 'Note'")["totalSize"] == len(note_tasks) - 2
        with pytest.raises(NotFoundException):
            hs.crm.objects.basic_api.get_by_id("notes", back)
        assert made_hs not in env.links("notes") and back not in env.links("notes")
        assert env.cycle().planned_writes == 0


def test_whatid_holds_the_deal_before_the_company_and_the_company_once_the_deal_is_gone(tmp_path):
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    pairs = {**raw["pairs"], "meetings": {"hubspot": "meetings", "salesforce": "Event"}}
    # HubSpot stamps no record for an association removed: every cycle lists them (the sweep), so the next sees it
    with converged_env(tmp_path, extra={"pairs": pairs, "sync": {**raw["sync"], "association_sweep_minutes": 0}}
                       ) as env:
        env.converge()
        sf, hs = env.sf(), env.hs()
        company_hs, account_sf = next(iter(env.links("companies").items()))
        deal_hs, opp_sf = next(iter(env.links("deals").items()))
        both = hs.crm.objects.basic_api.create("meetings", SimplePublicObjectInputForCreate(
            properties={"hs_meeting_title": "Pricing", "hs_meeting_start_time": "2026-12-14T10:00:00Z",
                        "hs_meeting_end_time": "2026-12-14T11:00:00Z", "hs_timestamp": "2026-12-14T10:00:00Z"},
            associations=[_assoc(company_hs, MEETING_TO_COMPANY), _assoc(deal_hs, MEETING_TO_DEAL)])).id
        # An Event on an Account in Salesforce: the HubSpot meeting gets the company, and no deal.
        on_account = sf.Event.create({"Subject": "Site visit", "StartDateTime": "2026-12-15T09:00:00.000+0000",
                                      "DurationInMinutes": 60, "WhatId": account_sf})["id"]
        env.cycle()
        meetings = env.links("meetings")
        assert sf.Event.get(meetings[both])["WhatId"] == opp_sf  # the deal first
        [(record, field, message)] = open_skips(env, "meetings", "LOOKUP_TAKEN")
        assert (record, field) == (both, "WhatId") and company_hs in message and "deal" in message
        back = {v: k for k, v in meetings.items()}[on_account]
        assert (associated(env, "meetings", back, "companies"), associated(env, "meetings", back, "deals")) == (
            [company_hs], [])
        assert env.cycle().planned_writes == 0  # the company waiting is no change, on either side
        assert associated(env, "meetings", both, "companies") == [company_hs]  # HubSpot keeps both

        # The deal leaves the HubSpot meeting: WhatId is freed, and then holds the company; the row is resolved.
        hs.crm.associations.v4.basic_api.archive("meetings", both, "deals", deal_hs)
        for _ in range(3):
            if env.cycle().planned_writes == 0:
                break
        assert sf.Event.get(meetings[both])["WhatId"] == account_sf
        assert open_skips(env, "meetings", "LOOKUP_TAKEN") == []
        assert associated(env, "meetings", both, "companies") == [company_hs]
        assert env.cycle().planned_writes == 0
