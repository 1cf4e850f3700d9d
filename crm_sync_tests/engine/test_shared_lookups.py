"""Two associations on one Salesforce lookup (yields_to): an engagement's deal and company both map to Task.WhatId,
which holds one record. The deal goes there first; the company waits with a row that says so, and goes in once the
deal is gone, in one write. Custom pairs plan after the pairs they link to. On DuckDB alone."""

from __future__ import annotations

import pytest

from crm_sync_tests.engine.world import World

COMPANY_HS = {"id": "51", "name": "Acme", "salesforce_id": "0011"}
ACCOUNT = {"id": "0011", "Name": "Acme", "HubSpot_Id__c": "51"}
DEAL_HS = {"id": "71", "salesforce_id": "0061", "dealname": "Big", "associations.companies": "51"}
OPPORTUNITY = {"id": "0061", "HubSpot_Id__c": "71", "Name": "Big", "AccountId": "0011"}
TASK_HS = {"id": "41", "salesforce_id": "00T1", "hs_task_subject": "Call", "hs_task_status": "NOT_STARTED"}
TASK = {"id": "00T1", "HubSpot_Id__c": "41", "Subject": "Call", "Status": "Not Started", "TaskSubtype": "Task"}


def task_world(tmp_path) -> World:
    """Acme and its deal Big, linked; task 41 <-> Task 00T1 about nothing yet; Task's describe read."""
    w = World(tmp_path, only=("companies", "deals", "tasks"),
              pairs={"tasks": {"hubspot": "tasks", "salesforce": "Task"}})
    w.salesforce_metadata("Task", {"WhatId": {"type": "reference",
                                              "reference_to": ["Account", "Opportunity", "Case", "Campaign"]}})
    w.stage_hubspot("companies", [COMPANY_HS])
    w.stage_salesforce("Account", [ACCOUNT])
    w.stage_hubspot("deals", [DEAL_HS])
    w.stage_salesforce("Opportunity", [OPPORTUNITY])
    w.stage_hubspot("tasks", [TASK_HS])
    w.stage_salesforce("Task", [TASK])
    w.cycle()
    assert w.ops() == []
    return w


def task_ops(w: World) -> list[tuple]:
    return [(o.target, o.action, o.values) for o in w.ops() if o.pair == "tasks"]


def taken(w: World) -> list[tuple]:
    return [(e["record_id"], e["fields"]) for e in w.errors() if e["code"] == "LOOKUP_TAKEN"]


def test_the_deal_goes_to_whatid_before_the_company_and_the_company_once_the_deal_is_gone(tmp_path):
    w = task_world(tmp_path)
    w.stage_hubspot("tasks", [{"id": "41", "associations.deals": "71", "associations.companies": "51"}])
    w.cycle()
    assert task_ops(w) == [("salesforce", "update", {"WhatId": "0061"})]
    assert taken(w) == [("41", "WhatId")]
    w.answer_all()
    w.echo()
    w.cycle()
    assert task_ops(w) == []  # the waiting company is no change on either side: nothing is removed from HubSpot
    assert taken(w) == [("41", "WhatId")]

    w.stage_hubspot("tasks", [{"id": "41", "associations.deals": ""}])
    w.cycle()
    assert task_ops(w) == [("salesforce", "update", {"WhatId": "0011"})]  # one write: the company replaces the deal
    w.answer_all()
    w.echo()
    assert taken(w) == []
    w.cycle()
    assert task_ops(w) == []


def test_a_whatid_naming_an_opportunity_adds_the_deal_and_keeps_the_company(tmp_path):
    """A Task moved in Salesforce from its Account to the Opportunity: HubSpot gets the deal, and keeps the company
    (it holds both); a WhatId naming the Account gives the HubSpot task that company."""
    w = task_world(tmp_path)
    w.stage_salesforce("Task", [{"id": "00T1", "WhatId": "0011"}])
    w.cycle()
    assert task_ops(w) == [("hubspot", "update", {"associations.companies": "51"})]
    w.answer_all()
    w.echo()
    w.cycle()
    assert task_ops(w) == []
    w.stage_salesforce("Task", [{"id": "00T1", "WhatId": "0061"}])
    w.cycle()
    assert task_ops(w) == [("hubspot", "update", {"associations.deals": "71"})]  # the company not taken away
    w.answer_all()
    w.echo()
    w.cycle()
    assert task_ops(w) == []
    assert w.record("hubspot", "tasks", "41")["associations.companies"] == "51"


def test_yields_to_names_another_association_on_the_same_lookup(tmp_path):
    from crm_sync.config.loader import ConfigError

    with pytest.raises(ConfigError) as err:
        World(tmp_path, pairs={"tasks": {"hubspot": "tasks", "salesforce": "Task", "fields": [
            {"name": "deal", "hubspot": "associations.deals", "salesforce": "WhatId", "type": "association",
             "links_to": "deals"},
            {"name": "person", "hubspot": "associations.contacts", "salesforce": "WhoId", "type": "association",
             "links_to": "people", "yields_to": "deal"}]}})
    assert "pairs.tasks" in str(err.value) and "yields_to" in str(err.value)


def test_a_custom_pair_lists_its_fields_and_plans_after_its_parents(tmp_path):
    from crm_sync.config.loader import ConfigError
    from crm_sync.engine.mapping import load_order

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    with pytest.raises(ConfigError) as err:
        World(tmp_path / "a", pairs={"projects": {"hubspot": "projects", "salesforce": "Project__c"}})
    assert "pairs.projects.fields" in str(err.value)
    w = World(tmp_path / "b", pairs={
        "aaa_milestones": {"hubspot": "milestones", "salesforce": "Milestone__c", "fields": [
            {"name": "name", "hubspot": "milestone_name", "salesforce": "Name"},
            {"name": "project", "hubspot": "associations.projects", "salesforce": "Project__c",
             "type": "association", "links_to": "projects"}]},
        "projects": {"hubspot": "projects", "salesforce": "Project__c", "fields": [
            {"name": "name", "hubspot": "project_name", "salesforce": "Name"},
            {"name": "company", "hubspot": "associations.companies", "salesforce": "Account__c",
             "type": "association", "links_to": "companies"}]}})
    order = load_order(w.config)
    assert order.index("companies") < order.index("projects") < order.index("aaa_milestones")


def test_a_whatid_naming_a_record_of_an_object_no_link_has_yet_is_known_by_its_key_prefix(tmp_path):
    """No deal is linked yet (the first run of a deals pair: its creates land after the tasks plan), and a Task's
    WhatId names an Opportunity: the describe's key prefix (006) says it is a deal waiting for its link, so the
    task's company does not overwrite it (before, an id whose prefix no link had was taken for no deal at all)."""
    w = World(tmp_path, only=("companies", "deals", "tasks"),
              pairs={"tasks": {"hubspot": "tasks", "salesforce": "Task"}})
    w.salesforce_metadata("Task", {"WhatId": {"type": "reference",
                                              "reference_to": ["Account", "Opportunity", "Case", "Campaign"]}})
    w.salesforce_metadata("Opportunity", {"Name": {"key_prefix": "006"}})
    w.stage_hubspot("companies", [COMPANY_HS])
    w.stage_salesforce("Account", [ACCOUNT])
    w.stage_salesforce("Opportunity", [{"id": "0062", "Name": "New", "AccountId": "0011"}])
    w.stage_hubspot("tasks", [{**TASK_HS, "associations.companies": "51"}])
    w.stage_salesforce("Task", [{**TASK, "WhatId": "0062"}])
    w.cycle()
    assert task_ops(w) == []  # WhatId keeps the Opportunity; nothing is taken from HubSpot either
    assert [(e["record_id"], e["code"]) for e in w.errors() if e["pair"] == "tasks"] == [
        ("41", "LOOKUP_TAKEN"), ("00T1", "WAITING_FOR_LINK")]
