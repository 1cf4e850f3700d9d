"""Tickets <-> Cases (issue 14's first row) end to end: the pair with the shipped default mappings, through the
real sync cycles, checked through the real clients: creates, updates and deletes both ways per the pair's rule,
status and priority through their value maps, and the ticket's contact and company associations landing on the
Case's ContactId and AccountId (and back)."""

from __future__ import annotations

import contextlib

import pytest
import yaml
from hubspot.crm.tickets import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.tickets.exceptions import NotFoundException
from simple_salesforce import format_soql

from crm_sync_tests.sync_harness import ROOT, converged_env

TICKET_CONTACT, TICKET_COMPANY = 16, 339  # HubSpot-defined association types ticket -> contact / company
PROPS = ["subject", "content", "hs_pipeline", "hs_pipeline_stage", "hs_ticket_priority", "source_type",
         "salesforce_id"]


@contextlib.contextmanager
def tickets_env(tmp_path, **pair):
    """The shipped pairs converged on a seeded sandbox, whose tickets and Cases are then brought in by adding the
    tickets <-> Case pair to sync.yaml (as a user would), converged too; HubSpot deletes read every cycle."""
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    pairs = {**raw["pairs"], "tickets": {"hubspot": "tickets", "salesforce": "Case", **pair}}
    with converged_env(tmp_path, extra={"pairs": pairs, "sync": {**raw["sync"], "hubspot_deletes_minutes": 0}}) as env:
        env.converge()
        yield env


def ticket(env, ticket_id: str) -> tuple[dict, dict[str, list[str]]]:
    t = env.hs().crm.tickets.basic_api.get_by_id(ticket_id, properties=PROPS, associations=["contacts", "companies"])
    assoc = {k: sorted(a.id for a in v.results) for k, v in (t.associations or {}).items()}
    return t.properties, assoc


def cases(sf) -> dict[str, dict]:
    rows = sf.query_all("SELECT Id, Subject, Status, Priority, Origin, ContactId, AccountId, HubSpot_Id__c "
                        "FROM Case")["records"]
    return {r["Id"]: r for r in rows}


def new_ticket(env, contact: str | None, company: str | None, **props) -> str:
    associations = [{"to": {"id": to}, "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": t}]}
                    for to, t in ((contact, TICKET_CONTACT), (company, TICKET_COMPANY)) if to]
    return env.hs().crm.tickets.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"hs_pipeline": "0", "hs_pipeline_stage": "1", **props}, associations=associations)).id


def test_tickets_and_cases_sync_both_ways_with_their_contact_and_company(tmp_path):
    with tickets_env(tmp_path) as env:
        sf, hs = env.sf(), env.hs()
        people, companies = env.links("people"), env.links("companies")
        to_hs_person, to_hs_company = {v: k for k, v in people.items()}, {v: k for k, v in companies.items()}
        # The seed's tickets and Cases are each linked once, none made twice, associations as the other side's.
        pairs = env.links("tickets")
        all_cases, all_tickets = cases(sf), {t.id for t in hs.crm.tickets.get_all()}
        assert set(pairs) == all_tickets and set(pairs.values()) == set(all_cases)
        assert len(set(pairs.values())) == len(pairs)
        for hs_id, case_id in pairs.items():
            props, assoc = ticket(env, hs_id)
            case = all_cases[case_id]
            assert case["HubSpot_Id__c"] == hs_id and props["salesforce_id"] == case_id
            assert props["hs_pipeline_stage"] == {"New": "1", "Working": "2", "Escalated": "3", "Closed": "4"}[
                case["Status"]]
            assert assoc.get("companies", []) == ([to_hs_company[case["AccountId"]]] if case["AccountId"] else [])
            if case["ContactId"]:
                assert assoc["contacts"] == [to_hs_person[case["ContactId"]]]

        # New on each side, with a contact and a company.
        contact_hs, contact_sf = next((h, s) for h, s in people.items() if s.startswith("003"))
        (company_hs, company_sf), (other_hs, other_sf) = list(companies.items())[:2]
        made_hs = new_ticket(env, contact_hs, company_hs, subject="Printer on fire", content="Smoke",
                             hs_pipeline_stage="2", hs_ticket_priority="URGENT", source_type="CHAT")
        made_sf = sf.Case.create({"Subject": "Cannot export", "Status": "Escalated", "Priority": "Low",
                                  "Origin": "Phone", "ContactId": contact_sf, "AccountId": company_sf})["id"]
        env.cycle()
        pairs = env.links("tickets")
        case = cases(sf)[pairs[made_hs]]
        assert (case["Subject"], case["Status"], case["Priority"], case["Origin"], case["ContactId"],
                case["AccountId"]) == ("Printer on fire", "Working", "High", "Web", contact_sf, company_sf)
        back = {v: k for k, v in pairs.items()}[made_sf]
        props, assoc = ticket(env, back)
        assert (props["subject"], props["hs_pipeline"], props["hs_pipeline_stage"], props["hs_ticket_priority"],
                props["source_type"]) == ("Cannot export", "0", "3", "LOW", "PHONE")
        assert assoc == {"contacts": [contact_hs], "companies": [company_hs]}

        # Updates both ways: HubSpot closes its ticket, Salesforce raises the priority of its Case and moves it to
        # another account.
        hs.crm.tickets.basic_api.update(made_hs, SimplePublicObjectInput(properties={"hs_pipeline_stage": "4"}))
        sf.Case.update(made_sf, {"Priority": "High", "AccountId": other_sf})
        env.cycle()
        assert cases(sf)[pairs[made_hs]]["Status"] == "Closed"
        props, assoc = ticket(env, back)
        assert props["hs_ticket_priority"] == "HIGH" and assoc["companies"] == [other_hs]
        # Nothing made twice, and the next cycle has nothing to write.
        assert len(env.links("tickets")) == len(cases(sf)) == len(list(hs.crm.tickets.get_all()))
        assert env.cycle().planned_writes == 0


def test_a_ticket_of_a_person_who_is_a_lead_lands_with_the_rest_and_says_why_its_contact_did_not(tmp_path):
    with tickets_env(tmp_path) as env:
        sf = env.sf()
        lead_hs, lead_sf = next((h, s) for h, s in env.links("people").items() if s.startswith("00Q"))
        company_hs, company_sf = next(iter(env.links("companies").items()))
        made = new_ticket(env, lead_hs, company_hs, subject="Lead's ticket", hs_ticket_priority="LOW")
        env.cycle()
        case = cases(sf)[env.links("tickets")[made]]
        assert (case["Subject"], case["Priority"], case["AccountId"], case["ContactId"]) == (
            "Lead's ticket", "Low", company_sf, None)
        # Case.ContactId takes a Contact only (its describe's referenceTo): the Lead's id is never sent (before,
        # Salesforce refused it, and the backoff sent it again every few minutes); that field alone is left out,
        # with a row naming it and why, and nothing is planned for it while nothing changes.
        assert env.cycle().planned_writes == 0
        with env.state() as con:
            errors = con.execute("SELECT fields, code, message FROM sync.errors WHERE pair = 'tickets' AND "
                                 "record_id = ? AND resolved_at IS NULL", [made]).fetchall()
            sent_lead = con.execute("SELECT count(*) FROM sync.audit WHERE object = 'Case' AND "
                                    "contains(CAST(payload AS VARCHAR), ?)", [lead_sf]).fetchone()[0]
        [(field, code, message)] = errors
        assert (field, code, sent_lead) == ("ContactId", "LOOKUP_CANNOT_HOLD", 0)
        assert f"Lead {lead_sf}" in message and "takes Contact" in message


@pytest.mark.parametrize("rule", ["unlink", "propagate"])
def test_ticket_and_case_deletes_follow_the_pairs_rule(tmp_path, rule):
    with tickets_env(tmp_path, deletes=rule) as env:
        sf, hs = env.sf(), env.hs()
        (ticket_a, case_a), (ticket_b, case_b) = list(env.links("tickets").items())[:2]
        sf.Case.delete(case_a)
        hs.crm.tickets.basic_api.archive(ticket_b)
        env.cycle()
        remaining = env.links("tickets")
        assert ticket_a not in remaining and ticket_b not in remaining
        case_b_live = sf.query_all(format_soql("SELECT Id FROM Case WHERE Id = {}", case_b))["totalSize"] == 1
        try:
            hs.crm.tickets.basic_api.get_by_id(ticket_a)
            ticket_a_live = True
        except NotFoundException:
            ticket_a_live = False
        assert (ticket_a_live, case_b_live) == ((False, False) if rule == "propagate" else (True, True))
        # The delete sticks: nothing is made again on either side.
        before = (len(cases(sf)), len(list(hs.crm.tickets.get_all())))
        assert env.cycle().planned_writes == 0
        assert (len(cases(sf)), len(list(hs.crm.tickets.get_all()))) == before
