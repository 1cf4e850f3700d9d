"""The sync state file: DuckDB schemas and tables, opened once per process and written in transactions."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import duckdb

# DuckDB's memory for the state (sync.state_memory_limit). Joins, sorts and aggregates spill past it; its indexes
# (the primary keys of links, shadow and outbox) cannot, and the first plan of a million people per side needs more
# than 2 GB for them.
STATE_MEMORY_LIMIT = "3GB"

# The file is crm_sync.duckdb; no schema may share its stem (DuckDB would call references ambiguous).
# sync.positions numbers every staged version and every new link: a pair's plan consumes everything numbered
# after its last completed plan (cursors: system 'plan', object = the pair), committed with its outbox rows.
NEXT_POSITION = "nextval('sync.positions')"
SCHEMAS = ("raw_hubspot", "raw_salesforce", "sync")

DDL = """
CREATE TABLE IF NOT EXISTS sync.cursors (
    system VARCHAR, object VARCHAR, read_kind VARCHAR, cursor_at TIMESTAMPTZ, last_run VARCHAR,
    updated_at TIMESTAMPTZ DEFAULT current_timestamp, position BIGINT, fields VARCHAR[],
    PRIMARY KEY (system, object, read_kind));
CREATE SEQUENCE IF NOT EXISTS sync.positions;
CREATE TABLE IF NOT EXISTS sync.links (
    pair VARCHAR, hubspot_id VARCHAR, salesforce_object VARCHAR, salesforce_id VARCHAR, linked_by VARCHAR,
    linked_at TIMESTAMPTZ DEFAULT current_timestamp, run_id VARCHAR, position BIGINT,
    PRIMARY KEY (pair, hubspot_id));
CREATE UNIQUE INDEX IF NOT EXISTS links_salesforce ON sync.links (pair, salesforce_id);
CREATE TABLE IF NOT EXISTS sync.link_candidates (
    run_id VARCHAR, pair VARCHAR, system VARCHAR, record_id VARCHAR, match_key VARCHAR, candidates VARCHAR[],
    reason VARCHAR, reported_at TIMESTAMPTZ DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS sync.duplicates (
    pair VARCHAR, system VARCHAR, record_id VARCHAR, duplicate_of VARCHAR, merged_record VARCHAR, reason VARCHAR,
    run_id VARCHAR, reported_at TIMESTAMPTZ DEFAULT current_timestamp, resolution VARCHAR, op_id VARCHAR,
    PRIMARY KEY (pair, system, record_id));
CREATE TABLE IF NOT EXISTS sync.tombstones (
    pair VARCHAR, system VARCHAR, record_id VARCHAR, reason VARCHAR, run_id VARCHAR,
    tombstoned_at TIMESTAMPTZ DEFAULT current_timestamp, PRIMARY KEY (pair, system, record_id));
CREATE TABLE IF NOT EXISTS sync.list_reads (
    list VARCHAR PRIMARY KEY, list_id VARCHAR, processing_type VARCHAR, version VARCHAR, members BIGINT,
    run_id VARCHAR, read_at TIMESTAMPTZ DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS sync.list_members_read (list VARCHAR, hubspot_id VARCHAR, PRIMARY KEY (list, hubspot_id));
CREATE TABLE IF NOT EXISTS sync.list_members (
    list VARCHAR, hubspot_id VARCHAR, person_id VARCHAR, member_id VARCHAR,
    agreed_at TIMESTAMPTZ DEFAULT current_timestamp, PRIMARY KEY (list, hubspot_id));
CREATE TABLE IF NOT EXISTS sync.shadow (
    pair VARCHAR, hubspot_id VARCHAR, field VARCHAR, hubspot_value VARCHAR, salesforce_value VARCHAR,
    synced_at TIMESTAMPTZ DEFAULT current_timestamp, PRIMARY KEY (pair, hubspot_id, field));
CREATE TABLE IF NOT EXISTS sync.outbox (
    op_id VARCHAR PRIMARY KEY, run_id VARCHAR, pair VARCHAR, target VARCHAR, object VARCHAR, action VARCHAR,
    sf_object VARCHAR, record_key VARCHAR, target_id VARCHAR, payload JSON, shadow JSON, reason VARCHAR, status VARCHAR,
    attempts INTEGER DEFAULT 0, last_error VARCHAR, created_at TIMESTAMPTZ DEFAULT current_timestamp,
    updated_at TIMESTAMPTZ DEFAULT current_timestamp, associations JSON, parent_op_id VARCHAR, field VARCHAR,
    held_from VARCHAR, echo JSON);
CREATE TABLE IF NOT EXISTS sync.errors (
    error_key VARCHAR PRIMARY KEY, kind VARCHAR, pair VARCHAR, system VARCHAR, object VARCHAR, record_id VARCHAR,
    op_id VARCHAR, code VARCHAR, message VARCHAR, fields VARCHAR, first_seen TIMESTAMPTZ, last_seen TIMESTAMPTZ,
    occurrences INTEGER, resolved_at TIMESTAMPTZ, run_id VARCHAR);
CREATE TABLE IF NOT EXISTS sync.drift (
    run_id VARCHAR, pair VARCHAR, hubspot_id VARCHAR, salesforce_object VARCHAR, salesforce_id VARCHAR,
    field VARCHAR, cause VARCHAR, hubspot_value VARCHAR, salesforce_value VARCHAR, shadow_hubspot VARCHAR,
    shadow_salesforce VARCHAR, healed BOOLEAN DEFAULT false, found_at TIMESTAMPTZ DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS sync.backfill (
    started_at TIMESTAMPTZ, run_id VARCHAR, recorded_at TIMESTAMPTZ DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS sync.backfill_reads (
    partition_key VARCHAR, system VARCHAR, object VARCHAR, window_start TIMESTAMPTZ, window_end TIMESTAMPTZ,
    rows_read BIGINT, run_id VARCHAR, read_at TIMESTAMPTZ DEFAULT current_timestamp,
    PRIMARY KEY (partition_key, system, object));
CREATE TABLE IF NOT EXISTS sync.audit (
    run_id VARCHAR, op_id VARCHAR, target VARCHAR, object VARCHAR, action VARCHAR, target_id VARCHAR,
    payload JSON, response JSON, success BOOLEAN, sent_at TIMESTAMPTZ DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS sync.api_usage (
    day DATE, run_id VARCHAR, system VARCHAR, endpoint VARCHAR, calls INTEGER,
    PRIMARY KEY (day, run_id, system, endpoint));
CREATE TABLE IF NOT EXISTS sync.exclusions (
    pair VARCHAR, system VARCHAR, record_id VARCHAR, reason VARCHAR, run_id VARCHAR,
    since TIMESTAMPTZ DEFAULT current_timestamp, PRIMARY KEY (pair, system, record_id));
CREATE TABLE IF NOT EXISTS sync.pair_configs (
    pair VARCHAR PRIMARY KEY, fingerprint VARCHAR, run_id VARCHAR, planned_at TIMESTAMPTZ DEFAULT current_timestamp);
CREATE TABLE IF NOT EXISTS sync.metadata (
    system VARCHAR, object VARCHAR, field VARCHAR, label VARCHAR, type VARCHAR, length INTEGER,
    createable BOOLEAN, updateable BOOLEAN, restricted BOOLEAN, options VARCHAR[], default_value VARCHAR,
    refreshed_at TIMESTAMPTZ DEFAULT current_timestamp, reference_to VARCHAR[], key_prefix VARCHAR,
    required BOOLEAN DEFAULT false, PRIMARY KEY (system, object, field));
"""


class StateOutOfMemory(RuntimeError):
    """DuckDB's OutOfMemoryException, with what the user can do about it: the limit is the config's."""

    def __init__(self, limit: str, cause: BaseException):
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        super().__init__(
            f"the sync state ran out of memory: DuckDB may use {limit} (sync.state_memory_limit in sync.yaml) and "
            f"this step needed more. Joins, sorts and aggregates spill to a folder beside the state file; the "
            f"primary-key indexes of links, shadow and outbox cannot (a first plan of a million people per side "
            f"needs some 3GB for them). Raise sync.state_memory_limit, as far as the machine's memory allows. "
            f"DuckDB said: {first}")


def connect(path: Path | str, memory_limit: str | None = None) -> duckdb.DuckDBPyConnection:
    """Open the state file (creating folders, schemas and tables as needed). memory_limit: DuckDB's (the
    config's state_memory_limit; None: the shipped default). Past it, joins, aggregates and sorts spill to
    `<state file>.tmp` beside the state file rather than grow the process."""
    path = Path(path)
    if path.stem in SCHEMAS:
        raise ValueError(f"state file {path} is named like one of its schemas {SCHEMAS}; choose another name")
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path), config={"memory_limit": memory_limit or STATE_MEMORY_LIMIT})
    for schema in SCHEMAS:
        con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    _migrate(con)
    con.execute(DDL)
    from crm_sync.engine.expressions import macro_ddl  # it builds on Binds and quote, here

    for ddl in macro_ddl():  # the mapping language's own functions (engine/expressions.py)
        con.execute(ddl)
    return con


def opened_for(config) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection]:
    """opened() on a configuration's state file with its state_memory_limit (a SyncConfig, or anything with the
    two attributes: the engine does not import the configuration's models)."""
    return opened(config.state_path, config.state_memory_limit)


@contextlib.contextmanager
def opened(path: Path | str, memory_limit: str | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """The state file open for a block (outside Dagster runs, which share one connection per run)."""
    con = connect(path, memory_limit)
    try:
        yield con
    finally:
        con.close()


def _migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Bring a state file written by an earlier version to the current tables (nothing in it is dropped)."""
    columns = {(t, c) for t, c in con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'sync'").fetchall()}
    if ("cursors", "cursor_at") in columns and ("cursors", "read_kind") not in columns:
        # Read kinds used to be encoded in the object name ("deals#archived").
        con.execute("ALTER TABLE sync.cursors RENAME TO cursors_v1")
        con.execute(DDL.split(";")[0])
        con.execute("""INSERT INTO sync.cursors (system, object, read_kind, cursor_at, last_run, updated_at)
            SELECT system, split_part(object, '#', 1), CASE WHEN contains(object, '#') THEN split_part(object, '#', 2)
            ELSE 'incremental' END, cursor_at, last_run, updated_at FROM sync.cursors_v1""")
        con.execute("DROP TABLE sync.cursors_v1")
    if ("cursors", "cursor_at") in columns:
        con.execute("ALTER TABLE sync.cursors ADD COLUMN IF NOT EXISTS position BIGINT")
        con.execute("ALTER TABLE sync.cursors ADD COLUMN IF NOT EXISTS fields VARCHAR[]")
    if ("links", "pair") in columns:
        con.execute("ALTER TABLE sync.links ADD COLUMN IF NOT EXISTS position BIGINT")
    if ("duplicates", "pair") in columns:
        for column in ("resolution VARCHAR", "op_id VARCHAR"):
            con.execute(f"ALTER TABLE sync.duplicates ADD COLUMN IF NOT EXISTS {column}")
    if ("metadata", "field") in columns:
        con.execute("ALTER TABLE sync.metadata ADD COLUMN IF NOT EXISTS default_value VARCHAR")
        con.execute("ALTER TABLE sync.metadata ADD COLUMN IF NOT EXISTS reference_to VARCHAR[]")
        con.execute("ALTER TABLE sync.metadata ADD COLUMN IF NOT EXISTS key_prefix VARCHAR")
        con.execute("ALTER TABLE sync.metadata ADD COLUMN IF NOT EXISTS required BOOLEAN DEFAULT false")
    if ("outbox", "op_id") in columns:
        for column in ("associations JSON", "parent_op_id VARCHAR", "field VARCHAR", "held_from VARCHAR",
                       "echo JSON"):
            con.execute(f"ALTER TABLE sync.outbox ADD COLUMN IF NOT EXISTS {column}")


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def tables(con: duckdb.DuckDBPyConnection) -> set[tuple[str, str]]:
    """(schema, table) of every table in the state file."""
    return {(s, t) for s, t in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall()}


def quote(name: str) -> str:
    """A DuckDB identifier, quoted (field names come from configuration and CRM metadata)."""
    return '"' + name.replace('"', '""') + '"'


@contextlib.contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, frame) -> Iterator[str]:
    """A pandas frame visible to SQL under `name` for the duration of the block."""
    con.register(name, frame)
    try:
        yield name
    finally:
        con.unregister(name)


class Binds:
    """Values for SQL that is built from configuration (pair, object and field names, value maps, run ids): each
    becomes a named parameter ($pair, $v3 ...) bound at execution, never text pasted into the statement."""

    def __init__(self, **named):
        self.values: dict[str, object] = dict(named)

    def __call__(self, value) -> str:
        """The parameter for value (one per distinct value)."""
        for name, held in self.values.items():
            if held == value and type(held) is type(value):
                return f"${name}"
        name = f"v{len(self.values)}"
        self.values[name] = value
        return f"${name}"

    def execute(self, con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyConnection:
        """Run sql with the parameters it names (DuckDB refuses parameters a statement does not use)."""
        used = {k: v for k, v in self.values.items() if re.search(rf"\${re.escape(k)}\b", sql)}
        return con.execute(sql, used) if used else con.execute(sql)
