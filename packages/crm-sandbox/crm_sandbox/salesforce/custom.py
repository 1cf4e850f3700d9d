"""Custom objects, as an org's admin defines them in Setup (Object Manager), through the admin interface.

`POST /__sandbox/sobjects` with {"name": "Project__c", "label": "Project", "plural": "Projects", "fields": [...]}
defines one: the org gives it the next custom key prefix (a00, a01, ...), the standard fields (Id, Name, OwnerId
unless it is the detail of a master-detail relationship, IsDeleted and the audit fields) and the fields listed,
each {"name": "X__c", "type": ..., "label": ...} with

- type string (length, default 255), textarea, email, phone, url, boolean, date, datetime, currency, double
  (precision, scale), percent, picklist (values, restricted), and for the HubSpot id an external id:
  {"type": "string", "length": 18, "external_id": true, "unique": true};
- type lookup (reference_to: an object): nillable, the child relationship on the parent plain;
- type master_detail (reference_to): required, not updateable unless "reparentable": true, and deleting the
  master deletes its details (cascadeDelete on the parent's child relationship).

The definition is kept in the org's database (`_custom_objects`), so a restarted server serves it again. Names
follow Salesforce: letters, digits and single underscores, starting with a letter, ending in __c.
"""

from __future__ import annotations

import json
import re

from crm_sandbox.admin import AdminError
from crm_sandbox.salesforce import schema
from crm_sandbox.salesforce.model import Field, SObject

_NAME = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*__c$")
_SIMPLE = {"string", "textarea", "email", "phone", "url", "boolean", "date", "datetime", "currency", "double",
           "percent", "picklist"}
_KEYS = {"name", "type", "label", "length", "precision", "scale", "values", "restricted", "external_id", "unique",
         "reference_to", "reparentable", "required"}


def _field(spec: dict, object_name: str) -> tuple[Field, tuple[str, bool] | None]:
    """One custom field, and for a relationship its (child relationship name, master-detail)."""
    if not isinstance(spec, dict):
        raise AdminError(f"{object_name}: each field is an object with name and type, got {spec!r}")
    unknown = set(spec) - _KEYS
    if unknown:
        raise AdminError(f"{object_name}: field {spec.get('name')!r} has unknown keys {sorted(unknown)}")
    name, kind = str(spec.get("name") or ""), spec.get("type")
    if not _NAME.match(name):
        raise AdminError(f"{object_name}: field name {name!r} must be letters, digits and single underscores, "
                         "start with a letter and end in __c")
    label = str(spec.get("label") or name[:-3].replace("_", " "))
    required = bool(spec.get("required"))
    common = {"custom": True, "nillable": not required}
    if kind in ("lookup", "master_detail"):
        target = schema.get_sobject(str(spec.get("reference_to") or ""))
        if target is None or target.name == object_name and kind == "master_detail":
            raise AdminError(f"{object_name}.{name}: reference_to must name an existing object "
                             f"(got {spec.get('reference_to')!r})")
        master = kind == "master_detail"
        updateable = not master or bool(spec.get("reparentable"))
        field = schema._ref(name, target.name, rel=name[:-3] + "__r", label=label, custom=True,
                            nillable=not master and not required, updateable=updateable)
        plural = object_name[:-3] + "s__r"
        return field, (plural, master)
    if kind not in _SIMPLE:
        raise AdminError(f"{object_name}.{name}: type must be one of {sorted(_SIMPLE | {'lookup', 'master_detail'})}"
                         f", got {kind!r}")
    if kind == "picklist":
        values = spec.get("values")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            raise AdminError(f"{object_name}.{name}: a picklist needs values, a list of strings")
        return schema._picklist(name, values, label, restricted=bool(spec.get("restricted")), **common), None
    if kind == "boolean":
        return schema._bool(name, label, custom=True), None
    if kind in ("string", "textarea"):
        length = spec.get("length", 255 if kind == "string" else 32768)
        if not isinstance(length, int) or not 1 <= length <= (255 if kind == "string" else 131072):
            raise AdminError(f"{object_name}.{name}: length must be 1 to {255 if kind == 'string' else 131072}")
        extra = {"external_id": bool(spec.get("external_id")), "unique": bool(spec.get("unique"))}
        extra["id_lookup"] = extra["external_id"] or extra["unique"]
        maker = schema._string if kind == "string" else schema._text
        return maker(name, length, label, **common, **extra), None
    if kind in ("currency", "double", "percent"):
        precision, scale = spec.get("precision", 18), spec.get("scale", 2 if kind != "double" else 0)
        return schema._f(name, kind, label, precision=precision, scale=scale, **common), None
    lengths = {"email": 80, "phone": 40, "url": 255}
    return schema._f(name, kind, label, length=lengths.get(kind, 0), **common), None


def build(body: dict, prefix: str) -> tuple[SObject, list[tuple[Field, str, bool]]]:
    """The SObject a definition describes, and its relationship fields (field, child relationship, master)."""
    if not isinstance(body, dict):
        raise AdminError("a custom object definition is a JSON object with name, label and fields")
    name = str(body.get("name") or "")
    if not _NAME.match(name):
        raise AdminError(f"object name {name!r} must be letters, digits and single underscores, start with a "
                         "letter and end in __c")
    fields = body.get("fields") or []
    if not isinstance(fields, list):
        raise AdminError(f"{name}: fields must be a list")
    label = str(body.get("label") or name[:-3].replace("_", " "))
    built = [_field(f, name) for f in fields]
    names = [f.name for f, _ in built]
    if len(set(names)) != len(names):
        raise AdminError(f"{name}: a field is named twice in {names}")
    parents = [(f, rel[0], rel[1]) for f, rel in built if rel]
    master = any(m for _, _, m in parents)
    own = (schema._string("Name", 80, f"{label} Name", nillable=False), *(f for f, _ in built))
    sobject = schema._sobject(name, prefix, own, label, str(body.get("plural") or f"{label}s"), owned=not master)
    return sobject, parents


def ensure_table(conn) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS _custom_objects (name TEXT PRIMARY KEY, prefix TEXT NOT NULL, "
                 "body TEXT NOT NULL)")


def load(conn) -> None:
    """Serve the custom objects this org's database defines (at server start)."""
    ensure_table(conn)
    for _, prefix, body in conn.execute("SELECT name, prefix, body FROM _custom_objects ORDER BY prefix"):
        schema.register(*build(json.loads(body), prefix))


def define(store, body: dict) -> dict:
    """Define a custom object (admin route): answers its name and key prefix."""
    name = str((body or {}).get("name") or "") if isinstance(body, dict) else ""
    if schema.get_sobject(name) is not None:
        raise AdminError(f"an object named {name} exists already")
    ensure_table(store.conn)
    count = store.conn.execute("SELECT count(*) FROM _custom_objects").fetchone()[0]
    prefix = f"a{count // 36:01x}{'0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ'[count % 36]}"
    sobject, parents = build(body, prefix)
    store.conn.execute("INSERT INTO _custom_objects VALUES (?, ?, ?)", (sobject.name, prefix, json.dumps(body)))
    schema.register(sobject, parents)
    store.ensure_tables()
    return {"name": sobject.name, "keyPrefix": prefix}
