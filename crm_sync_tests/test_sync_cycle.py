"""The sync cycle end to end: the Dagster job against both sandboxes, checked through the real clients."""

from __future__ import annotations

import collections
import json
import time

import yaml
from hubspot.crm.contacts import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from simple_salesforce import format_soql

from crm_sync_tests.sync_harness import EXTRA_PAIRS, ROOT, converged_env, sync_env

PEOPLE_FIELDS = {"firstname": "FirstName", "lastname": "LastName", "email": "Email", "jobtitle": "Title",
                 "phone": "Phone"}


def hs_contacts(env, props=tuple(PEOPLE_FIELDS)) -> dict[str, dict]:
    return {c.id: c.properties for c in env.hs().crm.contacts.get_all(properties=list(props))}


def sf_people(sf) -> dict[str, dict]:
    out = {}
    for obj in ("Lead", "Contact"):
        fields = ", ".join(["Id", *PEOPLE_FIELDS.values(), "HubSpot_Id__c"])
        for r in sf.query_all(f"SELECT {fields} FROM {obj}")["records"]:
            out[r["Id"]] = r
    return out


def norm(v) -> str | None:
    v = (v or "").strip() if isinstance(v, str) or v is None else str(v)
    return v or None


def links(env, pair="people") -> list[tuple[str, str, str]]:
    with env.state() as con:
        return con.execute("SELECT hubspot_id, salesforce_object, salesforce_id FROM sync.links WHERE pair = ?",
                           [pair]).fetchall()


def open_error_records(env) -> set[str]:
    with env.state() as con:
        return {r[0] for r in con.execute("SELECT record_id FROM sync.errors WHERE resolved_at IS NULL").fetchall()}


def test_first_sync_of_a_seeded_sandbox_converges(tmp_path):
    with sync_env(tmp_path, seed_size=150) as env:
        sf = env.sf()
        before_sf = collections.Counter((norm(r["Email"]) or "").lower() for r in sf_people(sf).values())
        before_hs = collections.Counter((norm(p.get("email")) or "").lower() for p in hs_contacts(env).values())
        outcomes = env.converge(max_cycles=5)
        assert outcomes[0].summary["writes"], "the first cycle wrote nothing"
        pairs = links(env)
        assert len({h for h, _, _ in pairs}) == len(pairs) == len({s for _, _, s in pairs})
        hs, people = hs_contacts(env), sf_people(sf)
        skip = open_error_records(env)
        disagreements = []
        for hs_id, _, sf_id in pairs:
            if hs_id in skip or sf_id in skip:
                continue
            for hs_field, sf_field in PEOPLE_FIELDS.items():
                hs_value, sf_value = norm(hs[hs_id].get(hs_field)), norm(people[sf_id].get(sf_field))
                if hs_field == "email":  # emails are compared case-blind (HubSpot lower-cases them)
                    hs_value, sf_value = (v.lower() if v else v for v in (hs_value, sf_value))
                if hs_value != sf_value:
                    disagreements.append((hs_id, sf_id, hs_field, hs[hs_id].get(hs_field),
                                          people[sf_id].get(sf_field)))
        assert disagreements == []
        # Nobody exists twice on a side where they did not exist twice before.
        after_sf = collections.Counter((norm(r["Email"]) or "").lower() for r in people.values())
        after_hs = collections.Counter((norm(p.get("email")) or "").lower() for p in hs.values())
        for email, count in after_sf.items():
            if email:
                assert count <= max(1, before_sf[email]), email
        for email, count in after_hs.items():
            if email:
                assert count <= max(1, before_hs[email]), email
        # Every person on one side now has a counterpart, unless it is ambiguous or was rejected.
        assert len(pairs) >= 0.8 * len(hs)


def test_edits_on_each_side_reach_the_other_in_one_cycle(tmp_path):
    with converged_env(tmp_path) as env:
        hs_id, _, sf_id = next(p for p in links(env) if p[1] == "Contact")
        client, sf = env.hs(), env.sf()
        client.crm.contacts.basic_api.update(hs_id, SimplePublicObjectInput(properties={"jobtitle": "Chief Tester"}))
        sf.Contact.update(sf_id, {"Phone": "+1 555 0100"})
        outcome = env.cycle()
        assert sf.Contact.get(sf_id)["Title"] == "Chief Tester"
        assert client.crm.contacts.basic_api.get_by_id(hs_id, properties=["phone"]).properties["phone"] == \
            "+1 555 0100"
        assert outcome.summary["writes"] == {"hubspot:update": 1, "salesforce:update": 1}
        created = client.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={
            "email": "brand.new@example.org", "firstname": "Brand", "lastname": "New"}))
        env.cycle()
        lead = sf.query(format_soql("SELECT Id, LastName, Company, HubSpot_Id__c FROM Lead WHERE Email = {}",
                                    "brand.new@example.org"))["records"]
        assert len(lead) == 1 and lead[0]["HubSpot_Id__c"] == created.id and lead[0]["Company"] == "[not provided]"
        with env.state() as con:
            # Every write sent is in the audit with what the CRM answered for it (the id it wrote, or why not).
            audit = con.execute("""SELECT a.target, a.action, a.response FROM sync.audit a WHERE a.action <> 'associate'
                ORDER BY a.sent_at""").fetchall()
        assert audit and all(response is not None for *_, response in audit), audit[:5]
        answered = {json.loads(r).get("id") for target, action, r in audit if target == "salesforce"}
        assert lead[0]["Id"] in answered and sf_id in answered


# One field per rule, each edited on both sides (HubSpot first, Salesforce a second later), in one cycle:
# (HubSpot property, Salesforce Contact field, rule, value expected on both sides afterwards).
RULE_CASES = [
    ("jobtitle", "Title", "two_way", "sf"),  # the later modification wins
    ("phone", "Phone", "prefer_salesforce_unless_blank", "sf"),
    ("mobilephone", "MobilePhone", "prefer_hubspot_unless_blank", "hs"),
    ("city", "MailingCity", "always_salesforce", "sf"),
    ("state", "MailingState", "always_hubspot", "hs"),
    ("zip", "MailingPostalCode", "dont_sync", None),
]


def test_conflicts_resolve_per_rule(tmp_path):
    from crm_sync.config.defaults import PEOPLE

    rules = {hs: rule for hs, _, rule, _ in RULE_CASES}
    fields = [m.model_dump() for m in PEOPLE]
    for f in fields:
        f["rule"] = rules.get(f["hubspot"], f["rule"])
    with converged_env(tmp_path, pairs_override={"people": {"fields": fields}}) as env:
        hs_id, _, sf_id = next(p for p in links(env) if p[1] == "Contact")
        client, sf = env.hs(), env.sf()
        client.crm.contacts.basic_api.update(hs_id, SimplePublicObjectInput(
            properties={hs: f"hs-{hs}" for hs, *_ in RULE_CASES}))
        time.sleep(1.1)  # the Salesforce edit is the later one, by modification time
        sf.Contact.update(sf_id, {sf_field: f"sf-{sf_field}" for _, sf_field, *_ in RULE_CASES})
        env.cycle()
        hs_now = client.crm.contacts.basic_api.get_by_id(hs_id, properties=[h for h, *_ in RULE_CASES]).properties
        sf_now = sf.Contact.get(sf_id)
        for hs_field, sf_field, rule, winner in RULE_CASES:
            expected = {"hs": f"hs-{hs_field}", "sf": f"sf-{sf_field}"}.get(winner)
            if winner is None:  # dont_sync: each side keeps its own value
                assert (hs_now[hs_field], sf_now[sf_field]) == (f"hs-{hs_field}", f"sf-{sf_field}"), rule
            else:
                assert hs_now[hs_field] == sf_now[sf_field] == expected, rule
        assert env.cycle().planned_writes == 0  # and then it is quiet


def test_blank_rules_fill_from_the_other_side(tmp_path):
    from crm_sync.config.defaults import PEOPLE

    fields = [m.model_dump() for m in PEOPLE]
    for f in fields:
        if f["name"] == "title":
            f["rule"] = "prefer_salesforce_unless_blank"
    with converged_env(tmp_path, pairs_override={"people": {"fields": fields}}) as env:
        hs_id, _, sf_id = next(p for p in links(env) if p[1] == "Contact")
        client, sf = env.hs(), env.sf()
        sf.Contact.update(sf_id, {"Title": None})
        client.crm.contacts.basic_api.update(hs_id, SimplePublicObjectInput(properties={"jobtitle": "from hubspot"}))
        env.cycle()
        assert sf.Contact.get(sf_id)["Title"] == "from hubspot"


def test_quiet_cycle_writes_nothing_and_reads_one_page_per_object(tmp_path):
    """Back to back with the converging cycles (within the overlap), which wrote pages of records:
    the quiet cycle still reads one page per object, as the window the last cycle read is not read again. With
    every pair: the shipped three, tickets, tasks, calls, emails, notes, meetings, products and line items."""
    shipped = yaml.safe_load((ROOT / "sync.yaml").read_text())
    pairs = {**shipped["pairs"], **EXTRA_PAIRS}
    # An overlap longer than any cycle here (a loaded machine can take over a minute for one with every pair):
    # the quiet cycle follows the last within it, whatever the machine's speed.
    settings = {**shipped["sync"], "overlap_seconds": 600}
    with sync_env(tmp_path, seed_size=600, extra={"pairs": pairs, "sync": settings}) as env:
        converged = env.converge()
        assert sum(o.summary["writes"].get("hubspot:create", 0) for o in converged) > 200  # > 1 search page
        sf_before, hs_before = env.usage("salesforce"), env.usage("hubspot")
        outcome = env.cycle()
        sf_after, hs_after = env.usage("salesforce"), env.usage("hubspot")
        assert outcome.planned_writes == 0 and outcome.summary["writes"] == {}
        sf_delta = {k: v - sf_before.get(k, 0) for k, v in sf_after.items() if v != sf_before.get(k, 0)}
        hs_delta = {k: v - hs_before.get(k, 0) for k, v in hs_after.items() if v != hs_before.get(k, 0)}
        # Lead, Contact, Account, Opportunity, OpportunityContactRole, Case, Task (tasks, calls, emails, notes),
        # Event, Product2, PricebookEntry, Pricebook2, OpportunityLineItem, User; contacts, companies, deals,
        # tickets, tasks, calls, emails, meetings, notes, products, line_items
        sf_objects, hs_objects = 13, 11
        reads_sf = sum(v for k, v in sf_delta.items() if k.startswith("GET query"))
        assert reads_sf <= sf_objects, sf_delta
        assert not [k for k in sf_delta if k.split()[0] in ("POST", "PATCH", "DELETE")], sf_delta
        searches = sum(v for k, v in hs_delta.items() if "search" in k)
        assert searches <= hs_objects, hs_delta
        assert not [k for k in hs_delta if "batch" in k or k.startswith(("PATCH", "DELETE"))], hs_delta


def test_associations_follow_links(tmp_path):
    with converged_env(tmp_path) as env:
        sf, client = env.sf(), env.hs()
        companies = {s: h for h, _, s in links(env, "companies")}
        people = links(env)
        contacts = {r["Id"]: r["AccountId"] for r in sf.query_all("SELECT Id, AccountId FROM Contact")["records"]}

        def primary(hs_id: str) -> str | None:
            """The contact's primary company, read as HubSpot exposes it: the associatedcompanyid property."""
            props = client.crm.contacts.basic_api.get_by_id(hs_id, properties=["associatedcompanyid"]).properties
            return props.get("associatedcompanyid")

        def associated(hs_id: str) -> list[str]:
            return [str(r.to_object_id) for r in client.crm.associations.v4.basic_api.get_page(
                "contacts", hs_id, "companies").results]

        checked = 0
        for hs_id, obj, sf_id in people:
            account = contacts.get(sf_id) if obj == "Contact" else None
            if account in companies:
                assert primary(hs_id) == companies[account], (hs_id, sf_id)
                checked += 1
        assert checked >= 10
        # Moving a Contact to another Account in Salesforce makes that company the HubSpot contact's primary
        # company in one cycle; the former company stays associated, unlabeled, as HubSpot itself does.
        hs_id, _, sf_id = next(p for p in people if p[1] == "Contact" and contacts.get(p[2]) in companies)
        other_account = next(a for a in companies if a != contacts[sf_id])
        sf.Contact.update(sf_id, {"AccountId": other_account})
        env.cycle()
        assert primary(hs_id) == companies[other_account]
        assert sorted(associated(hs_id)) == sorted([companies[contacts[sf_id]], companies[other_account]])
        # A change of primary company alone in HubSpot (no property edited) reaches Contact.AccountId in one
        # cycle: HubSpot keeps associatedcompanyid, and its change moves the contact's lastmodifieddate.
        third_account = next(a for a in companies if a not in (contacts[sf_id], other_account))
        env.hs_admin("associations", {"from_type": "contacts", "from_id": hs_id, "to_type": "companies",
                                      "to_id": companies[third_account], "type_id": 1})
        hs_before = env.usage("hubspot")
        env.cycle()
        assert sf.Contact.get(sf_id)["AccountId"] == third_account
        hs_calls = {k: v - hs_before.get(k, 0) for k, v in env.usage("hubspot").items() if v != hs_before.get(k, 0)}
        assert not [k for k in hs_calls if "/batch/read" in k and "contacts/companies" in k], hs_calls
        # Deals: Opportunity.AccountId and the deal's company agree for linked deals.
        deal_links = links(env, "deals")
        opps = {r["Id"]: r["AccountId"] for r in sf.query_all("SELECT Id, AccountId FROM Opportunity")["records"]}
        agree = 0
        for hs_id, _, sf_id in deal_links:
            if opps.get(sf_id) in companies:
                assoc = client.crm.associations.v4.basic_api.get_page("deals", hs_id, "companies")
                assert companies[opps[sf_id]] in [str(r.to_object_id) for r in assoc.results]
                agree += 1
        assert agree >= 5


def test_deal_contacts_follow_opportunity_contact_roles(tmp_path):
    with converged_env(tmp_path) as env:
        sf, client = env.sf(), env.hs()
        people = {s: (h, obj) for h, obj, s in links(env)}
        to_sf = {h: s for s, (h, obj) in people.items() if obj == "Contact"}
        roles: dict[str, set] = {}
        for r in sf.query_all("SELECT OpportunityId, ContactId FROM OpportunityContactRole")["records"]:
            roles.setdefault(r["OpportunityId"], set()).add(r["ContactId"])

        def deal_contacts(hs_id: str) -> set[str]:
            return {str(r.to_object_id) for r in client.crm.associations.v4.basic_api.get_page(
                "deals", hs_id, "contacts").results}

        agree = 0
        for hs_id, _, sf_id in links(env, "deals"):
            members = deal_contacts(hs_id)
            if members and all(m in to_sf for m in members) and all(c in people for c in roles.get(sf_id, ())):
                assert {to_sf[m] for m in members} == roles.get(sf_id, set()), (hs_id, sf_id)
                agree += 1
        assert agree >= 5
        # A contact role added in Salesforce becomes a deal -> contact association in one cycle.
        hs_deal, _, opp = links(env, "deals")[0]
        new_member = next(s for h, s in to_sf.items() if h not in deal_contacts(hs_deal))
        sf.OpportunityContactRole.create({"OpportunityId": opp, "ContactId": new_member, "Role": "Evaluator"})
        env.cycle()
        assert people[new_member][0] in deal_contacts(hs_deal)


def _settings(**changes) -> dict:
    import yaml

    from crm_sync_tests.sync_harness import ROOT

    return {"sync": {**((yaml.safe_load((ROOT / "sync.yaml").read_text()) or {}).get("sync") or {}), **changes}}


def _move_deal(env, client, edit_name: bool):
    """Move a linked deal to another linked company in HubSpot; returns (opportunity id, new Account id)."""
    sf = env.sf()
    companies = {h: s for h, _, s in links(env, "companies")}
    opps = {r["Id"]: r["AccountId"] for r in sf.query_all("SELECT Id, AccountId FROM Opportunity")["records"]}
    hs_deal, _, opp = next(d for d in links(env, "deals") if opps.get(d[2]) in companies.values())
    old = next(h for h, s in companies.items() if s == opps[opp])
    new = next(h for h in companies if h != old)
    stamp = client.crm.deals.basic_api.get_by_id(hs_deal).updated_at
    env.hs_admin("associations", {"from_type": "deals", "from_id": hs_deal, "to_type": "companies", "to_id": old},
                 method="DELETE")
    env.hs_admin("associations", {"from_type": "deals", "from_id": hs_deal, "to_type": "companies", "to_id": new})
    assert client.crm.deals.basic_api.get_by_id(hs_deal).updated_at == stamp  # nothing for a search to find
    if edit_name:
        client.crm.deals.basic_api.update(hs_deal, {"properties": {"dealname": "Moved and renamed"}})
    return opp, companies[new]


def test_hubspot_association_only_change_reaches_salesforce_by_the_sweep(tmp_path):
    """Moving a deal to another company in HubSpot changes no property and no last-modified date, so no
    incremental read can see it; the association sweep (every cycle here) does."""
    with converged_env(tmp_path, extra=_settings(association_sweep_minutes=0)) as env:
        opp, account = _move_deal(env, env.hs(), edit_name=False)
        outcome = env.cycle()
        assert env.sf().Opportunity.get(opp)["AccountId"] == account
        assert outcome.summary["writes"].get("salesforce:update", 0) >= 1
        assert env.cycle().planned_writes == 0  # and the echo plans nothing


def test_association_reads_changed_syncs_a_deal_edit_and_its_move_together(tmp_path):
    """association_reads: changed reads the associations of every deal found changed, so a move made together
    with an edit arrives in the same cycle (no sweep here); the default, new, would leave it to the sweep."""
    settings = _settings(association_reads="changed", association_sweep_minutes=None)
    with converged_env(tmp_path, extra=settings) as env:
        opp, account = _move_deal(env, env.hs(), edit_name=True)
        env.cycle()
        record = env.sf().Opportunity.get(opp)
        assert (record["Name"], record["AccountId"]) == ("Moved and renamed", account)
