"""The HubSpot sandbox's answers to bad input (the examples of the robustness issue, raw over HTTP) and the
operations added for the client library's surface, each driven through hubspot-api-client: property batch calls and
groups, list search, folders, id mapping, renames and restores, dynamic list filter updates, pipeline and stage
writes with their audits, association labels and definition configurations, custom object schema update and delete
and schema association definitions."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from hubspot.crm.associations.v4.exceptions import ApiException as AssocApiException
from hubspot.crm.associations.v4.schema.exceptions import ApiException as AssocSchemaApiException
from hubspot.crm.deals.exceptions import ApiException as DealApiException
from hubspot.crm.lists.exceptions import ApiException as ListApiException
from hubspot.crm.properties.exceptions import ApiException as PropertyApiException
from hubspot.crm.properties.exceptions import NotFoundException as PropertyNotFound
from hubspot.crm.schemas.exceptions import ApiException as SchemaApiException

HUGE = "99999999999999999999"  # past a Java long: SQLite cannot bind it


def uid() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture()
def raw(sandbox, hsa):
    """(session, base url) for requests the client library cannot send."""
    session = requests.Session()
    session.trust_env = False
    session.headers.update({"Authorization": f"Bearer {sandbox['hubspot']['access_token']}",
                            "Content-Type": "application/json"})
    return session, sandbox["hubspot"]["base_url"]


def error_of(resp: requests.Response, status: int, category: str) -> dict:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["status"] == "error" and body["category"] == category and body["message"], body
    assert body["correlationId"] == resp.headers["X-HubSpot-Correlation-Id"]
    return body


def category_of(err: pytest.ExceptionInfo) -> str:
    """The HubSpot error category of a client library ApiException."""
    return json.loads(err.value.body)["category"]


def contact(hs, **props):
    return hs.crm.contacts.basic_api.create({"properties": props or {"email": f"{uid()}@x.io"}})


# ---- bad input: the examples -----------------------------------------------------------------------
def test_ids_past_a_long_are_missing_records_not_server_errors(raw, hs):
    session, base = raw
    for method, path in (("GET", f"/crm/v3/owners/{HUGE}"), ("GET", f"/crm/v3/objects/contacts/{HUGE}"),
                         ("DELETE", f"/crm/v3/objects/contacts/{HUGE}"), ("GET", f"/crm/v3/lists/{HUGE}"),
                         ("GET", f"/crm/v4/objects/contacts/{HUGE}/associations/companies")):
        error_of(session.request(method, base + path), 404, "OBJECT_NOT_FOUND")
    resp = session.patch(f"{base}/crm/v3/objects/contacts/{HUGE}", json={"properties": {"firstname": "x"}})
    error_of(resp, 404, "OBJECT_NOT_FOUND")
    merge = session.post(f"{base}/crm/v3/objects/contacts/merge",
                         json={"primaryObjectId": HUGE, "objectIdToMerge": "-1"})
    error_of(merge, 404, "OBJECT_NOT_FOUND")
    for path in ("/crm/v3/objects/contacts", "/crm/v3/owners/"):
        body = error_of(session.get(base + path, params={"after": HUGE}), 400, "VALIDATION_ERROR")
        assert "after" in body["message"]
    search = session.post(f"{base}/crm/v3/objects/contacts/search", json={
        "filterGroups": [{"filters": [{"propertyName": "hs_object_id", "operator": "EQ", "value": HUGE}]}]})
    assert search.status_code in (200, 400), search.text


def test_batch_read_of_huge_ids_is_a_documented_207(raw):
    session, base = raw
    resp = session.post(f"{base}/crm/v3/objects/contacts/batch/read", json={"inputs": [{"id": HUGE}]})
    assert resp.status_code == 207
    entry = resp.json()["errors"][0]
    assert entry["category"] == "OBJECT_NOT_FOUND" and entry["context"] == {"ids": [HUGE]}
    assert isinstance(entry["errors"], list) and entry["errors"][0]["message"] == entry["message"]
    assert entry["links"] == {} and entry["status"] == "error"


def test_malformed_associations_on_create_are_400(raw):
    session, base = raw
    for associations in (["abc"], [{"to": {"id": "1"}, "types": "x"}], [{"to": "1", "types": []}],
                         [{"to": {"id": "1"}, "types": ["x"]}]):
        resp = session.post(f"{base}/crm/v3/objects/contacts", json={"properties": {}, "associations": associations})
        error_of(resp, 400, "VALIDATION_ERROR")


def test_strict_bodies_flags_and_object_types(raw):
    session, base = raw
    for data in (None, b"", b"   "):
        body = error_of(session.post(f"{base}/crm/v3/objects/contacts", data=data), 400, "VALIDATION_ERROR")
        assert "Invalid input JSON" in body["message"]
    error_of(session.post(f"{base}/crm/v3/objects/contacts", data=b"[1]"), 400, "VALIDATION_ERROR")
    body = error_of(session.get(f"{base}/crm/v3/objects/contacts", params={"archived": "null"}), 400,
                    "VALIDATION_ERROR")
    assert body["context"] == {"archived": ["null"]}
    assert session.get(f"{base}/crm/v3/objects/contacts", params={"archived": "False"}).status_code == 200
    for token in ("%20", "%20contacts", "nope"):
        body = error_of(session.get(f"{base}/crm/v3/objects/{token}"), 400, "VALIDATION_ERROR")
        assert body["message"].startswith("Unable to infer object type from")


def test_unknown_routes_and_wrong_methods(raw):
    session, base = raw
    body = error_of(session.get(f"{base}/crm/v3/nothing/here"), 404, "OBJECT_NOT_FOUND")
    assert body["message"] == "resource not found"  # as test_wire_fidelity pins it
    error_of(session.get(f"{base}/crm/v3/objects//%0A5"), 404, "OBJECT_NOT_FOUND")  # no route pattern takes it
    missing = error_of(session.get(f"{base}/crm/v3/objects/contacts/1"), 404, "OBJECT_NOT_FOUND")
    assert missing["message"] == "resource not found"
    resp = session.put(f"{base}/crm/v3/objects/contacts/1")
    assert resp.status_code == 405 and set(resp.headers["Allow"].split(",")) == {"GET", "PATCH", "DELETE"}


def test_v3_association_batch_create_has_hubspots_shape(hs):
    person = contact(hs)
    firm = hs.crm.companies.basic_api.create({"properties": {"name": f"F{uid()}"}})
    out = hs.crm.associations.batch_api.create("contacts", "companies", {"inputs": [
        {"from": {"id": person.id}, "to": {"id": firm.id}, "type": "contact_to_company"}]})
    result = out.results[0]
    assert (result._from.id, result.to.id, result.type) == (person.id, firm.id, "contact_to_company")


# ---- properties: batch and groups --------------------------------------------------------------------------
def test_property_batch_calls_share_the_property_store(hs, raw):
    names = [f"pb_{uid()}" for _ in range(2)]
    created = hs.crm.properties.batch_api.create("contacts", {"inputs": [
        {"name": n, "label": n, "type": "string", "fieldType": "text", "groupName": "contactinformation"}
        for n in names]})
    assert sorted(p.name for p in created.results) == sorted(names)
    assert hs.crm.properties.core_api.get_by_name("contacts", names[0]).label == names[0]
    read = hs.crm.properties.batch_api.read("contacts", {"archived": False, "inputs": [{"name": n}
                                                                                     for n in [*names, "nope"]]})
    assert sorted(p.name for p in read.results) == sorted(names)
    assert read.errors[0].context == {"propertyName": ["nope"]}
    session, base = raw
    legacy = session.get(f"{base}/properties/v2/contacts/properties").json()
    assert set(names) <= {p["name"] for p in legacy}
    hs.crm.properties.batch_api.archive("contacts", {"inputs": [{"name": names[0]}]})
    with pytest.raises(PropertyNotFound):
        hs.crm.properties.core_api.get_by_name("contacts", names[0])
    assert hs.crm.properties.core_api.get_by_name("contacts", names[0], archived=True).archived is True
    with pytest.raises(PropertyApiException) as err:
        hs.crm.properties.batch_api.archive("contacts", {"inputs": [{"name": "email"}]})
    assert err.value.status == 400


def test_property_group_lifecycle(hs, raw):
    api = hs.crm.properties.groups_api
    name = f"grp_{uid()}"
    made = api.create("deals", {"name": name, "label": "Sync fields", "displayOrder": 3})
    assert (made.name, made.label, made.display_order) == (name, "Sync fields", 3)
    with pytest.raises(PropertyApiException) as err:
        api.create("deals", {"name": name, "label": "again"})
    assert err.value.status == 409
    assert api.update("deals", name, {"label": "Renamed"}).label == "Renamed"
    assert api.get_by_name("deals", name).label == "Renamed"
    assert name in [g.name for g in api.get_all("deals").results]
    session, base = raw
    assert name in [g["name"] for g in session.get(f"{base}/properties/v2/deals/groups").json()]
    prop = f"gp_{uid()}"
    hs.crm.properties.core_api.create("deals", {"name": prop, "label": "P", "type": "string", "fieldType": "text",
                                                "groupName": name})
    with pytest.raises(PropertyApiException) as err:
        api.archive("deals", name)
    assert err.value.status == 400
    hs.crm.properties.core_api.archive("deals", prop)
    api.archive("deals", name)
    assert name not in [g.name for g in api.get_all("deals").results]
    with pytest.raises(PropertyNotFound):
        api.get_by_name("deals", name)


# ---- lists ---------------------------------------------------------------------------------------------------
def new_list(hs, name: str | None = None) -> str:
    made = hs.crm.lists.lists_api.create({"name": name or f"L{uid()}", "objectTypeId": "0-1",
                                          "processingType": "MANUAL"})
    return made.list.list_id


def test_list_search_rename_restore_and_membership_reads(hs):
    lists = hs.crm.lists
    tag = uid()
    first, second = new_list(hs, f"search {tag} one"), new_list(hs, f"search {tag} two")
    people = [contact(hs).id for _ in range(3)]
    lists.memberships_api.add(first, people)
    found = lists.lists_api.do_search({"query": tag, "count": 1})
    assert found.total == 2 and found.has_more is True and found.lists[0].list_id == first
    assert found.lists[0].additional_properties["hs_list_size"] == "3"
    assert lists.memberships_api.get_page(first).total == 3
    order = lists.memberships_api.get_page_ordered_by_added_to_list_date(first)
    assert sorted(r.record_id for r in order.results) == sorted(people)
    lists.memberships_api.add_all_from_list(second, first)
    assert lists.memberships_api.get_page(second).total == 3
    renamed = lists.lists_api.update_name(second, list_name=f"renamed {tag}")
    assert renamed.updated_list.name == f"renamed {tag}"
    with pytest.raises(ListApiException) as err:
        lists.lists_api.update_name(second, list_name=f"search {tag} one")
    assert err.value.status == 409
    lists.lists_api.remove(first)
    assert lists.lists_api.do_search({"query": tag}).total == 1
    lists.lists_api.restore(first)
    assert lists.lists_api.get_by_id(first).list.name == f"search {tag} one"
    assert lists.lists_api.do_search({"query": tag, "listIds": [first]}).lists[0].list_id == first


def test_list_folders_and_id_mapping(hs):
    folders = hs.crm.lists.folders_api
    parent = folders.create({"name": f"F{uid()}"}).folder
    child = folders.create({"name": "child", "parentFolderId": parent.id}).folder
    assert child.parent_folder_id == parent.id
    list_id = new_list(hs)
    folders.move_list({"listId": list_id, "newFolderId": child.id})
    assert folders.get_all(folder_id=child.id).folder.child_lists == [int(list_id)]
    assert folders.rename(child.id, new_folder_name="renamed").folder.name == "renamed"
    other = folders.create({"name": f"G{uid()}"}).folder
    moved = folders.move(child.id, other.id).folder
    assert moved.parent_folder_id == other.id
    assert [n.id for n in folders.get_all(folder_id=other.id).folder.child_nodes] == [child.id]
    with pytest.raises(ListApiException) as err:
        folders.remove(child.id)  # still holds the list
    assert err.value.status == 400
    folders.move_list({"listId": list_id, "newFolderId": "0"})
    folders.remove(child.id)
    with pytest.raises(ListApiException) as err:
        folders.get_all(folder_id=child.id)
    assert err.value.status == 404
    mapping = hs.crm.lists.mapping_api
    assert mapping.translate_legacy_list_id_to_list_id(legacy_list_id=list_id).list_id == list_id
    batch = mapping.translate_legacy_list_id_to_list_id_batch([list_id, HUGE])
    assert [m.list_id for m in batch.legacy_list_ids_to_ids_mapping] == [list_id]
    assert batch.missing_legacy_list_ids == [HUGE]


def or_of_and(*filters: dict) -> dict:
    """A list filter definition as HubSpot requires it: a root OR branch holding one AND branch."""
    return {"filterBranchType": "OR", "filterBranchOperator": "OR", "filters": [], "filterBranches": [
        {"filterBranchType": "AND", "filterBranchOperator": "AND", "filterBranches": [], "filters": list(filters)}]}


def email_contains(text: str) -> dict:
    return {"filterType": "PROPERTY", "property": "email",
            "operation": {"operationType": "MULTISTRING", "operator": "CONTAINS", "values": [text]}}


def test_dynamic_list_filters_are_updated_and_read_back(hs):
    api = hs.crm.lists.lists_api
    made = api.create({"name": f"D{uid()}", "objectTypeId": "0-1", "processingType": "DYNAMIC",
                       "filterBranch": or_of_and(email_contains("old"))}).list
    assert made.processing_type == "DYNAMIC"
    assert made.filter_branch.filter_branches[0].filters[0].operation.values == ["old"]
    updated = api.update_list_filters(made.list_id, {"filterBranch": or_of_and(email_contains("new"))},
                                      enroll_objects_in_workflows=False).updated_list
    assert updated.list_id == made.list_id and updated.list_version == made.list_version + 1
    assert updated.filter_branch.filter_branches[0].filters[0].operation.values == ["new"]
    read = api.get_by_id(made.list_id, include_filters=True).list
    stored = read.filter_branch.filter_branches[0]
    assert (read.filter_branch.filter_branch_type, stored.filter_branch_type) == ("OR", "AND")
    assert (stored.filters[0]._property, stored.filters[0].operation.values) == ("email", ["new"])
    assert api.get_by_id(made.list_id).list.filter_branch is None  # only with includeFilters
    assert api.get_all(list_ids=[made.list_id], include_filters=True).lists[0].filter_branch is not None

    manual = new_list(hs)
    with pytest.raises(ListApiException) as err:
        api.update_list_filters(manual, {"filterBranch": or_of_and(email_contains("x"))})
    assert (err.value.status, category_of(err)) == (400, "VALIDATION_ERROR")
    assert "DYNAMIC" in json.loads(err.value.body)["message"]
    assert api.get_by_id(manual, include_filters=True).list.filter_branch is None
    with pytest.raises(ListApiException) as err:
        api.update_list_filters(HUGE, {"filterBranch": or_of_and(email_contains("x"))})
    assert (err.value.status, category_of(err)) == (404, "OBJECT_NOT_FOUND")
    assert json.loads(err.value.body)["message"] == f"List {HUGE} does not exist"
    for bad in ({}, {"filterBranch": "x"}, {"filterBranch": {**or_of_and(), "filterBranchType": "AND"}}):
        with pytest.raises(ListApiException) as err:
            api.update_list_filters(made.list_id, bad)
        assert (err.value.status, category_of(err)) == (400, "VALIDATION_ERROR")
    with pytest.raises(ListApiException) as err:
        api.create({"name": f"D{uid()}", "objectTypeId": "0-1", "processingType": "DYNAMIC"})
    assert err.value.status == 400  # a dynamic list needs its filters
    assert api.get_by_id(made.list_id, include_filters=True).list.list_version == updated.list_version


def test_update_list_filters_without_a_body_is_400(raw, hs):
    session, base = raw
    made = hs.crm.lists.lists_api.create({"name": f"D{uid()}", "objectTypeId": "0-1", "processingType": "DYNAMIC",
                                          "filterBranch": or_of_and(email_contains("a"))}).list
    body = error_of(session.put(f"{base}/crm/v3/lists/{made.list_id}/update-list-filters", data=b""), 400,
                    "VALIDATION_ERROR")
    assert "Invalid input JSON" in body["message"]


# ---- pipelines -----------------------------------------------------------------------------------------------
def test_pipeline_and_stage_writes_drive_deal_validation(hs):
    pipes = hs.crm.pipelines
    made = pipes.pipelines_api.create("deals", {"label": f"P{uid()}", "displayOrder": 1, "stages": [
        {"label": "Open", "displayOrder": 0, "metadata": {"probability": "0.1"}}]})
    stage = pipes.pipeline_stages_api.create("deals", made.id, {"label": "Won", "displayOrder": 1,
                                                                "metadata": {"probability": "1.0", "isClosed": "true"}})
    deal = hs.crm.deals.basic_api.create({"properties": {"dealname": "d", "pipeline": made.id,
                                                         "dealstage": stage.id}})
    assert (deal.properties["pipeline"], deal.properties["dealstage"]) == (made.id, stage.id)
    assert pipes.pipeline_stages_api.update("deals", made.id, stage.id, {"label": "Closed"}).label == "Closed"
    replaced = pipes.pipeline_stages_api.replace("deals", made.id, stage.id, {
        "label": "Done", "displayOrder": 4, "metadata": {"probability": "1.0"}})
    assert (replaced.label, replaced.display_order) == ("Done", 4)
    assert pipes.pipelines_api.update("deals", made.id, {"label": "Renamed"}).label == "Renamed"
    pipes.pipeline_stages_api.archive("deals", made.id, stage.id)
    with pytest.raises(DealApiException) as err:
        hs.crm.deals.basic_api.update(deal.id, {"properties": {"dealstage": stage.id}})
    assert err.value.status == 400 and "INVALID_OPTION" in err.value.body
    assert [s.label for s in pipes.pipeline_stages_api.get_all("deals", made.id).results] == ["Open"]
    audit = pipes.pipeline_stage_audits_api.get_audit("deals", stage.id).results
    assert [a.action for a in audit] == ["DELETE", "UPDATE", "UPDATE", "CREATE"]
    assert [a.action for a in pipes.pipeline_audits_api.get_audit("deals", made.id).results][-1] == "CREATE"
    whole = pipes.pipelines_api.replace("deals", made.id, {"label": "Again", "displayOrder": 2, "stages": [
        {"label": "Only", "displayOrder": 0, "metadata": {"probability": "0.5"}}]})
    assert [s.label for s in whole.stages] == ["Only"]
    pipes.pipelines_api.archive("deals", made.id)
    assert made.id not in [p.id for p in pipes.pipelines_api.get_all("deals").results]
    tickets = pipes.pipelines_api.get_all("tickets").results
    assert tickets[0].id == "0" and tickets[0].stages[0].metadata["ticketState"] == "OPEN"


# ---- association labels and configurations -------------------------------------------------------------------
def test_association_labels_are_usable_in_v4_writes_and_reads(hs):
    schema = hs.crm.associations.v4.schema.definitions_api
    label = f"Champion {uid()}"
    made = schema.create("contacts", "companies", {"label": label, "name": f"champ_{uid()}",
                                                   "inverseLabel": "Championed by"}).results
    forward = next(s for s in made if s.label == label)
    assert forward.category == "USER_DEFINED"
    person, firm = contact(hs), hs.crm.companies.basic_api.create({"properties": {"name": f"F{uid()}"}})
    hs.crm.associations.v4.basic_api.create("contacts", person.id, "companies", firm.id, [
        {"associationCategory": "USER_DEFINED", "associationTypeId": forward.type_id}])
    page = hs.crm.associations.v4.basic_api.get_page("contacts", person.id, "companies")
    assert label in [t.label for t in page.results[0].association_types]
    back = hs.crm.associations.v4.basic_api.get_page("companies", firm.id, "contacts")
    assert "Championed by" in [t.label for t in back.results[0].association_types]
    schema.update("contacts", "companies", {"associationTypeId": forward.type_id, "label": f"{label}!"})
    assert f"{label}!" in [s.label for s in schema.get_all("contacts", "companies").results]
    schema.remove("contacts", "companies", forward.type_id)
    assert forward.type_id not in [s.type_id for s in schema.get_all("contacts", "companies").results]
    page = hs.crm.associations.v4.basic_api.get_page("contacts", person.id, "companies")
    assert page.results == []  # deleting the label removed its associations
    with pytest.raises(AssocSchemaApiException) as err:
        schema.remove("contacts", "companies", 279)
    assert err.value.status == 400


def test_definition_configurations_cap_associations(hs):
    conf = hs.crm.associations.v4.schema.definition_configurations_api
    made = hs.crm.associations.v4.schema.definitions_api.create("deals", "contacts", {
        "label": f"Signer {uid()}", "name": f"signer_{uid()}"}).results[0]
    spec = {"category": "USER_DEFINED", "typeId": made.type_id}
    created = conf.batch_create("deals", "contacts", {"inputs": [{**spec, "maxToObjectIds": 1}]})
    assert created.results[0].user_enforced_max_to_object_ids == 1
    assert made.type_id in [c.type_id for c in conf.get_all_between_two_object_types("deals", "contacts").results]
    deal = hs.crm.deals.basic_api.create({"properties": {"dealname": "cap"}})
    a, b = contact(hs), contact(hs)
    v4 = hs.crm.associations.v4.basic_api
    v4.create("deals", deal.id, "contacts", a.id, [{"associationCategory": "USER_DEFINED",
                                                    "associationTypeId": made.type_id}])
    with pytest.raises(AssocApiException) as err:
        v4.create("deals", deal.id, "contacts", b.id, [{"associationCategory": "USER_DEFINED",
                                                        "associationTypeId": made.type_id}])
    assert err.value.status == 400
    updated = conf.batch_update("deals", "contacts", {"inputs": [{**spec, "maxToObjectIds": 2}]})
    assert updated.results[0].user_enforced_max_to_object_ids == 2
    v4.create("deals", deal.id, "contacts", b.id, [{"associationCategory": "USER_DEFINED",
                                                    "associationTypeId": made.type_id}])
    assert made.type_id in [c.type_id for c in conf.get_all().results]
    conf.batch_remove("deals", "contacts", {"inputs": [spec]})
    assert made.type_id not in [c.type_id for c in conf.get_all().results]


# ---- custom object schemas -------------------------------------------------------------------------------------
def test_schema_update_and_delete(hs):
    name = f"bike{uid()[:6]}"
    core = hs.crm.schemas.core_api
    schema = core.create({"name": name, "labels": {"singular": "Bike", "plural": "Bikes"},
                          "primaryDisplayProperty": "model", "requiredProperties": ["model"],
                          "properties": [{"name": "model", "label": "Model", "type": "string", "fieldType": "text"},
                                         {"name": "size", "label": "Size", "type": "string", "fieldType": "text"}]})
    changed = core.update(name, {"labels": {"singular": "Cycle", "plural": "Cycles"},
                                 "requiredProperties": ["model", "size"]})
    assert changed.labels.singular == "Cycle" and changed.required_properties == ["model", "size"]
    assert core.get_by_id(schema.object_type_id).labels.plural == "Cycles"
    with pytest.raises(SchemaApiException) as err:
        core.update(name, {"primaryDisplayProperty": "nope"})
    assert err.value.status == 400
    bike = hs.crm.objects.basic_api.create(name, {"properties": {"model": "M", "size": "L"}})
    with pytest.raises(SchemaApiException) as err:
        core.archive(name)  # it still has a record
    assert err.value.status == 400
    hs.crm.objects.basic_api.archive(name, bike.id)
    core.archive(name)
    assert schema.object_type_id not in [s.object_type_id for s in core.get_all().results]
    with pytest.raises(SchemaApiException) as err:
        core.get_by_id(name)
    assert err.value.status == 400  # the type no longer exists: HubSpot cannot infer it


def test_schema_associations_are_usable_in_v4_and_archivable(hs):
    name = f"boat{uid()[:6]}"
    core = hs.crm.schemas.core_api
    schema = core.create({"name": name, "labels": {"singular": "Boat", "plural": "Boats"},
                          "primaryDisplayProperty": "hull",
                          "properties": [{"name": "hull", "label": "Hull", "type": "string", "fieldType": "text"}]})
    made = core.create_association(name, {"fromObjectTypeId": schema.object_type_id, "toObjectTypeId": "contact",
                                          "name": "boat_to_skipper"})
    assert (made.from_object_type_id, made.to_object_type_id, made.name) == (schema.object_type_id, "0-1",
                                                                            "boat_to_skipper")
    assert made.id.isdigit() and made.created_at is not None and made.updated_at is not None
    assert made.id in [a.id for a in core.get_by_id(name).associations]
    boat = hs.crm.objects.basic_api.create(name, {"properties": {"hull": "H1"}})
    person = contact(hs)
    v4 = hs.crm.associations.v4.basic_api
    spec = [{"associationCategory": "USER_DEFINED", "associationTypeId": int(made.id)}]
    v4.create(name, boat.id, "contacts", person.id, spec)
    page = v4.get_page(name, boat.id, "contacts").results
    assert [(r.to_object_id, [t.type_id for t in r.association_types]) for r in page] == [(person.id,
                                                                                          [int(made.id)])]
    assert [r.to_object_id for r in v4.get_page("contacts", person.id, name).results] == [boat.id]
    with pytest.raises(SchemaApiException) as err:
        core.create_association(name, {"fromObjectTypeId": schema.object_type_id, "toObjectTypeId": "0-1",
                                       "name": "boat_to_skipper"})
    assert (err.value.status, category_of(err)) == (409, "CONFLICT")
    with pytest.raises(SchemaApiException) as err:
        core.create_association(name, {"fromObjectTypeId": "0-2", "toObjectTypeId": "0-1"})
    assert (err.value.status, category_of(err)) == (400, "VALIDATION_ERROR")

    core.archive_association(name, made.id)
    assert made.id not in [a.id for a in core.get_by_id(name).associations]
    assert v4.get_page(name, boat.id, "contacts").results == []  # the type's associations went with it
    with pytest.raises(AssocApiException) as err:
        v4.create(name, boat.id, "contacts", person.id, spec)
    assert (err.value.status, category_of(err)) == (400, "VALIDATION_ERROR")
    with pytest.raises(SchemaApiException) as err:
        core.archive_association(name, made.id)
    assert (err.value.status, category_of(err)) == (404, "OBJECT_NOT_FOUND")
    for token in ("nope", "contacts"):  # unknown types and standard objects answer as the other schema routes
        with pytest.raises(SchemaApiException) as expected:
            core.get_by_id(token)
        with pytest.raises(SchemaApiException) as err:
            core.create_association(token, {"fromObjectTypeId": schema.object_type_id, "toObjectTypeId": "0-1"})
        assert (err.value.status, category_of(err)) == (expected.value.status, category_of(expected))
        with pytest.raises(SchemaApiException) as err:
            core.archive_association(token, "1")
        assert (err.value.status, category_of(err)) == (expected.value.status, category_of(expected))
