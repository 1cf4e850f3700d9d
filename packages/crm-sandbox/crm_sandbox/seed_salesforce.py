"""The Salesforce half of the seed: users, accounts, contacts, opportunities, roles, leads, cases and tasks.

Rows are generated in vectorised batches and streamed into the direct loader; only the ids that later objects
point at are kept (as compact numpy arrays).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from crm_sandbox import words as w
from crm_sandbox.draws import is_spread_target, spread
from crm_sandbox.population import ANCHOR, Layout, World, days_from_anchor, email_variant, malformed
from crm_sandbox.salesforce import pricing, schema
from crm_sandbox.salesforce.loader import load_records
from crm_sandbox.salesforce.store import SalesforceStore
from crm_sandbox.words import INDUSTRY_PAIRS, LEGACY_LEAD_STATUSES, LEGACY_SALESFORCE_INDUSTRIES

BATCH = 50_000
_STAGES = tuple(schema.STAGE_INFO)
_STAGE_WEIGHTS = (8, 7, 6, 5, 4, 3, 4, 3, 32, 28)  # most opportunities of a years-old org are closed
_EMAIL_NOISE = (60, 30, 5, 5)  # as typed, Title.Case, UPPER, padded with spaces
_OPEN_LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Not Converted")
_WEBSITE_FORMS = ("https://www.{d}/", "http://www.{d}", "www.{d}", "{d}", "https://{d}", "https://www.{d}/about")


def _batches(total: int) -> Iterator[np.ndarray]:
    for start in range(0, total, BATCH):
        yield np.arange(start, min(total, start + BATCH), dtype=np.int64)


def _rows(total: int, make: Callable[[np.ndarray], list[dict]]) -> Iterator[dict]:
    for idx in _batches(total):
        yield from make(idx)


def _ids(ids: list[str]) -> np.ndarray:
    return np.array(ids, dtype="S18")


def _take(ids: np.ndarray, idx: np.ndarray) -> list[str | None]:
    """Ids at positions idx, None where idx is -1."""
    if len(ids) == 0:
        return [None] * len(idx)
    picked = ids[np.maximum(idx, 0)].astype("U18").tolist()
    return [None if i < 0 else v for i, v in zip(idx.tolist(), picked, strict=True)]


class SalesforceSeeder:
    """Writes one Layout's Salesforce org into directory; tallies what it wrote."""

    def __init__(self, directory: Path, layout: Layout):
        self.directory = Path(directory)
        self.lay = layout
        self.world = World(layout)
        self.d = self.world.draw
        self.counts: Counter = Counter()
        self.duplicates: Counter = Counter()
        self.bad: Counter = Counter()

    def _load(self, type_name: str, total: int, make: Callable[[np.ndarray], list[dict]]) -> list[str]:
        def with_history(idx: np.ndarray) -> list[dict]:
            rows = make(idx)  # some makers keep fewer rows than they were given positions
            created, modified = self._history(type_name, idx[:len(rows)])
            for row, c, m in zip(rows, created, modified, strict=True):
                row.update({"CreatedDate": c, "LastModifiedDate": m, "SystemModstamp": m})
            return rows

        ids = load_records(self.directory, type_name, _rows(total, with_history))
        self.counts[type_name] += len(ids)
        return ids

    def _history(self, type_name: str, idx: np.ndarray) -> tuple[list[str], list[str]]:
        """Created over the five years before the anchor day (the org has been in use that long), last modified
        between then and the anchor; Salesforce's stored form (UTC, milliseconds, +0000)."""
        anchor = np.datetime64(ANCHOR, "s")
        span = 5 * 365 * 86400
        created = anchor - (self.d.below(f"sf-{type_name}-created", idx, span) + 1).astype("timedelta64[s]")
        age = (anchor - created).astype(np.int64)
        modified = created + (self.d.unit(f"sf-{type_name}-modified", idx) * age).astype("timedelta64[s]")
        as_text = lambda t: [f"{v}.000+0000" for v in np.datetime_as_string(t, unit="s").tolist()]  # noqa: E731
        return as_text(created), as_text(modified)

    def run(self) -> dict:
        lay = self.lay
        self._users()
        self.account_ids = _ids(self._load("Account", lay.companies, self._accounts))
        self.contact_account = np.full(lay.sf_contacts, -1, dtype=np.int64)
        self.contact_ids = _ids(self._load("Contact", lay.sf_contacts, self._contacts))
        self.opp_contact = np.zeros(lay.opportunities, dtype=np.int64)
        self.opp_product = np.zeros(lay.opportunities, dtype=np.int64)
        self.opp_names: list[str | None] = [None] * lay.opportunities
        self.opp_ids = _ids(self._load("Opportunity", lay.opportunities, self._opportunities))
        self._catalogue()
        self._load_roles()
        self.lead_ids = _ids(self._load("Lead", lay.sf_leads, self._leads))
        self._load("Case", lay.cases, self._cases)
        self._load("Task", lay.tasks, self._tasks)
        self._load("Task", lay.calls, self._logged("Call"))
        self._load("Task", lay.emails, self._logged("Email"))
        self._load("Event", lay.meetings, self._events)
        return {"counts": dict(self.counts), "duplicates": dict(self.duplicates), "bad_values": dict(self.bad),
                "converted_leads": lay.converted}

    # ---- owners -------------------------------------------------------------------------------------------
    def _users(self) -> None:
        owners = self.world.owners()
        mine = [(o, x) for o, x in enumerate(owners) if x["side"] in ("both", "salesforce")]
        titles = ("Account Executive", "Sales Development Rep", "Marketing Manager", "Customer Success Manager",
                  "Sales Manager")
        rows = [{"Username": x["email"], "Email": x["email"], "FirstName": x["first"], "LastName": x["last"],
                 "Alias": (x["first"][:1] + x["last"])[:8].lower(), "IsActive": 1, "Title": titles[o % len(titles)],
                 "Department": "Marketing" if "Marketing" in titles[o % len(titles)] else "Sales"}
                for o, x in mine]
        ids = load_records(self.directory, "User", rows)
        self.counts["User"] += len(ids)
        self.user_of = np.full(len(owners), b"", dtype="S18")
        for (o, _), uid in zip(mine, ids, strict=True):
            self.user_of[o] = uid.encode()

    def _owner_ids(self, stream: str, idx: np.ndarray) -> list[str]:
        return self.user_of[self.world.owner("salesforce", stream, idx)].astype("U18").tolist()

    # ---- accounts -----------------------------------------------------------------------------------------
    def _accounts(self, a: np.ndarray) -> list[dict]:
        lay, d = self.lay, self.d
        k = lay.sf_account_company(a)
        co = self.world.companies(k)
        shared = k < lay.shared_companies
        has_site = shared | (d.unit("sf-website", a) < 0.85)
        form = d.weighted("sf-website-form", a, (35, 10, 20, 15, 15, 5)).tolist()
        suffixed = (d.unit("sf-legal-suffix", a) < 0.35).tolist()
        bad = d.unit("sf-account-bad", a) < lay.bad_value_rate
        legacy = d.below("sf-legacy-industry", a, len(LEGACY_SALESFORCE_INDUSTRIES)).tolist()
        kind = d.weighted("sf-account-type", a, (40, 35, 10, 5, 3, 3, 4)).tolist()
        owners = self._owner_ids("company", k)
        self.bad["picklist"] += int(bad.sum())
        rows = []
        for i in range(len(a)):
            name = co["name"][i] + (f" {w.LEGAL_SUFFIXES[co['suffix'][i]]}" if suffixed[i] else "")
            city, country, _ = w.CITIES[co["city"][i]]
            rows.append({
                "Name": name, "Website": _WEBSITE_FORMS[form[i]].format(d=co["domain"][i]) if has_site[i] else None,
                "Industry": LEGACY_SALESFORCE_INDUSTRIES[legacy[i]] if bad[i] else INDUSTRY_PAIRS[co["industry"][i]][0],
                "Type": schema.ACCOUNT_TYPES[kind[i]], "Phone": co["phone"][i], "BillingCity": city,
                "BillingCountry": country, "NumberOfEmployees": co["employees"][i],
                "AnnualRevenue": float(co["revenue"][i]), "OwnerId": owners[i]})
        return rows

    # ---- people -------------------------------------------------------------------------------------------
    def _person_records(self, stream: str, idx: np.ndarray, slot: np.ndarray, source: np.ndarray,
                        dup: np.ndarray, eligible: np.ndarray) -> tuple[dict, list[str], list[bool]]:
        """Traits of the people behind records idx, with each record's email as written and bad-email flags.

        slot: the person slot of each record; source: the record a duplicate copies (itself otherwise);
        eligible: records that may carry a malformed email (one-sided people no other record depends on).
        """
        lay, d, world = self.lay, self.d, self.world
        person = lay.sf_person(slot)
        traits = world.people(person)
        noise = d.weighted(f"{stream}-noise", idx, _EMAIL_NOISE)
        same_email = d.unit(f"{stream}-dup-kind", idx) < 0.5
        variant_of_noise = (d.weighted(f"{stream}-noise", source, _EMAIL_NOISE) + 1 + d.below(
            f"{stream}-dup-noise", idx, 3)) % 4
        bad = eligible & (person >= lay.hs_people) & (d.unit(f"{stream}-bad", idx) < lay.bad_value_rate)
        codes = d.below(f"{stream}-malformed", idx, 97).tolist()
        emails = []
        for i, email in enumerate(traits["email"]):
            if dup[i] and same_email[i]:
                emails.append(email_variant(email, int(variant_of_noise[i])))
            elif dup[i]:
                emails.append(world.alternate_email("salesforce", traits["local"][i], traits["domain"][i], codes[i]))
            elif bad[i]:
                emails.append(malformed(email, codes[i]))
            else:
                emails.append(email_variant(email, int(noise[i])))
        self.duplicates["same_email"] += int((dup & same_email).sum())
        self.duplicates["same_name_company"] += int((dup & ~same_email).sum())
        self.bad["malformed_email"] += int(bad.sum())
        return traits, emails, bad.tolist()

    def _contacts(self, c: np.ndarray) -> list[dict]:
        lay, d = self.lay, self.d
        base = lay.sf_contact_people
        dup = c >= base
        source = np.where(dup, spread(c - base, base, lay.sf_contact_dups), c)
        eligible = ~dup & ~is_spread_target(c, base, lay.sf_contact_dups) & ~is_spread_target(c, base, lay.converted)
        traits, emails, _ = self._person_records("sf-contact", c, source, source, dup, eligible)
        account = lay.sf_account_of(np.asarray(traits["employer"], dtype=np.int64))
        self.contact_account[c] = account
        account_ids = _take(self.account_ids, account)
        owners = self._owner_ids("person", lay.sf_person(source))
        source_i = d.below("sf-contact-source", c, len(schema.LEAD_SOURCES)).tolist()
        rows = []
        for i in range(len(c)):
            city, country, _ = w.CITIES[traits["city"][i]]
            rows.append({"FirstName": traits["first"][i], "LastName": traits["last"][i], "Email": emails[i],
                         "Phone": traits["phone"][i], "Title": traits["title"][i], "MailingCity": city,
                         "MailingCountry": country, "AccountId": account_ids[i], "OwnerId": owners[i],
                         "LeadSource": schema.LEAD_SOURCES[source_i[i]]})
        return rows

    def _leads(self, lead: np.ndarray) -> list[dict]:
        lay, d = self.lay, self.d
        k, open_end = lay.converted, lay.sf_leads - lay.sf_lead_dups
        converted = lead < k
        dup = lead >= open_end
        contact = spread(lead, lay.sf_contact_people, k)
        dup_of = k + spread(lead - open_end, lay.sf_open_leads, lay.sf_lead_dups)
        slot = np.select([converted, dup], [contact, lay.sf_contact_people + (dup_of - k)],
                         lay.sf_contact_people + (lead - k))
        source_lead = np.where(dup, dup_of, lead)
        eligible = (~converted & ~dup & ~is_spread_target(lead - k, lay.sf_open_leads, lay.sf_lead_dups))
        traits, emails, bad_email = self._person_records("sf-lead", lead, slot, source_lead, dup, eligible)
        bad_status = (eligible & ~np.asarray(bad_email) & (d.unit("sf-lead-bad-status", lead) < lay.bad_value_rate))
        self.bad["picklist"] += int(bad_status.sum())
        status = d.weighted("sf-lead-status", source_lead, (45, 35, 20)).tolist()
        legacy = d.below("sf-lead-legacy", lead, len(LEGACY_LEAD_STATUSES)).tolist()
        employer = np.asarray(traits["employer"], dtype=np.int64)
        industry = self.world.companies(np.maximum(employer, 0))["industry"]
        has_industry = ((employer >= 0) & (d.unit("sf-lead-industry", source_lead) < 0.7)).tolist()
        rating = d.weighted("sf-lead-rating", source_lead, (15, 30, 25, 30)).tolist()
        source_i = d.below("sf-lead-source", source_lead, len(schema.LEAD_SOURCES)).tolist()
        owners = self._owner_ids("person", lay.sf_person(slot))
        converted_on = days_from_anchor(-d.below("sf-converted-on", lead, 1400))
        contact_ids = _take(self.contact_ids, np.where(converted, contact, -1))
        account_ids = _take(self.account_ids, np.where(converted, self.contact_account[np.minimum(
            contact, lay.sf_contacts - 1)], -1))
        opp_ids = _take(self.opp_ids, np.where(converted & (lead < lay.opportunities), lead, -1))
        rows = []
        for i in range(len(lead)):
            city, country, _ = w.CITIES[traits["city"][i]]
            row = {"FirstName": traits["first"][i], "LastName": traits["last"][i], "Email": emails[i],
                   "Company": traits["company"][i] or "[not provided]", "Title": traits["title"][i],
                   "Phone": traits["phone"][i], "City": city, "Country": country,
                   "LeadSource": schema.LEAD_SOURCES[source_i[i]], "OwnerId": owners[i],
                   "Industry": INDUSTRY_PAIRS[industry[i]][0] if has_industry[i] else None,
                   "Rating": ("Hot", "Warm", "Cold", None)[rating[i]],
                   "Status": LEGACY_LEAD_STATUSES[legacy[i]] if bad_status[i] else _OPEN_LEAD_STATUSES[status[i]]}
            if converted[i]:
                row.update({"IsConverted": 1, "ConvertedDate": converted_on[i], "Status": "Closed - Converted",
                            "ConvertedContactId": contact_ids[i], "ConvertedAccountId": account_ids[i],
                            "ConvertedOpportunityId": opp_ids[i]})
            rows.append(row)
        return rows

    # ---- deals, roles, cases, tasks -------------------------------------------------------------------------
    def _opportunities(self, o: np.ndarray) -> list[dict]:
        lay, d = self.lay, self.d
        contact = np.where(o < lay.converted, spread(o, lay.sf_contact_people, lay.converted),
                           d.below("sf-opp-contact", o, lay.sf_contacts))
        self.opp_contact[o] = contact
        account = self.contact_account[contact]
        names = self.world.companies(lay.sf_account_company(np.maximum(account, 0)))["name"]
        stage = d.weighted("sf-opp-stage", o, _STAGE_WEIGHTS).tolist()
        closed = np.array([schema.STAGE_INFO[_STAGES[s]][1] for s in stage], dtype=bool)
        offset = np.where(closed, -d.below("sf-opp-closed", o, 1460), d.below("sf-opp-open", o, 200) - 20)
        close = days_from_anchor(offset)
        amount = (np.round(2000 * np.exp(4 * d.unit("sf-opp-amount", o)), -2)).tolist()
        product = d.below("sf-opp-product", o, len(w.PRODUCTS)).tolist()
        self.opp_product[o] = product
        kind = d.below("sf-opp-type", o, len(schema.OPPORTUNITY_TYPES)).tolist()
        account_ids = _take(self.account_ids, account)
        owners = self._owner_ids("deal", o)
        rows = []
        for i in range(len(o)):
            stage_name = _STAGES[stage[i]]
            company = names[i] if account[i] >= 0 else "New Business"
            self.opp_names[int(o[i])] = f"{company} - {w.PRODUCTS[product[i]]}"
            rows.append({"Name": self.opp_names[int(o[i])], "AccountId": account_ids[i],
                         "StageName": stage_name, "Amount": amount[i], "CloseDate": close[i],
                         "Type": schema.OPPORTUNITY_TYPES[kind[i]], "OwnerId": owners[i],
                         "ForecastCategoryName": schema.STAGE_FORECAST[stage_name],
                         "ForecastCategory": schema.STAGE_FORECAST[stage_name]})
        return rows

    def _catalogue(self) -> None:
        """The catalogue (words.PRODUCTS, with HubSpot's SKUs as ProductCode) and its standard prices, and on about
        half of the opportunities a line item of the product the opportunity is named after, as the org derives it
        (pricing.py): the entry, the list price, the name."""
        store = SalesforceStore(self.directory)
        try:
            book = pricing.standard_pricebook(store)
        finally:
            store.conn.close()
        n = len(w.PRODUCTS)
        products = self._load("Product2", n, lambda p: [
            {"Name": w.PRODUCTS[i], "ProductCode": w.PRODUCT_SKUS[i], "IsActive": True,
             "Description": f"{w.PRODUCTS[i]}, from the price list"} for i in p.tolist()])
        entries = self._load("PricebookEntry", n, lambda p: [
            {"Pricebook2Id": book, "Product2Id": products[i], "UnitPrice": float(w.PRODUCT_PRICES[i]),
             "IsActive": True, "UseStandardPrice": False, "Name": w.PRODUCTS[i], "ProductCode": w.PRODUCT_SKUS[i]}
            for i in p.tolist()])
        sold = np.flatnonzero(self.d.unit("sf-oli-share", np.arange(self.lay.opportunities)) < w.LINE_ITEM_SHARE)

        def make(k: np.ndarray) -> list[dict]:
            o = sold[k]
            quantity = (self.d.below("sf-oli-quantity", k, 10) + 1).tolist()
            discount = (self.d.below("sf-oli-discount", k, 4) * 5).tolist()
            rows = []
            for i, (opp, product) in enumerate(zip(o.tolist(), self.opp_product[o].tolist(), strict=True)):
                price = float(w.PRODUCT_PRICES[product])
                rows.append({"OpportunityId": self.opp_ids[opp].decode(), "PricebookEntryId": entries[product],
                             "Product2Id": products[product], "ProductCode": w.PRODUCT_SKUS[product],
                             "Name": f"{self.opp_names[opp]} {w.PRODUCTS[product]}", "ListPrice": price,
                             "UnitPrice": price, "Quantity": float(quantity[i]),
                             "Discount": float(discount[i]) or None})
            return rows

        self._load("OpportunityLineItem", len(sold), make)

    def _load_roles(self) -> None:
        lay, d = self.lay, self.d

        def make(o: np.ndarray) -> list[dict]:
            keep = o[d.unit("sf-role", o) < 0.9]
            role = d.below("sf-role-name", keep, len(schema.CONTACT_ROLES)).tolist()
            return [{"OpportunityId": opp, "ContactId": con, "Role": schema.CONTACT_ROLES[r], "IsPrimary": 1}
                    for opp, con, r in zip(_take(self.opp_ids, keep), _take(self.contact_ids, self.opp_contact[keep]),
                                           role, strict=True)]

        self._load("OpportunityContactRole", lay.opportunities, make)

    def _cases(self, x: np.ndarray) -> list[dict]:
        lay, d = self.lay, self.d
        contact = d.below("sf-case-contact", x, lay.sf_contacts)
        contact_ids = _take(self.contact_ids, contact)
        account_ids = _take(self.account_ids, self.contact_account[contact])
        subject = d.below("sf-case-subject", x, len(w.CASE_SUBJECTS)).tolist()
        status = d.weighted("sf-case-status", x, (15, 20, 5, 60)).tolist()
        priority = d.weighted("sf-case-priority", x, (20, 55, 25)).tolist()
        origin = d.below("sf-case-origin", x, 3).tolist()
        reason = d.below("sf-case-reason", x, 7).tolist()
        owners = self._owner_ids("ticket", x)
        fields = schema.SCHEMA["Case"]
        statuses, priorities = fields.field("Status").picklist_values, fields.field("Priority").picklist_values
        origins, reasons = fields.field("Origin").picklist_values, fields.field("Reason").picklist_values
        return [{"CaseNumber": f"{1001 + int(x[i]):08d}", "ContactId": contact_ids[i], "AccountId": account_ids[i],
                 "Subject": w.CASE_SUBJECTS[subject[i]], "Status": statuses[status[i]],
                 "Priority": priorities[priority[i]], "Origin": origins[origin[i]], "Reason": reasons[reason[i]],
                 "Description": f"Customer reported: {w.CASE_SUBJECTS[subject[i]].lower()}.", "OwnerId": owners[i]}
                for i in range(len(x))]

    def _about(self, stream: str, idx: np.ndarray) -> tuple[list, list]:
        """Who an activity is logged on (a Contact) and what it is about (now and then the Contact's Account)."""
        contact = self.d.below(f"{stream}-contact", idx, self.lay.sf_contacts)
        on_account = self.d.unit(f"{stream}-what", idx) < 0.3
        return _take(self.contact_ids, contact), _take(self.account_ids,
                                                        np.where(on_account, self.contact_account[contact], -1))

    def _logged(self, subtype: str) -> Callable[[np.ndarray], list[dict]]:
        """Calls and emails logged as completed Tasks of that TaskSubtype."""
        def make(t: np.ndarray) -> list[dict]:
            stream = f"sf-{subtype.lower()}"
            who, what = self._about(stream, t)
            dates = days_from_anchor(-self.d.below(f"{stream}-date", t, 800) - 1)
            product = self.d.below(f"{stream}-product", t, len(w.PRODUCTS)).tolist()
            seconds = (30 * (self.d.below(f"{stream}-duration", t, 60) + 1)).tolist()
            inbound = (self.d.unit(f"{stream}-direction", t) < 0.3).tolist()
            owners = self._owner_ids(stream, t)
            rows = []
            for i in range(len(t)):
                row = {"TaskSubtype": subtype, "WhoId": who[i], "WhatId": what[i], "ActivityDate": dates[i],
                       "Status": "Completed", "Priority": "Normal", "OwnerId": owners[i],
                       "Subject": f"{subtype}: {w.PRODUCTS[product[i]]}",
                       "Description": f"About the {w.PRODUCTS[product[i]].lower()}."}
                if subtype == "Call":
                    row |= {"CallType": "Inbound" if inbound[i] else "Outbound",
                            "CallDurationInSeconds": seconds[i]}
                rows.append(row)
            return rows
        return make

    def _events(self, m: np.ndarray) -> list[dict]:
        who, what = self._about("sf-event", m)
        days = days_from_anchor(-self.d.below("sf-event-date", m, 800) - 1)
        hour = (8 + self.d.below("sf-event-hour", m, 9)).tolist()
        minutes = (60 * (self.d.below("sf-event-length", m, 2) + 1)).tolist()
        product = self.d.below("sf-event-product", m, len(w.PRODUCTS)).tolist()
        owners = self._owner_ids("sf-event", m)
        return [{"Subject": f"{w.PRODUCTS[product[i]]} review", "WhoId": who[i], "WhatId": what[i],
                 "StartDateTime": f"{days[i]}T{hour[i]:02d}:00:00.000+0000", "DurationInMinutes": minutes[i],
                 "Location": w.CITIES[i % len(w.CITIES)][0], "OwnerId": owners[i]} for i in range(len(m))]

    def _tasks(self, t: np.ndarray) -> list[dict]:
        lay, d = self.lay, self.d
        kind = d.weighted("sf-task-kind", t, (30, 25, 25, 20))  # opportunity, account, lead, contact only
        opp = d.below("sf-task-opp", t, lay.opportunities)
        contact = np.where(kind == 0, self.opp_contact[opp], d.below("sf-task-contact", t, lay.sf_contacts))
        lead = d.below("sf-task-lead", t, lay.sf_leads)
        who_contact = _take(self.contact_ids, contact)
        who_lead = _take(self.lead_ids, lead)
        what = np.select([kind == 0, kind == 1], [0, 1], 2)
        opp_ids = _take(self.opp_ids, np.where(what == 0, opp, -1))
        account_ids = _take(self.account_ids, np.where(what == 1, self.contact_account[contact], -1))
        offset = d.below("sf-task-date", t, 900) - 800
        dates = days_from_anchor(offset)
        done = ((offset < 0) & (d.unit("sf-task-done", t) < 0.85)).tolist()
        subject = d.below("sf-task-subject", t, len(w.TASK_SUBJECTS)).tolist()
        priority = d.weighted("sf-task-priority", t, (20, 65, 15)).tolist()
        task_type = d.below("sf-task-type", t, 4).tolist()
        owners = self._owner_ids("task", t)
        kinds = kind.tolist()
        return [{"WhoId": who_lead[i] if kinds[i] == 2 else who_contact[i],
                 "WhatId": opp_ids[i] or account_ids[i], "Subject": w.TASK_SUBJECTS[subject[i]],
                 "ActivityDate": dates[i], "Status": "Completed" if done[i] else "Not Started",
                 "Priority": ("High", "Normal", "Low")[priority[i]],
                 "Type": ("Call", "Email", "Meeting", "Other")[task_type[i]], "OwnerId": owners[i]}
                for i in range(len(t))]
