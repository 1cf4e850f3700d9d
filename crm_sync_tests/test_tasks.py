"""Tasks <-> Salesforce Tasks (issue 14's tasks row) end to end, with the shipped default mappings and inclusion:
creates and updates both ways on the cycle, status and priority through their value maps, the due date, and the
task's contact <-> Task.WhoId (a Lead or a Contact, whichever the person is linked to). Calls and emails that
Salesforce keeps as Tasks (their TaskSubtype) stay out."""

from __future__ import annotations

import yaml
from hubspot.crm.objects import SimplePublicObjectInput, SimplePublicObjectInputForCreate

from crm_sync_tests.sync_harness import ROOT, converged_env

TASK_TO_CONTACT = 204  # HubSpot-defined association types: task -> contact, task -> deal
TASK_TO_DEAL = 216
PROPS = ["hs_task_subject", "hs_task_body", "hs_task_status", "hs_task_priority", "hs_timestamp", "salesforce_id"]
STATUS = {"Not Started": "NOT_STARTED", "In Progress": "IN_PROGRESS", "Waiting on someone else": "WAITING",
          "Completed": "COMPLETED", "Deferred": "DEFERRED"}


def hs_task(env, task_id: str) -> tuple[dict, list[str]]:
    t = env.hs().crm.objects.basic_api.get_by_id("tasks", task_id, properties=PROPS, associations=["contacts"])
    contacts = (t.associations or {}).get("contacts")
    return t.properties, sorted(a.id for a in contacts.results) if contacts else []


def sf_tasks(sf) -> dict[str, dict]:
    return {r["Id"]: r for r in sf.query_all("SELECT Id, Subject, Description, Status, Priority, ActivityDate, WhoId, "
                                             "TaskSubtype, HubSpot_Id__c FROM Task")["records"]}


def test_tasks_sync_both_ways_with_their_person_and_calls_stay_out(tmp_path):
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    pairs = {**raw["pairs"], "tasks": {"hubspot": "tasks", "salesforce": "Task"}}
    with converged_env(tmp_path, extra={"pairs": pairs}) as env:  # the shipped pairs synced; tasks added now
        env.converge()
        sf, hs = env.sf(), env.hs()
        people = env.links("people")
        to_hs_person = {v: k for k, v in people.items()}
        # Every task of either side is linked once; values and the person agree.
        pairs_now = env.links("tasks")
        tasks = sf_tasks(sf)
        assert set(pairs_now) == {t.id for t in hs.crm.objects.get_all("tasks")}
        # the seed's logged calls and emails (Tasks of those subtypes) are no tasks: they stay out of the pair
        assert set(pairs_now.values()) == {i for i, t in tasks.items() if t["TaskSubtype"] == "Task"} != set(tasks)
        checked = 0
        for hs_id, sf_id in pairs_now.items():
            props, contacts = hs_task(env, hs_id)
            task = tasks[sf_id]
            assert (props["salesforce_id"], task["HubSpot_Id__c"]) == (sf_id, hs_id)
            assert props["hs_task_status"] == STATUS[task["Status"]]
            assert props["hs_timestamp"][:10] == task["ActivityDate"]
            if task["WhoId"] in to_hs_person:
                assert contacts == [to_hs_person[task["WhoId"]]]
                checked += 1
        assert checked > 10

        # New on each side: a HubSpot task on a person who is a Contact, a Salesforce Task on a Lead, and a logged
        # call (a Task of subtype Call) that is no task.
        contact_hs, contact_sf = next((h, s) for h, s in people.items() if s.startswith("003"))
        lead_hs, lead_sf = next((h, s) for h, s in people.items() if s.startswith("00Q"))
        made_hs = hs.crm.objects.basic_api.create("tasks", SimplePublicObjectInputForCreate(
            properties={"hs_task_subject": "Send the quote", "hs_task_body": "By Friday", "hs_task_status":
                        "NOT_STARTED", "hs_task_priority": "HIGH", "hs_timestamp": "2026-12-18T15:00:00Z"},
            associations=[{"to": {"id": contact_hs}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                                "associationTypeId": TASK_TO_CONTACT}]}])).id
        made_sf = sf.Task.create({"Subject": "Call back", "Status": "In Progress", "Priority": "Low",
                                  "ActivityDate": "2026-12-20", "WhoId": lead_sf})["id"]
        call = sf.Task.create({"Subject": "Call", "Status": "Completed", "TaskSubtype": "Call", "WhoId": lead_sf,
                               "CallDurationInSeconds": 120})["id"]
        env.cycle()
        pairs_now = env.links("tasks")
        task = sf_tasks(sf)[pairs_now[made_hs]]
        assert (task["Subject"], task["Description"], task["Status"], task["Priority"], task["ActivityDate"],
                task["WhoId"], task["TaskSubtype"]) == ("Send the quote", "By Friday", "Not Started", "High",
                                                        "2026-12-18", contact_sf, "Task")
        back = {v: k for k, v in pairs_now.items()}[made_sf]
        props, contacts = hs_task(env, back)
        assert (props["hs_task_subject"], props["hs_task_status"], props["hs_task_priority"],
                props["hs_timestamp"][:10], contacts) == ("Call back", "IN_PROGRESS", "LOW", "2026-12-20", [lead_hs])
        assert call not in pairs_now.values()

        # Updates both ways: done in HubSpot; in Salesforce, raised and given to the Contact instead of the Lead.
        hs.crm.objects.basic_api.update("tasks", made_hs, SimplePublicObjectInput(
            properties={"hs_task_status": "COMPLETED"}))
        sf.Task.update(made_sf, {"Priority": "High", "WhoId": contact_sf})
        env.cycle()
        assert sf_tasks(sf)[pairs_now[made_hs]]["Status"] == "Completed"
        props, contacts = hs_task(env, back)
        assert (props["hs_task_priority"], contacts) == ("HIGH", [contact_hs])
        assert len(env.links("tasks")) == len(list(hs.crm.objects.get_all("tasks")))
        assert env.cycle().planned_writes == 0


def test_logged_calls_sync_both_ways_as_call_tasks_apart_from_tasks(tmp_path):
    """Calls <-> Tasks of subtype Call, beside the tasks pair on the same object: each pair keeps to its own
    records and its own cross-id field (HubSpot_Call_Id__c), though a call and a task can have the same HubSpot id."""
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    pairs = {**raw["pairs"], "tasks": {"hubspot": "tasks", "salesforce": "Task"},
             "calls": {"hubspot": "calls", "salesforce": "Task"}}
    with converged_env(tmp_path, extra={"pairs": pairs}) as env:
        env.converge()
        sf, hs = env.sf(), env.hs()
        people = env.links("people")
        contact_hs, contact_sf = next((h, s) for h, s in people.items() if s.startswith("003"))
        calls_before = env.links("calls")
        # Every HubSpot call is a Salesforce Task of subtype Call, and no task became one or the other way round.
        assert set(calls_before) == {c.id for c in hs.crm.objects.get_all("calls")}
        rows = sf.query_all("SELECT Id, TaskSubtype, HubSpot_Id__c, HubSpot_Call_Id__c FROM Task")["records"]
        subtype = {r["Id"]: r["TaskSubtype"] for r in rows}
        assert {subtype[s] for s in calls_before.values()} <= {"Call"}  # (the seed logs no calls)
        assert {subtype[s] for s in env.links("tasks").values()} == {"Task"}
        assert all(r["HubSpot_Id__c"] is None for r in rows if r["TaskSubtype"] == "Call")

        made_hs = hs.crm.objects.basic_api.create("calls", SimplePublicObjectInputForCreate(
            properties={"hs_call_title": "Discovery call", "hs_call_body": "Went well", "hs_call_direction":
                        "OUTBOUND", "hs_call_duration": "95000", "hs_timestamp": "2026-11-30T10:00:00Z"},
            associations=[{"to": {"id": contact_hs}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                                "associationTypeId": 194}]}])).id
        made_sf = sf.Task.create({"Subject": "Support call", "TaskSubtype": "Call", "Status": "Completed",
                                  "CallType": "Inbound", "CallDurationInSeconds": 42, "ActivityDate": "2026-11-29",
                                  "WhoId": contact_sf})["id"]
        env.cycle()
        calls_now = env.links("calls")
        task = sf.Task.get(calls_now[made_hs])
        assert (task["Subject"], task["Description"], task["CallType"], task["CallDurationInSeconds"],
                task["ActivityDate"], task["WhoId"], task["TaskSubtype"], task["Status"]) == (
            "Discovery call", "Went well", "Outbound", 95, "2026-11-30", contact_sf, "Call", "Completed")
        assert task["HubSpot_Call_Id__c"] == made_hs and task["HubSpot_Id__c"] is None
        back = {v: k for k, v in calls_now.items()}[made_sf]
        call = hs.crm.objects.basic_api.get_by_id("calls", back, properties=[
            "hs_call_title", "hs_call_direction", "hs_call_duration", "hs_timestamp"], associations=["contacts"])
        assert (call.properties["hs_call_title"], call.properties["hs_call_direction"],
                float(call.properties["hs_call_duration"]), call.properties["hs_timestamp"][:10]) == (
            "Support call", "INBOUND", 42000.0, "2026-11-29")
        assert [a.id for a in call.associations["contacts"].results] == [contact_hs]
        assert made_sf not in env.links("tasks").values()
        assert env.cycle().planned_writes == 0


def test_logged_emails_sync_both_ways_as_email_tasks(tmp_path):
    """Emails <-> Tasks of subtype Email, beside the tasks and calls pairs on Task, with their own cross-id field."""
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    pairs = {**raw["pairs"], **{p: {"hubspot": p, "salesforce": "Task"} for p in ("tasks", "calls", "emails")}}
    with converged_env(tmp_path, extra={"pairs": pairs}) as env:
        env.converge()
        sf, hs = env.sf(), env.hs()
        contact_hs, contact_sf = next((h, s) for h, s in env.links("people").items() if s.startswith("003"))
        made_hs = hs.crm.objects.basic_api.create("emails", SimplePublicObjectInputForCreate(
            properties={"hs_email_subject": "Your quote", "hs_email_text": "Attached.", "hs_email_direction": "EMAIL",
                        "hs_timestamp": "2026-11-28T09:00:00Z"},
            associations=[{"to": {"id": contact_hs}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                                "associationTypeId": 198}]}])).id
        made_sf = sf.Task.create({"Subject": "Re: your quote", "Description": "Thanks", "TaskSubtype": "Email",
                                  "Status": "Completed", "ActivityDate": "2026-11-29", "WhoId": contact_sf})["id"]
        env.cycle()
        emails = env.links("emails")
        task = sf.Task.get(emails[made_hs])
        assert (task["Subject"], task["Description"], task["ActivityDate"], task["WhoId"], task["TaskSubtype"],
                task["Status"], task["HubSpot_Email_Id__c"], task["HubSpot_Id__c"], task["HubSpot_Call_Id__c"]) == (
            "Your quote", "Attached.", "2026-11-28", contact_sf, "Email", "Completed", made_hs, None, None)
        back = {v: k for k, v in emails.items()}[made_sf]
        email = hs.crm.objects.basic_api.get_by_id("emails", back, properties=[
            "hs_email_subject", "hs_email_text", "hs_timestamp"], associations=["contacts"])
        assert (email.properties["hs_email_subject"], email.properties["hs_email_text"],
                email.properties["hs_timestamp"][:10]) == ("Re: your quote", "Thanks", "2026-11-29")
        assert [a.id for a in email.associations["contacts"].results] == [contact_hs]
        assert made_sf not in {*env.links("tasks").values(), *env.links("calls").values()}
        assert env.cycle().planned_writes == 0


def test_a_tasks_deal_is_its_whatid_when_that_names_an_opportunity(tmp_path):
    """task -> deal <-> Task.WhatId both ways; a WhatId that names an Account (WhatId holds several objects) is no
    deal: the HubSpot task gets none, nothing is written back or held, and the next cycle is quiet."""
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    pairs = {**raw["pairs"], "tasks": {"hubspot": "tasks", "salesforce": "Task"}}
    with converged_env(tmp_path, extra={"pairs": pairs}) as env:
        env.converge()
        sf, hs = env.sf(), env.hs()
        (deal_a, opp_a), (deal_b, opp_b) = list(env.links("deals").items())[:2]
        company_sf = next(iter(env.links("companies").values()))
        made_hs = hs.crm.objects.basic_api.create("tasks", SimplePublicObjectInputForCreate(
            properties={"hs_task_subject": "Send the contract", "hs_task_status": "NOT_STARTED",
                        "hs_timestamp": "2026-12-18T15:00:00Z"},
            associations=[{"to": {"id": deal_a}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                             "associationTypeId": TASK_TO_DEAL}]}])).id
        on_account = sf.Task.create({"Subject": "Account review", "Status": "Not Started", "WhatId": company_sf,
                                     "ActivityDate": "2026-12-21"})["id"]
        env.cycle()
        tasks = env.links("tasks")
        assert sf.Task.get(tasks[made_hs])["WhatId"] == opp_a
        back = {v: k for k, v in tasks.items()}[on_account]
        assert deals_of(env, back) == []
        sf.Task.update(tasks[made_hs], {"WhatId": opp_b})
        env.cycle()
        assert deals_of(env, made_hs) == [deal_b]
        assert sf.Task.get(on_account)["WhatId"] == company_sf  # the Account stays
        with env.state() as con:
            held = con.execute("SELECT count(*) FROM sync.errors WHERE pair = 'tasks' AND resolved_at IS NULL AND "
                               "fields IN ('WhatId', 'associations.deals')").fetchone()[0]
        assert held == 0
        assert env.cycle().planned_writes == 0


def deals_of(env, task_id: str) -> list[str]:
    t = env.hs().crm.objects.basic_api.get_by_id("tasks", task_id, associations=["deals"])
    deals = (t.associations or {}).get("deals")
    return sorted(a.id for a in deals.results) if deals else []
