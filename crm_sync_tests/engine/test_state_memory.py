"""The state's memory limit (sync.yaml `state_memory_limit`): DuckDB keeps within it by spilling beside the file."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from crm_sync.config.models import STATE_MEMORY_LIMIT, SyncConfig
from crm_sync.engine import db


def test_the_state_holds_to_its_memory_limit_and_spills_a_larger_join(tmp_path):
    path = tmp_path / "state.duckdb"
    with db.opened(path, "128MB") as con:
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "122.0 MiB"
        # a join whose hash table alone is larger than the limit completes (it spills, not fails or grows)
        con.execute("CREATE TABLE a AS SELECT i AS k, md5(i::VARCHAR) AS v FROM range(2000000) t(i)")
        found = con.execute("SELECT count(*), max(b.v) FROM a JOIN a AS b USING (k)").fetchone()
        assert found[0] == 2_000_000
    with db.opened(path) as con:  # the shipped default
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == "2.7 GiB"


def test_a_memory_limit_that_is_not_a_size_is_refused_by_name():
    with pytest.raises(ValidationError, match="state_memory_limit"):
        SyncConfig.model_validate({"pairs": {}, "state_memory_limit": "lots"})
    assert SyncConfig.model_validate({"pairs": {}}).state_memory_limit == STATE_MEMORY_LIMIT
