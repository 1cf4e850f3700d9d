"""Products both ways (issue 14's products row): HubSpot products <-> Product2, with the unit price on the
product's entry in Salesforce's standard price book; matched by SKU <-> ProductCode; creates, updates (the price
both ways) and deletes (propagate) landing on the right records."""

from __future__ import annotations

import pytest
import yaml
from hubspot.crm.objects import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.objects.exceptions import NotFoundException
from simple_salesforce import format_soql

from crm_sandbox.words import PRODUCT_SKUS
from crm_sync_tests.sync_harness import ROOT, converged_env

PRODUCTS = {"products": {"hubspot": "products", "salesforce": "Product2", "deletes": "propagate"}}


def standard_prices(sf, product_id: str) -> list[float]:
    rows = sf.query_all(format_soql("SELECT UnitPrice FROM PricebookEntry WHERE Product2Id = {} AND "
                                    "Pricebook2.IsStandard = true", product_id))["records"]
    return [r["UnitPrice"] for r in rows]


def test_products_sync_both_ways_with_their_standard_price(tmp_path):
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    extra = {"pairs": {**raw["pairs"], **PRODUCTS}, "sync": {**raw["sync"], "hubspot_deletes_minutes": 0}}
    with converged_env(tmp_path, extra=extra) as env:
        sf, hs = env.sf(), env.hs()
        api = hs.crm.objects.basic_api
        [standard] = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"]
        # the seed's catalogue is on both sides under the same SKUs: linked by them, none made twice
        env.converge()
        seeded = env.links("products")
        assert len(seeded) == len(PRODUCT_SKUS)
        assert sf.query_all("SELECT Id FROM Product2")["totalSize"] == len(PRODUCT_SKUS)

        def hs_product(name: str, sku: str, price: str) -> str:
            return api.create("products", SimplePublicObjectInputForCreate(
                properties={"name": name, "hs_sku": sku, "price": price, "description": f"{name}, in stock"})).id

        def sf_product(name: str, code: str, price: float) -> str:
            pid = sf.Product2.create({"Name": name, "ProductCode": code, "IsActive": True})["id"]
            sf.PricebookEntry.create({"Pricebook2Id": standard["Id"], "Product2Id": pid, "UnitPrice": price,
                                      "IsActive": True})
            return pid

        widget_hs = hs_product("Widget", "W-1", "25")
        gadget_sf = sf_product("Gadget", "G-1", 40)
        # the same product on both sides, by its SKU: linked, not made twice
        twin_hs = hs_product("Twin", "T-1", "12")
        twin_sf = sf_product("Twin", "T-1", 12)
        outcomes = env.converge()
        assert outcomes[-1].planned_writes == 0, [o.summary for o in outcomes]
        links = {h: s for h, s in env.links("products").items() if h not in seeded}
        assert links[twin_hs] == twin_sf and len(links) == 3
        assert sf.query_all("SELECT Id FROM Product2 WHERE ProductCode = 'T-1'")["totalSize"] == 1
        assert len(api.get_page("products", limit=100).results) == 3 + len(seeded)

        widget = sf.Product2.get(links[widget_hs])
        assert (widget["Name"], widget["ProductCode"], widget["Description"], widget["IsActive"],
                widget["HubSpot_Id__c"]) == ("Widget", "W-1", "Widget, in stock", True, widget_hs)
        assert standard_prices(sf, widget["Id"]) == [25.0]
        gadget_hs = {v: k for k, v in links.items()}[gadget_sf]
        props = api.get_by_id("products", gadget_hs, properties=["name", "hs_sku", "price", "salesforce_id"])
        assert (props.properties["name"], props.properties["hs_sku"], float(props.properties["price"]),
                props.properties["salesforce_id"]) == ("Gadget", "G-1", 40.0, gadget_sf)

        # Updates: the price moves on each side (Salesforce: on its standard entry), and a name
        api.update("products", widget_hs, SimplePublicObjectInput(properties={"price": "30.5"}))
        [entry] = sf.query_all(format_soql("SELECT Id FROM PricebookEntry WHERE Product2Id = {}", gadget_sf))[
            "records"]
        sf.PricebookEntry.update(entry["Id"], {"UnitPrice": 45})
        sf.Product2.update(gadget_sf, {"Name": "Gadget Pro"})
        assert env.converge()[-1].planned_writes == 0
        assert standard_prices(sf, widget["Id"]) == [30.5]
        props = api.get_by_id("products", gadget_hs, properties=["name", "price"])
        assert (props.properties["name"], float(props.properties["price"])) == ("Gadget Pro", 45.0)

        # A product whose standard price is gone in Salesforce gets one from HubSpot's price again
        sf.PricebookEntry.delete(entry["Id"])
        api.update("products", gadget_hs, SimplePublicObjectInput(properties={"price": "47"}))
        assert env.converge()[-1].planned_writes == 0
        assert standard_prices(sf, gadget_sf) == [47.0]

        # Deletes (propagate): the HubSpot widget leaves Salesforce, the Salesforce twin leaves HubSpot
        api.archive("products", widget_hs)
        sf.Product2.delete(twin_sf)
        assert env.converge()[-1].planned_writes == 0
        assert sf.query_all(format_soql("SELECT Id FROM Product2 WHERE Id = {}", widget["Id"]))["totalSize"] == 0
        with pytest.raises(NotFoundException):
            api.get_by_id("products", twin_hs)
        assert env.links("products") == {**seeded, gadget_hs: gadget_sf}
        with env.state() as con:
            assert con.execute("SELECT count(*) FROM sync.errors WHERE pair = 'products' AND resolved_at IS NULL"
                               ).fetchone()[0] == 0
