"""The edits the churn workload makes: what each picks, what it writes, and how it keeps its target pools current."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import requests

from crm_sandbox import words as w
from crm_sandbox.hubspot.catalog import STANDARD_ASSOCIATIONS, STANDARD_TYPES
from crm_sandbox.hubspot.properties import DEAL_STAGES, INDUSTRIES, LEAD_STATUS, LIFECYCLE
from crm_sandbox.population import ANCHOR
from crm_sandbox.salesforce import schema

if TYPE_CHECKING:  # churn imports this module; the types are only needed for annotations
    from crm_sandbox.churn import Targets


# ---------------------------------------------------------------------------------------------------------
# Values users type
# ---------------------------------------------------------------------------------------------------------

def _title(e: Edit) -> str:
    r = e.rng
    return f"{r.choice(w.SENIORITY)}{r.choice(w.FUNCTIONS)} {r.choice(w.ROLES)}"


def _phone(e: Edit) -> str:
    r = e.rng
    return f"+{r.choice(w.CITIES)[2]} {r.randint(200, 999)} {r.randint(0, 999):03d} {r.randint(0, 9999):04d}"


def _email(e: Edit) -> str:
    r = e.rng
    first, last = (r.choice(w.FIRST_NAMES).lower(), r.choice(w.LAST_NAMES).lower())
    local = "".join(c for c in f"{first}.{last}" if c.isascii() and (c.isalpha() or c == "."))
    return f"{local}.c{e.seed}x{e.next_number()}@{r.choice(w.PERSONAL_DOMAINS)}"


def _company(e: Edit) -> str:
    return f"{e.rng.choice(w.COMPANY_A)} {e.rng.choice(w.COMPANY_B)}"


def _domain(e: Edit) -> str:
    return f"{e.rng.choice(w.COMPANY_A).lower()}{e.rng.choice(w.COMPANY_B).lower()}-c{e.seed}x{e.next_number()}.com"


def _day(e: Edit) -> str:
    return (ANCHOR + dt.timedelta(days=e.rng.randint(-60, 180))).isoformat()


def _one_of(values) -> Callable[[Edit], str]:
    values = tuple(values)
    return lambda e: e.rng.choice(values)


def _number(low: int, high: int, step: int = 1) -> Callable[[Edit], int]:
    return lambda e: e.rng.randrange(low, high, step)


_SF_LEAD_STATUSES = tuple(s for s in schema.LEAD_STATUSES if s != "Closed - Converted")
SF_FIELDS: dict[str, dict[str, Callable[[Edit], object]]] = {
    "Lead": {"Title": _title, "Phone": _phone, "Status": _one_of(_SF_LEAD_STATUSES), "Email": _email,
             "Rating": _one_of(("Hot", "Warm", "Cold")), "City": lambda e: e.rng.choice(w.CITIES)[0],
             "LeadSource": _one_of(schema.LEAD_SOURCES), "NumberOfEmployees": _number(1, 5000)},
    "Contact": {"Title": _title, "Phone": _phone, "Email": _email, "Department": _one_of(w.FUNCTIONS),
                "MailingCity": lambda e: e.rng.choice(w.CITIES)[0], "LeadSource": _one_of(schema.LEAD_SOURCES)},
    "Account": {"Phone": _phone, "Industry": _one_of(schema.INDUSTRIES), "NumberOfEmployees": _number(1, 20000),
                "Website": lambda e: f"https://www.{_domain(e)}/", "Type": _one_of(schema.ACCOUNT_TYPES)},
    "Opportunity": {"StageName": _one_of(schema.STAGE_INFO), "Amount": _number(1000, 250000, 100),
                    "CloseDate": _day, "NextStep": _one_of(w.TASK_SUBJECTS)},
    "Case": {"Status": _one_of(("New", "Working", "Escalated", "Closed")),
             "Priority": _one_of(("High", "Medium", "Low")), "Subject": _one_of(w.CASE_SUBJECTS)},
}
_values = [o["value"] for o in LIFECYCLE], [o["value"] for o in LEAD_STATUS], [o["value"] for o in INDUSTRIES]
HS_FIELDS: dict[str, dict[str, Callable[[Edit], object]]] = {
    "contacts": {"firstname": _one_of(w.FIRST_NAMES), "lastname": _one_of(w.LAST_NAMES), "jobtitle": _title,
                 "phone": _phone, "city": lambda e: e.rng.choice(w.CITIES)[0], "lifecyclestage": _one_of(_values[0]),
                 "hs_lead_status": _one_of(_values[1]), "hubspot_owner_id": lambda e: e.owner()},
    "companies": {"phone": _phone, "industry": _one_of(_values[2]), "numberofemployees": lambda e: str(
        e.rng.randint(1, 20000)), "city": lambda e: e.rng.choice(w.CITIES)[0], "name": _company},
    "deals": {"dealstage": _one_of(o["value"] for o in DEAL_STAGES), "amount": lambda e: str(
        e.rng.randrange(1000, 250000, 100)), "closedate": lambda e: f"{_day(e)}T00:00:00.000Z",
              "hubspot_owner_id": lambda e: e.owner()},
    "tickets": {"hs_pipeline_stage": _one_of(("1", "2", "3", "4")), "hs_ticket_priority": _one_of(("LOW", "MEDIUM",
                                                                                                  "HIGH")),
                "subject": _one_of(w.CASE_SUBJECTS)},
}
# Products and line items: a catalogue edited now and then, line items on deals edited and added more often.
_STOCK = ("in stock", "back-ordered", "discontinued soon", "new this quarter")
SF_FIELDS |= {"Product2": {"Description": lambda e: f"{e.rng.choice(w.PRODUCTS)}, {e.rng.choice(_STOCK)}"},
              "OpportunityLineItem": {"Quantity": _number(1, 50), "UnitPrice": _number(10, 900, 5),
                                      "Discount": _number(0, 35, 5)}}
HS_FIELDS |= {"products": {"description": lambda e: f"{e.rng.choice(w.PRODUCTS)}, {e.rng.choice(_STOCK)}",
                           "price": lambda e: str(e.rng.randrange(10, 900, 5))},
              "line_items": {"quantity": lambda e: str(e.rng.randint(1, 50)),
                             "price": lambda e: str(e.rng.randrange(10, 900, 5)),
                             "hs_discount_percentage": lambda e: str(e.rng.randrange(0, 35, 5))}}
# Values the receiving side rejects: a user pasting too much, a typo'd address, a value no picklist has.
SF_BAD = {"Lead": {"Title": lambda e: w.LONG_TITLE * 2, "Status": lambda e: "Bogus"},
          "Contact": {"Email": lambda e: "someone at example.com", "Title": lambda e: w.LONG_TITLE * 2}}
HS_BAD = {"contacts": {"lifecyclestage": lambda e: "bogus-stage", "email": lambda e: "not an email"},
          "companies": {"numberofemployees": lambda e: "lots"}, "deals": {"dealstage": lambda e: "almostwon"}}
_TYPE_IDS = {t.name: t.type_id for t in STANDARD_TYPES}


def _default_association(from_type: str, to_type: str) -> int:
    return next(a.type_id for a in STANDARD_ASSOCIATIONS if a.is_default and a.from_type == _TYPE_IDS[from_type]
                and a.to_type == _TYPE_IDS[to_type])


# ---------------------------------------------------------------------------------------------------------
# Performing edits
# ---------------------------------------------------------------------------------------------------------

class Edit:
    """Shared state of a churn run: randomness, targets, HTTP sessions; performs one action per call."""

    def __init__(self, rng: random.Random, targets: Targets, sf: requests.Session, hs: requests.Session,
                 sf_admin_url: str, hs_admin_url: str, seed: int):
        self.rng, self.targets, self.seed = rng, targets, seed
        self.sf, self.hs = sf, hs
        self.sf_url, self.hs_url = sf_admin_url.rstrip("/"), hs_admin_url.rstrip("/")
        self._number = 0

    def next_number(self) -> int:
        self._number += 1
        return self._number

    def user(self) -> str | None:
        return self.rng.choice(self.targets.users) if self.targets.users else None

    def owner(self) -> str | None:
        return self.rng.choice(self.targets.owners) if self.targets.owners else None

    def pick(self, name: str, other_than: str | None = None) -> str | None:
        return self.targets.pool(name).pick(self.rng, other_than)

    def values(self, generators: dict, low: int = 1, high: int = 3) -> dict:
        names = self.rng.sample(sorted(generators), min(len(generators), self.rng.randint(low, high)))
        return {name: generators[name](self) for name in names}

    def call(self, system: str, method: str, path: str, body: dict | None = None,
             user: str | None = None) -> tuple[bool, object]:
        session, base = (self.sf, self.sf_url) if system == "salesforce" else (self.hs, self.hs_url)
        try:
            resp = session.request(method, f"{base}/{path}", params={"as_user": user} if user else None,
                                   json=body, timeout=30)
        except requests.RequestException as exc:
            return False, f"{type(exc).__name__}: {exc}"
        try:
            payload = resp.json() if resp.content else None
        except ValueError:
            payload = resp.text[:500]
        return resp.status_code < 300, payload

    def perform(self, action: Callable[[Edit], dict | None]) -> dict:
        """Run one action and return its log entry; an unexpected answer is logged as a failure, never raised."""
        system = "salesforce" if action in _SF_ACTIONS else "hubspot"
        try:
            entry = action(self)
            if entry is None:  # nothing to act on (an empty pool): users create something instead
                entry = (sf_create("Lead") if system == "salesforce" else hs_create("contacts"))(self)
        except Exception as exc:  # noqa: BLE001 - a workload must outlive any one odd response
            entry = _entry(system, "unknown", None, "error", False, f"{type(exc).__name__}: {exc}")
        return entry


def _entry(system: str, object_type: str, record_id: str | None, action: str, ok: bool, payload: object,
           fields: dict | None = None, user: str | None = None, result: dict | None = None, **extra) -> dict:
    out = {"system": system, "object": object_type, "id": record_id, "action": action, "user": user,
           "fields": fields or {}, "ok": ok, **extra}
    if ok:
        out["result"] = result or {}
    else:
        out["error"] = payload
    return out


def sf_update(type_name: str, bad: bool = False) -> Callable[[Edit], dict | None]:
    def act(e: Edit) -> dict | None:
        rid = e.pick(type_name)
        if rid is None:
            return None
        fields = e.values(SF_BAD[type_name] if bad else SF_FIELDS[type_name], high=1 if bad else 3)
        user = e.user()
        ok, out = e.call("salesforce", "PATCH", f"records/{type_name}/{rid}", fields, user)
        return _entry("salesforce", type_name, rid, "update", ok, out, fields, user,
                      **({"expect_failure": True} if bad else {}))
    return act


def _sf_create_body(e: Edit, type_name: str) -> dict | None:
    first, last = e.rng.choice(w.FIRST_NAMES), e.rng.choice(w.LAST_NAMES)
    if type_name == "Lead":
        return {"FirstName": first, "LastName": last, "Email": _email(e), "Company": _company(e), "Title": _title(e),
                "LeadSource": e.rng.choice(schema.LEAD_SOURCES)}
    if type_name == "Contact":
        return {"FirstName": first, "LastName": last, "Email": _email(e), "Title": _title(e),
                "AccountId": e.pick("Account")}
    if type_name == "Account":
        return {"Name": _company(e), "Website": f"https://www.{_domain(e)}/", "Industry":
                e.rng.choice(schema.INDUSTRIES), "Phone": _phone(e)}
    if type_name == "Opportunity":
        stage = e.rng.choice(tuple(schema.STAGE_INFO))
        return {"Name": f"{_company(e)} - {e.rng.choice(w.PRODUCTS)}", "AccountId": e.pick("Account"),
                "StageName": stage, "CloseDate": _day(e), "Amount": e.rng.randrange(1000, 250000, 100)}
    if type_name == "Case":
        return {"Subject": e.rng.choice(w.CASE_SUBJECTS), "ContactId": e.pick("Contact"),
                "Priority": e.rng.choice(("High", "Medium", "Low")), "Origin": e.rng.choice(("Phone", "Email", "Web"))}
    if type_name == "OpportunityLineItem":  # a product sold on an opportunity, at its list price or another
        opportunity, product = e.pick("Opportunity"), e.pick("Product2")
        if opportunity is None or product is None:
            return None  # nothing to sell, or nothing to sell on
        body = {"OpportunityId": opportunity, "Product2Id": product, "Quantity": e.rng.randint(1, 20),
                "Description": f"{e.rng.choice(_STOCK).capitalize()} order"}
        return body | ({"UnitPrice": e.rng.randrange(10, 900, 5)} if e.rng.random() < 0.5 else {})
    who = e.pick("Contact")
    # what it is about: nothing, an Account or an Opportunity (WhatId holds one)
    what = e.pick(e.rng.choice(("Account", "Opportunity"))) if e.rng.random() < 0.5 else None
    if type_name == "Event":  # a meeting: its start and its length (Salesforce computes the end)
        start = f"{_day(e)}T{e.rng.randint(8, 17):02d}:00:00.000+0000"
        return {"Subject": "Meeting", "WhoId": who, "WhatId": what, "StartDateTime": start,
                "DurationInMinutes": e.rng.choice((15, 30, 60)), "Location": e.rng.choice(w.CITIES)[0]}
    if e.rng.random() < 0.25:  # a note logged as a Task of Type Note
        return {"Subject": "Note", "Type": "Note", "Description": f"Discussed the {e.rng.choice(w.PRODUCTS).lower()}.",
                "WhoId": who, "WhatId": what, "ActivityDate": _day(e), "Status": "Completed"}
    return {"Subject": e.rng.choice(w.TASK_SUBJECTS), "WhoId": who, "WhatId": what, "ActivityDate": _day(e),
            "Status": e.rng.choice(("Not Started", "Completed")), "Priority": "Normal"}


def sf_create(type_name: str) -> Callable[[Edit], dict | None]:
    def act(e: Edit) -> dict | None:
        body = _sf_create_body(e, type_name)
        if body is None:
            return None
        fields = {k: v for k, v in body.items() if v is not None}
        user = e.user()
        ok, out = e.call("salesforce", "POST", f"records/{type_name}", fields, user)
        rid = out.get("id") if ok and isinstance(out, dict) else None
        if rid and type_name not in ("Task", "Event"):
            e.targets.pool(type_name).add(rid)
        if rid and type_name == "OpportunityLineItem":
            e.targets.details.setdefault(fields["OpportunityId"], set()).add(rid)
        return _entry("salesforce", type_name, rid, "create", ok, out, fields, user)
    return act


def sf_log(subtype: str) -> Callable[[Edit], dict | None]:
    """A user logs a call or an email on a Contact (now and then on an Account or Opportunity): a Task of that
    TaskSubtype, completed."""
    def act(e: Edit) -> dict | None:
        what = e.pick(e.rng.choice(("Account", "Opportunity"))) if e.rng.random() < 0.4 else None
        fields = {"TaskSubtype": subtype, "WhoId": e.pick("Contact"), "WhatId": what, "ActivityDate": _day(e),
                  "Status": "Completed", "Subject": f"{subtype}: {e.rng.choice(w.TASK_SUBJECTS)}",
                  "Description": f"About the {e.rng.choice(w.PRODUCTS).lower()}."}
        if subtype == "Call":
            fields |= {"CallType": e.rng.choice(("Inbound", "Outbound")),
                       "CallDurationInSeconds": e.rng.randrange(60, 1800, 30)}
        fields = {k: v for k, v in fields.items() if v is not None}
        user = e.user()
        ok, out = e.call("salesforce", "POST", "records/Task", fields, user)
        rid = out.get("id") if ok and isinstance(out, dict) else None
        return _entry("salesforce", "Task", rid, "create", ok, out, fields, user)
    return act


def sf_delete_of(type_name: str) -> Callable[[Edit], dict | None]:
    """A user deletes one record of this type (line items: taken off an opportunity)."""
    def act(e: Edit) -> dict | None:
        rid = e.pick(type_name)
        if rid is None:
            return None
        user = e.user()
        ok, out = e.call("salesforce", "DELETE", f"records/{type_name}/{rid}", user=user)
        cascaded = sorted(e.targets.details.pop(rid, ())) if ok else []
        if ok:
            e.targets.pool(type_name).remove(rid)
            for item in cascaded:  # gone with their opportunity
                e.targets.pool("OpportunityLineItem").remove(item)
        return _entry("salesforce", type_name, rid, "delete", ok, out, user=user,
                      **({"cascaded": cascaded} if cascaded else {}))
    return act


def sf_delete(e: Edit) -> dict | None:
    return sf_delete_of(e.rng.choice(("Lead", "Contact", "Opportunity", "Case")))(e)


def sf_merge(e: Edit) -> dict | None:
    type_name = e.rng.choice(("Contact", "Lead", "Account"))
    master = e.pick(type_name)
    loser = e.pick(type_name, other_than=master) if master else None
    if loser is None:
        return None
    user = e.user()
    ok, out = e.call("salesforce", "POST", "merge", {"type": type_name, "master_id": master, "merge_ids": [loser],
                                                     "as_user": user})
    if ok:
        e.targets.pool(type_name).remove(loser)
    return _entry("salesforce", type_name, master, "merge", ok, out, user=user,
                  result={"master_id": master, "merged_ids": [loser]}, merged_ids=[loser])


def sf_convert(e: Edit) -> dict | None:
    lead = e.pick("Lead")
    if lead is None:
        return None
    body = {"lead_id": lead, "as_user": e.user(), "create_opportunity": e.rng.random() < 0.5}
    if e.rng.random() < 0.5:
        body["account_id"] = e.pick("Account")
    ok, out = e.call("salesforce", "POST", "convert-lead", {k: v for k, v in body.items() if v is not None})
    if ok:
        e.targets.pool("Lead").remove(lead)
        e.targets.pool("Contact").add(out["contactId"])
        if out["accountId"] != body.get("account_id"):
            e.targets.pool("Account").add(out["accountId"])
        if out.get("opportunityId"):
            e.targets.pool("Opportunity").add(out["opportunityId"])
    fields = {k: v for k, v in body.items() if k not in ("lead_id", "as_user")}
    return _entry("salesforce", "Lead", lead, "convert", ok, out, fields, body["as_user"],
                  result=out if ok else None)


def hs_update(object_type: str, bad: bool = False) -> Callable[[Edit], dict | None]:
    def act(e: Edit) -> dict | None:
        rid = e.pick(object_type)
        if rid is None:
            return None
        fields = e.values(HS_BAD[object_type] if bad else HS_FIELDS[object_type], high=1 if bad else 3)
        ok, out = e.call("hubspot", "PATCH", f"objects/{object_type}/{rid}", {"properties": fields})
        stored = {k: out["properties"].get(k) for k in fields} if ok else None
        return _entry("hubspot", object_type, rid, "update", ok, out, fields, stored=stored,
                      **({"expect_failure": True} if bad else {}))
    return act


def _hs_create_body(e: Edit, object_type: str) -> tuple[dict, list] | None:
    if object_type == "contacts":
        return {"email": _email(e), "firstname": e.rng.choice(w.FIRST_NAMES), "lastname": e.rng.choice(w.LAST_NAMES),
                "jobtitle": _title(e), "company": _company(e), "lifecyclestage": "lead"}, []
    if object_type == "companies":
        return {"name": _company(e), "domain": _domain(e), "industry": e.rng.choice(_values[2])}, []
    if object_type == "deals":
        return {"dealname": f"{_company(e)} - {e.rng.choice(w.PRODUCTS)}", "pipeline": "default",
                "dealstage": e.rng.choice([o["value"] for o in DEAL_STAGES]),
                "amount": str(e.rng.randrange(1000, 250000, 100)), "closedate": f"{_day(e)}T00:00:00.000Z"}, []
    if object_type == "tickets":
        return {"subject": e.rng.choice(w.CASE_SUBJECTS), "hs_pipeline": "0", "hs_pipeline_stage": "1",
                "hs_ticket_priority": e.rng.choice(("LOW", "MEDIUM", "HIGH"))}, []
    if object_type == "products":
        name = f"{e.rng.choice(w.PRODUCTS)} {e.next_number()}"
        return {"name": name, "hs_sku": f"SKU-{e.seed}-{e.next_number()}",
                "price": str(e.rng.randrange(10, 900, 5))}, []
    if object_type == "line_items":  # a product added to a deal (HubSpot fills the name and an unset price)
        deal, product = e.pick("deals"), e.pick("products")
        if deal is None or product is None:
            return None
        props = {"hs_product_id": product, "quantity": str(e.rng.randint(1, 20))}
        if e.rng.random() < 0.5:
            props["price"] = str(e.rng.randrange(10, 900, 5))
        return props, [{"to": {"id": deal}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                                       "associationTypeId": _default_association(object_type,
                                                                                                 "deals")}]}]
    contact = e.pick("contacts")
    # logged on a contact, and now and then on a company, a deal or both (the sync puts the deal on WhatId first)
    related = [("contacts", contact), *((to, e.pick(to)) for to in ("companies", "deals") if e.rng.random() < 0.3)]
    links = [{"to": {"id": rid}, "types": [{"associationCategory": "HUBSPOT_DEFINED",
                                            "associationTypeId": _default_association(object_type, to)}]}
             for to, rid in related if rid]
    moment = f"{_day(e)}T{e.rng.randint(8, 18):02d}:00:00.000Z"
    if object_type == "tasks":
        props = {"hs_task_subject": e.rng.choice(w.TASK_SUBJECTS), "hs_timestamp": moment,
                 "hs_task_status": e.rng.choice(("NOT_STARTED", "COMPLETED"))}
    elif object_type == "meetings":
        end = f"{moment[:11]}{int(moment[11:13]) + 1:02d}{moment[13:]}"  # an hour
        props = {"hs_meeting_title": f"{e.rng.choice(w.PRODUCTS)} review", "hs_meeting_start_time": moment,
                 "hs_meeting_end_time": end, "hs_timestamp": moment}
    elif object_type == "calls":
        props = {"hs_call_title": f"Call about the {e.rng.choice(w.PRODUCTS).lower()}", "hs_timestamp": moment,
                 "hs_call_body": e.rng.choice(w.TASK_SUBJECTS), "hs_call_direction": e.rng.choice(("INBOUND",
                                                                                                   "OUTBOUND")),
                 "hs_call_duration": str(e.rng.randrange(60, 1800, 30) * 1000)}
    elif object_type == "emails":
        props = {"hs_email_subject": f"Re: {e.rng.choice(w.PRODUCTS)}", "hs_timestamp": moment,
                 "hs_email_text": f"Following up on the {e.rng.choice(w.PRODUCTS).lower()}.",
                 "hs_email_direction": "EMAIL"}
    else:
        props = {"hs_note_body": f"Call notes: discussed the {e.rng.choice(w.PRODUCTS).lower()}.",
                 "hs_timestamp": moment}
    return props, links


def hs_create(object_type: str) -> Callable[[Edit], dict | None]:
    def act(e: Edit) -> dict | None:
        body = _hs_create_body(e, object_type)
        if body is None:
            return None
        fields, links = body
        ok, out = e.call("hubspot", "POST", f"objects/{object_type}",
                         {"properties": fields, **({"associations": links} if links else {})})
        rid = out.get("id") if ok and isinstance(out, dict) else None
        if rid and object_type in ("contacts", "companies", "deals", "tickets", "products", "line_items"):
            e.targets.pool(object_type).add(rid)
        stored = {k: out["properties"].get(k) for k in fields} if ok else None
        return _entry("hubspot", object_type, rid, "create", ok, out, fields, stored=stored,
                      associated=[link["to"]["id"] for link in links])
    return act


def hs_delete(e: Edit) -> dict | None:
    return hs_delete_of(e.rng.choice(("contacts", "deals", "tickets", "companies")))(e)


def hs_delete_of(object_type: str) -> Callable[[Edit], dict | None]:
    """A user deletes one record of this type (line items: taken off a deal)."""
    def act(e: Edit) -> dict | None:
        rid = e.pick(object_type)
        if rid is None:
            return None
        ok, out = e.call("hubspot", "DELETE", f"objects/{object_type}/{rid}")
        if ok:
            e.targets.pool(object_type).remove(rid)
        return _entry("hubspot", object_type, rid, "delete", ok, out)
    return act


def hs_merge(e: Edit) -> dict | None:
    object_type = e.rng.choice(("contacts", "companies"))
    primary = e.pick(object_type)
    loser = e.pick(object_type, other_than=primary) if primary else None
    if loser is None:
        return None
    ok, out = e.call("hubspot", "POST", "merge", {"type": object_type, "primary_id": primary, "merge_id": loser})
    survivor = out.get("id") if ok and isinstance(out, dict) else None
    if ok:
        pool = e.targets.pool(object_type)
        pool.remove(primary)
        pool.remove(loser)
        pool.add(survivor)
    return _entry("hubspot", object_type, primary, "merge", ok, out, merged_ids=[primary, loser],
                  result={"id": survivor})


def hs_associate(e: Edit) -> dict | None:
    contact, company = e.pick("contacts"), e.pick("companies")
    if contact is None or company is None:
        return None
    # As a user does in the UI: the company becomes the contact's primary company (the former one stays, unlabeled).
    body = {"from_type": "contacts", "from_id": contact, "to_type": "companies", "to_id": company, "type_id": 1}
    ok, out = e.call("hubspot", "POST", "associations", body)
    if ok:
        e.targets.company_links.append((contact, company))
    return _entry("hubspot", "contacts", contact, "associate", ok, out, {"to_type": "companies", "to_id": company})


def hs_dissociate(e: Edit) -> dict | None:
    links, contacts, companies = e.targets.company_links, e.targets.pool("contacts"), e.targets.pool("companies")
    for _ in range(5):  # links whose ends were merged or deleted since are skipped
        if not links:
            break
        i = e.rng.randrange(len(links))
        contact, company = links[i]
        links[i] = links[-1]
        links.pop()
        if contacts.has(contact) and companies.has(company):
            body = {"from_type": "contacts", "from_id": contact, "to_type": "companies", "to_id": company}
            ok, out = e.call("hubspot", "DELETE", "associations", body)
            return _entry("hubspot", "contacts", contact, "dissociate", ok, out,
                          {"to_type": "companies", "to_id": company})
    return hs_associate(e)


def hs_list_member(e: Edit) -> dict | None:
    """A user adds a contact to a static list, or takes one out (MANUAL contact lists only)."""
    if not e.targets.lists:
        return None
    list_id = e.rng.choice(e.targets.lists)
    members = e.targets.pool(f"list:{list_id}")
    if len(members) and e.rng.random() < 0.4:
        rid, change = members.pick(e.rng), "remove"
    else:
        rid, change = e.pick("contacts"), "add"
    if rid is None:
        return None
    ok, out = e.call("hubspot", "POST", f"lists/{list_id}/members", {change: [rid]})
    if ok:
        (members.add if change == "add" else members.remove)(rid)
    return _entry("hubspot", "lists", rid, f"list_{change}", ok, out, {"list": list_id})


def sf_campaign_member(e: Edit) -> dict | None:
    """A user adds a Lead or a Contact to a Campaign, or removes a campaign member."""
    campaign, members = e.pick("Campaign"), e.targets.pool("CampaignMember")
    if campaign is None:
        return None
    user = e.user()
    if len(members) and e.rng.random() < 0.4:
        rid = members.pick(e.rng)
        ok, out = e.call("salesforce", "DELETE", f"records/CampaignMember/{rid}", user=user)
        if ok:
            members.remove(rid)
        return _entry("salesforce", "CampaignMember", rid, "delete", ok, out, user=user)
    kind = e.rng.choice(("Contact", "Lead"))
    person = e.pick(kind)
    if person is None:
        return None
    fields = {"CampaignId": campaign, f"{kind}Id": person, "Status": "Sent"}
    ok, out = e.call("salesforce", "POST", "records/CampaignMember", fields, user)
    rid = out.get("id") if ok and isinstance(out, dict) else None
    if rid:
        members.add(rid)
    return _entry("salesforce", "CampaignMember", rid, "create", ok, out, fields, user)


# ---- custom objects: edited by their fields' types, as their admin defined them -------------------------------

def _custom_value(e: Edit, kind: str, options: tuple) -> object:
    if options:
        return e.rng.choice(options)
    if kind in ("number", "currency", "double", "percent"):
        return e.rng.randrange(100, 100_000, 100)
    if kind == "date":
        return _day(e)
    return f"{e.rng.choice(w.PRODUCTS)} {e.next_number()}"


def _custom_values(e: Edit, fields: dict, names: list[str], system: str) -> dict:
    out = {name: _custom_value(e, *fields[name][:2]) for name in names}
    return {k: str(v) for k, v in out.items()} if system == "hubspot" else out


def _custom_type(e: Edit, system: str, with_records: bool) -> str | None:
    names = sorted(n for s, n in e.targets.custom if s == system and (len(e.targets.pool(n)) or not with_records))
    return e.rng.choice(names) if names else None


def _plain(fields: dict) -> list[str]:
    return sorted(n for n, (kind, _, _) in fields.items() if kind not in ("lookup", "master_detail"))


def custom_update(system: str) -> Callable[[Edit], dict | None]:
    """A user edits a few fields of a custom object's record."""
    def act(e: Edit) -> dict | None:
        name = _custom_type(e, system, with_records=True)
        fields = e.targets.custom.get((system, name), {})
        plain = _plain(fields) + (["Name"] if system == "salesforce" else [])
        rid = e.pick(name) if name else None
        if rid is None or not plain:
            return None
        chosen = e.rng.sample(plain, min(len(plain), e.rng.randint(1, 2)))
        values = _custom_values(e, {**fields, "Name": ("string", (), None)}, chosen, system)
        if system == "salesforce":
            user = e.user()
            ok, out = e.call(system, "PATCH", f"records/{name}/{rid}", values, user)
            return _entry(system, name, rid, "update", ok, out, values, user)
        ok, out = e.call(system, "PATCH", f"objects/{name}/{rid}", {"properties": values})
        stored = {k: out["properties"].get(k) for k in values} if ok else None
        return _entry(system, name, rid, "update", ok, out, values, stored=stored)
    return act


def custom_create(system: str) -> Callable[[Edit], dict | None]:
    """A user adds a custom object's record: its plain fields, and in Salesforce its parents (a master-detail
    parent is required: none to pick, no record)."""
    def act(e: Edit) -> dict | None:
        name = _custom_type(e, system, with_records=False)
        if name is None:
            return None
        fields = e.targets.custom[(system, name)]
        values = _custom_values(e, fields, _plain(fields), system)
        if system == "hubspot":
            ok, out = e.call(system, "POST", f"objects/{name}", {"properties": values})
            rid = out.get("id") if ok and isinstance(out, dict) else None
        else:
            values["Name"] = f"{e.rng.choice(w.PRODUCTS)} {e.next_number()}"
            for field_name, (kind, _, parent) in fields.items():
                if kind in ("lookup", "master_detail"):
                    values[field_name] = e.pick(parent)
                    if values[field_name] is None and kind == "master_detail":
                        return None
            values = {k: v for k, v in values.items() if v is not None}
            user = e.user()
            ok, out = e.call(system, "POST", f"records/{name}", values, user)
            rid = out.get("id") if ok and isinstance(out, dict) else None
        if rid:
            e.targets.pool(name).add(str(rid))
        return _entry(system, name, rid, "create", ok, out, values)
    return act


_SF_UPDATE_WEIGHTS = {"Lead": 12, "Contact": 12, "Account": 6, "Opportunity": 8, "Case": 4}
_HS_UPDATE_WEIGHTS = {"contacts": 12, "companies": 6, "deals": 8, "tickets": 4}
# (name, weight, action): field updates dominate, as they do in real CRMs; structural edits are rarer.
ACTIONS: list[tuple[str, int, Callable[[Edit], dict | None]]] = [
    *[(f"sf_update_{t}", n, sf_update(t)) for t, n in _SF_UPDATE_WEIGHTS.items()],
    *[(f"sf_create_{t}", n, sf_create(t)) for t, n in (("Lead", 4), ("Contact", 2), ("Account", 1),
                                                      ("Opportunity", 2), ("Case", 1), ("Task", 3),
                                                      ("Event", 2))],
    ("sf_delete", 3, sf_delete), ("sf_merge", 2, sf_merge), ("sf_convert", 3, sf_convert),
    ("sf_bad_lead", 1, sf_update("Lead", bad=True)), ("sf_bad_contact", 1, sf_update("Contact", bad=True)),
    *[(f"hs_update_{t}", n, hs_update(t)) for t, n in _HS_UPDATE_WEIGHTS.items()],
    *[(f"hs_create_{t}", n, hs_create(t)) for t, n in (("contacts", 4), ("companies", 1), ("deals", 2),
                                                      ("tickets", 1), ("tasks", 3), ("notes", 2),
                                                      ("meetings", 2))],
    ("hs_delete", 3, hs_delete), ("hs_merge", 2, hs_merge), ("hs_associate", 3, hs_associate),
    ("hs_dissociate", 2, hs_dissociate), ("hs_list_member", 3, hs_list_member),
    ("sf_campaign_member", 3, sf_campaign_member),
    ("hs_bad_contact", 1, hs_update("contacts", bad=True)), ("hs_bad_company", 1, hs_update("companies", bad=True)),
    ("hs_bad_deal", 1, hs_update("deals", bad=True)),
    # the catalogue and the deals' line items (their pools are empty, and these do nothing, in an org without them)
    ("sf_update_Product2", 1, sf_update("Product2")), ("sf_update_OpportunityLineItem", 2,
                                                        sf_update("OpportunityLineItem")),
    ("sf_create_OpportunityLineItem", 2, sf_create("OpportunityLineItem")),
    ("sf_delete_OpportunityLineItem", 1, sf_delete_of("OpportunityLineItem")),
    ("hs_update_products", 1, hs_update("products")), ("hs_update_line_items", 2, hs_update("line_items")),
    ("hs_create_products", 1, hs_create("products")), ("hs_create_line_items", 2, hs_create("line_items")),
    ("hs_delete_line_items", 1, hs_delete_of("line_items")),
    # logged calls and emails, both sides
    ("sf_log_call", 2, sf_log("Call")), ("sf_log_email", 1, sf_log("Email")),
    ("hs_create_calls", 2, hs_create("calls")), ("hs_create_emails", 1, hs_create("emails")),
    # custom objects (none defined: these do nothing)
    ("sf_update_custom", 3, custom_update("salesforce")), ("sf_create_custom", 2, custom_create("salesforce")),
    ("hs_update_custom", 3, custom_update("hubspot")), ("hs_create_custom", 2, custom_create("hubspot")),
]
_SF_ACTIONS = {action for name, _, action in ACTIONS if name.startswith("sf_")}
