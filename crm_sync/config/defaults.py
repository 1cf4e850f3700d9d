"""Default field mappings shipped with crm-sync: the common fields of people, companies, deals, tickets, tasks,
logged calls, emails and notes, meetings, and products."""

from __future__ import annotations

from crm_sync.config.models import FieldMapping, SyncConfig, ValueMap

LEAD_STATUS = ValueMap(
    hubspot_to_salesforce={"NEW": "Open - Not Contacted", "OPEN": "Open - Not Contacted",
                           "ATTEMPTED_TO_CONTACT": "Working - Contacted", "CONNECTED": "Working - Contacted",
                           "IN_PROGRESS": "Working - Contacted", "OPEN_DEAL": "Working - Contacted",
                           "BAD_TIMING": "Closed - Not Converted", "UNQUALIFIED": "Closed - Not Converted"},
    salesforce_to_hubspot={"Open - Not Contacted": "NEW", "Working - Contacted": "IN_PROGRESS",
                           "Closed - Converted": "OPEN_DEAL", "Closed - Not Converted": "UNQUALIFIED"},
)
LIFECYCLE_FROM_LEAD_STATUS = ValueMap(salesforce_to_hubspot={
    "Open - Not Contacted": "lead", "Working - Contacted": "marketingqualifiedlead",
    "Closed - Converted": "opportunity", "Closed - Not Converted": "other"})
DEAL_STAGE = ValueMap(
    hubspot_to_salesforce={"appointmentscheduled": "Prospecting", "qualifiedtobuy": "Qualification",
                           "presentationscheduled": "Value Proposition",
                           "decisionmakerboughtin": "Id. Decision Makers", "contractsent": "Proposal/Price Quote",
                           "closedwon": "Closed Won", "closedlost": "Closed Lost"},
    salesforce_to_hubspot={"Prospecting": "appointmentscheduled", "Qualification": "qualifiedtobuy",
                           "Needs Analysis": "qualifiedtobuy", "Value Proposition": "presentationscheduled",
                           "Id. Decision Makers": "decisionmakerboughtin",
                           "Perception Analysis": "decisionmakerboughtin", "Proposal/Price Quote": "contractsent",
                           "Negotiation/Review": "contractsent", "Closed Won": "closedwon",
                           "Closed Lost": "closedlost"},
)
# Only HubSpot industry options that exist in a portal and have a Salesforce counterpart.
INDUSTRY = ValueMap(
    hubspot_to_salesforce={
        "COMPUTER_SOFTWARE": "Technology", "INFORMATION_TECHNOLOGY_AND_SERVICES": "Technology", "BANKING": "Banking",
        "FINANCIAL_SERVICES": "Finance", "HOSPITAL_HEALTH_CARE": "Healthcare", "INSURANCE": "Insurance",
        "RETAIL": "Retail", "TELECOMMUNICATIONS": "Telecommunications", "EDUCATION_MANAGEMENT": "Education",
        "HOSPITALITY": "Hospitality", "CONSTRUCTION": "Construction", "ENTERTAINMENT": "Entertainment",
        "FOOD_BEVERAGES": "Food & Beverage", "UTILITIES": "Utilities", "CHEMICALS": "Chemicals",
        "APPAREL_FASHION": "Apparel", "GOVERNMENT_ADMINISTRATION": "Government",
        "TRANSPORTATION_TRUCKING_RAILROAD": "Transportation", "NONPROFIT_ORGANIZATION_MANAGEMENT": "Not For Profit",
        "BIOTECHNOLOGY": "Biotechnology"},
)
INDUSTRY.salesforce_to_hubspot = {sf: hs for hs, sf in reversed(INDUSTRY.hubspot_to_salesforce.items())}


def _f(name, hubspot, salesforce, rule="two_way", type="string", value_map=None,  # noqa: A002
       links_to=None) -> FieldMapping:
    return FieldMapping(name=name, hubspot=hubspot, salesforce=salesforce, rule=rule, type=type, value_map=value_map,
                        links_to=links_to)


PEOPLE = [
    _f("first_name", "firstname", "FirstName"),
    _f("last_name", "lastname", "LastName"),
    _f("email", "email", "Email", type="email"),
    _f("phone", "phone", "Phone", type="phone"),
    _f("mobile_phone", "mobilephone", "MobilePhone", type="phone"),
    _f("title", "jobtitle", "Title"),
    _f("company_name", "company", {"Lead": "Company"}),
    _f("city", "city", {"Lead": "City", "Contact": "MailingCity"}),
    _f("state", "state", {"Lead": "State", "Contact": "MailingState"}),
    _f("postal_code", "zip", {"Lead": "PostalCode", "Contact": "MailingPostalCode"}),
    _f("country", "country", {"Lead": "Country", "Contact": "MailingCountry"}),
    _f("owner", "hubspot_owner_id", "OwnerId", rule="prefer_salesforce_unless_blank", type="owner"),
    # contact -> company association <-> Contact.AccountId (a Lead has no account)
    _f("company", "associations.companies", {"Contact": "AccountId"}, type="association", links_to="companies"),
    _f("lead_status", "hs_lead_status", {"Lead": "Status"}, type="enum", value_map=LEAD_STATUS),
    _f("lifecycle_stage", "lifecyclestage", {"Lead": "Status"}, rule="always_salesforce", type="enum",
       value_map=LIFECYCLE_FROM_LEAD_STATUS),
]
COMPANIES = [
    _f("name", "name", "Name"),
    _f("domain", "domain", "Website", type="domain"),
    _f("phone", "phone", "Phone", type="phone"),
    _f("industry", "industry", "Industry", type="enum", value_map=INDUSTRY),
    _f("city", "city", "BillingCity"),
    _f("state", "state", "BillingState"),
    _f("postal_code", "zip", "BillingPostalCode"),
    _f("country", "country", "BillingCountry"),
    _f("employees", "numberofemployees", "NumberOfEmployees", type="number"),
    _f("annual_revenue", "annualrevenue", "AnnualRevenue", type="number"),
    _f("owner", "hubspot_owner_id", "OwnerId", rule="prefer_salesforce_unless_blank", type="owner"),
    # account hierarchies: the company's Parent Company association <-> Account.ParentId
    _f("parent", "associations.companies.parent", "ParentId", type="association", links_to="companies"),
]
DEALS = [
    _f("name", "dealname", "Name"),
    _f("amount", "amount", "Amount", type="number"),
    _f("stage", "dealstage", "StageName", type="enum", value_map=DEAL_STAGE),
    _f("close_date", "closedate", "CloseDate", type="date"),
    _f("company", "associations.companies", "AccountId", type="association", links_to="companies"),
    # deal -> contacts <-> the Opportunity's OpportunityContactRoles (a set on each side)
    _f("contacts", "associations.contacts", "OpportunityContactRole", type="association_set", links_to="contacts"),
    _f("owner", "hubspot_owner_id", "OwnerId", rule="prefer_salesforce_unless_blank", type="owner"),
]
# HubSpot's default ticket pipeline ("0": New, Waiting on contact, Waiting on us, Closed) and the standard Case
# statuses, one to one so a status never flips back and forth between the two.
TICKET_STATUS = ValueMap(
    hubspot_to_salesforce={"1": "New", "2": "Working", "3": "Escalated", "4": "Closed"},
    salesforce_to_hubspot={"New": "1", "Working": "2", "Escalated": "3", "Closed": "4"},
)
TICKET_PRIORITY = ValueMap(
    hubspot_to_salesforce={"LOW": "Low", "MEDIUM": "Medium", "HIGH": "High", "URGENT": "High"},
    salesforce_to_hubspot={"Low": "LOW", "Medium": "MEDIUM", "High": "HIGH"},
)
TICKET_SOURCE = ValueMap(
    hubspot_to_salesforce={"PHONE": "Phone", "EMAIL": "Email", "FORM": "Web", "CHAT": "Web"},
    salesforce_to_hubspot={"Phone": "PHONE", "Email": "EMAIL", "Web": "FORM"},
)
TICKETS = [
    _f("subject", "subject", "Subject"),
    _f("description", "content", "Description"),
    _f("status", "hs_pipeline_stage", "Status", type="enum", value_map=TICKET_STATUS),
    # HubSpot requires a pipeline on every ticket; a Case has none: tickets from Salesforce go to the default one
    FieldMapping(name="pipeline", hubspot="hs_pipeline", salesforce=None, rule="always_salesforce",
                 to_hubspot="'0'"),
    _f("priority", "hs_ticket_priority", "Priority", type="enum", value_map=TICKET_PRIORITY),
    _f("origin", "source_type", "Origin", type="enum", value_map=TICKET_SOURCE),
    # ticket -> contact / company associations <-> Case.ContactId / AccountId
    _f("contact", "associations.contacts", "ContactId", type="association", links_to="contacts"),
    _f("company", "associations.companies", "AccountId", type="association", links_to="companies"),
    _f("owner", "hubspot_owner_id", "OwnerId", rule="prefer_salesforce_unless_blank", type="owner"),
]
def _related() -> list[FieldMapping]:
    """What an engagement is logged on, on a Task or an Event: the person (WhoId: a Lead or a Contact, whichever
    the person is linked to), and the deal or else the company (WhatId, when it names an Opportunity or an
    Account; a Case or a Campaign there is left alone). WhatId holds one record: an engagement with a deal and a
    company puts the deal there, and the company goes once the deal is gone (yields_to)."""
    return [
        _f("person", "associations.contacts", "WhoId", type="association", links_to="contacts"),
        _f("deal", "associations.deals", "WhatId", type="association", links_to="deals"),
        FieldMapping(name="company", hubspot="associations.companies", salesforce="WhatId", type="association",
                     links_to="companies", yields_to="deal"),
    ]


TASK_STATUS = ValueMap(
    hubspot_to_salesforce={"NOT_STARTED": "Not Started", "IN_PROGRESS": "In Progress",
                           "WAITING": "Waiting on someone else", "COMPLETED": "Completed", "DEFERRED": "Deferred"},
    salesforce_to_hubspot={"Not Started": "NOT_STARTED", "In Progress": "IN_PROGRESS",
                           "Waiting on someone else": "WAITING", "Completed": "COMPLETED", "Deferred": "DEFERRED"},
)
TASK_PRIORITY = ValueMap(
    hubspot_to_salesforce={"LOW": "Low", "MEDIUM": "Normal", "HIGH": "High", "NONE": "Normal"},
    salesforce_to_hubspot={"Low": "LOW", "Normal": "MEDIUM", "High": "HIGH"},
)
TASKS = [
    _f("subject", "hs_task_subject", "Subject"),
    _f("notes", "hs_task_body", "Description"),
    _f("status", "hs_task_status", "Status", type="enum", value_map=TASK_STATUS),
    _f("priority", "hs_task_priority", "Priority", type="enum", value_map=TASK_PRIORITY),
    _f("due", "hs_timestamp", "ActivityDate", type="date"),
    *_related(),
    _f("owner", "hubspot_owner_id", "OwnerId", rule="prefer_salesforce_unless_blank", type="owner"),
]


def _logged(subtype: str, status_name: str | None = None) -> list[FieldMapping]:
    """What logged engagements (calls, emails, notes) share on a Task: the date, what it is logged on, the owner,
    and the subtype and Completed status that the Tasks made from them get."""
    return [
        _f("when", "hs_timestamp", "ActivityDate", type="date"),
        *_related(),
        _f("owner", "hubspot_owner_id", "OwnerId", rule="prefer_salesforce_unless_blank", type="owner"),
        FieldMapping(name="subtype", salesforce="TaskSubtype", rule="always_hubspot", to_salesforce=f"'{subtype}'"),
        FieldMapping(name=status_name or f"{subtype.lower()}_status", salesforce="Status", rule="always_hubspot",
                     to_salesforce="'Completed'"),
    ]


CALL_DIRECTION = ValueMap(hubspot_to_salesforce={"INBOUND": "Inbound", "OUTBOUND": "Outbound"},
                          salesforce_to_hubspot={"Inbound": "INBOUND", "Outbound": "OUTBOUND"})
CALLS = [
    _f("subject", "hs_call_title", "Subject"),
    _f("notes", "hs_call_body", "Description"),
    _f("direction", "hs_call_direction", "CallType", type="enum", value_map=CALL_DIRECTION),
    # HubSpot keeps a call's duration in milliseconds, Salesforce in seconds
    FieldMapping(name="duration", hubspot="hs_call_duration", salesforce="CallDurationInSeconds", type="number",
                 to_salesforce="round(CAST(hs_call_duration AS DOUBLE) / 1000)",
                 to_hubspot="CAST(CallDurationInSeconds AS DOUBLE) * 1000"),
    *_logged("Call"),
]
EMAILS = [
    _f("subject", "hs_email_subject", "Subject"),
    _f("body", "hs_email_text", "Description"),
    *_logged("Email"),
]
# meetings <-> Event: the title, description, place and times; the person it is logged on is the Event's WhoId
# (a Contact or a Lead, whichever the person is linked to). Salesforce computes DurationInMinutes from the times.
MEETINGS = [
    _f("subject", "hs_meeting_title", "Subject"),
    _f("description", "hs_meeting_body", "Description"),
    _f("location", "hs_meeting_location", "Location"),
    _f("start", "hs_meeting_start_time", "StartDateTime", type="datetime"),
    _f("end", "hs_meeting_end_time", "EndDateTime", type="datetime"),
    # HubSpot requires every engagement's hs_timestamp: a meeting's is its Event's start (one way: the start is
    # the two-way value, and a start the sync writes moves the timestamp in the same run)
    _f("timestamp", "hs_timestamp", "StartDateTime", rule="always_salesforce", type="datetime"),
    *_related(),
    _f("owner", "hubspot_owner_id", "OwnerId", rule="prefer_salesforce_unless_blank", type="owner"),
]
# A note has no title nor type of its own in Salesforce: the Task made from one is a Task of Type Note (Task.Type
# is an open picklist; an admin may add Note to its values for the UI), called "Note".
NOTES = [
    _f("body", "hs_note_body", "Description"),
    FieldMapping(name="note_subject", salesforce="Subject", rule="always_hubspot", to_salesforce="'Note'"),
    FieldMapping(name="note_type", salesforce="Type", rule="always_hubspot", to_salesforce="'Note'"),
    *_logged("Task", "note_status"),
]
# products <-> Product2: the name, SKU (ProductCode, the key products are matched by), description, and the unit
# price, which Salesforce keeps on the product's entry in the standard price book (engine/mapping.SF_CHILD_VALUES).
PRODUCTS = [
    _f("name", "name", "Name"),
    _f("sku", "hs_sku", "ProductCode"),
    _f("description", "description", "Description"),
    _f("price", "price", "PricebookEntry.UnitPrice", type="number"),
    # a product made from HubSpot can be sold (Salesforce's default is an inactive product)
    FieldMapping(name="active", salesforce="IsActive", rule="always_hubspot", to_salesforce="true", type="bool"),
]
# line_items <-> OpportunityLineItem: a deal's products. The product is a reference (hs_product_id holds the HubSpot
# product's id; Product2Id the Salesforce one, on the entry of the opportunity's price book, the standard one unless
# the opportunity has its own); HubSpot names a line item after its product, Salesforce after both, so no name.
LINE_ITEMS = [
    _f("deal", "associations.deals", "OpportunityId", type="association", links_to="deals"),
    _f("product", "hs_product_id", "Product2Id", type="reference", links_to="products"),
    _f("quantity", "quantity", "Quantity", type="number"),
    _f("unit_price", "price", "UnitPrice", type="number"),
    _f("discount_percent", "hs_discount_percentage", "Discount", type="number"),
    _f("description", "description", "Description"),
]
DEFAULT_FIELDS = {"contacts": PEOPLE, "companies": COMPANIES, "deals": DEALS, "tickets": TICKETS, "tasks": TASKS,
                  "calls": CALLS, "emails": EMAILS, "meetings": MEETINGS, "notes": NOTES, "products": PRODUCTS,
                  "line_items": LINE_ITEMS}
# Pairs on a Salesforce object that holds several HubSpot object types (Task: tasks and logged calls): which of
# its records are the pair's, unless the pair says, and the field that holds their HubSpot id.
SHARED_OBJECTS = {("tasks", "Task"): ("TaskSubtype = 'Task' AND coalesce(Type, '') <> 'Note'", None),
                  ("notes", "Task"): ("TaskSubtype = 'Task' AND Type = 'Note'", "HubSpot_Note_Id__c"),
                  ("calls", "Task"): ("TaskSubtype = 'Call'", "HubSpot_Call_Id__c"),
                  ("emails", "Task"): ("TaskSubtype = 'Email'", "HubSpot_Email_Id__c")}


def with_default_fields(config: SyncConfig) -> SyncConfig:
    """Pairs that list no fields get the shipped mappings for their HubSpot object type; a pair on a shared
    Salesforce object (SHARED_OBJECTS) takes its records and its cross-id field unless it names them."""
    by_object = {pair.hubspot: name for name, pair in config.pairs.items()}
    for pair in config.pairs.values():
        if not pair.fields and pair.hubspot in DEFAULT_FIELDS:
            fields = []
            for mapping in DEFAULT_FIELDS[pair.hubspot]:
                if mapping.holds_ids:
                    # Associations translate ids through the pair of the associated object, whatever its name;
                    # without such a pair there is nothing to translate through.
                    # (a shipped reference names the object type it holds ids of in links_to)
                    target_pair = by_object.get(mapping.association_target or mapping.links_to)
                    if target_pair is None:
                        continue
                    mapping = mapping.model_copy(update={"links_to": target_pair})
                fields.append(mapping.model_copy(deep=True))
            present = {m.name for m in fields}
            for mapping in fields:  # what it gave way to is not synced here (no deals pair): nothing to yield to
                if mapping.yields_to not in present:
                    mapping.yields_to = None
            pair.fields = fields
        shared = SHARED_OBJECTS.get((pair.hubspot, pair.salesforce[0])) if len(pair.salesforce) == 1 else None
        if shared:
            # Salesforce keeps tasks, calls and emails all as Tasks (their TaskSubtype says which)
            condition, cross_id = shared
            if pair.include.salesforce is None:
                pair.include.salesforce = condition
            if pair.external_id_field is None and cross_id:
                pair.external_id_field = cross_id
    return config
