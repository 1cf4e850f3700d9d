"""Direct loader for large test data: writes records straight into the org's SQLite file, bypassing the API."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from crm_sandbox.salesforce.store import SCHEMA, SalesforceStore, blank_row

BATCH = 20_000


def _batches(rows: Iterable[dict], size: int) -> Iterator[list[dict]]:
    it = iter(rows)
    while batch := list(islice(it, size)):
        yield batch


def load_records(directory: Path, type_name: str, rows: Iterable[dict], owner_id: str | None = None) -> list[str]:
    """Insert rows as the org would store them (ids, stamps, defaults, derived fields); no validation.
    Rows may carry CreatedDate, LastModifiedDate and SystemModstamp (Salesforce's form, as rules.format_datetime
    writes it) for history; without them a record is stamped now.

    Safe while the sandbox runs: ids come from the same counters and SQLite serialises the writers.
    Returns the new ids in input order.
    """
    store = SalesforceStore(Path(directory))
    sobject = SCHEMA[type_name]
    owner = owner_id or store.settings["admin_user_id"]
    template = blank_row(sobject)
    ids: list[str] = []
    try:
        for batch in _batches(rows, BATCH):
            prepared = []
            for values in batch:
                row = {**template, **values}
                if "OwnerId" in row and row["OwnerId"] is None:
                    row["OwnerId"] = owner
                prepared.append(row)
            store.conn.execute("BEGIN IMMEDIATE")
            ids += store.insert_rows(sobject, prepared, owner, keep_stamps=True)
            store.conn.execute("COMMIT")
        # Fresh statistics: without them SQLite takes "IsDeleted = 0" for a selective filter and
        # sorts whole tables instead of walking the Id or modification-time index.
        store.conn.execute("ANALYZE")
    finally:
        store.conn.close()
    return ids
