"""Meetings <-> Salesforce Events (issue 14's meetings row) end to end, with the shipped default mappings: creates,
updates and deletes both ways on the cycle; title, description, place and times; the meeting's contact <->
Event.WhoId (a Lead or a Contact, whichever the person is linked to), its deal <-> Event.WhatId. Salesforce
computes an Event's length."""

from __future__ import annotations

import pytest
import yaml
from hubspot.crm.objects import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.objects.exceptions import NotFoundException
from simple_salesforce import format_soql

from crm_sync_tests.sync_harness import ROOT, converged_env

MEETING_TO_CONTACT, MEETING_TO_DEAL = 200, 212  # HubSpot-defined association types: meeting -> contact, -> deal
PROPS = ["hs_meeting_title", "hs_meeting_body", "hs_meeting_location", "hs_meeting_start_time",
         "hs_meeting_end_time", "hs_timestamp", "salesforce_id"]


def meeting(env, meeting_id: str) -> tuple[dict, list[str]]:
    m = env.hs().crm.objects.basic_api.get_by_id("meetings", meeting_id, properties=PROPS, associations=["contacts"])
    contacts = (m.associations or {}).get("contacts")
    return m.properties, sorted(a.id for a in contacts.results) if contacts else []


def event(sf, event_id: str) -> dict:
    [row] = sf.query_all(format_soql("SELECT Id, Subject, Description, Location, StartDateTime, EndDateTime, "
                                     "DurationInMinutes, ActivityDate, WhoId, WhatId, HubSpot_Id__c FROM Event "
                                     "WHERE Id = {}",
                                     event_id))["records"]
    return row


def live_events(sf) -> int:
    return sf.query_all("SELECT Id FROM Event")["totalSize"]


def test_meetings_sync_both_ways_as_events_with_their_person(tmp_path):
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    pairs = {**raw["pairs"], "meetings": {"hubspot": "meetings", "salesforce": "Event", "deletes": "propagate"}}
    with converged_env(tmp_path, extra={"pairs": pairs, "sync": {**raw["sync"], "hubspot_deletes_minutes": 0}}) as env:
        env.converge()
        sf, hs = env.sf(), env.hs()
        people = env.links("people")
        contact_hs, contact_sf = next((h, s) for h, s in people.items() if s.startswith("003"))
        lead_hs, lead_sf = next((h, s) for h, s in people.items() if s.startswith("00Q"))
        deal_hs, opp_sf = next(iter(env.links("deals").items()))

        # New on each side: a HubSpot meeting with a Contact, a Salesforce Event (start and length) with a Lead.
        made_hs = hs.crm.objects.basic_api.create("meetings", SimplePublicObjectInputForCreate(
            properties={"hs_meeting_title": "Quarterly review", "hs_meeting_body": "Agenda attached",
                        "hs_meeting_location": "Room 4", "hs_meeting_start_time": "2026-12-10T15:00:00Z",
                        "hs_meeting_end_time": "2026-12-10T15:30:00Z", "hs_timestamp": "2026-12-10T15:00:00Z"},
            associations=[{"to": {"id": to}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                         "associationTypeId": kind}]}
                          for to, kind in ((contact_hs, MEETING_TO_CONTACT), (deal_hs, MEETING_TO_DEAL))])).id
        made_sf = sf.Event.create({"Subject": "Demo", "StartDateTime": "2026-12-11T09:00:00.000+0000",
                                   "DurationInMinutes": 45, "Location": "Online", "WhoId": lead_sf})["id"]
        env.cycle()
        pairs_now = env.links("meetings")
        ev = event(sf, pairs_now[made_hs])
        assert (ev["Subject"], ev["Description"], ev["Location"], ev["StartDateTime"][:19], ev["EndDateTime"][:19],
                ev["DurationInMinutes"], ev["WhoId"], ev["WhatId"], ev["HubSpot_Id__c"]) == (
            "Quarterly review", "Agenda attached", "Room 4", "2026-12-10T15:00:00", "2026-12-10T15:30:00", 30,
            contact_sf, opp_sf, made_hs)
        back = {v: k for k, v in pairs_now.items()}[made_sf]
        props, contacts = meeting(env, back)
        assert (props["hs_meeting_title"], props["hs_meeting_location"], props["hs_meeting_start_time"][:19],
                props["hs_meeting_end_time"][:19], props["hs_timestamp"][:19], props["salesforce_id"], contacts) == (
            "Demo", "Online", "2026-12-11T09:00:00", "2026-12-11T09:45:00", "2026-12-11T09:00:00", made_sf, [lead_hs])
        assert env.cycle().planned_writes == 0  # the times read back as written: no echo

        # Updates both ways: the HubSpot meeting moves a day later; the Event moves to the Contact and a new place.
        hs.crm.objects.basic_api.update("meetings", made_hs, SimplePublicObjectInput(properties={
            "hs_meeting_start_time": "2026-12-11T15:00:00Z", "hs_meeting_end_time": "2026-12-11T16:00:00Z"}))
        sf.Event.update(made_sf, {"Location": "HQ", "WhoId": contact_sf})
        env.cycle()
        ev = event(sf, pairs_now[made_hs])
        assert (ev["StartDateTime"][:19], ev["DurationInMinutes"], ev["ActivityDate"]) == (
            "2026-12-11T15:00:00", 60, "2026-12-11")
        props, contacts = meeting(env, back)
        assert (props["hs_meeting_location"], contacts) == ("HQ", [contact_hs])
        # the moved meeting's timestamp follows its start in the same run (HubSpot lists engagements by it)
        assert meeting(env, made_hs)[0]["hs_timestamp"][:19] == "2026-12-11T15:00:00"
        assert env.cycle().planned_writes == 0

        # Deletes follow the pair's rule (propagate): each side's delete reaches the other, nothing comes back.
        events_before = live_events(sf)
        hs.crm.objects.basic_api.archive("meetings", made_hs)
        sf.Event.delete(made_sf)
        env.cycle()
        assert live_events(sf) == events_before - 2
        with pytest.raises(NotFoundException):
            hs.crm.objects.basic_api.get_by_id("meetings", back)
        assert made_hs not in env.links("meetings") and back not in env.links("meetings")
        assert env.cycle().planned_writes == 0
