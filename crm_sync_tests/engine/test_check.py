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
