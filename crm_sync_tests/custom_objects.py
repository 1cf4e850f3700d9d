"""Two custom objects as their admins define them on each side (a project under an Account / company, a
milestone under a project, master-detail in Salesforce) and their pairs: used by test_custom_objects.py and the
convergence runner."""

from __future__ import annotations

PAIRS = {
    "projects": {"hubspot": "projects", "salesforce": "Project__c", "deletes": "propagate", "fields": [
        {"name": "name", "hubspot": "project_name", "salesforce": "Name"},
        {"name": "budget", "hubspot": "budget", "salesforce": "Budget__c", "type": "number"},
        {"name": "stage", "hubspot": "stage", "salesforce": "Stage__c", "type": "enum",
         "value_map": {"hubspot_to_salesforce": {"planned": "Planned", "active": "Active", "done": "Done"},
                       "salesforce_to_hubspot": {"Planned": "planned", "Active": "active", "Done": "done"}}},
        {"name": "company", "hubspot": "associations.companies", "salesforce": "Account__c",
         "type": "association", "links_to": "companies"}]},
    # listed before its parent: the sync orders pairs by their links (milestones load after projects)
    "milestones": {"hubspot": "milestones", "salesforce": "Milestone__c", "deletes": "propagate", "fields": [
        {"name": "name", "hubspot": "milestone_name", "salesforce": "Name"},
        {"name": "due", "hubspot": "due_date", "salesforce": "Due__c", "type": "date"},
        {"name": "project", "hubspot": "associations.projects", "salesforce": "Project__c", "type": "association",
         "links_to": "projects"}]},
}
HUBSPOT_ID = {"name": "HubSpot_Id__c", "type": "string", "length": 18, "external_id": True, "unique": True}


def define_objects(env) -> None:
    """What each CRM's admin does before the pairs are added: the objects, their fields and parent links."""
    env.sf_admin("sobjects", {"name": "Project__c", "label": "Project", "fields": [
        {"name": "Budget__c", "type": "currency"},
        {"name": "Stage__c", "type": "picklist", "values": ["Planned", "Active", "Done"], "restricted": True},
        {"name": "Account__c", "type": "lookup", "reference_to": "Account"}, HUBSPOT_ID]})
    env.sf_admin("sobjects", {"name": "Milestone__c", "label": "Milestone", "fields": [
        {"name": "Due__c", "type": "date"},
        {"name": "Project__c", "type": "master_detail", "reference_to": "Project__c"}, HUBSPOT_ID]})
    schemas = env.hs().crm.schemas.core_api
    project = schemas.create({
        "name": "projects", "labels": {"singular": "Project", "plural": "Projects"},
        "primaryDisplayProperty": "project_name", "requiredProperties": ["project_name"],
        "properties": [{"name": "project_name", "label": "Name", "type": "string", "fieldType": "text"},
                       {"name": "budget", "label": "Budget", "type": "number", "fieldType": "number"},
                       {"name": "stage", "label": "Stage", "type": "enumeration", "fieldType": "select",
                        "options": [{"label": v.title(), "value": v} for v in ("planned", "active", "done")]}],
        "associatedObjects": ["COMPANY"]})
    schemas.create({
        "name": "milestones", "labels": {"singular": "Milestone", "plural": "Milestones"},
        "primaryDisplayProperty": "milestone_name", "requiredProperties": ["milestone_name"],
        "properties": [{"name": "milestone_name", "label": "Name", "type": "string", "fieldType": "text"},
                       {"name": "due_date", "label": "Due", "type": "date", "fieldType": "date"}],
        "associatedObjects": [project.object_type_id]})


def association_type(hs, from_type: str, to_type: str) -> int:
    """The association type id the schema's association defined (HubSpot gives custom pairs their own ids)."""
    [label] = [x for x in hs.crm.associations.v4.schema.definitions_api.get_all(from_type, to_type).results]
    return label.type_id
