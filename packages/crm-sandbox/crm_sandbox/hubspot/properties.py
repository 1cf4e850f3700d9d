"""Property definitions (standard per B7, custom from the properties API) and how a written value is checked."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from crm_sandbox.hubspot import values as v

EPOCH = "2019-01-01T00:00:00.000Z"  # createdAt of the standard definitions
TYPE_FIELD_TYPES = {
    "string": {"text", "textarea", "html", "phonenumber", "file"},
    "number": {"number", "calculation_equation"},
    "date": {"date"},
    "datetime": {"date"},
    "enumeration": {"select", "radio", "checkbox", "booleancheckbox"},
    "bool": {"booleancheckbox"},
    "phone_number": {"phonenumber", "text"},
}
NAME_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,99}$")


@dataclass(frozen=True)
class Prop:
    name: str
    label: str
    type: str = "string"
    field_type: str = "text"
    group: str = "information"
    options: tuple[dict, ...] = ()
    read_only: bool = False
    calculated: bool = False
    unique: bool = False
    hubspot_defined: bool = True
    external_options: bool = False  # hubspot_owner_id: options are the portal's owners
    description: str = ""
    display_order: int = -1
    created_at: str = EPOCH
    updated_at: str = EPOCH
    archived: bool = False
    hidden: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def multi(self) -> bool:
        return self.type == "enumeration" and self.field_type == "checkbox"

    @property
    def option_values(self) -> set[str]:
        return {o["value"] for o in self.options}

    def definition(self) -> dict:
        """The Property JSON of the properties API."""
        out = {
            "name": self.name, "label": self.label, "type": self.type, "fieldType": self.field_type,
            "description": self.description, "groupName": self.group,
            "options": [dict(o) for o in self.options], "displayOrder": self.display_order,
            "calculated": self.calculated, "externalOptions": self.external_options,
            "hasUniqueValue": self.unique, "hidden": self.hidden, "hubspotDefined": self.hubspot_defined,
            "formField": not self.read_only and not self.calculated,
            "modificationMetadata": {"archivable": not self.hubspot_defined,
                                     "readOnlyDefinition": self.hubspot_defined,
                                     "readOnlyValue": self.read_only or self.calculated},
            "createdAt": self.created_at, "updatedAt": self.updated_at, "archived": self.archived,
        }
        out.update(self.extra)
        return out

    def to_json(self) -> dict:
        """What the store keeps for a custom property (round-trips through from_json)."""
        return {"name": self.name, "label": self.label, "type": self.type, "field_type": self.field_type,
                "group": self.group, "options": list(self.options), "unique": self.unique,
                "description": self.description, "display_order": self.display_order,
                "created_at": self.created_at, "updated_at": self.updated_at, "archived": self.archived,
                "hidden": self.hidden, "calculated": self.calculated, "read_only": self.read_only}

    @classmethod
    def from_json(cls, data: dict) -> Prop:
        return cls(data["name"], data["label"], data["type"], data["field_type"], data["group"],
                   tuple(data["options"]), data.get("read_only", False), data.get("calculated", False),
                   data["unique"], False, False, data["description"], data["display_order"], data["created_at"],
                   data["updated_at"], data["archived"], data.get("hidden", False))


def _options(*pairs: tuple[str, str]) -> tuple[dict, ...]:
    return tuple({"label": label, "value": value, "displayOrder": i, "hidden": False, "description": ""}
                 for i, (label, value) in enumerate(pairs))


def _upper_options(*values: str) -> tuple[dict, ...]:
    return _options(*[(x.replace("_", " ").title(), x) for x in values])


def text(name: str, label: str, **kw) -> Prop:
    return Prop(name, label, **kw)


def number(name: str, label: str, **kw) -> Prop:
    return Prop(name, label, "number", "number", **kw)


def datetime_(name: str, label: str, **kw) -> Prop:
    return Prop(name, label, "datetime", "date", **kw)


def date(name: str, label: str, **kw) -> Prop:
    return Prop(name, label, "date", "date", **kw)


def enum(name: str, label: str, options: tuple[dict, ...], field_type: str = "select", **kw) -> Prop:
    return Prop(name, label, "enumeration", field_type, options=options, **kw)


def boolean(name: str, label: str, **kw) -> Prop:
    return Prop(name, label, "bool", "booleancheckbox", options=_options(("Yes", "true"), ("No", "false")), **kw)


LIFECYCLE = _options(("Subscriber", "subscriber"), ("Lead", "lead"),
                     ("Marketing Qualified Lead", "marketingqualifiedlead"),
                     ("Sales Qualified Lead", "salesqualifiedlead"), ("Opportunity", "opportunity"),
                     ("Customer", "customer"), ("Evangelist", "evangelist"), ("Other", "other"))
LIFECYCLE_ORDER = [o["value"] for o in LIFECYCLE]
LEAD_STATUS = _options(("New", "NEW"), ("Open", "OPEN"), ("In Progress", "IN_PROGRESS"), ("Open Deal", "OPEN_DEAL"),
                       ("Unqualified", "UNQUALIFIED"), ("Attempted to Contact", "ATTEMPTED_TO_CONTACT"),
                       ("Connected", "CONNECTED"), ("Bad Timing", "BAD_TIMING"))
INDUSTRIES = _upper_options(
    "ACCOUNTING", "AIRLINES_AVIATION", "APPAREL_FASHION", "AUTOMOTIVE", "BANKING", "BIOTECHNOLOGY",
    "BROADCAST_MEDIA", "BUILDING_MATERIALS", "CHEMICALS", "COMPUTER_HARDWARE", "COMPUTER_NETWORKING",
    "COMPUTER_SOFTWARE", "CONSTRUCTION", "CONSUMER_ELECTRONICS", "CONSUMER_GOODS", "CONSUMER_SERVICES",
    "E_LEARNING", "EDUCATION_MANAGEMENT", "ENTERTAINMENT", "FINANCIAL_SERVICES", "FOOD_BEVERAGES",
    "GOVERNMENT_ADMINISTRATION", "HEALTH_WELLNESS_AND_FITNESS", "HOSPITAL_HEALTH_CARE", "HOSPITALITY",
    "INFORMATION_TECHNOLOGY_AND_SERVICES", "INSURANCE", "INTERNET", "LEGAL_SERVICES", "LOGISTICS_AND_SUPPLY_CHAIN",
    "MANAGEMENT_CONSULTING", "MARKETING_AND_ADVERTISING", "MECHANICAL_OR_INDUSTRIAL_ENGINEERING", "MEDICAL_DEVICES",
    "NONPROFIT_ORGANIZATION_MANAGEMENT", "OIL_ENERGY", "PHARMACEUTICALS", "REAL_ESTATE", "RETAIL",
    "TELECOMMUNICATIONS", "TRANSPORTATION_TRUCKING_RAILROAD", "UTILITIES", "WHOLESALE")
DEAL_STAGES = _options(("Appointment Scheduled", "appointmentscheduled"), ("Qualified To Buy", "qualifiedtobuy"),
                       ("Presentation Scheduled", "presentationscheduled"),
                       ("Decision Maker Bought-In", "decisionmakerboughtin"), ("Contract Sent", "contractsent"),
                       ("Closed Won", "closedwon"), ("Closed Lost", "closedlost"))
TICKET_STAGES = _options(("New", "1"), ("Waiting on contact", "2"), ("Waiting on us", "3"), ("Closed", "4"))


def _system(created: str, modified: str) -> list[Prop]:
    ro = {"read_only": True}
    return [number("hs_object_id", "Record ID", **ro), datetime_(created, "Create Date", **ro),
            datetime_(modified, "Last Modified Date", **ro),
            enum("hubspot_owner_id", "Owner", (), external_options=True)]


def _merged() -> list[Prop]:
    return [enum("hs_merged_object_ids", "Merged record IDs", (), "checkbox", read_only=True)]


def _address() -> list[Prop]:
    return [text("address", "Street Address"), text("city", "City"), text("state", "State/Region"),
            text("zip", "Postal Code"), text("country", "Country/Region")]


def _engagement(extra: list[Prop]) -> list[Prop]:
    return [*_system("hs_createdate", "hs_lastmodifieddate"), datetime_("hs_timestamp", "Activity date"), *extra]


STANDARD_PROPERTIES: dict[str, list[Prop]] = {
    "contacts": [
        *_system("createdate", "lastmodifieddate"), *_merged(),
        text("email", "Email"), text("firstname", "First Name"), text("lastname", "Last Name"),
        Prop("phone", "Phone Number", "string", "phonenumber"),
        Prop("mobilephone", "Mobile Phone Number", "string", "phonenumber"), text("fax", "Fax Number"),
        text("jobtitle", "Job Title"), text("company", "Company Name"), text("website", "Website URL"),
        *_address(), text("industry", "Industry"), text("annualrevenue", "Annual Revenue"),
        enum("lifecyclestage", "Lifecycle Stage", LIFECYCLE, "radio"),
        enum("hs_lead_status", "Lead Status", LEAD_STATUS, "radio"),
        date("date_of_birth", "Date of birth"), text("message", "Message", field_type="textarea"),
        text("hs_email_domain", "Email Domain", calculated=True),
        number("associatedcompanyid", "Primary Associated Company ID", read_only=True),
        text("hs_additional_emails", "Additional email addresses", read_only=True),
        text("hs_calculated_merged_vids", "Merged Contact IDs", read_only=True),
    ],
    "companies": [
        *_system("createdate", "hs_lastmodifieddate"), *_merged(),
        text("name", "Company name"), text("domain", "Company Domain Name"), text("website", "Website URL"),
        enum("industry", "Industry", INDUSTRIES), Prop("phone", "Phone Number", "string", "phonenumber"),
        *_address(), text("address2", "Street Address 2"),
        number("numberofemployees", "Number of Employees"), number("annualrevenue", "Annual Revenue"),
        enum("type", "Type", _upper_options("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER")),
        enum("lifecyclestage", "Lifecycle Stage", LIFECYCLE, "radio"), text("description", "Description"),
        boolean("is_public", "Is Public"), text("founded_year", "Year Founded"),
    ],
    "deals": [
        *_system("createdate", "hs_lastmodifieddate"), *_merged(),
        text("dealname", "Deal Name"), number("amount", "Amount"), datetime_("closedate", "Close Date"),
        enum("pipeline", "Pipeline", _options(("Sales Pipeline", "default"))),
        enum("dealstage", "Deal Stage", DEAL_STAGES),
        enum("dealtype", "Deal Type", _options(("New Business", "newbusiness"),
                                               ("Existing Business", "existingbusiness"))),
        enum("hs_priority", "Priority", _options(("Low", "low"), ("Medium", "medium"), ("High", "high"))),
        text("description", "Deal Description"),
        number("hs_deal_stage_probability", "Deal probability", calculated=True),
        boolean("hs_is_closed", "Is Deal Closed?", calculated=True),
        boolean("hs_is_closed_won", "Is Closed Won", calculated=True),
    ],
    "tickets": [
        *_system("createdate", "hs_lastmodifieddate"), *_merged(),
        text("subject", "Ticket name"), text("content", "Ticket description", field_type="textarea"),
        enum("hs_pipeline", "Pipeline", _options(("Support Pipeline", "0"))),
        enum("hs_pipeline_stage", "Ticket status", TICKET_STAGES),
        enum("hs_ticket_priority", "Priority", _upper_options("LOW", "MEDIUM", "HIGH", "URGENT")),
        enum("hs_ticket_category", "Category", _upper_options("PRODUCT_ISSUE", "BILLING_ISSUE", "FEATURE_REQUEST",
                                                              "GENERAL_INQUIRY")),
        enum("source_type", "Source", _upper_options("CHAT", "EMAIL", "FORM", "PHONE")),
        datetime_("closed_date", "Close date"),
    ],
    "products": [
        *_system("createdate", "hs_lastmodifieddate"), text("name", "Name"), text("description", "Description"),
        number("price", "Unit price"), text("hs_sku", "SKU"), number("hs_cost_of_goods_sold", "Unit cost"),
        text("hs_recurring_billing_period", "Term"),
    ],
    "line_items": [
        *_system("createdate", "hs_lastmodifieddate"), text("name", "Name"), text("description", "Description"),
        number("price", "Unit price"), number("quantity", "Quantity"), number("discount", "Unit discount"),
        number("hs_discount_percentage", "Discount percentage"),
        number("amount", "Net price", calculated=True), text("hs_product_id", "Product ID"), text("hs_sku", "SKU"),
    ],
    "calls": _engagement([
        text("hs_call_title", "Call Title"), text("hs_call_body", "Call notes", field_type="textarea"),
        enum("hs_call_direction", "Call direction", _upper_options("INBOUND", "OUTBOUND")),
        number("hs_call_duration", "Call duration"),
        enum("hs_call_status", "Call status", _upper_options("BUSY", "CALLING_CRM_USER", "CANCELED", "COMPLETED",
                                                            "CONNECTING", "FAILED", "IN_PROGRESS", "NO_ANSWER",
                                                            "QUEUED", "RINGING")),
        text("hs_call_disposition", "Call outcome"), text("hs_call_to_number", "To Number"),
        text("hs_call_from_number", "From Number")]),
    "emails": _engagement([
        text("hs_email_subject", "Email subject"), text("hs_email_text", "Email body", field_type="textarea"),
        text("hs_email_html", "Email HTML", field_type="html"),
        enum("hs_email_direction", "Email direction", _upper_options("EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL")),
        enum("hs_email_status", "Email send status", _upper_options("BOUNCED", "FAILED", "SCHEDULED", "SENDING",
                                                                   "SENT")),
        text("hs_email_headers", "Email headers")]),
    "meetings": _engagement([
        text("hs_meeting_title", "Meeting name"), text("hs_meeting_body", "Meeting description", field_type="textarea"),
        datetime_("hs_meeting_start_time", "Start Time"), datetime_("hs_meeting_end_time", "End Time"),
        text("hs_meeting_location", "Location"),
        enum("hs_meeting_outcome", "Meeting outcome", _upper_options("SCHEDULED", "COMPLETED", "RESCHEDULED",
                                                                    "NO_SHOW", "CANCELED"))]),
    "notes": _engagement([text("hs_note_body", "Note body", field_type="textarea")]),
    "tasks": _engagement([
        text("hs_task_subject", "Task Title"), text("hs_task_body", "Task notes", field_type="textarea"),
        enum("hs_task_status", "Task Status", _upper_options("NOT_STARTED", "IN_PROGRESS", "WAITING", "COMPLETED",
                                                            "DEFERRED")),
        enum("hs_task_priority", "Priority", _upper_options("NONE", "LOW", "MEDIUM", "HIGH")),
        enum("hs_task_type", "Task Type", _upper_options("TODO", "CALL", "EMAIL"))]),
}


def custom_object_system() -> list[Prop]:
    return _system("hs_createdate", "hs_lastmodifieddate")


def custom_prop(body: dict, now: str) -> Prop:
    """A custom property from a PropertyCreate body; raises ValueError with HubSpot-like wording."""
    name = str(body.get("name") or "")
    if not NAME_PATTERN.match(name):
        raise ValueError(f"Property name '{name}' is invalid: use lower-case letters, digits and underscores, "
                         "starting with a letter")
    prop_type, field_type = body.get("type"), body.get("fieldType")
    if prop_type not in TYPE_FIELD_TYPES:
        raise ValueError(f"Invalid property type: {prop_type}")
    if field_type not in TYPE_FIELD_TYPES[prop_type]:
        raise ValueError(f"Field type '{field_type}' is not valid for property type '{prop_type}'")
    options = tuple({"label": str(o.get("label", o.get("value"))), "value": str(o["value"]),
                     "displayOrder": int(o.get("displayOrder", i)), "hidden": bool(o.get("hidden", False)),
                     "description": str(o.get("description") or "")}
                    for i, o in enumerate(body.get("options") or []))
    if prop_type == "bool" and not options:
        options = _options(("Yes", "true"), ("No", "false"))
    if prop_type == "enumeration" and not options:
        raise ValueError("Enumeration properties need at least one option")
    return Prop(name, str(body.get("label") or name), prop_type, field_type, str(body.get("groupName") or
                "information"), options, unique=bool(body.get("hasUniqueValue", False)), hubspot_defined=False,
                description=str(body.get("description") or ""), display_order=int(body.get("displayOrder", -1)),
                created_at=now, updated_at=now, hidden=bool(body.get("hidden", False)),
                calculated=bool(body.get("calculationFormula")))


def updated_prop(prop: Prop, body: dict, now: str) -> Prop:
    changes: dict[str, Any] = {"updated_at": now}
    for key, attr in (("label", "label"), ("description", "description"), ("groupName", "group"),
                      ("displayOrder", "display_order"), ("hidden", "hidden")):
        if key in body and body[key] is not None:
            changes[attr] = body[key]
    if body.get("options") is not None:
        changes["options"] = custom_prop({**prop.definition(), "options": body["options"], "name": prop.name},
                                         now).options
    return replace(prop, **changes)


def _option_text(prop: Prop) -> str:
    return ", ".join(f'label: "{o["label"]}" value: "{o["value"]}"' for o in prop.options)


def check_value(prop: Prop, raw: Any, owner_ids: set[str] | None = None) -> tuple[str | None, dict | None]:
    """Validate and normalise one written value: (stored value, None) or (None, problem)."""
    text_value = v.wire_string(raw)
    if text_value is None:
        return None, None

    def problem(code: str, message: str) -> tuple[None, dict]:
        return None, {"name": prop.name, "error": code, "message": message}

    if prop.type == "number":
        out = v.canonical_number(text_value)
        return (out, None) if out is not None else problem("INVALID_INTEGER", f"{text_value} is not a valid number")
    if prop.type == "datetime":
        out = v.canonical_datetime(text_value)
        return (out, None) if out else problem("INVALID_DATE", f"{text_value} is not a valid datetime")
    if prop.type == "date":
        out, reason = v.canonical_date(text_value)
        return (out, None) if out else problem("INVALID_DATE", reason or "invalid date")
    if prop.type == "bool":
        out = v.parse_bool(text_value)
        return (out, None) if out else problem("INVALID_BOOLEAN", f"{text_value} is not a valid boolean")
    if prop.type == "enumeration":
        allowed = (owner_ids or set()) if prop.external_options else prop.option_values
        chosen = [p for p in text_value.split(";") if p] if prop.multi else [text_value]
        bad = [c for c in chosen if c not in allowed]
        if bad:
            if prop.external_options:
                return problem("INVALID_OWNER_ID", f"{bad[0]} is not a valid owner id")
            return problem("INVALID_OPTION", f"{bad[0]} was not one of the allowed options: [{_option_text(prop)}]")
        return ";".join(chosen), None
    if prop.name == "email":
        lowered = text_value.strip().lower()
        if not v.valid_email(lowered):
            return problem("INVALID_EMAIL", f"Email address {text_value} is invalid")
        return lowered, None
    return text_value, None
