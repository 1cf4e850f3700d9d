"""The HubSpot half of the seed: owners, companies, contacts, deals, tickets, tasks and notes with their associations.

Rows are generated in vectorised batches and streamed into the direct loader as wire-format strings; only the ids
that associations need are kept (as int64 arrays).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from crm_sandbox import words as w
from crm_sandbox.draws import is_spread_target, spread
from crm_sandbox.hubspot.loader import listed_owners, load_associations, load_objects, load_owners
from crm_sandbox.population import Layout, World, days_from_anchor, email_variant, malformed
from crm_sandbox.words import HUBSPOT_ONLY_INDUSTRIES, INDUSTRY_PAIRS, LEAD_STATUS_MAP, UNMAPPED_LEAD_STATUS

BATCH = 50_000
_LIFECYCLE = ("subscriber", "lead", "marketingqualifiedlead", "salesqualifiedlead", "opportunity", "customer",
              "evangelist", "other")
_LIFECYCLE_WEIGHTS = (10, 35, 15, 10, 10, 15, 2, 3)
_LEAD_STATUSES = (*LEAD_STATUS_MAP, None)
_LEAD_STATUS_WEIGHTS = (15, 10, 12, 10, 10, 5, 3, 5, 30)
_DEAL_STAGES = ("appointmentscheduled", "qualifiedtobuy", "presentationscheduled", "decisionmakerboughtin",
                "contractsent", "closedwon", "closedlost")
_DEAL_STAGE_WEIGHTS = (10, 9, 8, 7, 6, 32, 28)
_EMAIL_NOISE = (90, 3, 2, 5)  # HubSpot lower-cases what its forms collect; imports still bring odd ones
_TOO_LONG = ("firstname", "lastname", "jobtitle")


def _batches(total: int) -> Iterator[np.ndarray]:
    for start in range(0, total, BATCH):
        yield np.arange(start, min(total, start + BATCH), dtype=np.int64)


def _moments(days: list[str], seconds: np.ndarray) -> list[str]:
    """HubSpot datetime strings (UTC, milliseconds, Z) at a second of the day on each date."""
    return [f"{day}T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}.000Z" for day, s in zip(days, seconds.tolist(),
                                                                                          strict=True)]


class HubSpotSeeder:
    """Writes one Layout's HubSpot portal into directory; tallies what it wrote."""

    def __init__(self, directory: Path, layout: Layout):
        self.directory = Path(directory)
        self.lay = layout
        self.world = World(layout)
        self.d = self.world.draw
        self.counts: Counter = Counter()
        self.associations: Counter = Counter()
        self.duplicates: Counter = Counter()
        self.bad: Counter = Counter()

    def _load(self, object_type: str, total: int, make: Callable[[np.ndarray], list[dict]]) -> np.ndarray:
        ids = load_objects(self.directory, object_type, (row for idx in _batches(total) for row in make(idx)))
        self.counts[object_type] += len(ids)
        return np.array(ids, dtype=np.int64)

    def _associate(self, from_type: str, to_type: str, from_ids: np.ndarray, to_ids: np.ndarray,
                   primary: bool = False) -> None:
        def pairs():
            for idx in _batches(len(from_ids)):
                keep = idx[to_ids[idx] > 0]
                yield from zip(from_ids[keep].astype(str).tolist(), to_ids[keep].astype(str).tolist(), strict=True)

        self.associations[f"{from_type}-{to_type}"] += load_associations(self.directory, from_type, to_type, pairs(),
                                                                         primary=primary)

    def run(self) -> dict:
        lay = self.lay
        self._owners()
        self.company_ids = self._load("companies", lay.companies, self._companies)
        self.contact_company = np.full(lay.size, -1, dtype=np.int64)
        self.contact_ids = self._load("contacts", lay.size, self._contacts)
        self.deal_product = np.zeros(lay.opportunities, dtype=np.int64)
        # As in the HubSpot UI, a contact's one company is its primary company (associatedcompanyid).
        self._associate("contacts", "companies", self.contact_ids, self._company_id(self.contact_company),
                        primary=True)
        for object_type, total, make in (("deals", lay.opportunities, self._deals),
                                         ("tickets", lay.cases, self._tickets), ("tasks", lay.tasks, self._tasks),
                                         ("notes", lay.notes, self._notes), ("calls", lay.calls, self._calls),
                                         ("emails", lay.emails, self._emails),
                                         ("meetings", lay.meetings, self._meetings)):
            contact = self.d.below(f"hs-{object_type}-contact", np.arange(total), lay.size)
            self._contact_of = contact
            ids = self._load(object_type, total, make)
            self._associate(object_type, "contacts", ids, self.contact_ids[contact])
            if object_type in ("deals", "tickets"):
                self._associate(object_type, "companies", ids, self._company_id(self.contact_company[contact]))
            if object_type == "deals":
                self._catalogue(ids)
        return {"counts": dict(self.counts), "associations": dict(self.associations),
                "duplicates": dict(self.duplicates), "bad_values": dict(self.bad)}

    def _company_id(self, record: np.ndarray) -> np.ndarray:
        """HubSpot ids of company records (0 where there is none)."""
        return np.where(record >= 0, self.company_ids[np.maximum(record, 0)], 0)

    # ---- owners and companies -----------------------------------------------------------------------------
    def _owners(self) -> None:
        owners = self.world.owners()
        mine = [(o, x) for o, x in enumerate(owners) if x["side"] in ("both", "hubspot")]
        ids = load_owners(self.directory, [{"email": x["email"], "firstName": x["first"], "lastName": x["last"]}
                                           for _, x in mine])
        # What GET /crm/v3/owners lists, as a real portal's does: the portal's own admin user is an owner as well.
        self.counts["owners"] = listed_owners(self.directory)
        self.owner_of = np.zeros(len(owners), dtype=np.int64)
        for (o, _), owner_id in zip(mine, ids, strict=True):
            self.owner_of[o] = int(owner_id)

    def _owner_ids(self, stream: str, idx: np.ndarray) -> list[str]:
        return self.owner_of[self.world.owner("hubspot", stream, idx)].astype(str).tolist()

    def _created(self, stream: str, idx: np.ndarray) -> list[str]:
        """Create dates spread over five years: the portal has been in use that long."""
        return _moments(days_from_anchor(-self.d.below(f"{stream}-created", idx, 5 * 365) - 1),
                        self.d.below(f"{stream}-created-at", idx, 86400))

    def _companies(self, k: np.ndarray) -> list[dict]:
        lay, d = self.lay, self.d
        co = self.world.companies(k)
        has_domain = (k < lay.shared_companies) | (d.unit("hs-domain", k) < 0.95)
        suffixed = (d.unit("hs-legal-suffix", k) < 0.2).tolist()
        bad = d.unit("hs-company-bad", k) < lay.bad_value_rate
        odd = d.below("hs-odd-industry", k, len(HUBSPOT_ONLY_INDUSTRIES)).tolist()
        owners = self._owner_ids("company", k)
        created = self._created("hs-company", k)
        self.bad["picklist"] += int(bad.sum())
        rows = []
        for i in range(len(k)):
            city, country, _ = w.CITIES[co["city"][i]]
            rows.append({
                "name": co["name"][i] + (f" {w.LEGAL_SUFFIXES[co['suffix'][i]]}" if suffixed[i] else ""),
                "domain": co["domain"][i] if has_domain[i] else None,
                "industry": HUBSPOT_ONLY_INDUSTRIES[odd[i]] if bad[i] else INDUSTRY_PAIRS[co["industry"][i]][1],
                "phone": co["phone"][i], "city": city, "country": country,
                "numberofemployees": str(co["employees"][i]), "annualrevenue": str(co["revenue"][i]),
                "hubspot_owner_id": owners[i], "createdate": created[i]})
        return rows

    # ---- contacts -----------------------------------------------------------------------------------------
    def _contacts(self, r: np.ndarray) -> list[dict]:
        lay, d, world = self.lay, self.d, self.world
        people = lay.hs_people
        dup = r >= people
        source = np.where(dup, spread(r - people, people, lay.duplicates), r)
        person = lay.hs_person(source)
        traits = world.people(person)
        employer = np.asarray(traits["employer"], dtype=np.int64)
        self.contact_company[r] = lay.hs_company_of(employer)
        company_names = world.companies(np.maximum(employer, 0))["name"]
        noise = d.weighted("hs-contact-noise", r, _EMAIL_NOISE)
        source_noise = d.weighted("hs-contact-noise", source, _EMAIL_NOISE)
        variant = (source_noise + 1 + d.below("hs-contact-dup-noise", r, 3)) % 4
        same_email = d.unit("hs-contact-dup-kind", r) < 0.5
        eligible = ~dup & ~is_spread_target(r, people, lay.duplicates)
        bad = eligible & (d.unit("hs-contact-bad", r) < lay.bad_value_rate)
        kind = d.weighted("hs-contact-bad-kind", r, (50, 25, 25))  # too long, picklist, malformed email
        kind = np.where((kind == 2) & (person < lay.shared), 0, kind)  # keep the overlap intact
        too_long = d.below("hs-contact-too-long", r, 3).tolist()
        codes = d.below("hs-contact-codes", r, 97).tolist()
        lifecycle = d.weighted("hs-lifecycle", person, _LIFECYCLE_WEIGHTS).tolist()
        status = d.weighted("hs-lead-status", person, _LEAD_STATUS_WEIGHTS).tolist()
        website = (d.unit("hs-contact-website", person) < 0.5).tolist()
        owners = self._owner_ids("person", person)
        created = self._created("hs-contact", r)
        self.duplicates["same_email"] += int((dup & same_email).sum())
        self.duplicates["same_name_company"] += int((dup & ~same_email).sum())
        for code, name in enumerate(("too_long", "picklist", "malformed_email")):
            self.bad[name] += int((bad & (kind == code)).sum())
        kind_l, bad_l, dup_l, same_l = kind.tolist(), bad.tolist(), dup.tolist(), same_email.tolist()
        rows = []
        for i in range(len(r)):
            email = traits["email"][i]
            if dup_l[i]:
                email = (email_variant(email, int(variant[i])) if same_l[i] else
                         world.alternate_email("hubspot", traits["local"][i], traits["domain"][i], codes[i]))
            elif bad_l[i] and kind_l[i] == 2:
                email = malformed(email, codes[i])
            else:
                email = email_variant(email, int(noise[i]))
            city, country, _ = w.CITIES[traits["city"][i]]
            has_company = employer[i] >= 0
            row = {"email": email, "firstname": traits["first"][i], "lastname": traits["last"][i],
                   "phone": traits["phone"][i], "jobtitle": traits["title"][i],
                   "company": company_names[i] if has_company else None,
                   "website": f"https://{traits['domain'][i]}" if has_company and website[i] and not
                   traits["personal"][i] else None,
                   "city": city, "country": country, "lifecyclestage": _LIFECYCLE[lifecycle[i]],
                   "hs_lead_status": _LEAD_STATUSES[status[i]], "hubspot_owner_id": owners[i],
                   "createdate": created[i]}
            if bad_l[i] and kind_l[i] == 1:
                row["hs_lead_status"] = UNMAPPED_LEAD_STATUS
            elif bad_l[i] and kind_l[i] == 0:
                field = _TOO_LONG[too_long[i]]
                row[field] = (f"{row[field]} {w.LONG_FIRST_NAME_NOTES[codes[i] % 3]}" if field == "firstname" else
                              f"{row[field]} {w.LONG_LAST_NAME_NOTES[codes[i] % 2]}" if field == "lastname" else
                              w.LONG_TITLE)
            rows.append(row)
        return rows

    def _contact_traits(self, r: np.ndarray) -> dict:
        """Traits of the people behind contact records r (duplicates resolve to the person they copy)."""
        lay = self.lay
        source = np.where(r >= lay.hs_people, spread(r - lay.hs_people, lay.hs_people, lay.duplicates), r)
        return self.world.people(lay.hs_person(source))

    # ---- deals, tickets, engagements ----------------------------------------------------------------------
    def _deals(self, o: np.ndarray) -> list[dict]:
        d = self.d
        company = self.contact_company[self._contact_of[o]]
        names = self.world.companies(np.maximum(company, 0))["name"]
        stage = d.weighted("hs-deal-stage", o, _DEAL_STAGE_WEIGHTS).tolist()
        closed = np.array([s >= 5 for s in stage], dtype=bool)
        offset = np.where(closed, -d.below("hs-deal-closed", o, 1460), d.below("hs-deal-open", o, 200) - 20)
        close = days_from_anchor(offset)
        amount = np.round(2000 * np.exp(4 * d.unit("hs-deal-amount", o)), -2).astype(np.int64).tolist()
        product = d.below("hs-deal-product", o, len(w.PRODUCTS)).tolist()
        self.deal_product[o] = product
        kind = (d.unit("hs-deal-type", o) < 0.6).tolist()
        owners = self._owner_ids("deal", o)
        created = self._created("hs-deal", o)
        return [{"dealname": f"{names[i] if company[i] >= 0 else 'New Business'} - {w.PRODUCTS[product[i]]}",
                 "amount": str(amount[i]), "dealstage": _DEAL_STAGES[stage[i]], "pipeline": "default",
                 "closedate": f"{close[i]}T00:00:00.000Z", "dealtype": "newbusiness" if kind[i] else "existingbusiness",
                 "hubspot_owner_id": owners[i], "createdate": created[i]} for i in range(len(o))]

    def _catalogue(self, deal_ids: np.ndarray) -> None:
        """The catalogue (words.PRODUCTS, with the SKUs Salesforce has as ProductCode), and on about half of the
        deals a line item of the product the deal is named after, as HubSpot fills it from its product (name,
        SKU, price) with its amount."""
        n = len(w.PRODUCTS)
        products = self._load("products", n, lambda p: [
            {"name": w.PRODUCTS[i], "hs_sku": w.PRODUCT_SKUS[i], "price": str(w.PRODUCT_PRICES[i]),
             "description": f"{w.PRODUCTS[i]}, from the price list"} for i in p.tolist()])
        sold = np.flatnonzero(self.d.unit("hs-line-item-share", np.arange(len(deal_ids))) < w.LINE_ITEM_SHARE)

        def make(k: np.ndarray) -> list[dict]:
            quantity = (self.d.below("hs-line-item-quantity", k, 10) + 1).tolist()
            discount = (self.d.below("hs-line-item-discount", k, 4) * 5).tolist()
            rows = []
            for i, product in enumerate(self.deal_product[sold[k]].tolist()):
                price = w.PRODUCT_PRICES[product]
                rows.append({"hs_product_id": str(products[product]), "name": w.PRODUCTS[product],
                             "hs_sku": w.PRODUCT_SKUS[product], "price": str(price), "quantity": str(quantity[i]),
                             "hs_discount_percentage": str(discount[i]) if discount[i] else None,
                             "amount": f"{quantity[i] * price * (1 - discount[i] / 100):.2f}"})
            return rows

        items = self._load("line_items", len(sold), make)
        self._associate("line_items", "deals", items, deal_ids[sold])

    def _tickets(self, x: np.ndarray) -> list[dict]:
        d = self.d
        subject = d.below("hs-ticket-subject", x, len(w.CASE_SUBJECTS)).tolist()
        stage = d.weighted("hs-ticket-stage", x, (15, 10, 15, 60)).tolist()
        priority = d.weighted("hs-ticket-priority", x, (25, 55, 20)).tolist()
        category = d.below("hs-ticket-category", x, 4).tolist()
        owners = self._owner_ids("ticket", x)
        created = self._created("hs-ticket", x)
        categories = ("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST", "GENERAL_INQUIRY")
        return [{"subject": w.CASE_SUBJECTS[subject[i]],
                 "content": f"Customer reported: {w.CASE_SUBJECTS[subject[i]].lower()}.", "hs_pipeline": "0",
                 "hs_pipeline_stage": str(stage[i] + 1), "hs_ticket_priority": ("LOW", "MEDIUM", "HIGH")[priority[i]],
                 "hs_ticket_category": categories[category[i]], "hubspot_owner_id": owners[i],
                 "createdate": created[i]} for i in range(len(x))]

    def _logged_at(self, stream: str, idx: np.ndarray) -> list[str]:
        """When an engagement happened: in the 800 days before the anchor, in working hours."""
        return _moments(days_from_anchor(-self.d.below(f"{stream}-date", idx, 800) - 1),
                        8 * 3600 + 900 * self.d.below(f"{stream}-time", idx, 40))

    def _calls(self, c: np.ndarray) -> list[dict]:
        d = self.d
        when, owners = self._logged_at("hs-call", c), self._owner_ids("call", c)
        product = d.below("hs-call-product", c, len(w.PRODUCTS)).tolist()
        inbound = (d.unit("hs-call-direction", c) < 0.3).tolist()
        seconds = (30 * (d.below("hs-call-duration", c, 60) + 1)).tolist()
        return [{"hs_call_title": f"Call about the {w.PRODUCTS[product[i]].lower()}", "hs_timestamp": when[i],
                 "hs_call_body": f"Talked through the {w.PRODUCTS[product[i]].lower()}.",
                 "hs_call_direction": "INBOUND" if inbound[i] else "OUTBOUND",
                 "hs_call_duration": str(seconds[i] * 1000), "hubspot_owner_id": owners[i]} for i in range(len(c))]

    def _emails(self, m: np.ndarray) -> list[dict]:
        when, owners = self._logged_at("hs-email", m), self._owner_ids("email", m)
        product = self.d.below("hs-email-product", m, len(w.PRODUCTS)).tolist()
        return [{"hs_email_subject": f"Re: {w.PRODUCTS[product[i]]}", "hs_timestamp": when[i],
                 "hs_email_text": f"Following up on the {w.PRODUCTS[product[i]].lower()}.",
                 "hs_email_direction": "EMAIL", "hubspot_owner_id": owners[i]} for i in range(len(m))]

    def _meetings(self, m: np.ndarray) -> list[dict]:
        when, owners = self._logged_at("hs-meeting", m), self._owner_ids("meeting", m)
        product = self.d.below("hs-meeting-product", m, len(w.PRODUCTS)).tolist()
        hours = (self.d.below("hs-meeting-length", m, 2) + 1).tolist()
        return [{"hs_meeting_title": f"{w.PRODUCTS[product[i]]} review", "hs_timestamp": when[i],
                 "hs_meeting_start_time": when[i],
                 "hs_meeting_end_time": f"{when[i][:11]}{int(when[i][11:13]) + hours[i]:02d}{when[i][13:]}",
                 "hs_meeting_location": w.CITIES[i % len(w.CITIES)][0], "hubspot_owner_id": owners[i]}
                for i in range(len(m))]

    def _tasks(self, t: np.ndarray) -> list[dict]:
        d = self.d
        offset = d.below("hs-task-date", t, 900) - 800
        when = _moments(days_from_anchor(offset), 8 * 3600 + 900 * d.below("hs-task-time", t, 40))
        done = ((offset < 0) & (d.unit("hs-task-done", t) < 0.85)).tolist()
        subject = d.below("hs-task-subject", t, len(w.TASK_SUBJECTS)).tolist()
        priority = d.weighted("hs-task-priority", t, (10, 25, 45, 20)).tolist()
        task_type = d.weighted("hs-task-type", t, (50, 30, 20)).tolist()
        owners = self._owner_ids("task", t)
        return [{"hs_task_subject": w.TASK_SUBJECTS[subject[i]], "hs_timestamp": when[i],
                 "hs_task_status": "COMPLETED" if done[i] else "NOT_STARTED",
                 "hs_task_priority": ("NONE", "LOW", "MEDIUM", "HIGH")[priority[i]],
                 "hs_task_type": ("TODO", "CALL", "EMAIL")[task_type[i]], "hubspot_owner_id": owners[i]}
                for i in range(len(t))]

    def _notes(self, n: np.ndarray) -> list[dict]:
        d = self.d
        first = self._contact_traits(self._contact_of[n])["first"]
        when = _moments(days_from_anchor(-d.below("hs-note-date", n, 1400)),
                        8 * 3600 + 60 * d.below("hs-note-time", n, 600))
        body = d.below("hs-note-body", n, len(w.NOTE_BODIES)).tolist()
        product = d.below("hs-note-product", n, len(w.PRODUCTS)).tolist()
        owners = self._owner_ids("note", n)
        return [{"hs_note_body": w.NOTE_BODIES[body[i]].format(first=first[i], product=w.PRODUCTS[product[i]]),
                 "hs_timestamp": when[i], "hubspot_owner_id": owners[i]} for i in range(len(n))]
