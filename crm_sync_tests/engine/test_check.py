"""Mappings checked against the targets' metadata and the data last read: errors where every value would fail,
warnings with sample values where some can."""

from __future__ import annotations

from crm_sync.engine.check import check
from crm_sync_tests.engine.test_create_echo import STATUS
from crm_sync_tests.engine.world import World


def findings(w: World) -> dict[tuple[str, str, str], tuple[str, str, list]]:
    return {(f.mapping, f.object, f.field): (f.level, f.problem, f.samples) for f in check(w.con, w.specs)}


def test_a_missing_field_a_formula_and_a_value_map_the_picklist_lacks_are_errors(tmp_path):
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Lead", {**STATUS, "Title": {"createable": False, "updateable": False,
                                                       "type": "string"}})
    w.con.execute("DELETE FROM sync.metadata WHERE object = 'Lead' AND field = 'City'")
    w.con.execute("""UPDATE sync.metadata SET options = ['Open - Not Contacted', 'Closed - Converted',
        'Closed - Not Converted'] WHERE object = 'Lead' AND field = 'Status'""")  # no 'Working - Contacted'
    found = findings(w)
    assert found[("city", "Lead", "City")][:2] == ("error", "no such field")
    assert found[("title", "Lead", "Title")][0] == "error" and "read-only or formula" in found[("title", "Lead",
                                                                                                "Title")][1]
    level, problem, _ = found[("lead_status", "Lead", "Status")]
    assert level == "error" and "['Working - Contacted']" in problem
    printed = [str(f) for f in check(w.con, w.specs)]
    assert printed[0].startswith("error: pairs.people field ")


def test_values_in_the_data_that_can_fail_are_warnings_with_samples(tmp_path):
    w = World(tmp_path, only=("people",))
    w.salesforce_metadata("Lead", {**STATUS, "Title": {"length": 10}, "Industry__c": {}})
    w.stage_hubspot("contacts", [
        {"id": "11", "email": "a@x.org", "lastname": "A", "jobtitle": "Chief Executive Officer",
         "hs_lead_status": "NURTURING"},
        {"id": "12", "email": "b@x.org", "lastname": "B", "jobtitle": "CTO", "hs_lead_status": "NURTURING"},
        {"id": "13", "email": "c@x.org", "lastname": "C", "jobtitle": "Head of Everything Else"}])
    found = findings(w)
    level, problem, samples = found[("lead_status", "Lead", "Status")]
    assert (level, samples) == ("warning", [("NURTURING", 2)]) and "restricted picklist" in problem
    level, problem, samples = found[("title", "Lead", "Title")]
    assert level == "warning" and "longer than 10" in problem and sum(n for _, n in samples) == 2
    assert ("email", "Lead", "Email") not in found


def test_declared_types_and_lengths_refuse_what_cannot_convert_and_warn_of_what_can_fail(tmp_path):
    """From the metadata alone, before any data: a number into a date is refused; free text into a number or
    a boolean, and a source declared longer than its target, are warnings naming both fields."""
    fields = {"employees": {"hubspot": "numberofemployees", "salesforce": "Founded__c", "type": "number"},
              "score": {"hubspot": "score_text", "salesforce": "Score__c"},
              "opted_in": {"hubspot": "opted_in_text", "salesforce": "Opted_In__c"},
              "title": {"hubspot": "jobtitle", "salesforce": "Title"}}
    w = World(tmp_path, only=("people",), fields={"people": fields})
    w.salesforce_metadata("Lead", {**STATUS, "Founded__c": {"type": "date"}, "Score__c": {"type": "double"},
                                   "Opted_In__c": {"type": "boolean"}, "Title": {"length": 128}})
    w.hubspot_metadata("contacts", {"numberofemployees": {"type": "number"}, "jobtitle": {"length": 255}})
    found = findings(w)
    level, problem, _ = found[("employees", "Lead", "Founded__c")]
    assert level == "error" and "a number (hubspot numberofemployees, number) cannot convert to a date" in problem
    level, problem, _ = found[("score", "Lead", "Score__c")]
    assert level == "warning" and "free text" in problem and "parse_number" in problem
    level, problem, _ = found[("opted_in", "Lead", "Opted_In__c")]
    assert level == "warning" and "parse_bool" in problem
    level, problem, _ = found[("title", "Lead", "Title")]
    assert level == "warning" and "takes up to 255 characters, the target 128" in problem
    # the same checks the other way: Salesforce's declared length against HubSpot's (none declared: no warning)
    assert ("title", "contacts", "jobtitle") not in found


def test_values_that_are_not_booleans_or_dates_are_warnings_with_samples(tmp_path):
    fields = {"opted_in": {"hubspot": "opted_in_text", "salesforce": "Opted_In__c", "rule": "always_hubspot"},
              "met_on": {"hubspot": "met_on_text", "salesforce": "Met_On__c", "rule": "always_hubspot"}}
    w = World(tmp_path, only=("people",), fields={"people": fields})
    w.salesforce_metadata("Lead", {**STATUS, "Opted_In__c": {"type": "boolean"}, "Met_On__c": {"type": "date"}})
    w.stage_hubspot("contacts", [
        {"id": "11", "email": "a@x.org", "lastname": "A", "opted_in_text": "true", "met_on_text": "2026-11-02"},
        {"id": "12", "email": "b@x.org", "lastname": "B", "opted_in_text": "yes please", "met_on_text": "last May"},
        {"id": "13", "email": "c@x.org", "lastname": "C", "opted_in_text": "false", "met_on_text": "1764633600000"}])
    found = findings(w)
    level, problem, samples = found[("opted_in", "Lead", "Opted_In__c")]
    assert (level, samples) == ("warning", [("yes please", 1)]) and "true or false" in problem
    level, problem, samples = found[("met_on", "Lead", "Met_On__c")]
    assert (level, samples) == ("warning", [("last May", 1)]) and "not dates" in problem


def test_a_mapping_every_value_read_fails_is_an_error_with_samples(tmp_path):
    """Free text into a restricted picklist where no value read is an option: the mapping cannot work."""
    w = World(tmp_path, only=("people",), fields={"people": {"lead_source": {"hubspot": "source_text",
                                                                             "salesforce": "LeadSource"}}})
    w.salesforce_metadata("Lead", {**STATUS, "LeadSource": {"type": "picklist", "restricted": True,
                                                            "options": ["Web", "Partner", "Other"]}})
    w.stage_hubspot("contacts", [{"id": str(20 + i), "email": f"p{i}@x.org", "lastname": f"P{i}",
                                  "source_text": "web form" if i % 3 else "a partner"} for i in range(12)])
    level, problem, samples = findings(w)[("lead_source", "Lead", "LeadSource")]
    assert level == "error" and problem.startswith("every value read (12): values outside the restricted picklist")
    assert samples == [("web form", 8), ("a partner", 4)]
    # one value that is an option makes it a warning: the mapping works for some
    w.stage_hubspot("contacts", [{"id": "20", "source_text": "Web"}])
    level, _, samples = findings(w)[("lead_source", "Lead", "LeadSource")]
    assert level == "warning" and samples == [("web form", 8), ("a partner", 3)]
