"""HubSpot's legacy properties endpoints: contact and deal properties v1, properties v2 per object type, company
properties v2, and their property groups.

They answer from the same property store as the v3 properties API (so a property created through v3 is listed
here too), in the legacy shapes: a bare JSON array, the v1 flags (readOnlyValue, readOnlyDefinition, deleted, ...)
at the top level instead of in modificationMetadata, and epoch-millisecond stamps.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from crm_sandbox.hubspot.catalog import ObjectType
from crm_sandbox.hubspot.properties import Prop
from crm_sandbox.hubspot.props_api import property_groups
from crm_sandbox.hubspot.store import HubSpotStore
from crm_sandbox.hubspot.values import parse_flag, parse_moment
from crm_sandbox.hubspot.wire import api, hs_json

# The legacy paths with their object type fixed: (prefix, object type); v2 takes the type from the path.
FIXED_PREFIXES = (("/properties/v1/contacts", "contacts"), ("/properties/v1/deals", "deals"),
                  ("/companies/v2", "companies"))


def epoch_ms(stamp: str | None) -> int | None:
    moment = parse_moment(stamp) if stamp else None
    return int(moment.timestamp() * 1000) if moment else None


def legacy_option(option: dict) -> dict:
    return {"description": option.get("description") or None, "label": option["label"], "value": option["value"],
            "displayOrder": option.get("displayOrder", -1), "hidden": bool(option.get("hidden", False)),
            "readOnly": False, "doubleData": 0.0}


def legacy_property(prop: Prop) -> dict:
    """A property as properties v1 (contacts, deals) and companies v2 return it."""
    read_only_value = prop.read_only or prop.calculated
    return {
        "name": prop.name, "label": prop.label, "description": prop.description, "groupName": prop.group,
        "type": prop.type, "fieldType": prop.field_type, "options": [legacy_option(o) for o in prop.options],
        "displayOrder": prop.display_order, "formField": not read_only_value,
        "readOnlyValue": read_only_value, "readOnlyDefinition": prop.hubspot_defined, "hidden": prop.hidden,
        "mutableDefinitionNotDeletable": False,  # HubSpot's definitions are read-only here, custom ones deletable
        "favorited": False, "favoritedOrder": -1, "calculated": prop.calculated,
        "externalOptions": prop.external_options, "displayMode": "current_value", "deleted": prop.archived,
        "hubspotDefined": prop.hubspot_defined, "createdAt": epoch_ms(prop.created_at),
        "updatedAt": epoch_ms(prop.updated_at), "createdUserId": None, "updatedUserId": None,
    }


def legacy_property_v2(prop: Prop) -> dict:
    """A property as properties v2 returns it: the v1 fields plus v2's display hints and uniqueness."""
    return {**legacy_property(prop), "showCurrencySymbol": False, "currencyPropertyName": None,
            "textDisplayHint": None, "numberDisplayHint": None,
            "optionsAreMutable": prop.type == "enumeration" and not prop.hubspot_defined,
            "referencedObjectType": "OWNER" if prop.external_options else None, "isCustomizedDefault": False,
            "searchableInGlobalSearch": False, "hasUniqueValue": prop.unique}


class LegacyApi:
    def __init__(self, service):
        self.store: HubSpotStore = service.store

    def routes(self) -> list[Route]:
        out = []
        for prefix, type_name in FIXED_PREFIXES:
            out += [Route(f"{prefix}/properties", self._handler(self.properties, type_name), methods=["GET"]),
                    Route(f"{prefix}/groups", self._handler(self.groups, type_name), methods=["GET"])]
        return out + [Route("/properties/v2/{type}/properties", self._handler(self.properties), methods=["GET"]),
                      Route("/properties/v2/{type}/groups", self._handler(self.groups), methods=["GET"])]

    def _handler(self, answer: Callable[[ObjectType, Request], list], type_name: str | None = None) -> Callable:
        """A route handler: the object type from the path (v2) or fixed; HsError as HubSpot's error body."""
        async def handle(request: Request) -> Response:
            otype = self.store.object_type(type_name or request.path_params["type"])
            return hs_json(answer(otype, request))

        return api(handle)

    def _render(self, request: Request) -> Callable[[Prop], dict]:
        return legacy_property_v2 if request.url.path.startswith("/properties/v2/") else legacy_property

    def _live(self, otype: ObjectType) -> list[Prop]:
        return [p for p in self.store.props[otype.name].values() if not p.archived]

    def properties(self, otype: ObjectType, request: Request) -> list[dict]:
        render = self._render(request)
        return [render(p) for p in self._live(otype)]

    def groups(self, otype: ObjectType, request: Request) -> list[dict]:
        """The type's groups; with includeProperties=true each carries its (live) properties."""
        with_properties = parse_flag(request.query_params.get("includeProperties"))
        render = self._render(request)
        live = self._live(otype)
        out = []
        for group in property_groups(self.store, otype):
            entry = {"name": group["name"], "displayName": group["label"], "displayOrder": group["displayOrder"],
                     "hubspotDefined": any(p.hubspot_defined for p in live if p.group == group["name"])}
            if with_properties:
                entry["properties"] = [render(p) for p in live if p.group == group["name"]]
            out.append(entry)
        return out
