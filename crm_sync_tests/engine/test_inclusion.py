"""Inclusion rules per side (`include:` of a pair): a record outside its side's condition is neither created on
the other side nor written to, its values go nowhere, its link stays; once it matches again, it syncs."""

from __future__ import annotations

from crm_sync_tests.engine.world import World

RULES = {"people": {"include": {"hubspot": "coalesce(hs_lead_status, '') <> 'UNQUALIFIED'",
                                "salesforce": "coalesce(LeadSource, '') <> 'Partner'"}}}
ANN_HS = {"id": "11", "salesforce_id": "00Q1", "email": "ann@example.org", "firstname": "Ann", "lastname": "Lee",
          "company": "Lee Co", "jobtitle": "CTO"}
ANN_SF = {"id": "00Q1", "HubSpot_Id__c": "11", "Email": "ann@example.org", "FirstName": "Ann", "LastName": "Lee",
          "Company": "Lee Co", "Title": "CTO"}


def excluded(w: World) -> set[tuple[str, str]]:
    return {(s, r) for s, r in w.con.execute("SELECT system, record_id FROM sync.exclusions").fetchall()}


def test_a_record_outside_its_rule_is_not_created_until_it_matches(tmp_path):
    w = World(tmp_path, only=("people",), pairs=RULES)
    w.stage_hubspot("contacts", [{"id": "12", "email": "bo@example.org", "lastname": "Dahl", "company": "Dahl AS",
                                  "hs_lead_status": "UNQUALIFIED"}])
    w.stage_salesforce("Lead", [{"id": "00Q7", "Email": "cy@example.org", "LastName": "Cy", "Company": "Cy Co",
                                 "LeadSource": "Partner"}])
    w.cycle()
    assert w.ops() == []
    assert excluded(w) == {("hubspot", "12"), ("salesforce", "00Q7")}
    reason = w.con.execute("SELECT reason FROM sync.exclusions WHERE record_id = '12'").fetchone()[0]
    assert reason == "outside include.hubspot: coalesce(hs_lead_status, '') <> 'UNQUALIFIED'"
    w.stage_hubspot("contacts", [{"id": "12", "hs_lead_status": "NEW"}])
    w.cycle()
    [create] = w.ops(target="salesforce", action="create")
    assert create.record_key == "12"
    assert excluded(w) == {("salesforce", "00Q7")}


def test_a_linked_record_that_leaves_its_rule_is_no_longer_written_and_syncs_again_when_back(tmp_path):
    w = World(tmp_path, only=("people",), pairs=RULES)
    w.stage_hubspot("contacts", [ANN_HS])
    w.stage_salesforce("Lead", [ANN_SF])
    w.cycle()
    w.answer_all()
    w.echo()
    w.cycle()
    assert w.ops() == []
    w.stage_salesforce("Lead", [{"id": "00Q1", "LeadSource": "Partner"}])  # leaves the rule in Salesforce
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "CEO"}])
    w.cycle()
    assert w.ops() == []  # nothing to it, nothing from it
    assert w.links("people") == {"11": ("Lead", "00Q1", "stored_id")}  # the link stays
    assert ("salesforce", "00Q1") in excluded(w)
    w.stage_salesforce("Lead", [{"id": "00Q1", "LeadSource": "Web"}])  # back in
    w.cycle()
    assert {o.target: o.payload for o in w.ops(action="update")} == {"salesforce": {"Title": "CEO"}}
    assert excluded(w) == set()


def test_an_open_write_to_a_record_that_leaves_its_rule_is_withdrawn(tmp_path):
    w = World(tmp_path, only=("people",), pairs=RULES)
    w.stage_hubspot("contacts", [ANN_HS])
    w.stage_salesforce("Lead", [ANN_SF])
    w.cycle()
    w.answer_all()
    w.echo()
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "CEO"}])
    w.cycle()
    assert [o.payload for o in w.ops(target="salesforce")] == [{"Title": "CEO"}]
    w.stage_hubspot("contacts", [{"id": "11", "hs_lead_status": "UNQUALIFIED"}])  # before the load ran
    w.cycle()
    assert w.ops() == [] and w.sendable() == []


def test_a_rule_that_cannot_be_used_is_refused_naming_its_key(tmp_path):
    import pytest
    import yaml

    from crm_sync.config.loader import ConfigError, load_config
    from crm_sync_tests.engine.world import ROOT

    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    raw["pairs"]["people"]["include"] = {"salesforce": "LeadSource IN (SELECT x FROM y)"}
    path = tmp_path / "sync.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "pairs.people.include" in str(err.value) and "include.salesforce" in str(err.value)


# ---- rules over the record's company: HubSpot's primary company, Salesforce's Account -----------------------
COMPANY_RULES = {"people": {"include": {"hubspot": "coalesce(company.industry, '') <> 'GOVERNMENT_ADMINISTRATION'",
                                        "salesforce": "coalesce(company.Industry, '') <> 'Government'"}}}


def company_world(tmp_path, rules: dict = COMPANY_RULES) -> World:
    w = World(tmp_path, only=("companies", "people"), pairs=rules)
    w.stage_hubspot("companies", [{"id": "51", "name": "Acme", "domain": "acme.com", "salesforce_id": "0011",
                                   "industry": "COMPUTER_SOFTWARE"},
                                  {"id": "52", "name": "Agency", "domain": "agency.gov",
                                   "industry": "GOVERNMENT_ADMINISTRATION"}])
    w.stage_salesforce("Account", [{"id": "0011", "Name": "Acme", "Website": "acme.com", "HubSpot_Id__c": "51",
                                    "Industry": "Technology"}])
    return w


def test_a_rule_over_the_hubspot_company_keeps_its_people_out_until_the_company_matches(tmp_path):
    w = company_world(tmp_path)
    w.stage_hubspot("contacts", [
        {"id": "11", "email": "ann@acme.com", "lastname": "Lee", "associations.companies": "51"},
        {"id": "12", "email": "bo@agency.gov", "lastname": "Dahl", "associations.companies": "52"},
        {"id": "13", "email": "cy@example.org", "lastname": "Cy", "company": "Cy Co"}])  # no company: in
    w.cycle()
    assert {o.record_key for o in w.ops(target="salesforce", action="create", pair="people")} == {"11", "13"}
    assert excluded(w) == {("hubspot", "12")}
    reason = w.con.execute("SELECT reason FROM sync.exclusions WHERE record_id = '12'").fetchone()[0]
    assert "company.industry" in reason
    w.answer_all()
    w.echo()
    # the company changes; the person does not: it enters through its company on the next cycle
    w.stage_hubspot("companies", [{"id": "52", "industry": "NONPROFIT_ORGANIZATION_MANAGEMENT"}])
    w.cycle()
    assert [o.record_key for o in w.ops(target="salesforce", action="create", pair="people")] == ["12"]
    assert excluded(w) == set()


def test_a_linked_contact_leaves_and_enters_its_rule_through_its_account(tmp_path):
    # Type is read for the rule alone (no mapping syncs it)
    w = company_world(tmp_path, {"people": {"include": {"salesforce": "coalesce(company.Type, '') <> 'Competitor'"}}})
    w.stage_hubspot("contacts", [{"id": "11", "salesforce_id": "003A", "email": "ann@acme.com", "lastname": "Lee",
                                  "jobtitle": "CTO", "associations.companies": "51"}])
    w.stage_salesforce("Contact", [{"id": "003A", "HubSpot_Id__c": "11", "Email": "ann@acme.com",
                                    "LastName": "Lee", "Title": "CTO", "AccountId": "0011"}])
    w.cycle()
    w.answer_all()
    w.echo()
    w.cycle()
    assert w.ops(pair="people") == []
    # Acme's Account becomes a competitor in Salesforce: its Contact leaves the rule; an edit in HubSpot waits
    w.stage_salesforce("Account", [{"id": "0011", "Type": "Competitor"}])
    w.stage_hubspot("contacts", [{"id": "11", "jobtitle": "CEO"}])
    w.cycle()
    assert w.ops(pair="people") == []
    assert ("salesforce", "003A") in excluded(w)
    assert w.links("people") == {"11": ("Contact", "003A", "stored_id")}
    w.answer_all()
    w.echo()
    # a customer again, the Contact untouched: it syncs on the next cycle, with the edit it missed
    w.stage_salesforce("Account", [{"id": "0011", "Type": "Customer"}])
    w.cycle()
    assert [o.payload for o in w.ops(pair="people", action="update")] == [{"Title": "CEO"}]
    assert excluded(w) == set()


def test_a_company_rule_needs_a_company_association_and_names_its_key(tmp_path):
    import pytest
    import yaml

    from crm_sync.config.loader import ConfigError, load_config
    from crm_sync_tests.engine.world import ROOT

    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    raw["pairs"]["people"]["include"] = {"hubspot": "company.industry = 'X'"}
    raw["pairs"]["people"]["fields"] = [{"name": "email", "hubspot": "email", "salesforce": "Email"}]
    path = tmp_path / "sync.yaml"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "pairs.people.include.hubspot" in str(err.value) and "company.industry" in str(err.value)
    raw["pairs"]["people"]["include"] = {"hubspot": "deal.amount > 1"}
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert "deal.amount names another table" in str(err.value)
