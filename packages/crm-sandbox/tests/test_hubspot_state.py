"""HubSpot sandbox state on disk: kept across restarts (also when served over HTTPS), loader beside the server."""

from __future__ import annotations

from hubspot import HubSpot
from hubspot.crm.contacts import SimplePublicObjectInputForCreate

from crm_sandbox.hubspot.loader import load_associations, load_objects
from crm_sandbox.server import running_sandbox


def test_state_survives_a_restart(tmp_path):
    directory = tmp_path / "restart"
    with running_sandbox(directory) as info:
        token = info["hubspot"]["access_token"]
        assert info["hubspot"]["base_url"].startswith("http://") and "ca_file" not in info["hubspot"]
        hs = HubSpot(access_token=token, host=info["hubspot"]["base_url"])
        person = hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(
            properties={"email": "kept@x.io", "lifecyclestage": "customer"}))
        company = hs.crm.companies.basic_api.create({"properties": {"name": "Kept Inc"}})
        hs.crm.associations.v4.basic_api.create_default("contacts", person.id, "companies", company.id)
        loaded = load_objects(directory, "contacts", [{"email": "loaded@x.io"}])  # while the server runs
        load_associations(directory, "contacts", "companies", [(loaded[0], company.id)])
        assert hs.crm.contacts.basic_api.get_by_id(loaded[0]).properties["email"] == "loaded@x.io"
    with running_sandbox(directory, hs_https=True) as info:
        assert info["hubspot"]["access_token"] == token and info["hubspot"]["base_url"].startswith("https://")
        hs = HubSpot(access_token=token, host=info["hubspot"]["base_url"], ssl_ca_cert=info["hubspot"]["ca_file"])
        again = hs.crm.contacts.basic_api.get_by_id(person.id, properties=["lifecyclestage"],
                                                    associations=["companies"])
        assert again.properties["lifecyclestage"] == "customer"
        assert [a.id for a in again.associations["companies"].results] == [company.id]
        back = hs.crm.companies.basic_api.get_by_id(company.id, associations=["contacts"])
        assert {a.id for a in back.associations["contacts"].results} == {person.id, loaded[0]}
        newer = hs.crm.contacts.basic_api.create(SimplePublicObjectInputForCreate(properties={"firstname": "N"}))
        assert int(newer.id) > int(loaded[0])  # the id counter lives on disk too
