"""Per-record routing: a person new in HubSpot becomes a Contact (with its Account) when its company already is
an Account in Salesforce, linked or matching by domain, or when a condition holds; a Lead otherwise."""

from __future__ import annotations

import pytest

from crm_sync.config.loader import ConfigError
from crm_sync_tests.engine.world import World

COMPANY_RULE = {"people": {"create_as": {"contact_if_company_has_account": True}}}


def world(tmp_path, pairs: dict) -> World:
    w = World(tmp_path, only=("companies", "people"), pairs=pairs)
    # Acme is linked to its Account; Globex is not in HubSpot's links yet but its domain is an Account's website
    w.stage_hubspot("companies", [{"id": "51", "name": "Acme", "domain": "acme.com", "salesforce_id": "0011"},
                                  {"id": "53", "name": "Initech", "domain": "initech.io"}])
    w.stage_salesforce("Account", [{"id": "0011", "Name": "Acme", "Website": "https://acme.com",
                                    "HubSpot_Id__c": "51"},
                                   {"id": "0012", "Name": "Globex", "Website": "www.globex.org"}])
    w.cycle()
    w.answer_all(ids={"53": "0013"})
    w.echo()
    return w


def created(w: World) -> dict[str, tuple[str, str | None]]:
    return {o.record_key: (o.object, o.payload.get("AccountId"))
            for o in w.ops(target="salesforce", action="create", pair="people")}


def test_a_person_whose_company_is_an_account_becomes_a_contact_of_it_others_leads(tmp_path):
    w = world(tmp_path, COMPANY_RULE)
    w.stage_hubspot("companies", [{"id": "52", "name": "Globex", "domain": "globex.org"}])
    w.stage_hubspot("contacts", [
        {"id": "11", "email": "ann@acme.com", "lastname": "Lee", "associations.companies": "51"},
        {"id": "12", "email": "bo@globex.org", "lastname": "Dahl", "associations.companies": "52"},
        {"id": "13", "email": "cy@example.org", "lastname": "Cy", "company": "Cy Co"},
        {"id": "14", "email": "di@initech.io", "lastname": "Di", "associations.companies": "53"}])
    w.cycle()
    routes = created(w)
    assert routes["11"] == ("Contact", "0011")  # linked company: a Contact of its Account
    assert routes["12"][0] == "Contact"  # Globex matches Account 0012 by domain (and is linked by it now)
    assert routes["13"] == ("Lead", None)  # no company
    assert routes["14"] == ("Contact", "0013")  # its company was created as an Account first
    lead = w.op(target="salesforce", action="create", record_key="13")
    assert lead.payload["Company"] == "Cy Co"


def test_a_condition_routes_too(tmp_path):
    w = world(tmp_path, {"people": {"create_as": {"contact_if": "lifecyclestage IN ('customer', 'opportunity')"}}})
    w.stage_hubspot("contacts", [
        {"id": "11", "email": "ann@acme.com", "lastname": "Lee", "lifecyclestage": "customer"},
        {"id": "12", "email": "bo@example.org", "lastname": "Dahl", "lifecyclestage": "lead"}])
    w.cycle()
    assert {k: v[0] for k, v in created(w).items()} == {"11": "Contact", "12": "Lead"}


def test_a_rule_with_no_test_is_refused(tmp_path):
    with pytest.raises(ConfigError) as err:
        World(tmp_path, only=("people",), pairs={"people": {"create_as": {"contact_if": None}}})
    assert "pairs.people.create_as" in str(err.value) and "contact_if_company_has_account" in str(err.value)
