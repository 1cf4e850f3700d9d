"""Products, price books and opportunity line items with an org's rules (salesforce/pricing.py), through
simple-salesforce."""

from __future__ import annotations

import uuid

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest


def _standard(sf) -> str:
    [book] = sf.query("SELECT Id, Name FROM Pricebook2 WHERE IsStandard = true")["records"]
    assert book["Name"] == "Standard Price Book"
    return book["Id"]


def _code(err: pytest.ExceptionInfo) -> tuple[str, str]:
    body = err.value.content[0]
    return body["errorCode"], body["message"]


def _opportunity(sf, name: str = "Widgets deal") -> str:
    return sf.Opportunity.create({"Name": name, "StageName": "Prospecting", "CloseDate": "2026-12-31"})["id"]


def test_a_price_outside_the_standard_book_needs_the_standard_price_first(sf):
    standard = _standard(sf)
    product = sf.Product2.create({"Name": "Widget", "ProductCode": f"W-{uuid.uuid4().hex[:6]}",
                                  "IsActive": True})["id"]
    book = sf.Pricebook2.create({"Name": f"Partners {uuid.uuid4().hex[:6]}", "IsActive": True})["id"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.PricebookEntry.create({"Pricebook2Id": book, "Product2Id": product, "UnitPrice": 8, "IsActive": True})
    assert _code(err)[0] == "STANDARD_PRICE_NOT_DEFINED"
    entry = sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 10,
                                      "IsActive": True})["id"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 11})
    assert _code(err)[0] == "DUPLICATE_VALUE"
    sf.PricebookEntry.create({"Pricebook2Id": book, "Product2Id": product, "UnitPrice": 8, "IsActive": True})
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.PricebookEntry.update(entry, {"Product2Id": product})
    assert _code(err)[0] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    with pytest.raises(SalesforceMalformedRequest) as err:  # the partner price needs it
        sf.PricebookEntry.delete(entry)
    assert _code(err)[0] == "DELETE_FAILED"
    rows = sf.query(f"SELECT Name, UnitPrice, Pricebook2.IsStandard FROM PricebookEntry WHERE Product2Id = "
                    f"'{product}' ORDER BY UnitPrice")["records"]
    assert [(r["Name"], r["UnitPrice"], r["Pricebook2"]["IsStandard"]) for r in rows] == [
        ("Widget", 8.0, False), ("Widget", 10.0, True)]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Pricebook2.delete(standard)
    assert _code(err)[0] == "DELETE_FAILED"


def test_line_items_take_their_price_book_entry_and_keep_the_opportunitys_price_book(sf):
    standard = _standard(sf)
    product = sf.Product2.create({"Name": "Gadget", "ProductCode": "G-1", "IsActive": True})["id"]
    entry = sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 50,
                                      "IsActive": True})["id"]
    opp = _opportunity(sf)
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.OpportunityLineItem.create({"OpportunityId": opp, "Quantity": 1})
    assert _code(err) == ("REQUIRED_FIELD_MISSING", "Required fields are missing: [PricebookEntryId]")
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.OpportunityLineItem.create({"OpportunityId": opp, "PricebookEntryId": entry, "Quantity": 1,
                                       "UnitPrice": 5, "TotalPrice": 5})
    assert _code(err)[0] == "FIELD_INTEGRITY_EXCEPTION"
    # by the product: its entry in the standard book (the opportunity has no price book yet)
    item = sf.OpportunityLineItem.create({"OpportunityId": opp, "Product2Id": product, "Quantity": 3,
                                          "Discount": 10})["id"]
    row = sf.OpportunityLineItem.get(item)
    assert (row["PricebookEntryId"], row["ListPrice"], row["UnitPrice"], row["TotalPrice"], row["ProductCode"]) == (
        entry, 50.0, 50.0, 135.0, "G-1")
    sf.OpportunityLineItem.update(item, {"TotalPrice": 90})  # the total sets the sales price
    row = sf.OpportunityLineItem.get(item)
    assert (row["UnitPrice"], row["TotalPrice"]) == (pytest.approx(33.33), pytest.approx(90.0, abs=0.02))
    got = sf.Opportunity.get(opp)
    assert (got["Pricebook2Id"], got["HasOpportunityLineItem"]) == (standard, True)

    # an entry of another price book does not go on this opportunity, nor an inactive one
    other = sf.Pricebook2.create({"Name": f"Resellers {uuid.uuid4().hex[:6]}", "IsActive": True})["id"]
    resale = sf.PricebookEntry.create({"Pricebook2Id": other, "Product2Id": product, "UnitPrice": 40,
                                       "IsActive": True})["id"]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.OpportunityLineItem.create({"OpportunityId": opp, "PricebookEntryId": resale, "Quantity": 1})
    assert "different pricebook" in _code(err)[1]
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Opportunity.update(opp, {"Pricebook2Id": other})
    assert _code(err)[0] == "FIELD_INTEGRITY_EXCEPTION"
    fresh = _opportunity(sf, "Resale deal")
    sf.PricebookEntry.update(resale, {"IsActive": False})
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.OpportunityLineItem.create({"OpportunityId": fresh, "PricebookEntryId": resale, "Quantity": 1})
    assert "inactive" in _code(err)[1]

    # a product on a line item stays; deleting the opportunity takes its line items
    with pytest.raises(SalesforceMalformedRequest) as err:
        sf.Product2.delete(product)
    assert _code(err)[0] == "DELETE_FAILED"
    sf.Opportunity.delete(opp)
    assert sf.query(f"SELECT Id FROM OpportunityLineItem WHERE Id = '{item}'")["totalSize"] == 0
    sf.Product2.delete(product)
    assert sf.query(f"SELECT Id FROM PricebookEntry WHERE Product2Id = '{product}'")["totalSize"] == 0


def test_products_and_line_items_are_described_with_their_relationships(sf):
    fields = {f["name"]: f for f in sf.OpportunityLineItem.describe()["fields"]}
    assert fields["OpportunityId"]["updateable"] is False and fields["OpportunityId"]["nillable"] is False
    assert fields["TotalPrice"]["createable"] and not fields["ListPrice"]["createable"]
    assert fields["HubSpot_Id__c"]["externalId"]
    children = {(c["childSObject"], c["field"]): c["cascadeDelete"]
                for c in sf.Opportunity.describe()["childRelationships"]}
    assert children[("OpportunityLineItem", "OpportunityId")] is True
    assert sf.Product2.describe()["keyPrefix"] == "01t"
