"""Transforms in sync.yaml: per direction, an expression over the source record computes the value written (the
mapping language, engine/expressions.py), evaluated in DuckDB over whole tables; a transform with no inverse
makes its field one-way, and the configuration has to say so."""

from __future__ import annotations

import pytest
import yaml

from crm_sync.config.loader import ConfigError, load_config
from crm_sync_tests.engine.world import ROOT, World

ANN_HS = {"id": "11", "salesforce_id": "00Q1", "email": "ann@example.org", "firstname": "Ann", "lastname": "Lee",
          "company": "Lee Co"}
ANN_SF = {"id": "00Q1", "HubSpot_Id__c": "11", "Email": "ann@example.org", "FirstName": "Ann", "LastName": "Lee",
          "Company": "Lee Co"}


def linked_ann(tmp_path, fields: dict, hs: dict | None = None, sf: dict | None = None) -> World:
    """Ann linked (Lead 00Q1, contact 11) under the people pair with these mappings added or changed."""
    w = World(tmp_path, only=("people",), fields={"people": fields})
    w.stage_salesforce("Lead", [{**ANN_SF, **(sf or {})}])
    w.stage_hubspot("contacts", [{**ANN_HS, **(hs or {})}])
    return w


def writes(w: World) -> dict[str, dict]:
    return {o.target: o.payload for o in w.ops(action="update")}


def settle(w: World) -> None:
    """Answer the open writes, read the records back, plan again: nothing more to write."""
    w.answer_all()
    w.echo()
    w.cycle()
    assert writes(w) == {}


FULL_NAME = {"full_name": {"salesforce": "Full_Name__c", "rule": "always_hubspot",
                           "to_salesforce": "concat_ws(' ', firstname, lastname)"}}


def test_a_concatenation_writes_one_salesforce_field_from_two_hubspot_properties(tmp_path):
    w = linked_ann(tmp_path, FULL_NAME)
    w.cycle()
    assert writes(w) == {"salesforce": {"Full_Name__c": "Ann Lee"}}
    settle(w)
    w.stage_hubspot("contacts", [{"id": "11", "lastname": "Smith"}])
    w.cycle()
    assert writes(w) == {"salesforce": {"LastName": "Smith", "Full_Name__c": "Ann Smith"}}
    settle(w)
    # One-way: an edit in Salesforce is overwritten from HubSpot, never written to HubSpot
    w.stage_salesforce("Lead", [{"id": "00Q1", "Full_Name__c": "Someone Else"}])
    w.cycle()
    assert writes(w) == {"salesforce": {"Full_Name__c": "Ann Smith"}}


def test_a_new_hubspot_contact_is_created_with_its_computed_fields(tmp_path):
    w = World(tmp_path, only=("people",), fields={"people": FULL_NAME})
    w.stage_hubspot("contacts", [{"id": "12", "email": "bo@example.org", "firstname": "Bo", "lastname": "Dahl",
                                  "company": "Dahl AS"}])
    w.cycle()
    create = w.op(target="salesforce", action="create")
    assert create.payload["Full_Name__c"] == "Bo Dahl" and create.payload["LastName"] == "Dahl"


def test_a_split_writes_two_hubspot_properties_from_one_salesforce_field(tmp_path):
    split = {"given_name": {"hubspot": "given_name", "rule": "always_salesforce",
                            "to_hubspot": "split_part(Full_Name__c, ' ', 1)"},
             "family_name": {"hubspot": "family_name", "rule": "always_salesforce",
                             "to_hubspot": "nullif(trim(substr(Full_Name__c, strpos(Full_Name__c, ' ') + 1)), '')"}}
    w = linked_ann(tmp_path, split, sf={"Full_Name__c": "Ann Marie Lee"})
    w.cycle()
    assert writes(w) == {"hubspot": {"given_name": "Ann", "family_name": "Marie Lee"}}
    settle(w)
    w.stage_salesforce("Lead", [{"id": "00Q1", "Full_Name__c": "Ann Berg"}])
    w.cycle()
    assert writes(w) == {"hubspot": {"family_name": "Berg"}}


E164 = {"phone": {"to_salesforce": "e164(phone, 'US')", "to_hubspot": "e164(Phone, 'US')"}}


def test_phone_numbers_go_out_in_e164_both_ways(tmp_path):
    w = linked_ann(tmp_path, E164, hs={"phone": "(415) 555-0100"}, sf={"Phone": "(415) 555-0100"})
    w.cycle()
    settle(w)  # the first comparison: both sides format to the same number, nothing to write
    w.stage_hubspot("contacts", [{"id": "11", "phone": "415.555.0199 ext. 7"}])
    w.cycle()
    assert writes(w) == {"salesforce": {"Phone": "+14155550199"}}
    settle(w)
    w.stage_salesforce("Lead", [{"id": "00Q1", "Phone": "0044 20 7946 0958"}])
    w.cycle()
    assert writes(w) == {"hubspot": {"phone": "+442079460958"}}
    settle(w)


def test_a_conditional_lifecycle_stage_follows_the_lead_status(tmp_path):
    stage = {"lifecycle_stage": {"value_map": None, "to_hubspot": {
        "when": [{"if": "Status = 'Closed - Converted'", "then": "'customer'"},
                 {"if": "Status LIKE 'Working%' AND Rating = 'Hot'", "then": "'salesqualifiedlead'"},
                 {"if": "Status LIKE 'Working%'", "then": "'marketingqualifiedlead'"}],
        "else": "'lead'"}}}
    w = linked_ann(tmp_path, stage, hs={"lifecyclestage": "lead"}, sf={"Status": "Open - Not Contacted"})
    w.cycle()
    settle(w)
    w.stage_salesforce("Lead", [{"id": "00Q1", "Status": "Working - Contacted", "Rating": "Hot"}])
    w.cycle()
    assert writes(w)["hubspot"]["lifecyclestage"] == "salesqualifiedlead"
    settle(w)
    w.stage_salesforce("Lead", [{"id": "00Q1", "Rating": "Cold"}])
    w.cycle()
    assert writes(w)["hubspot"] == {"lifecyclestage": "marketingqualifiedlead"}


def test_dates_in_a_time_zone_numbers_booleans_options_and_constants(tmp_path):
    fields = {
        # a Salesforce datetime as the date it was in Los Angeles, into a HubSpot date property
        "last_contacted": {"hubspot": "last_contacted_date", "salesforce": "Last_Contact__c", "type": "date",
                           "rule": "always_salesforce", "to_hubspot": "date_in_zone(Last_Contact__c, "
                                                                     "'America/Los_Angeles')"},
        # free text with a currency into a number field, yes/no into a checkbox
        "revenue": {"hubspot": "revenue_text", "salesforce": "AnnualRevenue", "type": "number",
                    "rule": "always_hubspot", "to_salesforce": "parse_number(revenue_text)"},
        "newsletter": {"hubspot": "newsletter", "salesforce": "Newsletter__c", "type": "bool",
                       "rule": "always_hubspot", "to_salesforce": "parse_bool(newsletter)"},
        # a multi-select into a single picklist: the first of a priority list the record holds
        "tier": {"hubspot": "product_interest", "salesforce": "Tier__c", "rule": "always_hubspot",
                 "to_salesforce": "pick_option(product_interest, 'Platinum;Gold;Silver')"},
        # a default where HubSpot has nothing, and a constant
        "source": {"hubspot": "hs_analytics_source", "salesforce": "LeadSource", "rule": "always_hubspot",
                   "to_salesforce": "coalesce(hs_analytics_source, 'Web')"},
        "origin": {"salesforce": "Origin__c", "rule": "always_hubspot", "to_salesforce": "'HubSpot'"},
    }
    w = linked_ann(tmp_path, fields, sf={"Last_Contact__c": "2024-03-02T05:30:00.000+0000"},
                   hs={"revenue_text": "$1,234.50", "newsletter": "Yes", "product_interest": "Silver;Gold"})
    w.cycle()
    assert writes(w) == {
        "hubspot": {"last_contacted_date": "2024-03-01"},
        "salesforce": {"AnnualRevenue": 1234.5, "Newsletter__c": True, "Tier__c": "Gold", "LeadSource": "Web",
                       "Origin__c": "HubSpot"}}
    settle(w)


def test_a_value_map_still_applies_after_a_transform(tmp_path):
    status = {"lead_status": {"to_salesforce": "upper(trim(hs_lead_status))", "rule": "always_hubspot"}}
    w = linked_ann(tmp_path, status, hs={"hs_lead_status": "NEW"}, sf={"Status": "Open - Not Contacted"})
    w.cycle()
    settle(w)
    w.stage_hubspot("contacts", [{"id": "11", "hs_lead_status": " connected "}])
    w.cycle()
    assert writes(w)["salesforce"]["Status"] == "Working - Contacted"


def _load(tmp_path, fields: list[dict]):
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    raw["pairs"] = {"people": {**raw["pairs"]["people"], "fields": fields}}
    path = tmp_path / "sync.yaml"
    path.write_text(yaml.safe_dump(raw))
    return load_config(path)


NAME = [{"name": "last_name", "hubspot": "lastname", "salesforce": "LastName"}]


@pytest.mark.parametrize(("mapping", "says"), [
    # a transform with no inverse cannot be two-way: the config says which way it goes
    ({"name": "full_name", "hubspot": "full_name", "salesforce": "Full_Name__c",
      "to_salesforce": "concat_ws(' ', firstname, lastname)"},
     ["pairs.people.fields.1", "full_name", "to_salesforce has no inverse", "rule: always_hubspot"]),
    ({"name": "full_name", "salesforce": "Full_Name__c", "rule": "always_hubspot",
      "to_salesforce": "getenv('HOME')"}, ["full_name", "to_salesforce", "unknown function getenv()"]),
    ({"name": "full_name", "salesforce": "Full_Name__c", "rule": "always_hubspot",
      "to_salesforce": "(SELECT password FROM users)"}, ["full_name", "subquery is not allowed"]),
    ({"name": "full_name", "salesforce": "Full_Name__c", "rule": "always_hubspot",
      "to_salesforce": "other.firstname"}, ["names another table"]),
    ({"name": "p", "hubspot": "phone", "salesforce": "Phone", "to_salesforce": "e164(phone, 'XX')",
      "to_hubspot": "e164(Phone, 'US')"}, ["p", "e164 does not know region 'XX'"]),
    ({"name": "x", "salesforce": "Title"}, ["x", "needs hubspot: <property>"]),
    ({"name": "stage", "hubspot": "lifecyclestage", "salesforce": "Status", "rule": "always_salesforce",
      "to_hubspot": {"when": [{"if": "Status = ", "then": "'customer'"}]}}, ["stage", "to_hubspot", "cannot parse"]),
    # an association label HubSpot has not between these types
    ({"name": "boss", "hubspot": "associations.contacts.manager", "salesforce": {"Contact": "ReportsToId"},
      "type": "association", "links_to": "people"},
     ["boss", "no association label 'manager' from contacts to contacts", "associations.companies.parent"]),
    # a reference is a property holding another pair's HubSpot id, translated through that pair's links
    ({"name": "owner_company", "hubspot": "associations.companies", "salesforce": {"Contact": "AccountId"},
      "type": "reference", "links_to": "people"}, ["owner_company", "reference field", "links_to: <pair name>"]),
    ({"name": "home", "hubspot": "home_id", "salesforce": {"Contact": "AccountId"}, "type": "reference"},
     ["home", "needs hubspot: <property holding a HubSpot id> and links_to"]),
    ({"name": "home", "hubspot": "home_id", "salesforce": {"Contact": "AccountId"}, "type": "reference",
      "links_to": "people", "to_salesforce": "upper(home_id)"}, ["home", "cannot apply to a field of type reference"]),
])
def test_a_mapping_that_cannot_be_used_is_refused_naming_its_key(tmp_path, mapping, says):
    with pytest.raises(ConfigError) as err:
        _load(tmp_path, [*NAME, mapping])
    for text in says:
        assert text in str(err.value), str(err.value)


def test_a_one_way_transform_loads_and_reads_what_it_needs(tmp_path):
    config = _load(tmp_path, [*NAME, FULL_NAME["full_name"] | {"name": "full_name"}])
    from crm_sync.engine.mapping import pair_specs

    [spec] = pair_specs(config)
    assert {"firstname", "lastname"} <= set(spec.hubspot_properties)
    assert "Full_Name__c" in spec.salesforce_fields["Lead"]


def test_a_mapping_added_later_applies_to_every_linked_record_on_the_next_cycle(tmp_path):
    """No record changed: the configuration did, and the next plan decides every link again under it."""
    w = World(tmp_path, only=("people",))
    w.stage_salesforce("Lead", [ANN_SF, {**ANN_SF, "id": "00Q2", "HubSpot_Id__c": "12", "Email": "bo@example.org",
                                         "FirstName": "Bo", "LastName": "Dahl"}])
    w.stage_hubspot("contacts", [ANN_HS, {**ANN_HS, "id": "12", "salesforce_id": "00Q2", "email": "bo@example.org",
                                          "firstname": "Bo", "lastname": "Dahl"}])
    w.cycle()
    settle(w)
    w.cycle()
    assert w.ops() == []
    w.reconfigure(fields={"people": FULL_NAME})
    w.cycle()
    assert sorted(o.payload["Full_Name__c"] for o in w.ops(target="salesforce")) == ["Ann Lee", "Bo Dahl"]
    settle(w)


def test_each_kind_of_transform_the_other_way_round(tmp_path):
    """The same kinds Salesforce to HubSpot where the tests above go HubSpot to Salesforce, and back."""
    fields = {
        # case and whitespace, both ways
        "title": {"to_salesforce": "initcap(squish(jobtitle))", "to_hubspot": "initcap(squish(Title))"},
        # a conditional HubSpot to Salesforce
        "rating": {"hubspot": "readiness", "salesforce": "Rating", "rule": "always_hubspot",
                   "to_salesforce": {"when": [{"if": "readiness IN ('ready', 'eager')", "then": "'Hot'"}],
                                     "else": "'Cold'"}},
        # a number, a boolean, one option of a multi-select and a constant, Salesforce to HubSpot
        "employees": {"hubspot": "employees_text", "salesforce": "NumberOfEmployees__c", "type": "number",
                      "rule": "always_salesforce", "to_hubspot": "parse_number(NumberOfEmployees__c)"},
        "opted_in": {"hubspot": "opted_in", "salesforce": "Opt_In__c", "type": "bool", "rule": "always_salesforce",
                     "to_hubspot": "parse_bool(Opt_In__c)"},
        "interest": {"hubspot": "primary_interest", "salesforce": "Interests__c", "rule": "always_salesforce",
                     "to_hubspot": "first_option(Interests__c)"},
        "synced_from": {"hubspot": "synced_from", "rule": "always_salesforce", "to_hubspot": "'Salesforce'"},
        # a HubSpot date property at midnight UTC into a Salesforce datetime's date
        "renewal": {"hubspot": "renewal_date", "salesforce": "Renewal__c", "type": "date", "rule": "always_hubspot",
                    "to_salesforce": "date_in_zone(renewal_date, 'UTC')"},
    }
    w = linked_ann(tmp_path, fields, hs={"jobtitle": "chief   technology officer", "readiness": "eager",
                                         "renewal_date": "2024-03-01"},
                   sf={"Title": "chief   technology officer", "NumberOfEmployees__c": "1,200",
                       "Opt_In__c": "Y", "Interests__c": "Gold;Silver"})
    w.cycle()
    # HubSpot's title is the newer (staged last): it goes to Salesforce formatted; HubSpot keeps its own
    assert writes(w) == {
        "salesforce": {"Title": "Chief Technology Officer", "Rating": "Hot", "Renewal__c": "2024-03-01"},
        "hubspot": {"employees_text": "1200", "opted_in": "true", "primary_interest": "Gold",
                    "synced_from": "Salesforce"}}
    settle(w)
    w.stage_salesforce("Lead", [{"id": "00Q1", "Title": "  vp   SALES "}])  # and the other way
    w.cycle()
    assert writes(w) == {"hubspot": {"jobtitle": "Vp Sales"}}
