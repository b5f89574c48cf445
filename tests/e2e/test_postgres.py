"""The whole CLI against the real PostgreSQL, with the URL from an environment variable (database.url_env)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import create_engine, text

from tests.builders import DUE, simple_ledger
from tests.worlds import REPO

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_ticks_on_postgresql_record_each_crossing_once_and_archive_the_letters(workdir, pg_schema):
    url, schema = pg_schema
    cfg = workdir.config
    cfg.write_text(cfg.read_text(encoding="utf-8").replace("url: sqlite:///var/arbots.db",
                                                           "url_env: ARBOTS_DATABASE_URL"), encoding="utf-8")
    env = {**os.environ, "ARBOTS_DATABASE_URL": f"{url}?options={quote(f'-csearch_path={schema}')}"}
    workdir.write_ledger(simple_ledger(3))

    def tick(n: int) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(REPO / "run_robots.py"), "--config", str(cfg), "tick", "--as-of",
                               (DUE + timedelta(days=n)).isoformat()], capture_output=True, text=True, env=env,
                              timeout=300, cwd=workdir.root)

    for n in (-3, 1, 1, 2):
        r = tick(n)
        assert r.returncode == 0, r.stderr
    assert not workdir.db.exists()  # nothing went to SQLite
    engine = create_engine(url, connect_args={"options": f"-csearch_path={schema}"})
    with engine.connect() as conn:
        count = lambda sql: conn.execute(text(sql)).scalar()
        assert count("SELECT count(*) + coalesce(sum(json_array_length(skipped::json)), 0) FROM crossings") == 4 * 3
        assert count("SELECT count(*) FROM runs WHERE status = 'done'") == 3 * 3
        assert count("SELECT count(*) FROM documents") == 9
        assert count("SELECT max(as_of) FROM evaluations") == DUE + timedelta(days=2)
    engine.dispose()
    assert len(workdir.archived_pdfs()) == 9
    assert tick(0).returncode == 2  # back in time is refused on PostgreSQL too
