"""HubSpot objects through hubspot-api-client: CRUD, paging, idProperty, validation, batches and custom objects."""

from __future__ import annotations

import json
import uuid

import pytest
from hubspot.crm.contacts import (
    ApiException,
    BatchInputSimplePublicObjectBatchInput,
    BatchInputSimplePublicObjectBatchInputForCreate,
    BatchInputSimplePublicObjectBatchInputUpsert,
    BatchInputSimplePublicObjectId,
    BatchReadInputSimplePublicObjectId,
    SimplePublicObjectBatchInput,
    SimplePublicObjectBatchInputForCreate,
    SimplePublicObjectBatchInputUpsert,
    SimplePublicObjectId,
    SimplePublicObjectInput,
    SimplePublicObjectInputForCreate,
)
from hubspot.crm.contacts.exceptions import NotFoundException
from hubspot.crm.objects.exceptions import ApiException as ObjectApiException
from hubspot.crm.objects.tasks.exceptions import ApiException as TaskApiException

from crm_sandbox.hubspot.loader import load_objects


def uid() -> str:
    return uuid.uuid4().hex[:10]


def new_contact(hs, **props):
    return hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties=props))


def errors_of(exc: ApiException) -> dict:
    body = json.loads(exc.body)
    return {e["context"]["propertyName"][0]: e["code"] for e in body.get("errors", [])}


def test_create_read_update_archive(hs):
    created = new_contact(hs, email=f"Ada.{uid()}@Example.com", firstname="Ada", lifecyclestage="lead")
    assert created.id.isdigit()
    props = created.properties
    assert props["hs_object_id"] == created.id and props["email"] == props["email"].lower()
    assert props["createdate"].endswith("Z") and props["createdate"] == props["lastmodifieddate"]
    assert created.created_at == created.updated_at
    got = hs.crm.contacts.basic_api.get_by_id(created.id)
    assert set(got.properties) == {"createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"}
    assert got.properties["lastname"] is None
    got = hs.crm.contacts.basic_api.get_by_id(created.id, properties=["lifecyclestage", "no_such_property"])
    assert got.properties["lifecyclestage"] == "lead" and "no_such_property" not in got.properties
    by_email = hs.crm.contacts.basic_api.get_by_id(props["email"].upper(), id_property="email")
    assert by_email.id == created.id
    updated = hs.crm.contacts.basic_api.update(created.id, SimplePublicObjectInput(properties={"jobtitle": "Countess",
                                                                                               "firstname": ""}))
    assert updated.properties["jobtitle"] == "Countess" and updated.properties.get("firstname") is None
    assert updated.properties["lastmodifieddate"] >= props["lastmodifieddate"]
    assert hs.crm.contacts.basic_api.archive(created.id) is None
    with pytest.raises(NotFoundException) as err:
        hs.crm.contacts.basic_api.get_by_id(created.id)
    assert json.loads(err.value.body)["category"] == "OBJECT_NOT_FOUND"
    archived = hs.crm.contacts.basic_api.get_by_id(created.id, archived=True)
    assert archived.archived is True and archived.archived_at is not None
    page = hs.crm.contacts.basic_api.get_page(limit=100, after=created.id, archived=True)
    assert page.results[0].id == created.id


def test_get_all_pages_through_every_contact(hs, hs_dir):
    marker = f"pager-{uid()}"
    ids = load_objects(hs_dir, "contacts", [{"email": f"p{i}.{marker}@x.io", "company": marker} for i in range(260)])
    assert len(ids) == 260 and ids == sorted(ids, key=int)
    everyone = hs.crm.contacts.get_all(properties=["company"])
    mine = [c.id for c in everyone if c.properties["company"] == marker]
    assert mine == ids
    first = hs.crm.contacts.basic_api.get_page(limit=100, after=ids[0], properties=["company"])
    assert [c.id for c in first.results] == ids[:100] and first.paging.next.after == ids[100]
    last = hs.crm.contacts.basic_api.get_page(limit=100, after=ids[-1])
    assert last.paging is None or last.results[-1].id != ids[-1]
    with pytest.raises(ApiException) as err:
        hs.crm.contacts.basic_api.get_page(limit=101)
    assert err.value.status == 400


def test_object_type_ids_and_generic_objects_api(hs):
    company = hs.crm.objects.basic_api.create("0-2", {"properties": {"name": "Engines Ltd", "domain": "engines.io",
                                                                    "numberofemployees": "12.0"}})
    assert company.properties["numberofemployees"] == "12"
    same = hs.crm.companies.basic_api.get_by_id(company.id, properties=["numberofemployees", "name"])
    assert same.properties["name"] == "Engines Ltd"
    note = hs.crm.objects.notes.basic_api.create({"properties": {"hs_note_body": "hi",
                                                                 "hs_timestamp": "1704067200000"}})
    assert note.properties["hs_timestamp"] == "2024-01-01T00:00:00.000Z" and "hs_createdate" in note.properties
    # each generated package raises its own exception classes (B1.4)
    with pytest.raises(TaskApiException) as err:
        hs.crm.objects.tasks.basic_api.create({"properties": {"hs_task_subject": "no timestamp"}})
    assert errors_of(err.value) == {"hs_timestamp": "REQUIRED_PROPERTY"}
    with pytest.raises(ObjectApiException) as err:
        hs.crm.objects.basic_api.get_page("widgets")
    assert err.value.status == 400 and "Unable to infer object type" in json.loads(err.value.body)["message"]


def test_property_values_are_checked(hs):
    with pytest.raises(ApiException) as err:
        new_contact(hs, email="not-an-email", lifecyclestage="Lead", hs_object_id="5", foo="x",
                    date_of_birth="2001-02-03")
    assert err.value.status == 400
    body = json.loads(err.value.body)
    assert body["category"] == "VALIDATION_ERROR" and body["message"].startswith("Property values were not valid")
    assert errors_of(err.value) == {"email": "INVALID_EMAIL", "lifecyclestage": "INVALID_OPTION",
                                    "hs_object_id": "READ_ONLY_VALUE", "foo": "PROPERTY_DOESNT_EXIST"}
    with pytest.raises(ApiException) as err:
        new_contact(hs, email=f"{uid()}@x.io", date_of_birth="1704070800000")  # 01:00 UTC
    assert "not midnight" in json.loads(err.value.body)["errors"][0]["message"]
    ok = new_contact(hs, email=f"{uid()}@x.io", date_of_birth="1704067200000")
    assert hs.crm.contacts.basic_api.get_by_id(ok.id, properties=["date_of_birth"]).properties["date_of_birth"] \
        == "2024-01-01"
    with pytest.raises(ApiException) as err:
        hs.crm.contacts.basic_api.update(ok.id, SimplePublicObjectInput(properties={"lastmodifieddate": "0"}))
    assert errors_of(err.value) == {"lastmodifieddate": "READ_ONLY_VALUE"}
    deal = hs.crm.deals.basic_api.create({"properties": {"dealname": "D", "dealstage": "closedwon", "amount": "10"}})
    assert deal.properties["pipeline"] == "default" and deal.properties["hs_is_closed_won"] == "true"


def test_duplicate_email_is_a_conflict(hs):
    email = f"{uid()}@x.io"
    first = new_contact(hs, email=email)
    with pytest.raises(ApiException) as err:
        new_contact(hs, email=email.upper())
    assert err.value.status == 409
    assert json.loads(err.value.body)["message"] == f"Contact already exists. Existing ID: {first.id}"


def test_batch_create_update_upsert_read_archive_of_100(hs):
    tag = uid()
    api = hs.crm.contacts.batch_api
    created = api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
        SimplePublicObjectBatchInputForCreate(properties={"email": f"b{i}.{tag}@x.io", "firstname": f"B{i}"},
                                              object_write_trace_id=str(i)) for i in range(100)]))
    assert created.status == "COMPLETE" and len(created.results) == 100
    assert {r.object_write_trace_id for r in created.results} == {str(i) for i in range(100)}
    ids = [r.id for r in created.results]
    updated = api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=i, properties={"jobtitle": "Engineer"}) for i in ids]))
    assert len(updated.results) == 100 and all(r.properties["jobtitle"] == "Engineer" for r in updated.results)
    upserted = api.upsert(BatchInputSimplePublicObjectBatchInputUpsert(inputs=[
        SimplePublicObjectBatchInputUpsert(id=f"b{i}.{tag}@x.io", id_property="email", properties={"lastname": "U"})
        for i in range(99)] + [SimplePublicObjectBatchInputUpsert(id=f"new.{tag}@x.io", id_property="email",
                                                                   properties={"lastname": "N"})]))
    assert sorted(r.new for r in upserted.results) == [False] * 99 + [True]
    fresh = next(r for r in upserted.results if r.new)
    assert fresh.properties["email"] == f"new.{tag}@x.io"
    read = api.read(BatchReadInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=i) for i in ids],
                                                       properties=["lastname", "jobtitle"]))
    assert len(read.results) == 100 and {r.properties["lastname"] for r in read.results} == {"U", None}
    assert api.archive(BatchInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=i) for i in ids])) is None
    partial = api.read(BatchReadInputSimplePublicObjectId(inputs=[SimplePublicObjectId(id=i) for i in ids[:2]] +
                                                          [SimplePublicObjectId(id=fresh.id)]))
    assert [r.id for r in partial.results] == [fresh.id] and partial.num_errors == 1
    assert partial.errors[0].category == "OBJECT_NOT_FOUND" and set(partial.errors[0].context["ids"]) == set(ids[:2])
    with pytest.raises(ApiException) as err:
        api.create(BatchInputSimplePublicObjectBatchInputForCreate(inputs=[
            SimplePublicObjectBatchInputForCreate(properties={"firstname": "x"}) for _ in range(101)]))
    assert err.value.status == 400 and json.loads(err.value.body)["category"] == "VALIDATION_ERROR"


def test_batch_update_reports_per_record_errors_with_207(hs, hsa):
    people = [new_contact(hs, email=f"{uid()}@x.io") for _ in range(3)]
    result = hs.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
        SimplePublicObjectBatchInput(id=people[0].id, properties={"lifecyclestage": "customer"}),
        SimplePublicObjectBatchInput(id=people[1].id, properties={"lifecyclestage": "bogus"}),
        SimplePublicObjectBatchInput(id=people[2].id, properties={"hs_lead_status": "OPEN"})]))
    assert result.num_errors == 1 and {r.id for r in result.results} == {people[0].id, people[2].id}
    error = result.errors[0]
    assert error.category == "VALIDATION_ERROR" and error.context["ids"] == [people[1].id]
    assert error.errors[0].code == "INVALID_OPTION"
    hsa.post("options", {"batch_errors": "whole"})  # what HubSpot often does instead: fail the whole batch
    with pytest.raises(ApiException) as err:
        hs.crm.contacts.batch_api.update(BatchInputSimplePublicObjectBatchInput(inputs=[
            SimplePublicObjectBatchInput(id=people[0].id, properties={"jobtitle": "kept?"}),
            SimplePublicObjectBatchInput(id=people[1].id, properties={"lifecyclestage": "bogus"})]))
    assert err.value.status == 400
    assert hs.crm.contacts.basic_api.get_by_id(people[0].id, properties=["jobtitle"]).properties["jobtitle"] is None


def test_properties_with_history(hs):
    person = new_contact(hs, email=f"{uid()}@x.io", firstname="One")
    hs.crm.contacts.basic_api.update(person.id, SimplePublicObjectInput(properties={"firstname": "Two"}))
    got = hs.crm.contacts.basic_api.get_by_id(person.id, properties_with_history=["firstname"])
    history = got.properties_with_history["firstname"]
    assert [h.value for h in history] == ["Two", "One"] and history[0].source_type == "INTEGRATION"
    assert got.properties["firstname"] == "Two"
    with pytest.raises(ApiException) as err:
        hs.crm.contacts.basic_api.get_page(limit=100, properties_with_history=["firstname"])
    assert err.value.status == 400


def test_custom_object_schema_and_records(hs):
    name = f"car{uid()[:6]}"
    schema = hs.crm.schemas.core_api.create({
        "name": name, "labels": {"singular": "Car", "plural": "Cars"}, "primaryDisplayProperty": "model",
        "requiredProperties": ["model"], "associatedObjects": ["CONTACT"],
        "properties": [{"name": "model", "label": "Model", "type": "string", "fieldType": "text"},
                       {"name": "vin", "label": "VIN", "type": "string", "fieldType": "text", "hasUniqueValue": True}]})
    assert schema.object_type_id.startswith("2-") and schema.fully_qualified_name.endswith(f"_{name}")
    car = hs.crm.objects.basic_api.create(schema.object_type_id, {"properties": {"model": "T", "vin": "V1"}})
    assert car.properties["model"] == "T" and car.properties["hs_object_id"] == car.id
    for token in (name, schema.fully_qualified_name):
        assert hs.crm.objects.basic_api.get_by_id(token, car.id, properties=["vin"]).properties["vin"] == "V1"
    assert hs.crm.objects.basic_api.get_by_id(name, "V1", id_property="vin").id == car.id
    with pytest.raises(ObjectApiException) as err:
        hs.crm.objects.basic_api.create(schema.object_type_id, {"properties": {"vin": "V2"}})
    assert err.value.status == 400  # model is required
    person = new_contact(hs, email=f"{uid()}@x.io")
    types = hs.crm.associations.v4.schema.definitions_api.get_all(name, "contacts").results
    hs.crm.associations.v4.basic_api.create(name, car.id, "contacts", person.id,
                                            [{"associationCategory": "USER_DEFINED",
                                              "associationTypeId": types[0].type_id}])
    linked = hs.crm.objects.basic_api.get_by_id(name, car.id, associations=["contacts"])
    assert [a.id for a in linked.associations["contacts"].results] == [person.id]
    assert schema.object_type_id in [s.object_type_id for s in hs.crm.schemas.core_api.get_all().results]


def test_line_item_based_on_a_product_takes_what_it_does_not_set(hs):
    api = hs.crm.objects.basic_api
    product = api.create("products", {"properties": {"name": "Widget", "price": "20", "hs_sku": f"W-{uid()}",
                                                     "description": "A widget"}})
    item = api.create("line_items", {"properties": {"hs_product_id": product.id, "quantity": "3",
                                                    "hs_discount_percentage": "10"}})
    got = api.get_by_id("line_items", item.id,
                        properties=["name", "price", "hs_sku", "description", "amount"]).properties
    assert (got["name"], float(got["price"]), got["hs_sku"], got["description"], float(got["amount"])) == (
        "Widget", 20.0, product.properties["hs_sku"], "A widget", 54.0)
    # its own values win over the product's
    own = api.create("line_items", {"properties": {"hs_product_id": product.id, "quantity": "1", "price": "15",
                                                   "name": "Widget, discounted"}})
    got = api.get_by_id("line_items", own.id, properties=["name", "price", "amount"]).properties
    assert (got["name"], float(got["price"]), float(got["amount"])) == ("Widget, discounted", 15.0, 15.0)
    with pytest.raises(ObjectApiException) as err:
        api.create("line_items", {"properties": {"hs_product_id": "999999999", "quantity": "1"}})
    assert err.value.status == 400 and errors_of(err.value) == {"hs_product_id": "INVALID_OBJECT_ID"}
