"""What a write must pass before it is stored: property checks, required values, uniqueness, calculated values."""

from __future__ import annotations

from crm_sandbox.hubspot.catalog import ObjectType
from crm_sandbox.hubspot.errors import HsError, bad_request, conflict, property_errors
from crm_sandbox.hubspot.properties import LIFECYCLE_ORDER, check_value
from crm_sandbox.hubspot.store import LIVE, HubSpotStore, q
from crm_sandbox.hubspot.values import canonical_number, now_iso

DEAL_STAGE_INFO = {  # stage -> (probability, closed, won), as the default pipeline's stage metadata says
    "appointmentscheduled": ("0.2", False, False), "qualifiedtobuy": ("0.4", False, False),
    "presentationscheduled": ("0.6", False, False), "decisionmakerboughtin": ("0.8", False, False),
    "contractsent": ("0.9", False, False), "closedwon": ("1.0", True, True), "closedlost": ("0.0", True, False),
}


def prepare(store: HubSpotStore, otype: ObjectType, properties, current: dict | None) -> dict:
    """Checked, normalised values to store for a create (current None) or an update; raises HsError."""
    if properties is None:
        properties = {}
    if not isinstance(properties, dict):
        raise bad_request("properties must be an object of property name to value")
    props = store.props[otype.name]
    owner_ids = store.owner_ids() if "hubspot_owner_id" in properties else None
    problems: list[dict] = []
    values: dict[str, str | None] = {}
    for name, raw in properties.items():
        prop = props.get(name)
        if prop is None or prop.archived:
            problems.append({"name": name, "error": "PROPERTY_DOESNT_EXIST",
                             "message": f'Property "{name}" does not exist'})
            continue
        if prop.read_only or prop.calculated:
            problems.append({"name": name, "error": "READ_ONLY_VALUE",
                             "message": f'"{name}" is a read only property; its value cannot be set.'})
            continue
        value, problem = check_value(prop, raw, owner_ids)
        if problem:
            problems.append(problem)
        else:
            values[name] = value
    if current is None:
        if otype.name == "deals" and values.get("dealstage") and not values.get("pipeline"):
            values["pipeline"] = "default"
        if otype.name == "tickets" and not values.get("hs_pipeline"):
            values["hs_pipeline"] = "0"
        for name in otype.required:
            if not values.get(name):
                problems.append({"name": name, "error": "REQUIRED_PROPERTY", "message": f"{name} is required"})
    if problems:
        raise property_errors(problems)
    if otype.name == "line_items" and values.get("hs_product_id") and (
            current is None or values["hs_product_id"] != current.get("hs_product_id")):
        _from_product(store, values)
    if current is not None and store.settings["lifecycle_forward_only"]:
        _drop_backward_lifecycle(values, current)
    merged = {**(current or {}), **values}
    values.update(derived(otype, values, merged))
    return values


# What a line item takes from its product, when the write does not give it (a line item based on a product).
FROM_PRODUCT = ("name", "price", "hs_sku", "description")


def _from_product(store: HubSpotStore, values: dict) -> None:
    """A line item naming a product (hs_product_id) must name a live one, and takes what it does not set itself
    from it: its name, price, SKU and description."""
    product = store.row(store.object_type("products"), values["hs_product_id"])
    if product is None or product["_state"] != LIVE:
        raise property_errors([{"name": "hs_product_id", "error": "INVALID_OBJECT_ID",
                                "message": f'Product with ID {values["hs_product_id"]} does not exist'}])
    for name in FROM_PRODUCT:
        if name not in values and product.get(name) is not None:
            values[name] = product[name]


def _drop_backward_lifecycle(values: dict, current: dict) -> None:
    # Stages only move forward unless cleared first; a backward move is ignored without an error (B7.1).
    new, old = values.get("lifecyclestage"), current.get("lifecyclestage")
    ordered = new in LIFECYCLE_ORDER and old in LIFECYCLE_ORDER
    if ordered and LIFECYCLE_ORDER.index(new) < LIFECYCLE_ORDER.index(old):
        del values["lifecyclestage"]


def derived(otype: ObjectType, values: dict, merged: dict) -> dict:
    """Calculated properties that depend on what this write changed."""
    out: dict[str, str | None] = {}
    if otype.name == "contacts" and "email" in values:
        email = merged.get("email")
        out["hs_email_domain"] = email.split("@", 1)[1] if email and "@" in email else None
    elif otype.name == "deals" and "dealstage" in values:
        info = DEAL_STAGE_INFO.get(merged.get("dealstage") or "")
        if info:
            out["hs_deal_stage_probability"] = info[0]
            out["hs_is_closed"] = "true" if info[1] else "false"
            out["hs_is_closed_won"] = "true" if info[2] else "false"
        else:
            out.update(hs_deal_stage_probability=None, hs_is_closed=None, hs_is_closed_won=None)
    elif otype.name == "line_items" and {"price", "quantity", "discount", "hs_discount_percentage"} & set(values):
        try:
            price, qty = float(merged.get("price") or 0), float(merged.get("quantity") or 0)
            percent = float(merged.get("hs_discount_percentage") or 0)
            unit = price * (1 - percent / 100) - float(merged.get("discount") or 0)
            out["amount"] = canonical_number(str(round(unit * qty, 6)))
        except ValueError:
            out["amount"] = None
    elif otype.name == "tickets" and values.get("hs_pipeline_stage") == "4" and not merged.get("closed_date"):
        out["closed_date"] = now_iso()
    return out


def check_unique(store: HubSpotStore, otype: ObjectType, values: dict, own_id: int | None) -> None:
    """Unique values among live records: contact email (409 CONFLICT) and hasUniqueValue properties (400)."""
    own = own_id if own_id is not None else -1
    if otype.name == "contacts" and values.get("email"):
        row = store.conn.execute(f"SELECT id FROM {q(otype.table)} WHERE email = ? COLLATE NOCASE AND _state = {LIVE} "
                                 "AND id != ? LIMIT 1", (values["email"], own)).fetchone()
        if row:
            raise conflict(f"Contact already exists. Existing ID: {row[0]}")
    for name, value in values.items():
        prop = store.props[otype.name].get(name)
        if value is None or prop is None or not prop.unique:
            continue
        row = store.conn.execute(f"SELECT id FROM {q(otype.table)} WHERE {q(name)} = ? AND _state = {LIVE} "
                                 "AND id != ? LIMIT 1", (value, own)).fetchone()
        if row:
            message = (f'A {otype.singular} with the unique value "{value}" for property "{name}" already exists. '
                       f"Existing ID: {row[0]}")
            raise HsError(400, "VALIDATION_ERROR", message,
                          [{"message": message, "code": "DUPLICATE_UNIQUE_PROPERTY_VALUE",
                            "context": {"propertyName": [name], "existingObjectId": [str(row[0])]}}])
