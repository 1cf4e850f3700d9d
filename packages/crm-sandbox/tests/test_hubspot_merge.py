"""HubSpot merges (admin and public endpoint) seen through reads, and workload edits through the admin routes."""

from __future__ import annotations

import uuid

from hubspot.crm.contacts import BatchReadInputSimplePublicObjectId, PublicMergeInput, PublicObjectSearchRequest


def uid() -> str:
    return uuid.uuid4().hex[:10]


def test_admin_merge_resolves_old_ids_to_the_survivor(hs, hsa):
    tag = uid()
    primary = hsa.post("objects/contacts", {"properties": {"email": f"p.{tag}@x.io", "firstname": "Primary",
                                                           "company": tag}})
    loser = hsa.post("objects/contacts", {"properties": {"email": f"l.{tag}@x.io", "jobtitle": "CTO",
                                                         "company": tag}})
    company = hsa.post("objects/companies", {"properties": {"name": tag}})
    hsa.post("associations", {"from_type": "contacts", "from_id": loser["id"], "to_type": "companies",
                              "to_id": company["id"]})
    merged = hsa.post("merge", {"type": "contacts", "primary_id": primary["id"], "merge_id": loser["id"]})
    survivor = merged["id"]
    assert survivor not in (primary["id"], loser["id"])  # contacts merges make a new record (B9)
    for old in (primary["id"], loser["id"]):
        got = hs.crm.contacts.basic_api.get_by_id(old, properties=["hs_merged_object_ids", "firstname", "jobtitle",
                                                                    "hs_additional_emails", "email"])
        assert got.id == survivor
    props = got.properties
    assert set(props["hs_merged_object_ids"].split(";")) == {primary["id"], loser["id"]}
    assert props["firstname"] == "Primary" and props["jobtitle"] == "CTO"  # blanks filled from the merged record
    assert props["email"] == f"p.{tag}@x.io" and props["hs_additional_emails"] == f"l.{tag}@x.io"
    found = hs.crm.contacts.search_api.do_search(PublicObjectSearchRequest(
        filter_groups=[{"filters": [{"propertyName": "company", "operator": "EQ", "value": tag}]}]))
    assert [r.id for r in found.results] == [survivor]
    listed = hs.crm.contacts.basic_api.get_page(limit=100, after=primary["id"])
    assert primary["id"] not in {r.id for r in listed.results} and loser["id"] not in {r.id for r in listed.results}
    linked = hs.crm.contacts.basic_api.get_by_id(survivor, associations=["companies"])
    assert [a.id for a in linked.associations["companies"].results] == [company["id"]]
    batch = hs.crm.contacts.batch_api.read(BatchReadInputSimplePublicObjectId(inputs=[{"id": loser["id"]}]))
    assert [r.id for r in batch.results] == [survivor]
    raw = hsa.get(f"objects/contacts/{loser['id']}")
    assert raw["mergedInto"] == survivor


def test_public_merge_endpoint_and_keep_primary_mode(hs, hsa):
    a = hs.crm.companies.basic_api.create({"properties": {"name": "A", "domain": f"{uid()}.io"}})
    b = hs.crm.companies.basic_api.create({"properties": {"name": "B", "city": "Paris"}})
    merged = hs.crm.companies.basic_api.merge(PublicMergeInput(primary_object_id=a.id, object_id_to_merge=b.id))
    assert merged.id not in (a.id, b.id) and merged.properties["city"] == "Paris"
    hsa.post("options", {"merge_creates_new_id": False})  # the pre-2024 behaviour: the primary id survives
    c = hs.crm.companies.basic_api.create({"properties": {"name": "C"}})
    kept = hs.crm.companies.basic_api.merge(PublicMergeInput(primary_object_id=merged.id, object_id_to_merge=c.id))
    assert kept.id == merged.id
    again = hs.crm.companies.basic_api.get_by_id(a.id, properties=["hs_merged_object_ids"])
    assert again.id == merged.id and set(again.properties["hs_merged_object_ids"].split(";")) == {a.id, b.id, c.id}


def test_admin_edits_do_not_count_as_api_calls(hs, hsa):
    hsa.post("usage/reset")
    created = hsa.post("objects/deals", {"properties": {"dealname": "Walk-in", "dealstage": "qualifiedtobuy"}})
    hsa.call("PATCH", f"objects/deals/{created['id']}", {"properties": {"amount": "1200"}})
    hsa.call("DELETE", f"objects/deals/{created['id']}")
    assert hsa.get(f"objects/deals/{created['id']}")["archived"] is True
    assert hsa.get("usage")["by_endpoint"] == {}
    history = hs.crm.deals.basic_api.get_by_id(created["id"], archived=True, properties_with_history=["amount"])
    assert history.properties_with_history["amount"][0].source_type == "CRM_UI"
