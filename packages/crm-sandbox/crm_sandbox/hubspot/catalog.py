"""HubSpot's object types (names, type ids, system properties) and HUBSPOT_DEFINED association types (B5)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ObjectType:
    name: str  # the path name: "contacts"
    type_id: str  # "0-1"; custom objects "2-<n>"
    singular: str  # used in association type names: "contact_to_company"
    created_prop: str
    modified_prop: str
    default_props: tuple[str, ...]
    searchable: tuple[str, ...] = ()
    mergeable: bool = False
    custom: bool = False
    fully_qualified_name: str | None = None
    labels: dict = field(default_factory=dict)
    required: tuple[str, ...] = ()

    @property
    def table(self) -> str:
        return "obj_" + self.type_id.replace("-", "_")

    @property
    def object_label(self) -> str:
        """Upper-case singular as HubSpot's messages name it: CONTACT, COMPANY, LINE_ITEM."""
        return self.singular.upper()


def _standard(name, type_id, singular, defaults, created="createdate", modified="hs_lastmodifieddate",
              searchable=(), mergeable=False, required=()) -> ObjectType:
    props = tuple(sorted({*defaults, created, modified, "hs_object_id"}))
    return ObjectType(name, type_id, singular, created, modified, props, tuple(searchable), mergeable,
                      labels={"singular": singular.replace("_", " ").title(),
                              "plural": name.replace("_", " ").title()}, required=tuple(required))


_ENGAGEMENT = dict(created="hs_createdate", required=("hs_timestamp",))
STANDARD_TYPES: tuple[ObjectType, ...] = (
    _standard("contacts", "0-1", "contact", ("email", "firstname", "lastname"), modified="lastmodifieddate",
              searchable=("firstname", "lastname", "email", "phone", "company", "hs_additional_emails"),
              mergeable=True),
    _standard("companies", "0-2", "company", ("name", "domain"), searchable=("name", "domain", "website", "phone"),
              mergeable=True),
    _standard("deals", "0-3", "deal", ("dealname", "amount", "closedate", "pipeline", "dealstage"),
              searchable=("dealname",), mergeable=True),
    _standard("tickets", "0-5", "ticket", ("subject", "content", "hs_pipeline", "hs_pipeline_stage",
                                           "hs_ticket_category", "hs_ticket_priority"),
              searchable=("subject", "content"), mergeable=True, required=("hs_pipeline_stage",)),
    _standard("products", "0-7", "product", ("name", "description", "price"), searchable=("name", "hs_sku")),
    _standard("line_items", "0-8", "line_item", ("name", "price", "quantity", "amount"), searchable=("name",)),
    _standard("tasks", "0-27", "task", ("hs_task_subject", "hs_timestamp"), searchable=("hs_task_subject",),
              **_ENGAGEMENT),
    _standard("notes", "0-46", "note", ("hs_note_body", "hs_timestamp"), searchable=("hs_note_body",),
              **_ENGAGEMENT),
    _standard("meetings", "0-47", "meeting", ("hs_meeting_title", "hs_timestamp"), searchable=("hs_meeting_title",),
              **_ENGAGEMENT),
    _standard("calls", "0-48", "call", ("hs_call_title", "hs_timestamp"), searchable=("hs_call_title",),
              **_ENGAGEMENT),
    _standard("emails", "0-49", "email", ("hs_email_subject", "hs_timestamp"), searchable=("hs_email_subject",),
              **_ENGAGEMENT),
)
ENGAGEMENTS = ("calls", "emails", "meetings", "notes", "tasks")


def custom_type(type_id: str, name: str, portal_id: int, labels: dict, primary: str | None,
                searchable: list[str], required: list[str]) -> ObjectType:
    defaults = {"hs_createdate", "hs_lastmodifieddate", "hs_object_id"} | ({primary} if primary else set())
    return ObjectType(name, type_id, name, "hs_createdate", "hs_lastmodifieddate", tuple(sorted(defaults)),
                      tuple(searchable or ([primary] if primary else [])), False, True,
                      f"p{portal_id}_{name}", dict(labels), tuple(required))


@dataclass(frozen=True)
class AssociationType:
    type_id: int
    from_type: str  # object type ids
    to_type: str
    name: str  # v3 name: contact_to_company
    label: str | None  # v4 label; None for the unlabeled default
    inverse_id: int
    category: str = "HUBSPOT_DEFINED"
    is_default: bool = False  # the unlabeled type used by "default" associations
    is_primary: bool = False  # at most one per from-object


_IDS = {t.singular: t.type_id for t in STANDARD_TYPES}

# (from, to, unlabeled id, inverse unlabeled id, primary id or None, inverse primary id or None)
_PAIRS = [
    ("contact", "company", 279, 280, 1, 2),
    ("deal", "contact", 3, 4, None, None),
    ("deal", "company", 341, 342, 5, 6),
    ("ticket", "contact", 16, 15, None, None),
    ("ticket", "company", 339, 340, 26, 25),
    ("deal", "ticket", 27, 28, None, None),
    ("deal", "line_item", 19, 20, None, None),
]
for _i, _eng in enumerate(("call", "email", "meeting", "note", "task")):
    _PAIRS += [
        ("contact", _eng, (193, 197, 199, 201, 203)[_i], (194, 198, 200, 202, 204)[_i], None, None),
        ("company", _eng, (181, 185, 187, 189, 191)[_i], (182, 186, 188, 190, 192)[_i], None, None),
        ("deal", _eng, (205, 209, 211, 213, 215)[_i], (206, 210, 212, 214, 216)[_i], None, None),
        ("ticket", _eng, (219, 223, 225, 227, 229)[_i], (220, 224, 226, 228, 230)[_i], None, None),
    ]


def _build_standard() -> list[AssociationType]:
    out: list[AssociationType] = []
    for a, b, fwd, inv, primary, inv_primary in _PAIRS:
        suffix = "_unlabeled" if primary else ""
        out.append(AssociationType(fwd, _IDS[a], _IDS[b], f"{a}_to_{b}{suffix}", None, inv, is_default=True))
        out.append(AssociationType(inv, _IDS[b], _IDS[a], f"{b}_to_{a}{suffix}", None, fwd, is_default=True))
        if primary:
            out.append(AssociationType(primary, _IDS[a], _IDS[b], f"{a}_to_{b}", "Primary", inv_primary,
                                       is_primary=True))
            out.append(AssociationType(inv_primary, _IDS[b], _IDS[a], f"{b}_to_{a}", "Primary", primary))
    for singular, type_id in (("contact", 449), ("company", 450), ("deal", 451)):
        out.append(AssociationType(type_id, _IDS[singular], _IDS[singular], f"{singular}_to_{singular}", None,
                                   type_id, is_default=True))
    out.append(AssociationType(13, "0-2", "0-2", "parent_to_child_company", "Child Company", 14))
    out.append(AssociationType(14, "0-2", "0-2", "child_to_parent_company", "Parent Company", 13))
    return out


STANDARD_ASSOCIATIONS: tuple[AssociationType, ...] = tuple(_build_standard())
