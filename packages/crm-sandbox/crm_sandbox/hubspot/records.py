"""Record operations shared by the API and the admin interface: create, update, upsert, archive, merge."""

from __future__ import annotations

from crm_sandbox.hubspot.associations import Associations
from crm_sandbox.hubspot.catalog import ObjectType
from crm_sandbox.hubspot.errors import HsError, bad_request, not_found
from crm_sandbox.hubspot.rules import check_unique, prepare
from crm_sandbox.hubspot.store import ARCHIVED, LIVE, MERGED, HubSpotStore, q
from crm_sandbox.hubspot.values import parse_moment

API_SOURCE = ("INTEGRATION", "sandbox-private-app")
UI_SOURCE = ("CRM_UI", None)


class Records:
    def __init__(self, store: HubSpotStore, associations: Associations):
        self.store = store
        self.assoc = associations

    def unique_prop(self, otype: ObjectType, name: str) -> str:
        if not isinstance(name, str):
            raise bad_request("idProperty must be a property name")
        prop = self.store.props[otype.name].get(name)
        if name == "hs_object_id" or (prop and (prop.unique or (otype.name == "contacts" and name == "email"))):
            return name
        raise bad_request(f"{name} is not a unique property of {otype.name} and cannot be used as idProperty")

    def lookup(self, otype: ObjectType, key: str, id_property: str | None = None, archived: bool = False) -> dict:
        """A record by id (following merges) or by a unique property's value."""
        if id_property and id_property != "hs_object_id":
            self.unique_prop(otype, id_property)
            value = str(key).strip().lower() if id_property == "email" else str(key)
            if archived:
                rows = self.store.select(otype, f"WHERE {q(id_property)} = ? AND _state = {ARCHIVED} "
                                         "ORDER BY id DESC LIMIT 1", [value])
                found = rows[0] if rows else None
            else:
                found = self.store.find_by(otype, id_property, value)
            if found is None:
                raise not_found()
            return found
        return self.store.resolve(otype, key, archived=archived)

    # ---- writes -------------------------------------------------------------------------------------------
    def create(self, otype: ObjectType, properties, associations=None, source=API_SOURCE) -> dict:
        values = prepare(self.store, otype, properties, None)
        check_unique(self.store, otype, values, None)
        links = self._links(otype, associations)
        new_id = self.store.insert(otype, [values], source=source)[0]
        for to_t, to_id, atype in links:
            self.assoc.add(otype, new_id, to_t, to_id, atype)
        return self.store.resolve(otype, new_id)

    def _links(self, otype: ObjectType, specs) -> list:
        if not specs:
            return []
        if not isinstance(specs, list):
            raise bad_request("associations must be a list")
        out = []
        for spec in specs:
            if not isinstance(spec, dict) or not isinstance(spec.get("to") or {}, dict):
                raise bad_request("Each association must be an object {to: {id}, types: [...]}")
            to_id = str((spec.get("to") or {}).get("id") or "")
            types = spec.get("types") or []
            if not isinstance(types, list) or not types:
                raise bad_request("Each association needs a list of at least one association type")
            for type_spec in types:
                if not isinstance(type_spec, dict):
                    raise bad_request("Each association type must be an object {associationCategory, "
                                      "associationTypeId}")
                atype = self.assoc.spec_type(otype, None, type_spec)
                to_t = self.store.type_by_id(atype.to_type)
                try:
                    target = self.store.resolve(to_t, to_id)
                except HsError:
                    raise bad_request(f"{to_t.object_label}={to_id} is not valid", context={
                        "toObjectId": [to_id]}) from None
                out.append((to_t, target["id"], atype))
        return out

    def update(self, otype: ObjectType, key: str, properties, id_property: str | None = None,
               source=API_SOURCE) -> dict:
        row = self.lookup(otype, key, id_property)
        values = prepare(self.store, otype, properties, row)
        changes = {k: v for k, v in values.items() if row.get(k) != v}
        check_unique(self.store, otype, changes, row["id"])
        if changes:  # a write that changes nothing leaves the modification date alone
            self.store.update(otype, row["id"], changes, source=source)
        return self.store.resolve(otype, row["id"])

    def upsert(self, otype: ObjectType, id_property: str, id_value: str, properties,
               source=API_SOURCE) -> tuple[dict, bool]:
        if not id_property or id_property == "hs_object_id":
            raise bad_request("Upsert requires idProperty to be a unique property")
        self.unique_prop(otype, id_property)
        if id_value in (None, ""):
            raise bad_request("Upsert requires an id value")
        value = str(id_value).strip().lower() if id_property == "email" else str(id_value)
        existing = self.store.find_by(otype, id_property, value)
        if existing is not None:
            return self.update(otype, str(existing["id"]), properties, source=source), False
        return self.create(otype, {**(properties or {}), id_property: id_value}, source=source), True

    def archive(self, otype: ObjectType, key: str) -> None:
        row = self.store.row(otype, key)
        while row is not None and row["_state"] == MERGED:
            row = self.store.row(otype, row["_merged_into"])
        if row is None:
            raise not_found()
        if row["_state"] == LIVE:
            self.store.set_state(otype, [row["id"]], ARCHIVED)

    def gdpr_delete(self, otype: ObjectType, key: str, id_property: str | None = None) -> None:
        row = self.lookup(otype, key, id_property)
        conn = self.store.conn
        conn.execute(f"DELETE FROM {q(otype.table)} WHERE id = ? OR _merged_into = ?", (row["id"], row["id"]))
        conn.execute("DELETE FROM _associations WHERE (from_type = ? AND from_id = ?) OR (to_type = ? AND to_id = ?)",
                     (otype.type_id, row["id"], otype.type_id, row["id"]))
        conn.execute("DELETE FROM _history WHERE type_id = ? AND object_id = ?", (otype.type_id, row["id"]))

    # ---- merges -------------------------------------------------------------------------------------------
    def merge(self, otype: ObjectType, primary_id: str, merge_id: str, source=API_SOURCE) -> dict:
        """Merge merge_id into primary_id; old ids keep resolving to the survivor (B9)."""
        if not otype.mergeable:
            raise bad_request(f"Merging is not supported for {otype.name}")
        primary = self.store.resolve(otype, primary_id)
        loser = self.store.resolve(otype, merge_id)
        if primary["id"] == loser["id"]:
            raise bad_request("Cannot merge an object with itself")
        columns = self.store.columns[otype.name]
        values = {c: primary[c] if primary.get(c) not in (None, "") else loser.get(c) for c in columns}
        values[otype.created_prop] = min(primary[otype.created_prop], loser[otype.created_prop])
        values.pop(otype.modified_prop, None)
        new_id_mode = self.store.settings["merge_creates_new_id"] and otype.name in ("contacts", "companies")
        old_ids = [primary["id"], loser["id"]]
        merged = [*_split(primary.get("hs_merged_object_ids")), *_split(loser.get("hs_merged_object_ids")),
                  *(str(i) for i in (old_ids if new_id_mode else old_ids[1:]))]
        values["hs_merged_object_ids"] = ";".join(sorted(set(merged), key=int))
        if otype.name == "contacts":
            extra = [*_split(primary.get("hs_additional_emails")), *_split(loser.get("hs_additional_emails"))]
            if loser.get("email") and loser["email"] != values.get("email"):
                extra.append(loser["email"])
            values["hs_additional_emails"] = ";".join(dict.fromkeys(extra)) or None
            stamp = parse_moment(values[otype.created_prop] or "")
            millis = int(stamp.timestamp() * 1000) if stamp else 0
            values["hs_calculated_merged_vids"] = ";".join(f"{i}:{millis}" for i in values["hs_merged_object_ids"]
                                                           .split(";"))
        if new_id_mode:
            target = self.store.insert(otype, [values], source=("MERGE", source[1]))[0]
            self.store.set_state(otype, old_ids, MERGED, target)
        else:
            target = primary["id"]
            changes = {k: v for k, v in values.items() if primary.get(k) != v}
            self.store.update(otype, target, changes, source=("MERGE", source[1]))
            self.store.set_state(otype, [loser["id"]], MERGED, target)
        marks = ", ".join("?" for _ in old_ids)
        self.store.conn.execute(f"UPDATE {q(otype.table)} SET _merged_into = ? WHERE _state = {MERGED} "
                                f"AND _merged_into IN ({marks})", [target, *old_ids])
        self.assoc.move(otype, old_ids, target)
        moved = [i for i in old_ids if i != target]
        marks = ", ".join("?" for _ in moved)
        self.store.conn.execute(
            f"UPDATE OR IGNORE _list_members SET record_id = ? WHERE record_id IN ({marks}) AND list_id IN "
            "(SELECT id FROM _lists WHERE object_type_id = ?)", [target, *moved, otype.type_id])
        self.store.conn.execute(
            f"DELETE FROM _list_members WHERE record_id IN ({marks}) AND list_id IN "
            "(SELECT id FROM _lists WHERE object_type_id = ?)", [*moved, otype.type_id])
        return self.store.resolve(otype, target)


def _split(value: str | None) -> list[str]:
    return [p for p in (value or "").split(";") if p]
