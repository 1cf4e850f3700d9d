"""HubSpot metadata through hubspot-api-client: properties (custom unique ones too), owners, pipelines, lists."""

from __future__ import annotations

import json
import uuid

import pytest
from hubspot.crm.contacts import (
    BatchInputSimplePublicObjectBatchInputUpsert,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import ApiException
from hubspot.crm.properties import PropertyCreate
from hubspot.crm.properties.exceptions import ApiException as PropertyApiException

from crm_sandbox.hubspot.loader import load_owners


def uid() -> str:
    return uuid.uuid4().hex[:8]


def test_standard_properties_describe_themselves(hs):
    props = {p.name: p for p in hs.crm.properties.core_api.get_all("contacts").results}
    assert {"email", "firstname", "lastname", "phone", "mobilephone", "jobtitle", "company", "website", "address",
            "city", "state", "zip", "country", "lifecyclestage", "hs_lead_status", "hubspot_owner_id"} <= set(props)
    stage = props["lifecyclestage"]
    assert (stage.type, stage.field_type) == ("enumeration", "radio")
    assert [o.value for o in stage.options][:3] == ["subscriber", "lead", "marketingqualifiedlead"]
    assert props["hs_object_id"].modification_metadata.read_only_value is True
    assert props["email"].modification_metadata.read_only_value is False
    assert props["lastmodifieddate"].type == "datetime"
    deals = {p.name: p for p in hs.crm.properties.core_api.get_all("deals").results}
    assert deals["hs_is_closed"].calculated is True and deals["amount"].type == "number"
    assert "hs_lastmodifieddate" in deals and "lastmodifieddate" not in deals
    one = hs.crm.properties.core_api.get_by_name("companies", "industry")
    assert one.type == "enumeration" and "COMPUTER_SOFTWARE" in [o.value for o in one.options]
    with pytest.raises(PropertyApiException) as err:
        hs.crm.properties.core_api.get_by_name("companies", "nope")
    assert err.value.status == 404


def test_custom_unique_property_is_enforced_and_upsertable(hs):
    name = f"sf_id_{uid()}"
    created = hs.crm.properties.core_api.create("contacts", PropertyCreate(
        name=name, label="Salesforce Id", type="string", field_type="text", group_name="contactinformation",
        has_unique_value=True))
    assert created.has_unique_value is True and created.hubspot_defined is False
    with pytest.raises(PropertyApiException) as err:
        hs.crm.properties.core_api.create("contacts", PropertyCreate(name=name, label="again", type="string",
                                                                     field_type="text", group_name="x"))
    assert err.value.status == 409
    with pytest.raises(PropertyApiException) as err:
        hs.crm.properties.core_api.create("contacts", PropertyCreate(name=f"bad_{uid()}", label="bad", type="number",
                                                                     field_type="select", group_name="x"))
    assert err.value.status == 400
    first = hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={name: "003A"}))
    second = hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={name: "003B"}))
    with pytest.raises(ApiException) as err:
        hs.crm.contacts.basic_api.update(second.id, SimplePublicObjectInput(properties={name: "003A"}))
    body = json.loads(err.value.body)
    assert err.value.status == 400 and body["category"] == "VALIDATION_ERROR" and first.id in body["message"]
    assert hs.crm.contacts.basic_api.get_by_id("003A", id_property=name).id == first.id
    upserted = hs.crm.contacts.batch_api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
        SimplePublicObjectBatchInputUpsert(id="003A", id_property=name, properties={"firstname": "Existing"}),
        SimplePublicObjectBatchInputUpsert(id="003C", id_property=name, properties={"firstname": "New"})]))
    by_value = {r.properties[name]: r for r in upserted.results}
    assert by_value["003A"].id == first.id and by_value["003A"].new is False and by_value["003C"].new is True
    with pytest.raises(ApiException) as err:  # only unique properties can identify records
        hs.crm.contacts.basic_api.get_by_id("Existing", id_property="firstname")
    assert err.value.status == 400


def test_owners_and_owner_ids_on_records(hs, hs_dir):
    tag = uid()
    ids = load_owners(hs_dir, [{"email": f"rep.{tag}@x.io", "firstName": "Rep", "lastName": tag}])
    owner = hs.crm.owners.owners_api.get_by_id(ids[0])
    assert owner.email == f"rep.{tag}@x.io" and owner.last_name == tag and owner.type == "PERSON"
    page = hs.crm.owners.owners_api.get_page(email=f"rep.{tag}@x.io")
    assert [o.id for o in page.results] == ids
    everyone = hs.crm.owners.owners_api.get_page(limit=500)
    assert ids[0] in {o.id for o in everyone.results}
    person = hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": f"{tag}@x.io", "hubspot_owner_id": ids[0]}))
    assert person.properties["hubspot_owner_id"] == ids[0]
    with pytest.raises(ApiException) as err:
        hs.crm.contacts.basic_api.update(person.id, SimplePublicObjectInput(properties={"hubspot_owner_id": "1"}))
    assert err.value.status == 400


def test_pipelines_and_stages(hs):
    deals = hs.crm.pipelines.pipelines_api.get_all("deals").results
    assert deals[0].id == "default"
    stages = {s.id: s for s in deals[0].stages}
    assert stages["closedwon"].metadata == {"probability": "1.0", "isClosed": "true"}
    assert "appointmentscheduled" in stages
    tickets = hs.crm.pipelines.pipeline_stages_api.get_all("tickets", "0").results
    assert [(s.id, s.metadata["ticketState"]) for s in tickets] == [("1", "OPEN"), ("2", "OPEN"), ("3", "OPEN"),
                                                                    ("4", "CLOSED")]
    ticket = hs.crm.tickets.basic_api.create({"properties": {"subject": "Broken", "hs_pipeline_stage": "1"}})
    assert ticket.properties["hs_pipeline"] == "0"


def test_static_list_memberships(hs):
    people = [hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": f"{uid()}@x.io"})).id for _ in range(3)]
    created = hs.crm.lists.lists_api.create({"name": f"Webinar {uid()}", "objectTypeId": "0-1",
                                             "processingType": "MANUAL"})
    list_id = created.list.list_id
    added = hs.crm.lists.memberships_api.add(list_id, people + ["999999999"])
    assert sorted(added.records_ids_added) == sorted(people) and added.record_ids_missing == ["999999999"]
    removed = hs.crm.lists.memberships_api.remove(list_id, [people[0]])
    assert removed.record_ids_removed == [people[0]]
    members = hs.crm.lists.memberships_api.get_page(list_id)
    assert [m.record_id for m in members.results] == people[1:]
    assert hs.crm.lists.lists_api.get_by_id(list_id).list.size == 2
    mine = hs.crm.lists.memberships_api.get_lists("0-1", people[1])
    assert [m.list_id for m in mine.results] == [list_id]


def test_list_members_change_as_a_user_does_and_a_deleted_contact_leaves_its_lists(hs, hsa):
    people = [hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
        properties={"email": f"{uid()}@x.io"})).id for _ in range(3)]
    list_id = hs.crm.lists.lists_api.create({"name": f"Fair {uid()}", "objectTypeId": "0-1",
                                             "processingType": "MANUAL"}).list.list_id
    version = hs.crm.lists.lists_api.get_by_id(list_id).list.list_version
    answer = hsa.post(f"lists/{list_id}/members", {"add": people, "remove": []})
    assert sorted(answer["recordsIdsAdded"]) == sorted(people)
    hsa.post(f"lists/{list_id}/members", {"remove": [people[0]]})
    assert hs.crm.lists.lists_api.get_by_id(list_id).list.list_version == version + 2  # each change moves it
    hs.crm.contacts.basic_api.archive(people[1])
    assert [m.record_id for m in hs.crm.lists.memberships_api.get_page(list_id).results] == [people[2]]
