"""The sObjects the Salesforce sandbox serves: their fields, key prefixes and describe JSON."""

from __future__ import annotations

import re
from typing import Any, NamedTuple

from crm_sandbox.salesforce.model import Field, SObject

# ---------------------------------------------------------------------------------------------------------
# Field constructors
# ---------------------------------------------------------------------------------------------------------

# Salesforce's own labels where they differ from the split-up API name.
_LABELS = {
    "HasOptedOutOfEmail": "Email Opt Out",
    "NumberOfEmployees": "Employees",
    "ActivityDate": "Due Date Only",
    "WhoId": "Name ID",
    "WhatId": "Related To ID",
    "CallDurationInSeconds": "Call Duration",
    "StageName": "Stage",
    "ForecastCategory": "Forecast Category",
    "ForecastCategoryName": "Forecast Category",
    "Probability": "Probability (%)",
}


def _label(name: str) -> str:
    """A Salesforce-like label from an API name: ``MailingPostalCode`` -> ``Mailing Zip/Postal Code``."""
    if name in _LABELS:
        return _LABELS[name]
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", name)
    if words.endswith(" Id"):
        words = words[:-3] + " ID"
    if words.startswith("Is "):
        words = words[3:]
    if words.endswith("State"):
        words += "/Province"
    return words.replace("Postal Code", "Zip/Postal Code")


def _f(name: str, type_: str, label: str | None = None, **kw: Any) -> Field:
    return Field(name=name, type=type_, label=label or _label(name), **kw)


# Read-only (system, derived and formula fields): neither createable nor updateable.
_RO: dict[str, Any] = {"createable": False, "updateable": False}


def _string(name: str, length: int, label: str | None = None, **kw: Any) -> Field:
    return _f(name, "string", label, length=length, **kw)


def _text(name: str, length: int = 32000, label: str | None = None, **kw: Any) -> Field:
    return _f(name, "textarea", label, length=length, **kw)


def _email(name: str = "Email", length: int = 80, label: str | None = None, **kw: Any) -> Field:
    return _f(name, "email", label, length=length, **kw)


def _phone(name: str = "Phone", label: str | None = None, **kw: Any) -> Field:
    return _f(name, "phone", label, length=40, **kw)


def _url(name: str = "Website", label: str | None = None, **kw: Any) -> Field:
    return _f(name, "url", label, length=255, **kw)


def _picklist(name: str, values: tuple[str, ...] | list[str], label: str | None = None, *,
              restricted: bool = False, default: str | None = None, length: int = 255,
              type_: str = "picklist", **kw: Any) -> Field:
    if default is not None:
        kw.setdefault("defaulted_on_create", True)
    return _f(name, type_, label, length=length, picklist_values=tuple(values),
              restricted_picklist=restricted, default_value=default, **kw)


def _ref(name: str, *targets: str, rel: str | None = "", label: str | None = None, **kw: Any) -> Field:
    """A reference field; the relationship name defaults to the API name without ``Id``."""
    return _f(name, "reference", label, length=18, reference_to=targets,
              relationship_name=name[:-2] if rel == "" else rel, **kw)


def _bool(name: str, label: str | None = None, **kw: Any) -> Field:
    # Salesforce reports checkboxes as non-nillable and defaulted, so they are never required.
    return _f(name, "boolean", label, nillable=False, defaulted_on_create=True, **kw)


def _date(name: str, label: str | None = None, **kw: Any) -> Field:
    return _f(name, "date", label, **kw)


def _datetime(name: str, label: str | None = None, **kw: Any) -> Field:
    return _f(name, "datetime", label, **kw)


def _currency(name: str, scale: int = 2, label: str | None = None, **kw: Any) -> Field:
    return _f(name, "currency", label, precision=18, scale=scale, **kw)


def _int(name: str, digits: int = 9, label: str | None = None, **kw: Any) -> Field:
    # For int fields ``precision`` holds the digit count; describe reports it as ``digits``.
    return _f(name, "int", label, precision=digits, **kw)


def _address(prefix: str = "") -> tuple[Field, ...]:
    """The five parts of a (Billing/Mailing/...) address."""
    return (_text(f"{prefix}Street", 255), _string(f"{prefix}City", 40), _string(f"{prefix}State", 80),
            _string(f"{prefix}PostalCode", 20), _string(f"{prefix}Country", 80))


def _name_fields() -> tuple[Field, ...]:
    """Salutation, first, last and the read-only compound Name of a person (Lead, Contact)."""
    return (_picklist("Salutation", SALUTATIONS, restricted=True), _string("FirstName", 40),
            _string("LastName", 80, nillable=False), _string("Name", 121, "Full Name", **_RO))


def _hubspot_id() -> Field:
    """The external-id field the sync installs to upsert by HubSpot object id."""
    return _string("HubSpot_Id__c", 18, "HubSpot Id", custom=True, external_id=True, unique=True,
                   id_lookup=True)


# ---------------------------------------------------------------------------------------------------------
# Standard picklist values
# ---------------------------------------------------------------------------------------------------------

SALUTATIONS = ("Mr.", "Ms.", "Mrs.", "Dr.", "Prof.")
LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
LEAD_STATUSES = ("Open - Not Contacted", "Working - Contacted", "Closed - Converted",
                 "Closed - Not Converted")
INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications", "Construction",
    "Consulting", "Education", "Electronics", "Energy", "Engineering", "Entertainment", "Environmental",
    "Finance", "Food & Beverage", "Government", "Healthcare", "Hospitality", "Insurance", "Machinery",
    "Manufacturing", "Media", "Not For Profit", "Recreation", "Retail", "Shipping", "Technology",
    "Telecommunications", "Transportation", "Utilities", "Other",
)
ACCOUNT_TYPES = ("Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller",
                 "Installation Partner", "Technology Partner", "Other")
OPPORTUNITY_TYPES = ("Existing Customer - Upgrade", "Existing Customer - Replacement",
                     "Existing Customer - Downgrade", "New Customer")
CONTACT_ROLES = ("Business User", "Decision Maker", "Economic Buyer", "Economic Decision Maker", "Evaluator",
                 "Executive Sponsor", "Influencer", "Technical Buyer", "Other")

# StageName -> (default probability, IsClosed, IsWon), as in a new org's OpportunityStage rows.
STAGE_INFO: dict[str, tuple[int, bool, bool]] = {
    "Prospecting": (10, False, False),
    "Qualification": (10, False, False),
    "Needs Analysis": (20, False, False),
    "Value Proposition": (50, False, False),
    "Id. Decision Makers": (60, False, False),
    "Perception Analysis": (70, False, False),
    "Proposal/Price Quote": (75, False, False),
    "Negotiation/Review": (90, False, False),
    "Closed Won": (100, True, True),
    "Closed Lost": (0, True, False),
}
# StageName -> ForecastCategoryName, which Salesforce also derives from the stage.
STAGE_FORECAST: dict[str, str] = {
    stage: ("Closed" if won else "Omitted" if closed else "Pipeline")
    for stage, (_, closed, won) in STAGE_INFO.items()
}

# ---------------------------------------------------------------------------------------------------------
# Objects
# ---------------------------------------------------------------------------------------------------------

# Names of the objects whose records have an owner (OwnerId).
OWNED = frozenset({"Lead", "Contact", "Account", "Opportunity", "Case", "Task", "Event", "Campaign"})
# Objects that merge (the losers get MasterRecordId) and those carrying the sync's HubSpot_Id__c.
MERGEABLE = frozenset({"Lead", "Contact", "Account"})
HUBSPOT_SYNCED = frozenset({"Lead", "Contact", "Account", "Opportunity", "Case", "Task", "Event", "Product2",
                            "OpportunityLineItem"})
# Objects with LastActivityDate (activities roll up to them).
_WITH_ACTIVITY = frozenset({"Lead", "Contact", "Account", "Opportunity"})


def _sobject(name: str, prefix: str, fields: tuple[Field, ...], label: str | None = None,
             plural: str | None = None, owned: bool | None = None) -> SObject:
    """An SObject with the system fields around ``fields`` in Salesforce's describe order."""
    label = label or name
    head = [_f("Id", "id", f"{label} ID", length=18, nillable=False, id_lookup=True, **_RO),
            _bool("IsDeleted", **_RO)]
    if name in MERGEABLE:
        head.append(_ref("MasterRecordId", name, label="Master Record ID", **_RO))
    tail = []
    if name in OWNED if owned is None else owned:
        tail.append(_ref("OwnerId", "User", rel="Owner", nillable=False, defaulted_on_create=True))
    tail += [_datetime("CreatedDate", nillable=False, **_RO),
             _ref("CreatedById", "User", rel="CreatedBy", nillable=False, **_RO),
             _datetime("LastModifiedDate", nillable=False, **_RO),
             _ref("LastModifiedById", "User", rel="LastModifiedBy", nillable=False, **_RO),
             _datetime("SystemModstamp", nillable=False, **_RO)]
    if name in _WITH_ACTIVITY:
        tail.append(_date("LastActivityDate", **_RO))
    if name in HUBSPOT_SYNCED:
        tail.append(_hubspot_id())
    return SObject(name=name, label=label, label_plural=plural or f"{label}s", key_prefix=prefix,
                   fields=(*head, *fields, *tail))


_LEAD = _sobject("Lead", "00Q", (
    *_name_fields(), _string("Title", 128), _string("Company", 255, nillable=False), _email(),
    _phone(), _phone("MobilePhone"), _phone("Fax"), _url(), *_address(),
    _picklist("LeadSource", LEAD_SOURCES, restricted=True),
    _picklist("Status", LEAD_STATUSES, "Lead Status", restricted=True, default="Open - Not Contacted",
              nillable=False),
    _picklist("Industry", INDUSTRIES, restricted=True, length=40),
    _picklist("Rating", ("Hot", "Warm", "Cold"), restricted=True),
    _currency("AnnualRevenue", scale=0), _int("NumberOfEmployees", 8), _text("Description"),
    _bool("HasOptedOutOfEmail"), _bool("DoNotCall"),
    _bool("IsConverted", **_RO), _date("ConvertedDate", **_RO),
    _ref("ConvertedAccountId", "Account", **_RO), _ref("ConvertedContactId", "Contact", **_RO),
    _ref("ConvertedOpportunityId", "Opportunity", **_RO),
    _bool("IsUnreadByOwner"), _string("EmailBouncedReason", 255), _datetime("EmailBouncedDate"),
))

_CONTACT = _sobject("Contact", "003", (
    _ref("AccountId", "Account"), *_name_fields(), *_address("Mailing"), _phone(), _phone("MobilePhone"),
    _ref("ReportsToId", "Contact"), _email(), _string("Title", 128), _string("Department", 80),
    _picklist("LeadSource", LEAD_SOURCES, restricted=True), _date("Birthdate"), _text("Description"),
    _bool("HasOptedOutOfEmail"), _bool("DoNotCall"),
))

_ACCOUNT = _sobject("Account", "001", (
    _string("Name", 255, "Account Name", nillable=False),
    _picklist("Type", ACCOUNT_TYPES, "Account Type", restricted=True),
    _ref("ParentId", "Account", label="Parent Account ID"), *_address("Billing"), *_address("Shipping"),
    _phone(), _url(), _string("AccountNumber", 40),
    _picklist("Industry", INDUSTRIES, restricted=True, length=40),
    _currency("AnnualRevenue", scale=0), _int("NumberOfEmployees", 8), _text("Description"),
))

_OPPORTUNITY = _sobject("Opportunity", "006", (
    _ref("AccountId", "Account"), _string("Name", 120, "Opportunity Name", nillable=False),
    _text("Description"), _picklist("StageName", tuple(STAGE_INFO), restricted=True, nillable=False),
    _currency("Amount"), _f("Probability", "percent", precision=3, defaulted_on_create=True),
    _currency("ExpectedRevenue", label="Expected Amount", calculated=True, **_RO),
    _date("CloseDate", nillable=False),
    _picklist("Type", OPPORTUNITY_TYPES, "Opportunity Type", restricted=True),
    _string("NextStep", 255), _picklist("LeadSource", LEAD_SOURCES, restricted=True),
    _bool("IsClosed", calculated=True, **_RO), _bool("IsWon", calculated=True, **_RO),
    _picklist("ForecastCategory", ("Omitted", "Pipeline", "BestCase", "Forecast", "Closed"), length=40,
              nillable=False, defaulted_on_create=True, **_RO),
    _picklist("ForecastCategoryName", ("Omitted", "Pipeline", "Best Case", "Commit", "Closed"),
              defaulted_on_create=True),
    _ref("CampaignId", "Campaign"), _ref("ContactId", "Contact"),
    _bool("HasOpenActivity", **_RO), _bool("HasOpportunityLineItem", **_RO), _bool("HasOverdueTask", **_RO),
    _string("Fiscal", 6, "Fiscal Period", **_RO), _int("FiscalQuarter", 8, **_RO),
    _int("FiscalYear", 8, **_RO), _ref("Pricebook2Id", "Pricebook2", label="Price Book ID"),
), plural="Opportunities")

_CONTACT_ROLE = _sobject("OpportunityContactRole", "00K", (
    _ref("OpportunityId", "Opportunity", nillable=False, updateable=False),
    _ref("ContactId", "Contact", nillable=False),
    _picklist("Role", CONTACT_ROLES, restricted=True), _bool("IsPrimary"),
), label="Opportunity Contact Role")

_CASE = _sobject("Case", "500", (
    _string("CaseNumber", 30, nillable=False, auto_number=True, defaulted_on_create=True, **_RO),
    _ref("ContactId", "Contact"), _ref("AccountId", "Account"),
    _ref("ParentId", "Case", label="Parent Case ID"),
    _string("SuppliedName", 80, "Web Name"), _email("SuppliedEmail", label="Web Email"),
    _string("SuppliedPhone", 40, "Web Phone"),
    _picklist("Type", ("Mechanical", "Electrical", "Electronic", "Structural", "Other"), "Case Type"),
    _picklist("Status", ("New", "Working", "Escalated", "Closed"), restricted=True, default="New"),
    _picklist("Reason", ("Installation", "Equipment Complexity", "Performance", "Breakdown",
                         "Equipment Design", "Feedback", "Other"), "Case Reason"),
    _picklist("Origin", ("Phone", "Email", "Web"), "Case Origin", restricted=True),
    _string("Subject", 255),
    _picklist("Priority", ("High", "Medium", "Low"), restricted=True, default="Medium"),
    _text("Description"), _bool("IsClosed", **_RO), _datetime("ClosedDate", **_RO),
))

_TASK = _sobject("Task", "00T", (
    _ref("WhoId", "Contact", "Lead"), _ref("WhatId", "Account", "Opportunity", "Case", "Campaign"),
    _picklist("Subject", ("Call", "Send Letter", "Send Quote", "Other"), type_="combobox"),
    _date("ActivityDate"),
    _picklist("Status", ("Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"),
              restricted=True, default="Not Started", nillable=False),
    _picklist("Priority", ("High", "Normal", "Low"), restricted=True, default="Normal", nillable=False),
    _text("Description", label="Comments"), _bool("IsClosed", **_RO),
    _ref("AccountId", "Account", **_RO),
    _picklist("Type", ("Call", "Email", "Meeting", "Other")),
    _picklist("TaskSubtype", ("Task", "Email", "ListEmail", "Cadence", "Call", "LinkedIn"), updateable=False,
              default="Task"),  # a task created without a subtype is a Task
    _int("CallDurationInSeconds", 8), _picklist("CallType", ("Internal", "Inbound", "Outbound")),
    _datetime("CompletedDateTime", **_RO),
    # the HubSpot ids of a logged call and email, apart from HubSpot_Id__c (a task's): the id spaces overlap
    _string("HubSpot_Call_Id__c", 18, "HubSpot Call Id", custom=True, external_id=True, unique=True, id_lookup=True),
    _string("HubSpot_Email_Id__c", 18, "HubSpot Email Id", custom=True, external_id=True, unique=True,
            id_lookup=True),
    _string("HubSpot_Note_Id__c", 18, "HubSpot Note Id", custom=True, external_id=True, unique=True,
            id_lookup=True),
))

# A calendar event (HubSpot's meetings). Not all-day: StartDateTime, and EndDateTime or DurationInMinutes (the org
# computes the other, ActivityDateTime and ActivityDate); rules.missing_required and store.derive.
_EVENT = _sobject("Event", "00U", (
    _ref("WhoId", "Contact", "Lead"), _ref("WhatId", "Account", "Opportunity", "Case", "Campaign"),
    _picklist("Subject", ("Call", "Email", "Meeting", "Send Letter/Quote", "Other"), type_="combobox"),
    _string("Location", 255), _text("Description"),
    _datetime("StartDateTime", label="Start"), _datetime("EndDateTime", label="End"),
    _int("DurationInMinutes", 8, "Duration"), _bool("IsAllDayEvent", "All-Day Event"),
    _datetime("ActivityDateTime", label="Due Date Time", **_RO), _date("ActivityDate", "Due Date Only", **_RO),
    _picklist("ShowAs", ("Busy", "OutOfOffice", "Free"), "Show Time As", restricted=True, default="Busy"),
    _picklist("Type", ("Call", "Email", "Meeting", "Other")),
    _ref("AccountId", "Account", **_RO),
))

_CAMPAIGN = _sobject("Campaign", "701", (
    _string("Name", 80, "Campaign Name", nillable=False),
    _ref("ParentId", "Campaign", label="Parent Campaign ID"),
    _picklist("Type", ("Conference", "Webinar", "Trade Show", "Public Relations", "Partners",
                       "Referral Program", "Advertisement", "Banner Ads", "Direct Mail", "Email",
                       "Telemarketing", "Other")),
    _picklist("Status", ("Planned", "In Progress", "Completed", "Aborted")),
    _date("StartDate"), _date("EndDate"),
    _currency("ExpectedRevenue", 0, "Expected Revenue in Campaign"),
    _currency("BudgetedCost", 0, "Budgeted Cost in Campaign"),
    _currency("ActualCost", 0, "Actual Cost in Campaign"),
    _bool("IsActive"), _text("Description"),
    _int("NumberOfLeads", label="Leads in Campaign", **_RO),
    _int("NumberOfContacts", label="Contacts in Campaign", **_RO),
    _int("NumberOfResponses", label="Responses in Campaign", **_RO),
))

_CAMPAIGN_MEMBER = _sobject("CampaignMember", "00v", (
    _ref("CampaignId", "Campaign", nillable=False, updateable=False),
    _ref("LeadId", "Lead", updateable=False), _ref("ContactId", "Contact", updateable=False),
    # Real values come from the campaign's CampaignMemberStatus rows; these are a new campaign's two.
    _picklist("Status", ("Sent", "Responded"), default="Sent", length=40),
    _bool("HasResponded", "Responded", **_RO), _date("FirstRespondedDate", "First Responded Date", **_RO),
    _ref("LeadOrContactId", "Contact", "Lead", rel=None, **_RO),
    _string("FirstName", 40, **_RO), _string("LastName", 80, **_RO), _email(**_RO),
    _string("CompanyOrAccount", 255, "Company (Account)", **_RO), _string("City", 40, **_RO),
    _string("Country", 80, **_RO),
), label="Campaign Member")

# Products and price books (salesforce/pricing.py holds their rules): a product's prices are PricebookEntry rows, the
# one in the standard price book first; an opportunity's line items all come from its one price book.
_PRODUCT = _sobject("Product2", "01t", (
    _string("Name", 255, "Product Name", nillable=False), _string("ProductCode", 255),
    _text("Description", 4000, "Product Description"), _bool("IsActive", "Active"),
    _picklist("Family", ("None", "Hardware", "Software", "Services"), "Product Family"),
    _picklist("QuantityUnitOfMeasure", ("Each",), "Quantity Unit Of Measure"),
), label="Product")

_PRICEBOOK = _sobject("Pricebook2", "01s", (
    _string("Name", 255, "Price Book Name", nillable=False), _bool("IsActive", "Active"),
    _bool("IsStandard", "Is Standard Price Book", **_RO), _text("Description", 255),
), label="Price Book")

_PRICEBOOK_ENTRY = _sobject("PricebookEntry", "01u", (
    _string("Name", 255, "Product Name", **_RO),
    _ref("Pricebook2Id", "Pricebook2", label="Price Book ID", nillable=False, updateable=False),
    _ref("Product2Id", "Product2", label="Product ID", nillable=False, updateable=False),
    _currency("UnitPrice", label="List Price", nillable=False), _bool("IsActive", "Active"),
    _bool("UseStandardPrice", "Use Standard Price"), _string("ProductCode", 255, **_RO),
), label="Price Book Entry", plural="Price Book Entries")

_LINE_ITEM = _sobject("OpportunityLineItem", "00k", (
    _ref("OpportunityId", "Opportunity", label="Opportunity ID", nillable=False, updateable=False),
    # One of the two on create (rules in pricing.py): the entry, or the product (its entry in the opportunity's
    # price book, the standard one for an opportunity without one).
    _ref("PricebookEntryId", "PricebookEntry", label="Price Book Entry ID", updateable=False),
    _ref("Product2Id", "Product2", label="Product ID", updateable=False),
    _string("ProductCode", 255, **_RO), _string("Name", 376, "Opportunity Product Name", **_RO),
    _f("Quantity", "double", precision=12, scale=2, nillable=False),
    _currency("UnitPrice", label="Sales Price"), _currency("ListPrice", label="List Price", **_RO),
    _f("Discount", "percent", precision=5, scale=2), _currency("Subtotal", **_RO), _currency("TotalPrice"),
    _date("ServiceDate", "Date"), _string("Description", 255, "Line Description"), _int("SortOrder"),
), label="Opportunity Product")

_USER = _sobject("User", "005", (
    _string("Username", 80, nillable=False, unique=True), _string("LastName", 80, nillable=False),
    _string("FirstName", 40), _string("Name", 121, "Full Name", **_RO), _string("Title", 80),
    _string("Department", 80), _phone(), _email(length=128, nillable=False),
    _string("Alias", 8, nillable=False), _bool("IsActive"),
))

SCHEMA: dict[str, SObject] = {o.name: o for o in (
    _LEAD, _CONTACT, _ACCOUNT, _OPPORTUNITY, _CONTACT_ROLE, _CASE, _TASK, _EVENT, _CAMPAIGN, _CAMPAIGN_MEMBER,
    _PRODUCT, _PRICEBOOK, _PRICEBOOK_ENTRY, _LINE_ITEM, _USER)}
_BY_LOWER = {name.lower(): o for name, o in SCHEMA.items()}
_BY_PREFIX = {o.key_prefix: o.name for o in SCHEMA.values()}


class ChildRelationship(NamedTuple):
    """A parent-to-children relationship (``Account.Contacts`` is Contact.AccountId seen from Account)."""

    child: str
    field: str
    name: str
    cascade_delete: bool = False


_CR = ChildRelationship
CHILD_RELATIONSHIPS: dict[str, tuple[ChildRelationship, ...]] = {
    "Account": (_CR("Account", "ParentId", "ChildAccounts"), _CR("Contact", "AccountId", "Contacts"),
                _CR("Opportunity", "AccountId", "Opportunities", True), _CR("Case", "AccountId", "Cases"),
                _CR("Task", "WhatId", "Tasks", True), _CR("Event", "WhatId", "Events", True)),
    "Contact": (_CR("OpportunityContactRole", "ContactId", "OpportunityContactRoles", True),
                _CR("CampaignMember", "ContactId", "CampaignMembers", True),
                _CR("Case", "ContactId", "Cases"), _CR("Task", "WhoId", "Tasks", True),
                _CR("Event", "WhoId", "Events", True)),
    "Lead": (_CR("CampaignMember", "LeadId", "CampaignMembers", True), _CR("Task", "WhoId", "Tasks", True),
             _CR("Event", "WhoId", "Events", True)),
    "Opportunity": (_CR("OpportunityContactRole", "OpportunityId", "OpportunityContactRoles", True),
                    _CR("OpportunityLineItem", "OpportunityId", "OpportunityLineItems", True),
                    _CR("Task", "WhatId", "Tasks", True), _CR("Event", "WhatId", "Events", True)),
    "Product2": (_CR("PricebookEntry", "Product2Id", "PricebookEntries", True),
                 _CR("OpportunityLineItem", "Product2Id", "OpportunityLineItems")),
    "Pricebook2": (_CR("PricebookEntry", "Pricebook2Id", "PricebookEntries", True),
                   _CR("Opportunity", "Pricebook2Id", "Opportunities")),
    "PricebookEntry": (_CR("OpportunityLineItem", "PricebookEntryId", "OpportunityLineItems"),),
    "Case": (_CR("Case", "ParentId", "Cases"), _CR("Task", "WhatId", "Tasks", True),
             _CR("Event", "WhatId", "Events", True)),
    "Campaign": (_CR("Campaign", "ParentId", "ChildCampaigns"),
                 _CR("CampaignMember", "CampaignId", "CampaignMembers", True),
                 _CR("Opportunity", "CampaignId", "Opportunities"), _CR("Task", "WhatId", "Tasks", True),
                 _CR("Event", "WhatId", "Events", True)),
}

# The field describe flags as nameField where it is not "Name".
_NAME_FIELDS = {"Case": "CaseNumber", "Task": "Subject", "Event": "Subject"}
_NOT_SEARCHABLE = frozenset({"OpportunityContactRole", "CampaignMember", "PricebookEntry", "OpportunityLineItem"})


# (child object, field) of master-detail relationships: deleting the master deletes its details (custom objects,
# an opportunity's line items, a product's and a price book's entries)
MASTER_DETAIL: set[tuple[str, str]] = {("OpportunityLineItem", "OpportunityId"), ("PricebookEntry", "Product2Id"),
                                       ("PricebookEntry", "Pricebook2Id")}


def register(sobject: SObject, parents: list[tuple[Field, str, bool]]) -> None:
    """Serve a custom object (salesforce/custom.py): its describe, and the child relationships of its lookups and
    master-detail fields on their parents ((field, relationship name, master-detail))."""
    SCHEMA[sobject.name] = sobject
    _BY_LOWER[sobject.name.lower()] = sobject
    _BY_PREFIX[sobject.key_prefix] = sobject.name
    for field, rel_name, master in parents:
        for parent in field.reference_to:
            known = [c for c in CHILD_RELATIONSHIPS.get(parent, ()) if (c.child, c.field) != (sobject.name, field.name)]
            CHILD_RELATIONSHIPS[parent] = (*known, ChildRelationship(sobject.name, field.name, rel_name, master))
        if master:
            MASTER_DETAIL.add((sobject.name, field.name))


def get_sobject(name: str) -> SObject | None:
    """The sObject with this API name, case-insensitively."""
    return _BY_LOWER.get(name.lower())


def key_prefix_to_type(prefix: str) -> str | None:
    """The sObject type of a key prefix (or of any id, by its first three characters)."""
    return _BY_PREFIX.get(prefix[:3])


# ---------------------------------------------------------------------------------------------------------
# Describe JSON
# ---------------------------------------------------------------------------------------------------------

_SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "boolean": "xsd:boolean", "int": "xsd:int",
    "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double", "date": "xsd:date",
    "datetime": "xsd:dateTime", "time": "xsd:time", "base64": "xsd:base64Binary",
    "address": "urn:address", "location": "urn:location",
}
_NOT_GROUPABLE = {"double", "currency", "percent", "datetime", "multipicklist", "address", "location"}


def describe_field(f: Field, name_field: bool | None = None) -> dict:
    """One entry of a describe's ``fields``; ``name_field`` defaults to ``f.name == "Name"``."""
    long_text = f.type == "textarea" and f.length > 255
    is_int = f.type == "int"
    return {
        "name": f.name, "label": f.label, "type": f.type, "soapType": _SOAP_TYPES.get(f.type, "xsd:string"),
        "length": f.length, "byteLength": 3 * f.length,
        "precision": 0 if is_int else f.precision, "scale": f.scale, "digits": f.precision if is_int else 0,
        "nillable": f.nillable, "createable": f.createable, "updateable": f.updateable,
        "defaultedOnCreate": f.defaulted_on_create, "calculated": f.calculated, "calculatedFormula": None,
        "autoNumber": f.auto_number, "custom": f.custom, "externalId": f.external_id, "unique": f.unique,
        "idLookup": f.id_lookup, "caseSensitive": False,
        "filterable": not long_text, "sortable": not long_text and f.type != "multipicklist",
        "groupable": not long_text and f.type not in _NOT_GROUPABLE,
        "nameField": f.name == "Name" if name_field is None else name_field,
        "picklistValues": [{"active": True, "defaultValue": v == f.default_value, "label": v,
                            "validFor": None, "value": v} for v in f.picklist_values],
        "restrictedPicklist": f.restricted_picklist, "dependentPicklist": False, "controllerName": None,
        "referenceTo": list(f.reference_to), "relationshipName": f.relationship_name,
        "polymorphicForeignKey": len(f.reference_to) > 1, "namePointing": len(f.reference_to) > 1,
        "htmlFormatted": False, "deprecatedAndHidden": False,
        # Checkboxes report their default as a JSON boolean (unchecked unless stated).
        "defaultValue": (f.default_value == "true") if f.type == "boolean" else f.default_value,
    }


def _urls(name: str, api_version: str) -> dict:
    base = f"/services/data/v{api_version.lstrip('vV')}/sobjects/{name}"
    return {"sobject": base, "describe": f"{base}/describe", "rowTemplate": f"{base}/{{ID}}"}


def _capabilities(o: SObject) -> dict:
    """The object-level flags describe and global describe share."""
    owned = o.name in OWNED
    return {
        "custom": o.name.endswith("__c"), "createable": True, "updateable": True, "deletable": o.name != "User",
        "queryable": True, "retrieveable": True, "searchable": o.name not in _NOT_SEARCHABLE,
        "replicateable": True, "triggerable": True, "undeletable": owned, "mergeable": o.name in MERGEABLE,
        "layoutable": True, "activateable": False, "customSetting": False, "deprecatedAndHidden": False,
    }


def describe_sobject(o: SObject, api_version: str) -> dict:
    """The body of ``GET sobjects/{Type}/describe``."""
    name_field = _NAME_FIELDS.get(o.name, "Name")
    return {
        "name": o.name, "label": o.label, "labelPlural": o.label_plural, "keyPrefix": o.key_prefix,
        **_capabilities(o),
        "fields": [describe_field(f, f.name == name_field) for f in o.fields],
        "childRelationships": [
            {"childSObject": c.child, "field": c.field, "relationshipName": c.name,
             "cascadeDelete": c.cascade_delete, "restrictedDelete": False, "deprecatedAndHidden": False,
             "junctionIdListNames": [], "junctionReferenceTo": []}
            for c in CHILD_RELATIONSHIPS.get(o.name, ())
        ],
        "recordTypeInfos": [], "urls": _urls(o.name, api_version), "supportedScopes": [],
    }


def describe_global(api_version: str) -> dict:
    """The body of ``GET sobjects``."""
    return {
        "encoding": "UTF-8", "maxBatchSize": 200,
        "sobjects": [{"name": o.name, "label": o.label, "labelPlural": o.label_plural,
                      "keyPrefix": o.key_prefix, **_capabilities(o), "urls": _urls(o.name, api_version)}
                     for o in SCHEMA.values()],
    }
