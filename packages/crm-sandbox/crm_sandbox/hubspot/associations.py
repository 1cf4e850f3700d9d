"""Associations between records: both directions stored, primary labels kept unique, merges move them."""

from __future__ import annotations

import dataclasses
import json

from crm_sandbox.hubspot.catalog import AssociationType, ObjectType
from crm_sandbox.hubspot.errors import bad_request
from crm_sandbox.hubspot.store import LIVE, HubSpotStore, q


class Associations:
    def __init__(self, store: HubSpotStore):
        self.store = store
        self.conn = store.conn

    # ---- association types --------------------------------------------------------------------------------
    def types_between(self, from_t: ObjectType, to_t: ObjectType) -> list[AssociationType]:
        return sorted((a for a in self.store.assoc_types.values()
                       if a.from_type == from_t.type_id and a.to_type == to_t.type_id), key=lambda a: a.type_id)

    def default_type(self, from_t: ObjectType, to_t: ObjectType) -> AssociationType:
        for atype in self.types_between(from_t, to_t):
            if atype.is_default:
                return atype
        raise bad_request(f"No default association type exists between {from_t.name} and {to_t.name}")

    def spec_type(self, from_t: ObjectType, to_t: ObjectType | None, spec: dict) -> AssociationType:
        """The type an AssociationSpec names, checked against the pair (to_t None: infer it from the type)."""
        try:
            type_id = int(spec.get("associationTypeId"))
        except (TypeError, ValueError, AttributeError):
            raise bad_request("associationTypeId must be an integer") from None
        atype = self.store.assoc_types.get(type_id)
        category = spec.get("associationCategory") or "HUBSPOT_DEFINED"
        if (atype is None or atype.from_type != from_t.type_id or (to_t and atype.to_type != to_t.type_id)
                or category != atype.category):
            target = to_t.name if to_t else "the target object"
            raise bad_request(f"{category} {type_id} is not a valid association type between {from_t.name} "
                              f"and {target}")
        return atype

    def define_custom(self, from_t: ObjectType, to_t: ObjectType) -> AssociationType:
        """A default association type between a custom object and another type (both directions)."""
        existing = [a for a in self.types_between(from_t, to_t) if a.is_default]
        if existing:
            return existing[0]
        fwd, inv = self.store.allocate("association_type", 2, first=1_000)
        pairs = [AssociationType(fwd, from_t.type_id, to_t.type_id, f"{from_t.singular}_to_{to_t.singular}", None,
                                 inv, "USER_DEFINED", is_default=True)]
        if from_t.type_id != to_t.type_id:
            pairs.append(AssociationType(inv, to_t.type_id, from_t.type_id, f"{to_t.singular}_to_{from_t.singular}",
                                         None, fwd, "USER_DEFINED", is_default=True))
        else:
            pairs[0] = AssociationType(fwd, from_t.type_id, to_t.type_id, pairs[0].name, None, fwd, "USER_DEFINED",
                                       is_default=True)
        for atype in pairs:
            body = json.dumps(dataclasses.asdict(atype))
            self.conn.execute("INSERT INTO _assoc_types VALUES (?, ?)", (atype.type_id, body))
            self.store.assoc_types[atype.type_id] = atype
        return pairs[0]

    def define_label(self, from_t: ObjectType, to_t: ObjectType, name: str, label: str,
                     inverse_label: str | None) -> list[AssociationType]:
        """A USER_DEFINED labeled type from_t -> to_t and its inverse (one type when a same-type pair has no
        inverse label); returns the created types."""
        paired = inverse_label is not None or from_t.type_id != to_t.type_id
        ids = self.store.allocate("association_type", 2 if paired else 1, first=1_000)
        fwd, inv = (ids[0], ids[1]) if paired else (ids[0], ids[0])
        made = [AssociationType(fwd, from_t.type_id, to_t.type_id, name, label, inv, "USER_DEFINED")]
        if paired:
            made.append(AssociationType(inv, to_t.type_id, from_t.type_id, f"{name}_inverse",
                                        inverse_label or label, fwd, "USER_DEFINED"))
        for atype in made:
            self.save_type(atype)
        return made

    def save_type(self, atype: AssociationType) -> None:
        self.conn.execute("INSERT OR REPLACE INTO _assoc_types VALUES (?, ?)",
                          (atype.type_id, json.dumps(dataclasses.asdict(atype))))
        self.store.assoc_types[atype.type_id] = atype

    def drop_type(self, atype: AssociationType) -> None:
        """Delete a USER_DEFINED type with its inverse, their limits and every association of those types."""
        for type_id in {atype.type_id, atype.inverse_id}:
            self.conn.execute("DELETE FROM _assoc_types WHERE type_id = ?", (type_id,))
            self.conn.execute("DELETE FROM _assoc_limits WHERE type_id = ?", (type_id,))
            self.conn.execute("DELETE FROM _associations WHERE type_id = ?", (type_id,))
            self.store.assoc_types.pop(type_id, None)

    def limit_of(self, type_id: int) -> int | None:
        row = self.conn.execute("SELECT max_to_ids FROM _assoc_limits WHERE type_id = ?", (type_id,)).fetchone()
        return row[0] if row else None

    def _check_limit(self, from_t: ObjectType, from_id: int, to_t: ObjectType, to_id: int,
                     atype: AssociationType) -> None:
        limit = self.limit_of(atype.type_id)
        if limit is None:
            return
        count = self.conn.execute(
            "SELECT COUNT(*) FROM _associations WHERE from_type = ? AND from_id = ? AND to_type = ? AND type_id = ? "
            "AND to_id != ?", (from_t.type_id, from_id, to_t.type_id, atype.type_id, to_id)).fetchone()[0]
        if count >= limit:
            raise bad_request(f"{from_t.object_label}={from_id} already has {count} {to_t.name} associated with type "
                              f"{atype.type_id}; the configured limit is {limit}",
                              context={"fromObjectId": [str(from_id)], "limit": [str(limit)]})

    # ---- writes -------------------------------------------------------------------------------------------
    def add(self, from_t: ObjectType, from_id: int, to_t: ObjectType, to_id: int, atype: AssociationType) -> None:
        self._check_limit(from_t, from_id, to_t, to_id, atype)
        types = [atype]
        if atype.is_primary:
            types.append(self.default_type(from_t, to_t))  # a primary association implies the unlabeled one
            others = self.conn.execute(
                "SELECT to_id FROM _associations WHERE from_type = ? AND from_id = ? AND to_type = ? AND type_id = ? "
                "AND to_id != ?", (from_t.type_id, from_id, to_t.type_id, atype.type_id, to_id)).fetchall()
            for (other,) in others:
                self.remove(from_t, from_id, to_t, other, {atype.type_id})
        rows = []
        for t in types:
            rows += [(from_t.type_id, from_id, to_t.type_id, to_id, t.type_id),
                     (to_t.type_id, to_id, from_t.type_id, from_id, t.inverse_id)]
        self.conn.executemany("INSERT OR IGNORE INTO _associations VALUES (?, ?, ?, ?, ?)", rows)
        if atype.is_primary:
            self._sync_primary_company(from_t, from_id)

    def remove(self, from_t: ObjectType, from_id: int, to_t: ObjectType, to_id: int,
               type_ids: set[int] | None = None) -> int:
        """Remove the given types (all when None) between two records, both directions; returns pairs removed."""
        rows = self.conn.execute(
            "SELECT type_id FROM _associations WHERE from_type = ? AND from_id = ? AND to_type = ? AND to_id = ?",
            (from_t.type_id, from_id, to_t.type_id, to_id)).fetchall()
        removed = [r[0] for r in rows if type_ids is None or r[0] in type_ids]
        for type_id in removed:
            inverse = self.store.assoc_types[type_id].inverse_id
            self.conn.execute("DELETE FROM _associations WHERE from_type = ? AND from_id = ? AND to_type = ? "
                              "AND to_id = ? AND type_id = ?", (from_t.type_id, from_id, to_t.type_id, to_id, type_id))
            self.conn.execute("DELETE FROM _associations WHERE from_type = ? AND from_id = ? AND to_type = ? "
                              "AND to_id = ? AND type_id = ?", (to_t.type_id, to_id, from_t.type_id, from_id, inverse))
        if any(self.store.assoc_types[t].is_primary for t in removed):
            self._sync_primary_company(from_t, from_id)
        return len(removed)

    def _sync_primary_company(self, from_t: ObjectType, from_id: int) -> None:
        # associatedcompanyid mirrors a contact's primary company (type 1), as HubSpot keeps it.
        if from_t.name != "contacts":
            return
        row = self.conn.execute("SELECT to_id FROM _associations WHERE from_type = '0-1' AND from_id = ? "
                                "AND to_type = '0-2' AND type_id = 1", (from_id,)).fetchone()
        value = str(row[0]) if row else None
        current = self.store.row(from_t, from_id)
        if current is not None and current.get("associatedcompanyid") != value:
            self.store.update(from_t, from_id, {"associatedcompanyid": value}, source=("INTEGRATION", None))

    def move(self, otype: ObjectType, old_ids: list[int], target: int) -> None:
        """Re-point every association of old_ids (in priority order) to target; keeps one primary per type."""
        marks = ", ".join("?" for _ in old_ids)
        rows = self.conn.execute(
            f"SELECT from_id, to_type, to_id, type_id FROM _associations WHERE from_type = ? AND from_id IN ({marks})",
            [otype.type_id, *old_ids]).fetchall()
        order = {old: i for i, old in enumerate(old_ids)}
        rows.sort(key=lambda r: order[r[0]])
        self.conn.execute(f"DELETE FROM _associations WHERE from_type = ? AND from_id IN ({marks})",
                          [otype.type_id, *old_ids])
        self.conn.execute(f"DELETE FROM _associations WHERE to_type = ? AND to_id IN ({marks})",
                          [otype.type_id, *old_ids])
        have_primary = {r[0] for r in self.conn.execute(
            "SELECT type_id FROM _associations WHERE from_type = ? AND from_id = ?", (otype.type_id, target))
            if self.store.assoc_types[r[0]].is_primary}
        inserts = []
        for _, to_type, to_id, type_id in rows:
            atype = self.store.assoc_types[type_id]
            if to_type == otype.type_id and (to_id == target or to_id in order):
                continue  # the merged records' associations with each other disappear
            if atype.is_primary:
                if type_id in have_primary:
                    continue
                have_primary.add(type_id)
            inserts += [(otype.type_id, target, to_type, to_id, type_id),
                        (to_type, to_id, otype.type_id, target, atype.inverse_id)]
        self.conn.executemany("INSERT OR IGNORE INTO _associations VALUES (?, ?, ?, ?, ?)", inserts)
        self._sync_primary_company(otype, target)
        if otype.name == "companies":
            contacts = self.store.types["contacts"]
            for (contact_id,) in self.conn.execute(
                    f"SELECT id FROM {q(contacts.table)} WHERE associatedcompanyid IN ({marks})",
                    [str(i) for i in old_ids]).fetchall():
                self._sync_primary_company(contacts, contact_id)

    # ---- reads --------------------------------------------------------------------------------------------
    def read(self, from_t: ObjectType, ids: list[int], to_t: ObjectType, after: int = 0,
             limit: int | None = None) -> dict[int, list[tuple[int, list[int]]]]:
        """{from id: [(to id, [type ids]), ...]} ordered by to id, live targets only."""
        out: dict[int, list[tuple[int, list[int]]]] = {}
        if not ids:
            return out
        marks = ", ".join("?" for _ in ids)
        rows = self.conn.execute(
            f"SELECT a.from_id, a.to_id, a.type_id FROM _associations a JOIN {q(to_t.table)} t ON t.id = a.to_id "
            f"WHERE a.from_type = ? AND a.to_type = ? AND a.from_id IN ({marks}) AND a.to_id >= ? "
            f"AND t._state = {LIVE} ORDER BY a.from_id, a.to_id, a.type_id",
            [from_t.type_id, to_t.type_id, *ids, after]).fetchall()
        for from_id, to_id, type_id in rows:
            targets = out.setdefault(from_id, [])
            if targets and targets[-1][0] == to_id:
                targets[-1][1].append(type_id)
            elif limit is None or len(targets) <= limit:  # one extra tells the caller there is a next page
                targets.append((to_id, [type_id]))
        return out
