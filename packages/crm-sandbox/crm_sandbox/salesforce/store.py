"""The Salesforce org's records in SQLite: one table per sObject, writes checked as the real org checks them."""

from __future__ import annotations

import datetime as dt
import secrets
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from crm_sandbox.ids import make_id, normalize_id
from crm_sandbox.salesforce import custom, pricing, schema
from crm_sandbox.salesforce.errors import SfError, SfErrors, entity_deleted, not_found
from crm_sandbox.salesforce.model import SObject
from crm_sandbox.salesforce.rules import check_payload, format_datetime, missing_required, now_stamp, parse_datetime
from crm_sandbox.state import Settings, Usage, open_db

SCHEMA = schema.SCHEMA
DEFAULTS = {
    "allocation": 100_000,  # daily API requests, as an Enterprise org's base allocation
    "session_seconds": 7200,
    "latency_ms": 0,
    "latency_jitter_ms": 0,
    "duplicate_rules": {},  # {"Lead": "block" | "alert", "Contact": ...}
    "api_version": "59.0",
}
# Fields whose value the org indexes for lookups (external ids, duplicate rules, incremental reads).
_INDEXED = ("SystemModstamp", "Email", "HubSpot_Id__c", "AccountId", "ConvertedContactId", "Username")
_CASE_SENSITIVE = ("datetime", "reference")  # indexed as they are; the other indexed fields case-insensitively


def sobject_or_error(name: str) -> SObject:
    sobject = schema.get_sobject(name)
    if sobject is None:
        raise SfError("NOT_FOUND", "The requested resource does not exist", status=404)
    return sobject


class SalesforceStore:
    """All org state: records, id counters, sessions, settings, usage. Owned by one event-loop thread."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.conn = open_db(directory / "salesforce.sqlite3")
        self.settings = Settings(self.conn, DEFAULTS)
        self.usage = Usage(self.conn)
        self.columns: dict[str, list[str]] = {}
        custom.load(self.conn)
        self.ensure_tables()
        self.conn.execute("PRAGMA optimize")  # refresh planner statistics where SQLite thinks they are stale
        self.settings.setdefault("org_id", lambda: make_id("00D", 1))
        self.settings.setdefault("client_id", lambda: "3MVG9sandbox" + secrets.token_hex(12))
        self.settings.setdefault("client_secret", lambda: secrets.token_hex(24))
        self.settings.setdefault("username", lambda: "admin@sandbox.crm-sync.local")
        self.settings.setdefault("password", lambda: secrets.token_urlsafe(12))
        self.settings.setdefault("security_token", lambda: secrets.token_hex(8))
        if self.settings.get("admin_user_id") is None:
            uid = self.insert_trusted("User", {
                "Username": self.settings["username"], "LastName": "Admin", "FirstName": "Sandbox",
                "Email": "admin@sandbox.crm-sync.local", "Alias": "admin", "IsActive": 1}, user_id=None)
            self.settings.set("admin_user_id", uid)
        pricing.ensure_standard_pricebook(self, self.settings["admin_user_id"])

    # ---- tables and ids -------------------------------------------------------------------------------
    def ensure_tables(self) -> None:
        self.conn.execute("CREATE TABLE IF NOT EXISTS _counters (prefix TEXT PRIMARY KEY, next INTEGER NOT NULL)")
        self.conn.execute("""CREATE TABLE IF NOT EXISTS _sessions (token TEXT PRIMARY KEY, user_id TEXT NOT NULL,
                             expires_at REAL NOT NULL, revoked INTEGER NOT NULL DEFAULT 0)""")
        for sobject in SCHEMA.values():
            cols = [f'"{f.name}" {f.sql_type}' for f in sobject.fields]
            # _DeletedDate is not a Salesforce field: it backs getDeleted's deletedDate.
            self.conn.execute(f'CREATE TABLE IF NOT EXISTS "{sobject.name}" ({", ".join(cols)}, "_DeletedDate" TEXT)')
            self.conn.execute(f'CREATE UNIQUE INDEX IF NOT EXISTS "{sobject.name}_Id" ON "{sobject.name}" ("Id")')
            # Live rows by modification time: incremental reads and their totalSize counts stay index-only.
            self.conn.execute(f'CREATE INDEX IF NOT EXISTS "{sobject.name}_live_modstamp" '
                              f'ON "{sobject.name}" ("IsDeleted", "SystemModstamp")')
            for name in _INDEXED:
                field = sobject.field(name)
                if field is not None:
                    collate = " COLLATE NOCASE" if field.type not in _CASE_SENSITIVE else ""
                    self.conn.execute(f'CREATE INDEX IF NOT EXISTS "{sobject.name}_{name}" '
                                      f'ON "{sobject.name}" ("{name}"{collate})')
            self.columns[sobject.name] = [f.name for f in sobject.fields]

    def allocate_ids(self, sobject: SObject, count: int) -> list[str]:
        # One statement, so the server and a direct loader in another process never hand out the same id.
        end = self.conn.execute(
            "INSERT INTO _counters VALUES (?, ?) ON CONFLICT (prefix) DO UPDATE SET next = next + ? RETURNING next",
            (sobject.key_prefix, 1 + count, count)).fetchone()[0]
        return [make_id(sobject.key_prefix, n) for n in range(end - count, end)]

    def _number_cases(self, rows: list[dict]) -> None:
        """CaseNumber is an auto-number: the org assigns it, 8 digits, in creation order."""
        missing = [r for r in rows if not r.get("CaseNumber")]
        if not missing:
            return
        end = self.conn.execute(
            "INSERT INTO _counters VALUES ('CaseNumber', ?) ON CONFLICT (prefix) DO UPDATE SET next = next + ? "
            "RETURNING next", (1 + len(missing), len(missing))).fetchone()[0]
        for number, row in zip(range(end - len(missing), end), missing, strict=True):
            row["CaseNumber"] = f"{number:08d}"

    def type_of_id(self, record_id: str) -> str | None:
        return schema.key_prefix_to_type(record_id[:3])

    # ---- reads ------------------------------------------------------------------------------------------
    def row(self, sobject: SObject, record_id: str) -> dict | None:
        rid = normalize_id(record_id)
        if rid is None:
            return None
        cols = self.columns[sobject.name]
        found = self.conn.execute(
            f'SELECT {", ".join(f"{chr(34)}{c}{chr(34)}" for c in cols)}, "_DeletedDate" FROM "{sobject.name}" '
            f'WHERE "Id" = ?', (rid,)).fetchone()
        if found is None:
            return None
        out = dict(zip(cols, found[:-1], strict=True))
        out["_DeletedDate"] = found[-1]
        return out

    def live_row(self, sobject: SObject, record_id: str) -> dict:
        """The record, or NOT_FOUND / ENTITY_IS_DELETED as REST reports them."""
        found = self.row(sobject, record_id)
        if found is None:
            raise not_found()
        if found["IsDeleted"]:
            raise entity_deleted()
        return found

    def to_json(self, sobject: SObject, row: dict, fields: Iterable[str] | None = None) -> dict:
        version = self.settings["api_version"]
        out: dict[str, Any] = {"attributes": {"type": sobject.name,
                                              "url": f"/services/data/v{version}/sobjects/{sobject.name}/{row['Id']}"}}
        wanted = [sobject.field(f) for f in fields] if fields else list(sobject.fields)
        for field in wanted:
            if field is None:
                continue
            out[field.name] = json_value(field.type, row.get(field.name))
        return out

    def find_ids(self, sobject: SObject, field: str, value: str) -> list[str]:
        """Live records whose field equals value (case-insensitive, as external-id lookups are)."""
        return [r[0] for r in self.conn.execute(self.lookup_sql(sobject, field), (value,)).fetchall()]

    def lookup_sql(self, sobject: SObject, field: str) -> str:
        """find_ids' query: by the field's index when it has one. After ANALYZE, SQLite counts a column that is
        mostly null (an external id no record has before the first sync) as one value repeated, and would scan
        the whole table for every lookup of an upsert."""
        f = sobject.field(field)
        by_index = (f' INDEXED BY "{sobject.name}_{field}"' if field in _INDEXED and f is not None
                    and f.type not in _CASE_SENSITIVE else "")
        return (f'SELECT "Id" FROM "{sobject.name}"{by_index} WHERE "{field}" = ? COLLATE NOCASE '
                f'AND "IsDeleted" = 0')

    # ---- writes -----------------------------------------------------------------------------------------
    def _check_references(self, sobject: SObject, values: dict) -> list[SfError]:
        errors = []
        for name, value in values.items():
            field = sobject.field(name)
            if field.type != "reference" or value is None:
                continue
            target = self.type_of_id(value)
            allowed = set(field.reference_to)
            if target is None or (target not in allowed and not (target == "User" and "Group" in allowed)):
                errors.append(SfError("FIELD_INTEGRITY_EXCEPTION",
                                      f"{field.label}: id value of incorrect type: {value}", [name]))
                continue
            exists = self.conn.execute(f'SELECT "IsDeleted" FROM "{target}" WHERE "Id" = ?', (value,)).fetchone()
            if exists is None or exists[0]:
                errors.append(SfError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [name]))
        return errors

    def _check_unique(self, sobject: SObject, row: dict, own_id: str | None) -> list[SfError]:
        errors = []
        for field in sobject.fields:
            if not field.unique or row.get(field.name) in (None, ""):
                continue
            others = [i for i in self.find_ids(sobject, field.name, str(row[field.name])) if i != own_id]
            if others:
                errors.append(SfError("DUPLICATE_VALUE", f"duplicate value found: {field.name} duplicates value on "
                                      f"record with id: {others[0][:15]}", [field.name]))
        return errors

    def _check_duplicate_rule(self, sobject: SObject, row: dict, own_id: str | None,
                              allow_save: bool) -> SfError | None:
        mode = self.settings["duplicate_rules"].get(sobject.name)
        email = row.get("Email")
        if not mode or not email or (mode == "alert" and allow_save):
            return None
        matches = [i for i in self.find_ids(sobject, "Email", email) if i != own_id]
        if not matches:
            return None
        version = self.settings["api_version"]
        result = {
            "allowSave": mode == "alert", "duplicateRule": f"Standard_{sobject.name}_Duplicate_Rule",
            "duplicateRuleEntityType": sobject.name,
            "errorMessage": "You're creating a duplicate record. We recommend you use an existing record instead.",
            "matchResults": [{"entityType": sobject.name, "errors": [], "matchEngine": "ExactMatchEngine",
                              "matchRecords": [{"additionalInformation": [], "fieldDiffs": [], "matchConfidence": 100.0,
                                                "record": {"attributes": {"type": sobject.name, "url":
                                                           f"/services/data/v{version}/sobjects/{sobject.name}/{m}"},
                                                           "Id": m}} for m in matches[:5]],
                              "rule": f"Standard_{sobject.name}_Match_Rule_v1_1", "size": len(matches[:5]),
                              "success": True}],
        }
        return SfError("DUPLICATES_DETECTED", result["errorMessage"], [], extra={"duplicateResut": result})

    def prepare_create(self, sobject: SObject, data: dict, user_id: str, allow_save: bool = False) -> dict:
        """Validate a create body and return the full row to insert (without Id). Raises SfErrors."""
        values, errors = check_payload(sobject, data, creating=True)
        if errors:
            raise SfErrors(errors)
        row = {**blank_row(sobject), **values}
        if sobject.field("OwnerId") is not None and row.get("OwnerId") is None:
            row["OwnerId"] = user_id
        errors = self._check_references(sobject, values)
        if not errors and sobject.name in pricing.OBJECTS:
            errors += pricing.check_create(self, sobject.name, row, values)
        missing = missing_required(sobject, row)
        if missing:
            errors.append(missing)
        errors += self._check_unique(sobject, row, None)
        if not errors:
            dup = self._check_duplicate_rule(sobject, row, None, allow_save)
            if dup:
                errors.append(dup)
        if errors:
            raise SfErrors(errors)
        return row

    def insert_rows(self, sobject: SObject, rows: list[dict], user_id: str | None,
                    keep_stamps: bool = False) -> list[str]:
        """Insert prepared rows in one statement batch; stamps ids, audit fields and derived values.

        keep_stamps (the direct loader only, never the API): rows carrying CreatedDate / LastModifiedDate /
        SystemModstamp keep them, so a seeded org can have years of history."""
        ids = self.allocate_ids(sobject, len(rows))
        if sobject.name == "Case":
            self._number_cases(rows)
        stamp = now_stamp()
        cols = self.columns[sobject.name]
        params = []
        for rid, row in zip(ids, rows, strict=True):
            created = (row.get("CreatedDate") if keep_stamps else None) or stamp
            modified = (row.get("LastModifiedDate") if keep_stamps else None) or created
            row.update({"Id": rid, "IsDeleted": 0, "CreatedDate": created, "LastModifiedDate": modified,
                        "SystemModstamp": (row.get("SystemModstamp") if keep_stamps else None) or modified})
            if "CreatedById" in row:
                row["CreatedById"] = row["LastModifiedById"] = user_id
            derive(sobject, row)
            params.append([row.get(c) for c in cols])
        placeholders = ", ".join("?" for _ in cols)
        quoted = ", ".join(f'"{c}"' for c in cols)
        self.conn.executemany(f'INSERT INTO "{sobject.name}" ({quoted}) VALUES ({placeholders})', params)
        pricing.after_write(self, sobject.name, rows)
        return ids

    def insert_trusted(self, type_name: str, values: dict, user_id: str | None) -> str:
        """Insert without API checks (the org's own setup and the direct loader)."""
        sobject = SCHEMA[type_name]
        return self.insert_rows(sobject, [{**blank_row(sobject), **values}], user_id)[0]

    def create(self, sobject: SObject, data: dict, user_id: str, allow_save: bool = False) -> str:
        row = self.prepare_create(sobject, data, user_id, allow_save)
        return self.insert_rows(sobject, [row], user_id)[0]

    def prepare_update(self, sobject: SObject, record_id: str, data: dict,
                       allow_save: bool = False) -> tuple[dict, dict]:
        """Validate an update; return (current row, changed values). Raises SfError(s)."""
        current = self.live_row(sobject, record_id)
        if sobject.name == "Lead" and current.get("IsConverted"):
            raise SfError("CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead", [])
        values, errors = check_payload(sobject, data, creating=False)
        if errors:
            raise SfErrors(errors)
        errors = self._check_references(sobject, values)
        if not errors and sobject.name in pricing.OBJECTS:
            errors += pricing.check_update(self, sobject.name, current, values)
        merged = {**current, **values}
        missing = missing_required(sobject, merged)
        if missing:
            errors.append(missing)
        errors += self._check_unique(sobject, merged, current["Id"])
        if not errors and "Email" in values:
            dup = self._check_duplicate_rule(sobject, merged, current["Id"], allow_save)
            if dup:
                errors.append(dup)
        if errors:
            raise SfErrors(errors)
        return current, values

    def apply_update(self, sobject: SObject, current: dict, values: dict, user_id: str | None,
                     stamped: bool = True) -> None:
        """stamped False: the values change without LastModifiedDate or SystemModstamp moving, as a formula or
        roll-up field's value does in Salesforce (so incremental readers cannot see it)."""
        row = {**current, **values}
        if stamped:
            stamp = now_stamp()
            row.update({"LastModifiedDate": stamp, "SystemModstamp": stamp})
        # A new stage brings its default probability unless the write sets one.
        row["_stage_changed"] = "StageName" in values and "Probability" not in values
        if "LastModifiedById" in row and user_id:
            row["LastModifiedById"] = user_id
        derive(sobject, row)
        changed = {k: v for k, v in row.items() if k in current and current[k] != v}
        if not changed:
            return
        assignments = ", ".join(f'"{k}" = ?' for k in changed)
        self.conn.execute(f'UPDATE "{sobject.name}" SET {assignments} WHERE "Id" = ?', [*changed.values(), row["Id"]])

    def update(self, sobject: SObject, record_id: str, data: dict, user_id: str, allow_save: bool = False,
               stamped: bool = True) -> None:
        current, values = self.prepare_update(sobject, record_id, data, allow_save)
        self.apply_update(sobject, current, values, user_id, stamped)

    def upsert(self, sobject: SObject, field_name: str, value: str, data: dict, user_id: str,
               allow_save: bool = False) -> tuple[str, bool]:
        """Upsert by external id: (id, created). 300 when several match, 404 for a field that is no key."""
        field = sobject.field(field_name)
        if field is None or not (field.external_id or field.name == "Id"):
            raise not_found()
        body = {k: v for k, v in data.items() if k != "attributes"}
        given = next((v for k, v in body.items() if k.lower() == field.name.lower()), None)
        if given is not None and str(given).lower() != value.lower():
            raise SfError("INVALID_FIELD", f"Value for field '{field.name}' in the body does not match the "
                          f"external id in the URL", [field.name])
        body = {k: v for k, v in body.items() if k.lower() != field.name.lower()}
        if field.name == "Id":
            rid = normalize_id(value)
            matches = [rid] if rid and self.row(sobject, rid) else []
        else:
            matches = self.find_ids(sobject, field.name, value)
        if len(matches) > 1:
            version = self.settings["api_version"]
            raise SfError("MULTIPLE_CHOICES", "More than one record found for external id field",
                          status=300, extra={"records": [f"/services/data/v{version}/sobjects/{sobject.name}/{m}"
                                                         for m in matches]})
        if matches:
            self.update(sobject, matches[0], body, user_id, allow_save)
            return matches[0], False
        if field.name != "Id":
            body[field.name] = value
        return self.create(sobject, body, user_id, allow_save), True

    def delete(self, sobject: SObject, record_id: str, user_id: str | None = None) -> None:
        current = self.live_row(sobject, record_id)
        refused = pricing.check_delete(self, sobject.name, current) if sobject.name in pricing.OBJECTS else None
        if refused:
            raise refused
        self.soft_delete(sobject, [current["Id"]], user_id)
        pricing.after_write(self, sobject.name, [current])

    def soft_delete(self, sobject: SObject, ids: list[str], user_id: str | None, master_id: str | None = None) -> None:
        # The details of a master-detail relationship go with their master (custom objects; salesforce/custom.py).
        for rel in schema.CHILD_RELATIONSHIPS.get(sobject.name, ()):
            if (rel.child, rel.field) in schema.MASTER_DETAIL and ids:
                marks = ", ".join("?" for _ in ids)
                details = [r[0] for r in self.conn.execute(
                    f'SELECT "Id" FROM "{rel.child}" WHERE "{rel.field}" IN ({marks}) AND NOT "IsDeleted"', ids)]
                if details:
                    self.soft_delete(SCHEMA[rel.child], details, user_id)
        stamp = now_stamp()
        extra = ', "MasterRecordId" = ?' if master_id else ""
        params = [stamp, stamp, user_id] + ([master_id] if master_id else [])
        self.conn.executemany(
            f'UPDATE "{sobject.name}" SET "IsDeleted" = 1, "SystemModstamp" = ?, "_DeletedDate" = ?, '
            f'"LastModifiedById" = COALESCE(?, "LastModifiedById"){extra} WHERE "Id" = ?',
            [[*params, i] for i in ids])

    # ---- sessions ---------------------------------------------------------------------------------------
    def new_session(self, user_id: str) -> str:
        token = f"{self.settings['org_id'][:15]}!AQ{secrets.token_urlsafe(48)}"
        self.conn.execute("INSERT INTO _sessions VALUES (?, ?, ?, 0)",
                          (token, user_id, time.time() + self.settings["session_seconds"]))
        return token

    def session_user(self, token: str) -> str | None:
        row = self.conn.execute("SELECT user_id, expires_at, revoked FROM _sessions WHERE token = ?",
                                (token,)).fetchone()
        if row is None or row[2] or row[1] < time.time():
            return None
        return row[0]

    def revoke_sessions(self, token: str | None = None) -> int:
        if token:
            return self.conn.execute("UPDATE _sessions SET revoked = 1 WHERE token = ?", (token,)).rowcount
        return self.conn.execute("UPDATE _sessions SET revoked = 1 WHERE revoked = 0").rowcount


def blank_row(sobject: SObject) -> dict:
    """A new record before the caller's values: nulls, picklist defaults, false booleans."""
    row = {}
    for field in sobject.fields:
        row[field.name] = field.default_value if field.default_value is not None else (
            0 if field.type == "boolean" else None)
    return row


def json_value(sf_type: str, value: Any) -> Any:
    """Stored value -> REST JSON value."""
    if value is None:
        return None
    if sf_type == "boolean":
        return bool(value)
    if sf_type in ("double", "currency", "percent"):
        return float(value)
    if sf_type == "int":
        return int(value)
    return value


def derive(sobject: SObject, row: dict) -> None:
    """Values the org computes: compound names, stage-driven opportunity fields, closed flags."""
    name = sobject.name
    if name in ("Lead", "Contact", "User"):
        row["Name"] = " ".join(p for p in (row.get("FirstName"), row.get("LastName")) if p) or None
    elif name == "Opportunity":
        info = schema.STAGE_INFO.get(row.get("StageName") or "")
        if info:
            probability, closed, won = info
            if row.get("Probability") is None or row.get("_stage_changed"):
                row["Probability"] = probability
            row["IsClosed"], row["IsWon"] = int(closed), int(won)
        if row.get("Amount") is not None and row.get("Probability") is not None:
            row["ExpectedRevenue"] = round(row["Amount"] * row["Probability"] / 100.0, 2)
        close = row.get("CloseDate")
        if close:
            d = dt.date.fromisoformat(close)
            row["FiscalYear"], row["FiscalQuarter"] = d.year, (d.month - 1) // 3 + 1
            row["Fiscal"] = f"{d.year} {(d.month - 1) // 3 + 1}"
    elif name == "Case":
        closed = row.get("Status") == "Closed"
        if closed and not row.get("IsClosed"):
            row["ClosedDate"] = now_stamp()
        row["IsClosed"] = int(closed)
    elif name == "Task":
        row["IsClosed"] = int(row.get("Status") == "Completed")
    elif name == "Event":
        # The end and the length follow each other (the end wins when both are there); the activity date is the
        # start's.
        start = parse_datetime(row.get("StartDateTime") or "")
        end = parse_datetime(row.get("EndDateTime") or "")
        if start and end:
            row["DurationInMinutes"] = max(0, int((end - start).total_seconds() // 60))
        elif start and row.get("DurationInMinutes") is not None:
            row["EndDateTime"] = format_datetime(start + dt.timedelta(minutes=int(row["DurationInMinutes"])))
        row["ActivityDateTime"] = row.get("StartDateTime")
        row["ActivityDate"] = start.date().isoformat() if start else None
    elif name == "OpportunityLineItem":
        # the subtotal and total price follow the sales price, quantity and discount (pricing.py)
        if row.get("UnitPrice") is not None and row.get("Quantity") is not None:
            row["Subtotal"] = round(row["UnitPrice"] * row["Quantity"], 2)
            row["TotalPrice"] = round(row["Subtotal"] * (1 - (row.get("Discount") or 0) / 100), 2)
    elif name == "CampaignMember":
        row["LeadOrContactId"] = row.get("ContactId") or row.get("LeadId")
        row["HasResponded"] = int(row.get("Status") == "Responded")
    row.pop("_stage_changed", None)


class OrgActions:
    """What users do in the Salesforce UI that the REST API cannot: lead conversion and merges."""

    def __init__(self, store: SalesforceStore):
        self.store = store

    def convert_lead(self, lead_id: str, user_id: str, account_id: str | None = None,
                     contact_id: str | None = None, create_opportunity: bool = True,
                     opportunity_name: str | None = None, converted_status: str = "Closed - Converted") -> dict:
        """Convert a lead as Database.convertLead does; returns the ids it set on the lead."""
        store, conn = self.store, self.store.conn
        lead_type, acc_type, con_type = SCHEMA["Lead"], SCHEMA["Account"], SCHEMA["Contact"]
        lead = store.live_row(lead_type, lead_id)
        if lead["IsConverted"]:
            raise SfError("CONVERT_LEAD", f"Lead {lead['Id']} is already converted")
        status = lead_type.field("Status")
        if converted_status not in status.picklist_values:
            raise SfError("INVALID_STATUS", f"invalid converted status: {converted_status}")
        conn.execute("BEGIN")
        try:
            if account_id:
                account_id = store.live_row(acc_type, account_id)["Id"]
            else:
                account_id = store.create(acc_type, _present({
                    "Name": lead["Company"], "Industry": lead.get("Industry"), "Website": lead.get("Website"),
                    "Phone": lead.get("Phone"), "BillingStreet": lead.get("Street"), "BillingCity": lead.get("City"),
                    "BillingState": lead.get("State"), "BillingPostalCode": lead.get("PostalCode"),
                    "BillingCountry": lead.get("Country"), "NumberOfEmployees": lead.get("NumberOfEmployees"),
                    "AnnualRevenue": lead.get("AnnualRevenue"), "OwnerId": lead["OwnerId"]}), user_id)
            if contact_id:
                contact = store.live_row(con_type, contact_id)
                contact_id = contact["Id"]
                if not contact.get("AccountId"):
                    store.apply_update(con_type, contact, {"AccountId": account_id}, user_id)
            else:
                contact_id = store.create(con_type, _present({
                    "FirstName": lead.get("FirstName"), "LastName": lead["LastName"], "Email": lead.get("Email"),
                    "Phone": lead.get("Phone"), "MobilePhone": lead.get("MobilePhone"), "Title": lead.get("Title"),
                    "Salutation": lead.get("Salutation"), "LeadSource": lead.get("LeadSource"),
                    "MailingStreet": lead.get("Street"), "MailingCity": lead.get("City"),
                    "MailingState": lead.get("State"), "MailingPostalCode": lead.get("PostalCode"),
                    "MailingCountry": lead.get("Country"), "Description": lead.get("Description"),
                    "AccountId": account_id, "OwnerId": lead["OwnerId"]}), user_id, allow_save=True)
            opportunity_id = None
            if create_opportunity:
                close = (dt.date.today() + dt.timedelta(days=30)).isoformat()
                opportunity_id = store.create(SCHEMA["Opportunity"], _present({
                    "Name": opportunity_name or f"{lead['Company']}-", "AccountId": account_id,
                    "StageName": "Prospecting", "CloseDate": close, "LeadSource": lead.get("LeadSource"),
                    "OwnerId": lead["OwnerId"]}), user_id)
            store.apply_update(lead_type, lead, {
                "IsConverted": 1, "ConvertedDate": dt.date.today().isoformat(), "Status": converted_status,
                "ConvertedAccountId": account_id, "ConvertedContactId": contact_id,
                "ConvertedOpportunityId": opportunity_id}, user_id)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return {"leadId": lead["Id"], "accountId": account_id, "contactId": contact_id,
                "opportunityId": opportunity_id}

    def merge(self, type_name: str, master_id: str, loser_ids: list[str], user_id: str,
              field_values: dict | None = None) -> dict:
        """Merge up to two records into a master: children move to it, losers are deleted with MasterRecordId."""
        store, conn = self.store, self.store.conn
        sobject = schema.get_sobject(type_name)
        if sobject is None or sobject.name not in ("Lead", "Contact", "Account"):
            raise SfError("INVALID_TYPE", f"merge is supported for Lead, Contact and Account, not {type_name}")
        if not 1 <= len(loser_ids) <= 2:
            raise SfError("INVALID_FIELD", "merge takes one or two records to merge into the master")
        master = store.live_row(sobject, master_id)
        losers = [store.live_row(sobject, i)["Id"] for i in loser_ids]
        if master["Id"] in losers:
            raise SfError("INVALID_FIELD", "the master record cannot also be merged into itself")
        conn.execute("BEGIN")
        try:
            if field_values:
                current, values = store.prepare_update(sobject, master["Id"], field_values)
                store.apply_update(sobject, current, values, user_id)
            stamp = now_stamp()
            moved = 0
            marks = ", ".join("?" for _ in losers)
            for child in SCHEMA.values():
                for f in child.fields:
                    if (f.type == "reference" and sobject.name in f.reference_to and f.name != "MasterRecordId"
                            and not f.name.startswith("Converted")):
                        cur = conn.execute(
                            f'UPDATE "{child.name}" SET "{f.name}" = ?, "SystemModstamp" = ?, "LastModifiedDate" = ? '
                            f'WHERE "{f.name}" IN ({marks})', [master["Id"], stamp, stamp, *losers])
                        moved += cur.rowcount
            store.apply_update(sobject, store.live_row(sobject, master["Id"]), {}, user_id)
            store.soft_delete(sobject, losers, user_id, master_id=master["Id"])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return {"id": master["Id"], "mergedRecordIds": losers, "updatedRelatedIds": moved}


def _present(values: dict) -> dict:
    return {k: v for k, v in values.items() if v is not None}
