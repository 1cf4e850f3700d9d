"""Line items both ways (issue 14's line items row): HubSpot line items on a deal <-> OpportunityLineItems on its
opportunity: the product (hs_product_id <-> Product2Id, through the products pair's links, on the entry of the
opportunity's price book: its own, else the standard one), quantity, unit price, discount and description;
creates, updates and deletes (propagate) landing on the right records, with nothing left planned and no error
open."""

from __future__ import annotations

import pytest
import yaml
from hubspot.crm.associations.v4 import BatchInputPublicDefaultAssociationMultiPost, PublicDefaultAssociationMultiPost
from hubspot.crm.objects import SimplePublicObjectInput, SimplePublicObjectInputForCreate
from hubspot.crm.objects.exceptions import NotFoundException
from simple_salesforce import format_soql

from crm_sync_tests.sync_harness import ROOT, converged_env

PAIRS = {"products": {"hubspot": "products", "salesforce": "Product2", "deletes": "propagate"},
         "line_items": {"hubspot": "line_items", "salesforce": "OpportunityLineItem", "deletes": "propagate"}}
OLI = "Id, OpportunityId, Product2Id, PricebookEntryId, Quantity, UnitPrice, Discount, Description"


def test_line_items_sync_both_ways_on_their_deals_products(tmp_path):
    raw = yaml.safe_load((ROOT / "sync.yaml").read_text())
    extra = {"pairs": {**raw["pairs"], **PAIRS}, "sync": {**raw["sync"], "hubspot_deletes_minutes": 0}}
    with converged_env(tmp_path, extra=extra) as env:
        sf, hs = env.sf(), env.hs()
        api = hs.crm.objects.basic_api
        [standard] = sf.query("SELECT Id FROM Pricebook2 WHERE IsStandard = true")["records"]
        # the seed's line items (about half the deals on each side list their product) go both ways first
        env.converge()
        seeded = env.links("line_items")
        in_sf = sf.query("SELECT COUNT() FROM OpportunityLineItem")["totalSize"]
        assert len(seeded) == in_sf == len(api.get_page("line_items", limit=100).results) > 10
        items = sf.query_all(f"SELECT {OLI}, Opportunity.HubSpot_Id__c FROM OpportunityLineItem")["records"]
        assert all(i["Opportunity"]["HubSpot_Id__c"] for i in items)  # on deals that are linked
        with_items = {i["OpportunityId"] for i in items}
        deals = {h: s for h, s in env.links("deals").items() if s not in with_items}
        (deal_a, opp_a), (deal_b, opp_b) = sorted(deals.items())[:2]

        # a product each side, each with its price (Salesforce: on the standard price book)
        widget_hs = api.create("products", SimplePublicObjectInputForCreate(
            properties={"name": "Widget", "hs_sku": "W-1", "price": "25"})).id
        gadget_sf = sf.Product2.create({"Name": "Gadget", "ProductCode": "G-1", "IsActive": True})["id"]
        sf.PricebookEntry.create({"Pricebook2Id": standard["Id"], "Product2Id": gadget_sf, "UnitPrice": 40,
                                  "IsActive": True})
        env.converge()
        products = env.links("products")
        widget_sf, gadget_hs = products[widget_hs], {v: k for k, v in products.items()}[gadget_sf]
        # Opportunity A sells from a price book of its own, where the widget has a partner price
        partner = sf.Pricebook2.create({"Name": "Partner", "IsActive": True})["id"]
        sf.PricebookEntry.create({"Pricebook2Id": partner, "Product2Id": widget_sf, "UnitPrice": 18,
                                  "IsActive": True})
        sf.Opportunity.update(opp_a, {"Pricebook2Id": partner})

        # A HubSpot line item on deal A, of the HubSpot-made widget: 3 at 20 less 10%
        item_hs = api.create("line_items", SimplePublicObjectInputForCreate(properties={
            "hs_product_id": widget_hs, "quantity": "3", "price": "20", "hs_discount_percentage": "10",
            "description": "first order"})).id
        on_deal_a = PublicDefaultAssociationMultiPost(_from={"id": item_hs}, to={"id": deal_a})
        hs.crm.associations.v4.batch_api.create_default(
            "line_items", "deals", BatchInputPublicDefaultAssociationMultiPost(inputs=[on_deal_a]))
        # A Salesforce line item on opportunity B, of the Salesforce-made gadget, at the list price
        item_sf = sf.OpportunityLineItem.create({"OpportunityId": opp_b, "Product2Id": gadget_sf, "Quantity": 2,
                                                 "Description": "from Salesforce"})["id"]
        outcomes = env.converge()
        assert outcomes[-1].planned_writes == 0, [o.summary for o in outcomes]
        links = {h: s for h, s in env.links("line_items").items() if h not in seeded}
        assert len(links) == 2 and links[item_hs] and item_sf in links.values()

        oli = sf.query(format_soql(f"SELECT {OLI} FROM OpportunityLineItem WHERE Id = {{}}", links[item_hs]))[
            "records"][0]
        assert (oli["OpportunityId"], oli["Product2Id"], oli["Quantity"], oli["UnitPrice"], oli["Discount"],
                oli["Description"]) == (opp_a, widget_sf, 3.0, 20.0, 10.0, "first order")
        entry = sf.query(format_soql("SELECT Pricebook2Id, Product2Id FROM PricebookEntry WHERE Id = {}",
                                     oli["PricebookEntryId"]))["records"][0]
        assert (entry["Pricebook2Id"], entry["Product2Id"]) == (partner, widget_sf)  # the opportunity's own book
        sold_b = sf.query(format_soql(f"SELECT {OLI} FROM OpportunityLineItem WHERE Id = {{}}", item_sf))["records"][0]
        standard_entry = sf.query(format_soql("SELECT Pricebook2Id FROM PricebookEntry WHERE Id = {}",
                                              sold_b["PricebookEntryId"]))["records"][0]
        assert standard_entry["Pricebook2Id"] == standard["Id"]  # B has no book of its own: the standard one
        assert sf.query_all(format_soql("SELECT Id FROM OpportunityLineItem WHERE OpportunityId = {}", opp_a))[
            "totalSize"] == 1

        from_sf = {v: k for k, v in links.items()}[item_sf]
        props = api.get_by_id("line_items", from_sf, properties=[
            "hs_product_id", "quantity", "price", "hs_discount_percentage", "description", "name", "amount"],
            associations=["deals"]).to_dict()
        p = props["properties"]
        assert (p["hs_product_id"], float(p["quantity"]), float(p["price"]), p["description"], p["name"],
                float(p["amount"])) == (gadget_hs, 2.0, 40.0, "from Salesforce", "Gadget", 80.0)
        assert [a["id"] for a in props["associations"]["deals"]["results"]] == [deal_b]

        # Updates both ways: the quantity and discount in HubSpot, the price and quantity in Salesforce
        api.update("line_items", item_hs, SimplePublicObjectInput(properties={"quantity": "5",
                                                                              "hs_discount_percentage": "15"}))
        sf.OpportunityLineItem.update(item_sf, {"UnitPrice": 38.5, "Quantity": 4})
        assert env.converge()[-1].planned_writes == 0
        oli = sf.query(format_soql(f"SELECT {OLI} FROM OpportunityLineItem WHERE Id = {{}}", links[item_hs]))[
            "records"][0]
        assert (oli["Quantity"], oli["UnitPrice"], oli["Discount"]) == (5.0, 20.0, 15.0)
        p = api.get_by_id("line_items", from_sf, properties=["quantity", "price", "amount"]).properties
        assert (float(p["quantity"]), float(p["price"]), float(p["amount"])) == (4.0, 38.5, 154.0)

        # A product changed on a HubSpot line item: Salesforce keeps a line item's product for life (Product2Id is
        # not updateable), so that field is held with a row saying why, and the rest of the record still lands
        api.update("line_items", item_hs, SimplePublicObjectInput(properties={"hs_product_id": gadget_hs,
                                                                              "quantity": "6"}))
        env.converge()
        oli = sf.query(format_soql(f"SELECT {OLI} FROM OpportunityLineItem WHERE Id = {{}}", links[item_hs]))[
            "records"][0]
        assert (oli["Product2Id"], oli["Quantity"]) == (widget_sf, 6.0)
        with env.state() as con:
            held = con.execute("SELECT fields, code, message FROM sync.errors WHERE pair = 'line_items' AND "
                               "resolved_at IS NULL").fetchall()
        assert [(f, c) for f, c, _ in held] == [("Product2Id", "INVALID_FIELD_FOR_INSERT_UPDATE")], held

        # Deletes (propagate): the HubSpot line item leaves Salesforce, the Salesforce one leaves HubSpot
        api.archive("line_items", item_hs)
        sf.OpportunityLineItem.delete(item_sf)
        assert env.converge()[-1].planned_writes == 0
        assert sf.query_all(format_soql("SELECT Id FROM OpportunityLineItem WHERE Id = {}", links[item_hs]))[
            "totalSize"] == 0
        with pytest.raises(NotFoundException):
            api.get_by_id("line_items", from_sf)
        assert env.links("line_items") == seeded
        with env.state() as con:
            assert con.execute("SELECT count(*) FROM sync.errors WHERE pair IN ('line_items', 'products') AND "
                               "resolved_at IS NULL").fetchone()[0] == 0
