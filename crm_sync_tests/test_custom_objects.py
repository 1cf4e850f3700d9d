"""Custom objects declared in sync.yaml (issue 14's custom objects row), both ways: a HubSpot custom object schema
and a Salesforce custom object, each defined as its admin would (HubSpot's schemas API, the Salesforce sandbox's
Object Manager route), their fields, and their parent links: a lookup to Account <-> the HubSpot record's company,
a master-detail to another custom object <-> its association to that object's record. Creates, updates and deletes
(the pair's rule; a master's delete takes its details with it in Salesforce) land on the right parent."""

from __future__ import annotations

import pytest
import yaml
from hubspot.crm.objects import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.objects.exceptions import NotFoundException
from simple_salesforce import format_soql

from crm_sync_tests.custom_objects import PAIRS, association_type, define_objects
from crm_sync_tests.sync_harness import ROOT, converged_env


def associated(env, obj: str, record_id: str, to: str) -> list[str]:
    r = env.hs().crm.objects.basic_api.get_by_id(obj, record_id, associations=[to])
    found = (r.associations or {}).get(to)
    return sorted(a.id for a in found.results) if found else []


def test_custom_objects_sync_both_ways_under_their_parents(tmp_path):
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    # HubSpot stamps no record for an association made later: the sweep every cycle sees them at once
    extra = {"pairs": {**raw["pairs"], **PAIRS}, "sync": {**raw["sync"], "association_sweep_minutes": 0,
                                                          "hubspot_deletes_minutes": 0}}
    with converged_env(tmp_path, extra=extra) as env:
        define_objects(env)
        sf, hs = env.sf(), env.hs()
        (company_hs, account_sf), (other_hs, other_sf) = list(env.links("companies").items())[:2]
        api = hs.crm.objects.basic_api

        # HubSpot: a project on a company with a milestone under it; Salesforce: a project on the other Account
        # with a milestone under it.
        project_hs = api.create("projects", SimplePublicObjectInputForCreate(
            properties={"project_name": "Rollout", "budget": "12000", "stage": "active"},
            associations=[{"to": {"id": company_hs}, "types": [{"associationCategory": "USER_DEFINED",
                                                                 "associationTypeId": association_type(hs, "projects",
                                                                                            "companies")}]}])).id
        milestone_hs = api.create("milestones", SimplePublicObjectInputForCreate(
            properties={"milestone_name": "Pilot", "due_date": "2027-02-01"},
            associations=[{"to": {"id": project_hs}, "types": [{"associationCategory": "USER_DEFINED",
                                                                 "associationTypeId": association_type(hs, "milestones",
                                                                                            "projects")}]}])).id
        project_sf = sf.Project__c.create({"Name": "Migration", "Budget__c": 5000, "Stage__c": "Planned",
                                           "Account__c": other_sf})["id"]
        milestone_sf = sf.Milestone__c.create({"Name": "Cut-over", "Due__c": "2027-03-01",
                                               "Project__c": project_sf})["id"]
        outcomes = env.converge()
        # One run writes it all, parents before children (load order), and the next is quiet.
        assert len(outcomes) == 2 and outcomes[-1].planned_writes == 0, [o.summary for o in outcomes]
        projects, milestones = env.links("projects"), env.links("milestones")
        assert len(projects) == len(milestones) == 2

        made = sf.Project__c.get(projects[project_hs])
        assert (made["Name"], made["Budget__c"], made["Stage__c"], made["Account__c"], made["HubSpot_Id__c"]) == (
            "Rollout", 12000.0, "Active", account_sf, project_hs)
        detail = sf.Milestone__c.get(milestones[milestone_hs])
        assert (detail["Name"], detail["Due__c"], detail["Project__c"]) == ("Pilot", "2027-02-01", made["Id"])
        back = {v: k for k, v in projects.items()}[project_sf]
        props = api.get_by_id("projects", back, properties=["project_name", "budget", "stage", "salesforce_id"])
        assert (props.properties["project_name"], float(props.properties["budget"]), props.properties["stage"],
                props.properties["salesforce_id"]) == ("Migration", 5000.0, "planned", project_sf)
        assert associated(env, "projects", back, "companies") == [other_hs]
        back_milestone = {v: k for k, v in milestones.items()}[milestone_sf]
        assert associated(env, "milestones", back_milestone, "projects") == [back]
        assert api.get_by_id("milestones", back_milestone, properties=["due_date"]).properties[
            "due_date"][:10] == "2027-03-01"

        # Updates both ways: the HubSpot project moves to the other company and is done; the Salesforce
        # milestone's date moves.
        hs.crm.associations.v4.basic_api.archive("projects", project_hs, "companies", company_hs)
        hs.crm.associations.v4.basic_api.create_default("projects", project_hs, "companies", other_hs)
        api.update("projects", project_hs, SimplePublicObjectInput(properties={"stage": "done"}))
        sf.Milestone__c.update(milestone_sf, {"Due__c": "2027-04-15"})
        assert env.converge()[-1].planned_writes == 0
        moved = sf.Project__c.get(projects[project_hs])
        assert (moved["Account__c"], moved["Stage__c"]) == (other_sf, "Done")
        assert api.get_by_id("milestones", back_milestone, properties=["due_date"]).properties[
            "due_date"][:10] == "2027-04-15"

        # Deletes (propagate): the Salesforce project goes, and its milestone with it (master-detail); both
        # leave HubSpot. The HubSpot milestone is deleted alone: its Milestone__c goes, its project stays.
        sf.Project__c.delete(project_sf)
        api.archive("milestones", milestone_hs)
        assert env.converge()[-1].planned_writes == 0
        for obj, gone in (("projects", back), ("milestones", back_milestone)):
            with pytest.raises(NotFoundException):
                api.get_by_id(obj, gone)
        assert sf.query_all(format_soql("SELECT Id FROM Milestone__c WHERE Id = {}", milestones[milestone_hs]))[
            "totalSize"] == 0
        assert sf.Project__c.get(projects[project_hs])["IsDeleted"] is False
        assert set(env.links("projects")) == {project_hs} and env.links("milestones") == {}
