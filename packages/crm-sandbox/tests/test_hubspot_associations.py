"""HubSpot associations through hubspot-api-client: v4 batch create/read/archive, defaults, labels, v3 reads."""

from __future__ import annotations

import uuid

from hubspot.crm.associations.v4 import (
    BatchInputPublicAssociationMultiArchive,
    BatchInputPublicAssociationMultiPost,
    BatchInputPublicFetchAssociationsBatchRequest,
)
from hubspot.crm.contacts import SimplePublicObjectInputForCreate


def uid() -> str:
    return uuid.uuid4().hex[:10]


def make(hs, kind: str, **props) -> str:
    return hs.crm.objects.basic_api.create(kind, {"properties": props}).id


def test_batch_create_and_read_with_type_ids(hs):
    people = [make(hs, "contacts", email=f"{uid()}@x.io") for _ in range(3)]
    acme, globex = make(hs, "companies", name="Acme"), make(hs, "companies", name="Globex")
    v4 = hs.crm.associations.v4
    created = v4.batch_api.create("contacts", "companies", BatchInputPublicAssociationMultiPost(inputs=[
        {"from": {"id": people[0]}, "to": {"id": acme},
         "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}]},
        {"from": {"id": people[1]}, "to": {"id": acme},
         "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]},
        {"from": {"id": people[1]}, "to": {"id": globex},
         "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}]))
    assert created.status == "COMPLETE" and len(created.results) == 3
    assert created.results[0].from_object_type_id == "0-1" and created.results[0].to_object_type_id == "0-2"
    assert created.results[0].labels == ["Primary"]
    read = v4.batch_api.get_page("contacts", "companies", BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[{"id": p} for p in people]))
    by_from = {r._from.id: r for r in read.results}
    assert set(by_from) == {people[0], people[1]} and read.num_errors == 1
    assert read.errors[0].context["fromObjectId"] == [people[2]]
    first = by_from[people[0]].to[0]
    assert first.to_object_id == acme and {t.type_id for t in first.association_types} == {1, 279}
    assert {t.label for t in first.association_types} == {"Primary", None}
    assert [t.to_object_id for t in by_from[people[1]].to] == sorted([acme, globex], key=int)
    back = v4.batch_api.get_page("companies", "contacts", BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[{"id": acme}]))
    assert {t.to_object_id for t in back.results[0].to} == {people[0], people[1]}
    assert {t.type_id for t in back.results[0].to[0].association_types} <= {2, 280}
    primary = hs.crm.contacts.basic_api.get_by_id(people[0], properties=["associatedcompanyid"])
    assert primary.properties["associatedcompanyid"] == acme
    assert v4.batch_api.archive("contacts", "companies", BatchInputPublicAssociationMultiArchive(inputs=[
        {"from": {"id": people[1]}, "to": [{"id": acme}, {"id": globex}]}])) is None
    after = v4.batch_api.get_page("contacts", "companies", BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[{"id": people[1]}]))
    assert after.results == [] and after.num_errors == 1


def test_default_association_and_associations_on_reads(hs):
    person = make(hs, "contacts", email=f"{uid()}@x.io")
    deal = make(hs, "deals", dealname="Big one", dealstage="qualifiedtobuy")
    result = hs.crm.associations.v4.basic_api.create_default("deals", deal, "contacts", person)
    spec = result.results[0].association_spec
    assert (spec.association_category, spec.association_type_id) == ("HUBSPOT_DEFINED", 3)
    got = hs.crm.contacts.basic_api.get_by_id(person, associations=["deals"])
    assert [(a.id, a.type) for a in got.associations["deals"].results] == [(deal, "contact_to_deal")]
    listed = hs.crm.deals.basic_api.get_page(limit=100, after=deal, associations=["contacts"])
    assert listed.results[0].associations["contacts"].results[0].id == person
    labels = hs.crm.associations.v4.schema.definitions_api.get_all("contacts", "companies").results
    assert {(lb.type_id, lb.label) for lb in labels} == {(279, None), (1, "Primary")}


def test_associations_on_create_and_per_object_paging(hs):
    company = make(hs, "companies", name=f"Hub {uid()}")
    people = []
    for _ in range(3):
        people.append(hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"email": f"{uid()}@x.io"},
            associations=[{"to": {"id": company},
                           "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}]}])).id)
    page = hs.crm.associations.v4.basic_api.get_page("companies", company, "contacts", limit=2)
    assert [r.to_object_id for r in page.results] == people[:2] and page.paging.next.after == people[2]
    rest = hs.crm.associations.v4.basic_api.get_page("companies", company, "contacts", after=page.paging.next.after)
    assert [r.to_object_id for r in rest.results] == people[2:] and rest.paging is None
    hs.crm.associations.v4.basic_api.archive("companies", company, "contacts", people[0])
    again = hs.crm.associations.v4.basic_api.get_page("companies", company, "contacts")
    assert [r.to_object_id for r in again.results] == people[1:]
    hs.crm.contacts.basic_api.archive(people[1])  # archived records drop out of association reads
    assert [r.to_object_id for r in hs.crm.associations.v4.basic_api.get_page(
        "companies", company, "contacts").results] == people[2:]


def test_batch_reads_take_up_to_1000_ids_and_refuse_more(hs):
    """HubSpot's limit since February 2025 (v3 and v4 association batch reads): 1,000 inputs; 1,001 is a 400."""
    import pytest
    from hubspot.crm.associations.v4.exceptions import ApiException

    person = make(hs, "contacts", email=f"{uid()}@x.io")
    v4 = hs.crm.associations.v4.batch_api
    ids = [{"id": person}] + [{"id": str(10**12 + n)} for n in range(999)]
    read = v4.get_page("contacts", "companies", BatchInputPublicFetchAssociationsBatchRequest(inputs=ids))
    assert read.num_errors == 1000  # read, every one of them (none has a company)
    with pytest.raises(ApiException) as refused:
        v4.get_page("contacts", "companies", BatchInputPublicFetchAssociationsBatchRequest(
            inputs=[*ids, {"id": person}]))
    assert refused.value.status == 400 and "1000" in refused.value.body
