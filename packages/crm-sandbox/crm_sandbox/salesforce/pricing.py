"""Products, price books and opportunity line items, with the rules an org enforces on them.

- Every org has one standard price book (IsStandard, made with the org). A product's price in any other price book
  needs its standard price first (STANDARD_PRICE_NOT_DEFINED), and a product has at most one entry per price book.
- A line item names its price book entry, or its product (the entry of the opportunity's price book, the standard
  one when the opportunity has none). The entry must be active and in the opportunity's price book; the first
  line item sets the opportunity's price book. Its list price, product and code come from the entry; UnitPrice
  and TotalPrice are never both given (TotalPrice sets the sales price); TotalPrice = Quantity x UnitPrice less
  the Discount percentage.
- An opportunity with line items keeps its price book. An entry or a product on a line item, a standard price
  that other entries need, and the standard price book cannot be deleted (DELETE_FAILED). Deleting a product or
  an opportunity deletes its entries or line items (schema.MASTER_DETAIL).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crm_sandbox.salesforce.errors import SfError

if TYPE_CHECKING:
    from crm_sandbox.salesforce.store import SalesforceStore

OBJECTS = frozenset({"Pricebook2", "PricebookEntry", "OpportunityLineItem", "Opportunity", "Product2"})


def _integrity(message: str, field: str) -> SfError:
    return SfError("FIELD_INTEGRITY_EXCEPTION", f"field integrity exception: {message}", [field])


def _one(store: SalesforceStore, sql: str, params: tuple) -> dict | None:
    cursor = store.conn.execute(sql, params)
    row = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], row, strict=True)) if row else None


def standard_pricebook(store: SalesforceStore) -> str | None:
    row = _one(store, 'SELECT "Id" FROM "Pricebook2" WHERE "IsStandard" = 1 AND "IsDeleted" = 0', ())
    return row["Id"] if row else None


def ensure_standard_pricebook(store: SalesforceStore, user_id: str) -> None:
    """The org's standard price book, made once with the org."""
    if standard_pricebook(store) is None:
        store.insert_trusted("Pricebook2", {"Name": "Standard Price Book", "IsActive": 1, "IsStandard": 1}, user_id)


def _entry(store: SalesforceStore, entry_id: str) -> dict | None:
    return _one(store, 'SELECT * FROM "PricebookEntry" WHERE "Id" = ? AND "IsDeleted" = 0', (entry_id,))


def _entry_of(store: SalesforceStore, book: str, product: str) -> dict | None:
    return _one(store, 'SELECT * FROM "PricebookEntry" WHERE "Pricebook2Id" = ? AND "Product2Id" = ? '
                       'AND "IsDeleted" = 0', (book, product))


def _line_items(store: SalesforceStore, field: str, value: str) -> int:
    return store.conn.execute(f'SELECT count(*) FROM "OpportunityLineItem" WHERE "{field}" = ? AND "IsDeleted" = 0',
                              (value,)).fetchone()[0]


def check_create(store: SalesforceStore, name: str, row: dict, values: dict) -> list[SfError]:
    """Rules of a create across records; fills in what the org derives from the other records (row)."""
    if name == "PricebookEntry":
        return _check_entry(store, row)
    if name == "OpportunityLineItem":
        return _check_line_item(store, row, values)
    return []


def _check_entry(store: SalesforceStore, row: dict) -> list[SfError]:
    book, product = row.get("Pricebook2Id"), row.get("Product2Id")
    if not book or not product:
        return []  # REQUIRED_FIELD_MISSING says so
    standard = standard_pricebook(store)
    if _entry_of(store, book, product):
        return [SfError("DUPLICATE_VALUE", "This price definition already exists in this price book", [])]
    if book != standard:
        base = _entry_of(store, standard, product) if standard else None
        if base is None or not base["IsActive"]:
            return [SfError("STANDARD_PRICE_NOT_DEFINED", "No standard price defined for this product", [])]
        if row.get("UseStandardPrice"):
            row["UnitPrice"] = base["UnitPrice"]
    elif row.get("UseStandardPrice"):
        return [_integrity("UseStandardPrice (the standard price book has no standard price to use)",
                           "UseStandardPrice")]
    made = _one(store, 'SELECT "Name", "ProductCode" FROM "Product2" WHERE "Id" = ?', (product,)) or {}
    row["Name"], row["ProductCode"] = made.get("Name"), made.get("ProductCode")
    return []


def _check_line_item(store: SalesforceStore, row: dict, values: dict) -> list[SfError]:
    if values.get("UnitPrice") is not None and values.get("TotalPrice") is not None:
        return [_integrity("TotalPrice (only one of UnitPrice and TotalPrice may be specified)", "TotalPrice")]
    opp = _one(store, 'SELECT "Name", "Pricebook2Id" FROM "Opportunity" WHERE "Id" = ? AND "IsDeleted" = 0',
               (row.get("OpportunityId") or "",))
    if opp is None:
        return []  # the reference check reports it
    if row.get("PricebookEntryId"):
        entry = _entry(store, row["PricebookEntryId"])
        if entry is not None and row.get("Product2Id") and row["Product2Id"] != entry["Product2Id"]:
            return [_integrity("Product2Id (the product is not the price book entry's)", "Product2Id")]
    elif row.get("Product2Id"):
        book = opp["Pricebook2Id"] or standard_pricebook(store)
        entry = _entry_of(store, book, row["Product2Id"]) if book else None
        if entry is None:
            return [_integrity("Product2Id (no price book entry for this product in the opportunity's price book)",
                               "Product2Id")]
    else:
        return [SfError("REQUIRED_FIELD_MISSING", "Required fields are missing: [PricebookEntryId]",
                        ["PricebookEntryId"])]
    if entry is None:
        return []  # the reference check reports it
    if not entry["IsActive"]:
        return [_integrity("PricebookEntryId (inactive pricebook entry)", "PricebookEntryId")]
    if opp["Pricebook2Id"] and opp["Pricebook2Id"] != entry["Pricebook2Id"]:
        return [_integrity("PricebookEntryId (pricebook entry is in a different pricebook than the one assigned "
                           "to the opportunity)", "PricebookEntryId")]
    product = _one(store, 'SELECT "Name" FROM "Product2" WHERE "Id" = ?', (entry["Product2Id"],)) or {}
    row.update(PricebookEntryId=entry["Id"], Product2Id=entry["Product2Id"], ListPrice=entry["UnitPrice"],
               ProductCode=entry["ProductCode"], Name=f"{opp['Name']} {product.get('Name') or ''}".strip())
    _price_from_total(row, values)
    if row.get("UnitPrice") is None:
        row["UnitPrice"] = entry["UnitPrice"]
    return []


def _price_from_total(row: dict, values: dict) -> None:
    """A TotalPrice given sets the sales price (derive computes the total back from it)."""
    total = values.get("TotalPrice")
    if total is None:
        return
    quantity = float(row.get("Quantity") or 0)
    share = 1 - float(row.get("Discount") or 0) / 100
    row["UnitPrice"] = round(total / (quantity * share), 2) if quantity and share else None


def check_update(store: SalesforceStore, name: str, current: dict, values: dict) -> list[SfError]:
    if name == "OpportunityLineItem":
        if values.get("UnitPrice") is not None and values.get("TotalPrice") is not None:
            return [_integrity("TotalPrice (only one of UnitPrice and TotalPrice may be specified)", "TotalPrice")]
        if "TotalPrice" in values:
            merged = {**current, **values}
            _price_from_total(merged, values)
            values["UnitPrice"] = merged.get("UnitPrice")
    elif name == "Opportunity" and "Pricebook2Id" in values and values["Pricebook2Id"] != current["Pricebook2Id"] \
            and _line_items(store, "OpportunityId", current["Id"]):
        return [_integrity("Pricebook2Id (an opportunity with products keeps its price book; delete its products "
                           "first)", "Pricebook2Id")]
    return []


def check_delete(store: SalesforceStore, name: str, current: dict) -> SfError | None:
    in_use = "DELETE_FAILED"
    if name == "PricebookEntry":
        if _line_items(store, "PricebookEntryId", current["Id"]):
            return SfError(in_use, "This price book entry is in use by opportunity products and cannot be deleted")
        if current["Pricebook2Id"] == standard_pricebook(store) and store.conn.execute(
                'SELECT count(*) FROM "PricebookEntry" WHERE "Product2Id" = ? AND "Id" <> ? AND "IsDeleted" = 0',
                (current["Product2Id"], current["Id"])).fetchone()[0]:
            return SfError(in_use, "This standard price is used by entries in other price books and cannot be "
                                   "deleted")
    elif name == "Product2" and _line_items(store, "Product2Id", current["Id"]):
        return SfError(in_use, "This product can't be deleted because it's used on opportunities. Archive it "
                               "instead (IsActive false).")
    elif name == "Pricebook2" and current["IsStandard"]:
        return SfError(in_use, "The standard price book cannot be deleted")
    return None


def after_write(store: SalesforceStore, name: str, rows: list[dict]) -> None:
    """What a line item changes on its opportunity: the price book its first one sets, HasOpportunityLineItem. Like
    a roll-up, without moving the opportunity's modification stamps."""
    if name != "OpportunityLineItem":
        return
    for opp_id in {r["OpportunityId"] for r in rows if r.get("OpportunityId")}:
        has = int(_line_items(store, "OpportunityId", opp_id) > 0)
        book = next((r["PricebookEntryId"] for r in rows if r.get("OpportunityId") == opp_id and not r["IsDeleted"]),
                    None)
        book = (_entry(store, book) or {}).get("Pricebook2Id") if book else None
        store.conn.execute('UPDATE "Opportunity" SET "HasOpportunityLineItem" = ?, '
                           '"Pricebook2Id" = COALESCE("Pricebook2Id", ?) WHERE "Id" = ?', (has, book, opp_id))
