"""Direct loader for seed data and benchmarks: writes records straight into the portal's SQLite file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from crm_sandbox.hubspot.store import HubSpotStore, q

BATCH = 20_000


def _batches(rows: Iterable, size: int) -> Iterator[list]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def load_objects(directory: Path, object_type: str, rows: Iterable[dict[str, str | None]]) -> list[str]:
    """Insert rows (property name -> wire-format string) without validation; returns new ids in input order.

    Stamps hs_object_id, the create and last-modified dates (unless a row gives them). Safe while the sandbox
    runs: ids come from the same counter and SQLite serialises the writers.
    """
    store = HubSpotStore(Path(directory))
    try:
        otype = store.object_type(object_type)
        known = set(store.columns[otype.name])
        ids: list[str] = []
        for batch in _batches(rows, BATCH):
            prepared = []
            for row in batch:
                unknown = set(row) - known - {"hs_object_id"}
                if unknown:
                    raise KeyError(f"unknown {otype.name} properties: {sorted(unknown)}")
                prepared.append({k: v for k, v in row.items() if k != "hs_object_id"})
            with store.transaction():
                ids += [str(i) for i in store.insert(otype, prepared)]
        return ids
    finally:
        store.close()


def load_associations(directory: Path, from_type: str, to_type: str, pairs: Iterable[tuple[str, str]],
                      primary: bool = False) -> int:
    """Associate (from id, to id) pairs with the default HUBSPOT_DEFINED type, both directions; returns pairs.

    primary=True also gives each pair the pair's Primary label (a contact's primary company, which HubSpot mirrors
    in the contact's associatedcompanyid): give each from id one pair at most.
    """
    store = HubSpotStore(Path(directory))
    try:
        from crm_sandbox.hubspot.associations import Associations

        from_t, to_t = store.object_type(from_type), store.object_type(to_type)
        assoc = Associations(store)
        types = [assoc.default_type(from_t, to_t)]
        if primary:
            labelled = [a for a in assoc.types_between(from_t, to_t) if a.is_primary]
            if not labelled:
                raise ValueError(f"no primary association type between {from_type} and {to_type}")
            types += labelled
        mirror = primary and from_t.name == "contacts" and to_t.name == "companies"
        count = 0
        for batch in _batches(pairs, BATCH):
            rows = []
            for from_id, to_id in batch:
                for atype in types:
                    rows += [(from_t.type_id, int(from_id), to_t.type_id, int(to_id), atype.type_id),
                             (to_t.type_id, int(to_id), from_t.type_id, int(from_id), atype.inverse_id)]
            with store.transaction():
                store.conn.executemany("INSERT OR IGNORE INTO _associations VALUES (?, ?, ?, ?, ?)", rows)
                if mirror:
                    store.conn.executemany(f"UPDATE {q(from_t.table)} SET associatedcompanyid = ? WHERE id = ?",
                                           [(str(to_id), int(from_id)) for from_id, to_id in batch])
            count += len(batch)
        return count
    finally:
        store.close()


def load_owners(directory: Path, owners: Iterable[dict]) -> list[str]:
    """Owners from dicts with email, firstName, lastName; returns their ids (hubspot_owner_id values)."""
    store = HubSpotStore(Path(directory))
    try:
        items = list(owners)
        with store.transaction():
            return store.insert_owners(items)
    finally:
        store.close()



def listed_owners(directory: Path) -> int:
    """How many owners the owners API lists without archived=true: the live ones, the portal's admin owner too."""
    store = HubSpotStore(Path(directory))
    try:
        return len(store.owner_ids())
    finally:
        store.close()
