"""What the sandbox's sObject metadata promises a sync: prefixes, required fields, picklists, describe."""

from __future__ import annotations

import json

import pytest

from crm_sandbox.salesforce.schema import (
    CHILD_RELATIONSHIPS,
    INDUSTRIES,
    SCHEMA,
    STAGE_INFO,
    describe_field,
    describe_global,
    describe_sobject,
    get_sobject,
    key_prefix_to_type,
)

PREFIXES = {
    "Lead": "00Q", "Contact": "003", "Account": "001", "Opportunity": "006", "OpportunityContactRole": "00K",
    "Case": "500", "Task": "00T", "Event": "00U", "Campaign": "701", "CampaignMember": "00v", "User": "005",
    "Product2": "01t", "Pricebook2": "01s", "PricebookEntry": "01u", "OpportunityLineItem": "00k",
}
OWNED = {"Lead", "Contact", "Account", "Opportunity", "Case", "Task", "Event", "Campaign"}
HUBSPOT_SYNCED = {"Lead", "Contact", "Account", "Opportunity", "Case", "Task", "Event", "Product2",
                  "OpportunityLineItem"}

# Every per-field key of the reference's A11.3 sample.
FIELD_KEYS = {
    "name", "label", "type", "soapType", "length", "byteLength", "precision", "scale", "digits", "nillable",
    "createable", "updateable", "defaultedOnCreate", "calculated", "calculatedFormula", "autoNumber",
    "custom", "externalId", "unique", "idLookup", "caseSensitive", "filterable", "sortable", "groupable",
    "nameField", "picklistValues", "restrictedPicklist", "dependentPicklist", "controllerName", "referenceTo",
    "relationshipName", "htmlFormatted", "defaultValue",
}
SOBJECT_KEYS = {
    "name", "label", "labelPlural", "keyPrefix", "custom", "createable", "updateable", "deletable",
    "queryable", "retrieveable", "searchable", "replicateable", "triggerable", "undeletable", "mergeable",
    "fields", "childRelationships", "recordTypeInfos", "urls", "supportedScopes",
}
FIELD_TYPES = {
    "id", "string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox", "reference",
    "boolean", "int", "double", "currency", "percent", "date", "datetime", "time", "address", "location",
    "base64", "encryptedstring",
}
SOAP_TYPES = {"xsd:string", "xsd:boolean", "xsd:double", "xsd:int", "xsd:date", "xsd:dateTime", "tns:ID"}

REQUIRED_ON_CREATE = {
    "Lead": {"LastName", "Company"},
    "Contact": {"LastName"},
    "Account": {"Name"},
    "Opportunity": {"Name", "CloseDate", "StageName"},
    "Product2": {"Name"}, "Pricebook2": {"Name"}, "PricebookEntry": {"Pricebook2Id", "Product2Id", "UnitPrice"},
    # the entry or the product: a rule of its own (pricing.py)
    "OpportunityLineItem": {"OpportunityId", "Quantity"},
    "OpportunityContactRole": {"OpportunityId", "ContactId"},
    "Case": set(),
    "Task": set(),
    "Event": set(),  # a timed event's start and end-or-length: a rule of its own (rules.missing_required)
    "Campaign": {"Name"},
    "CampaignMember": {"CampaignId"},
    "User": {"LastName", "Username", "Email", "Alias"},
}

RESTRICTED = {
    ("Lead", "Status"), ("Lead", "LeadSource"), ("Contact", "LeadSource"), ("Lead", "Industry"),
    ("Account", "Industry"), ("Account", "Type"), ("Opportunity", "StageName"), ("Opportunity", "LeadSource"),
    ("Opportunity", "Type"), ("Case", "Status"), ("Case", "Priority"), ("Case", "Origin"), ("Task", "Status"),
    ("Task", "Priority"), ("Event", "ShowAs"), ("Lead", "Rating"), ("Lead", "Salutation"), ("Contact", "Salutation"),
    ("OpportunityContactRole", "Role"),
}


def _field(obj: str, name: str):
    f = SCHEMA[obj].field(name)
    assert f is not None, f"{obj}.{name} missing"
    return f


def test_the_standard_objects_and_their_key_prefixes():
    assert {name: o.key_prefix for name, o in SCHEMA.items()} == PREFIXES
    for name, prefix in PREFIXES.items():
        assert key_prefix_to_type(prefix) == name
        assert get_sobject(name.lower()) is SCHEMA[name]
    assert key_prefix_to_type("00q") is None  # prefixes are case-sensitive: 00q is not Lead
    assert key_prefix_to_type("00Q5g0000000001AAA") == "Lead"
    assert get_sobject("Nope") is None


def test_field_names_are_unique_per_object():
    for o in SCHEMA.values():
        names = [f.name.lower() for f in o.fields]
        assert len(names) == len(set(names)), o.name


@pytest.mark.parametrize("obj", sorted(PREFIXES))
def test_required_on_create(obj):
    assert {f.name for f in SCHEMA[obj].fields if f.required_on_create} == REQUIRED_ON_CREATE[obj]


def test_system_fields_are_read_only_and_ownership_matches():
    for o in SCHEMA.values():
        f = o.field("Id")
        assert (f.type, f.length, f.nillable, f.id_lookup) == ("id", 18, False, True)
        for name in ("Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                     "SystemModstamp"):
            f = o.field(name)
            assert f is not None and not f.createable and not f.updateable, f"{o.name}.{name}"
        for name in ("CreatedDate", "LastModifiedDate", "SystemModstamp"):
            assert o.field(name).type == "datetime" and not o.field(name).nillable
        assert o.relationship("CreatedBy").name == "CreatedById"
        assert o.relationship("LastModifiedBy").reference_to == ("User",)
        owner = o.field("OwnerId")
        if o.name in OWNED:
            assert owner.createable and owner.updateable and owner.defaulted_on_create and not owner.nillable
            assert owner.reference_to == ("User",) and o.relationship("owner") is owner
        else:
            assert owner is None, o.name


def test_merge_targets_carry_master_record_id():
    for name in ("Lead", "Contact", "Account"):
        f = _field(name, "MasterRecordId")
        assert f.reference_to == (name,) and f.relationship_name == "MasterRecord" and not f.updateable
        assert describe_sobject(SCHEMA[name], "59.0")["mergeable"] is True
    assert SCHEMA["Opportunity"].field("MasterRecordId") is None


def test_restricted_picklists_list_the_standard_values():
    for obj, name in RESTRICTED:
        f = _field(obj, name)
        assert f.type == "picklist" and f.restricted_picklist and f.picklist_values, f"{obj}.{name}"
    assert "Open - Not Contacted" in _field("Lead", "Status").picklist_values
    assert "Closed - Converted" in _field("Lead", "Status").picklist_values
    assert _field("Lead", "LeadSource").picklist_values == ("Web", "Phone Inquiry", "Partner Referral",
                                                           "Purchased List", "Other")
    assert _field("Account", "Industry").picklist_values == INDUSTRIES
    assert len(INDUSTRIES) == 32 and INDUSTRIES[0] == "Agriculture" and INDUSTRIES[-1] == "Other"
    assert "Customer - Direct" in _field("Account", "Type").picklist_values
    assert "New Customer" in _field("Opportunity", "Type").picklist_values
    assert "Decision Maker" in _field("OpportunityContactRole", "Role").picklist_values
    assert set(_field("Opportunity", "StageName").picklist_values) == set(STAGE_INFO)
    # A value a sync might carry over from HubSpot unmapped must not be in the list.
    assert "subscriber" not in _field("Lead", "Status").picklist_values


def test_defaulted_fields_and_their_defaults():
    defaults = {("Lead", "Status"): "Open - Not Contacted", ("Case", "Status"): "New",
                ("Task", "Status"): "Not Started", ("Task", "Priority"): "Normal"}
    for (obj, name), value in defaults.items():
        f = _field(obj, name)
        assert f.defaulted_on_create and f.default_value == value and value in f.picklist_values
        assert not f.required_on_create
    assert _field("Opportunity", "Probability").defaulted_on_create
    values = describe_field(_field("Lead", "Status"))["picklistValues"]
    flags = {v["value"]: v["defaultValue"] for v in values}
    assert flags["Open - Not Contacted"] is True and flags["Working - Contacted"] is False


def test_stage_info():
    assert STAGE_INFO["Prospecting"] == (10, False, False)
    assert STAGE_INFO["Negotiation/Review"] == (90, False, False)
    assert STAGE_INFO["Closed Won"] == (100, True, True)
    assert STAGE_INFO["Closed Lost"] == (0, True, False)
    assert len(STAGE_INFO) == 10


def test_hubspot_external_id_on_the_synced_objects():
    for o in SCHEMA.values():
        f = o.field("HubSpot_Id__c")
        if o.name not in HUBSPOT_SYNCED:
            assert f is None, o.name
            continue
        assert (f.custom, f.external_id, f.unique, f.id_lookup) == (True, True, True, True)
        assert (f.type, f.length, f.nillable, f.createable, f.updateable) == ("string", 18, True, True, True)
        assert f.label == "HubSpot Id"
        d = describe_field(f)
        assert d["externalId"] and d["idLookup"] and d["custom"] and d["unique"]


def test_read_only_and_create_only_fields():
    for obj, name in (("Lead", "IsConverted"), ("Lead", "ConvertedDate"), ("Lead", "ConvertedContactId"),
                      ("Lead", "Name"), ("Contact", "Name"), ("User", "Name"), ("Opportunity", "IsClosed"),
                      ("Opportunity", "IsWon"), ("Opportunity", "ExpectedRevenue"), ("Opportunity", "Fiscal"),
                      ("Case", "CaseNumber"), ("Case", "IsClosed"), ("CampaignMember", "HasResponded")):
        f = _field(obj, name)
        assert not f.createable and not f.updateable, f"{obj}.{name}"
    for obj, name in (("CampaignMember", "CampaignId"), ("CampaignMember", "LeadId"),
                      ("CampaignMember", "ContactId"), ("OpportunityContactRole", "OpportunityId")):
        f = _field(obj, name)
        assert f.createable and not f.updateable, f"{obj}.{name}"
    assert _field("Opportunity", "IsWon").calculated and _field("Opportunity", "ExpectedRevenue").calculated
    assert _field("Lead", "Name").length == 121 and not _field("Lead", "Name").calculated
    assert _field("Case", "CaseNumber").auto_number


def test_booleans_are_never_required():
    for o in SCHEMA.values():
        for f in o.fields:
            if f.type == "boolean":
                assert not f.nillable and f.defaulted_on_create, f"{o.name}.{f.name}"
                assert not f.required_on_create


def test_relationships_resolve_and_point_at_known_objects():
    expected = {
        ("Contact", "Account"): ("AccountId", ("Account",)),
        ("Opportunity", "Account"): ("AccountId", ("Account",)),
        ("Lead", "ConvertedContact"): ("ConvertedContactId", ("Contact",)),
        ("Lead", "ConvertedAccount"): ("ConvertedAccountId", ("Account",)),
        ("Lead", "ConvertedOpportunity"): ("ConvertedOpportunityId", ("Opportunity",)),
        ("Case", "Contact"): ("ContactId", ("Contact",)),
        ("Case", "Parent"): ("ParentId", ("Case",)),
        ("Task", "Who"): ("WhoId", ("Contact", "Lead")),
        ("Task", "What"): ("WhatId", ("Account", "Opportunity", "Case", "Campaign")),
        ("Account", "Parent"): ("ParentId", ("Account",)),
        ("Contact", "ReportsTo"): ("ReportsToId", ("Contact",)),
        ("Campaign", "Parent"): ("ParentId", ("Campaign",)),
        ("OpportunityContactRole", "Opportunity"): ("OpportunityId", ("Opportunity",)),
        ("CampaignMember", "Campaign"): ("CampaignId", ("Campaign",)),
    }
    for (obj, rel), (name, targets) in expected.items():
        f = SCHEMA[obj].relationship(rel)
        assert f is not None and (f.name, f.reference_to) == (name, targets), f"{obj}.{rel}"
    for o in SCHEMA.values():
        for f in o.fields:
            if f.type == "reference":
                assert f.length == 18 and f.reference_to, f"{o.name}.{f.name}"
                assert all(t in SCHEMA or t == "Group" for t in f.reference_to), f"{o.name}.{f.name}"
            if f.relationship_name:
                assert f.type == "reference" and o.relationship(f.relationship_name) is f


def test_child_relationships_name_real_reference_fields():
    for parent, children in CHILD_RELATIONSHIPS.items():
        for c in children:
            f = _field(c.child, c.field)
            assert parent in f.reference_to, f"{parent}.{c.name}"
    names = {c["relationshipName"] for c in describe_sobject(SCHEMA["Account"], "59.0")["childRelationships"]}
    assert {"Contacts", "Opportunities", "Cases"} <= names


def test_every_field_has_a_label():
    for o in SCHEMA.values():
        for f in o.fields:
            assert f.label and f.label.strip() == f.label, f"{o.name}.{f.name}"
    assert _field("Lead", "Status").label == "Lead Status"
    assert _field("Lead", "LastName").label == "Last Name"
    assert _field("Opportunity", "StageName").label == "Stage"


def test_field_sizes():
    assert (_field("Lead", "Email").type, _field("Lead", "Email").length) == ("email", 80)
    assert (_field("User", "Email").type, _field("User", "Email").length) == ("email", 128)
    assert (_field("Contact", "Phone").type, _field("Contact", "Phone").length) == ("phone", 40)
    assert (_field("Account", "Website").type, _field("Account", "Website").length) == ("url", 255)
    assert (_field("Case", "Description").type, _field("Case", "Description").length) == ("textarea", 32000)
    assert _field("Opportunity", "Name").length == 120 and _field("User", "Alias").length == 8
    assert _field("User", "Username").unique
    amount = _field("Opportunity", "Amount")
    assert (amount.type, amount.precision, amount.scale) == ("currency", 18, 2)


@pytest.mark.parametrize("obj", sorted(PREFIXES))
def test_describe_sobject_shape(obj):
    d = describe_sobject(SCHEMA[obj], "59.0")
    json.dumps(d)  # plain JSON, nothing exotic
    assert d.keys() >= SOBJECT_KEYS
    assert d["name"] == obj and d["keyPrefix"] == PREFIXES[obj] and d["recordTypeInfos"] == []
    assert d["urls"] == {"sobject": f"/services/data/v59.0/sobjects/{obj}",
                         "describe": f"/services/data/v59.0/sobjects/{obj}/describe",
                         "rowTemplate": f"/services/data/v59.0/sobjects/{obj}/{{ID}}"}
    assert [f["name"] for f in d["fields"]] == [f.name for f in SCHEMA[obj].fields]
    for f in d["fields"]:
        assert f.keys() >= FIELD_KEYS, f["name"]
        assert f["type"] in FIELD_TYPES and f["soapType"] in SOAP_TYPES, f["name"]
        assert f["byteLength"] == 3 * f["length"]
        assert isinstance(f["referenceTo"], list)
        for v in f["picklistValues"]:
            assert set(v) == {"active", "defaultValue", "label", "validFor", "value"}
    by_name = {f["name"]: f for f in d["fields"]}
    assert by_name["Id"]["soapType"] == "tns:ID"
    assert sum(f["nameField"] for f in d["fields"]) <= 1


def test_describe_field_matches_reference_sample():
    d = describe_field(_field("Lead", "Status"))
    assert {k: d[k] for k in ("name", "label", "type", "soapType", "length", "byteLength", "nillable",
                              "createable", "updateable", "defaultedOnCreate", "restrictedPicklist")} == {
        "name": "Status", "label": "Lead Status", "type": "picklist", "soapType": "xsd:string", "length": 255,
        "byteLength": 765, "nillable": False, "createable": True, "updateable": True,
        "defaultedOnCreate": True, "restrictedPicklist": True,
    }
    ref = describe_field(_field("Contact", "AccountId"))
    assert (ref["type"], ref["length"], ref["referenceTo"], ref["relationshipName"]) == (
        "reference", 18, ["Account"], "Account")
    assert describe_field(_field("Opportunity", "CloseDate"))["soapType"] == "xsd:date"
    assert describe_field(_field("Lead", "CreatedDate"))["soapType"] == "xsd:dateTime"
    assert describe_field(_field("Lead", "IsConverted"))["defaultValue"] is False
    assert describe_field(_field("Lead", "NumberOfEmployees"))["digits"] > 0
    name_fields = [f["name"] for f in describe_sobject(SCHEMA["Lead"], "59.0")["fields"] if f["nameField"]]
    assert name_fields == ["Name"]
    case_fields = describe_sobject(SCHEMA["Case"], "59.0")["fields"]
    assert [f["name"] for f in case_fields if f["nameField"]] == ["CaseNumber"]


def test_describe_global_lists_every_standard_object():
    d = describe_global("59.0")
    assert d["encoding"] == "UTF-8" and d["maxBatchSize"] == 200
    entries = {s["name"]: s for s in d["sobjects"]}
    assert set(entries) == set(PREFIXES)
    for name, s in entries.items():
        assert s["keyPrefix"] == PREFIXES[name] and s["queryable"]
        assert s["urls"]["describe"] == f"/services/data/v59.0/sobjects/{name}/describe"
    json.dumps(d)
