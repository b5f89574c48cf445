"""Alembic migrations on both backends: idempotent, versioned, and matching the tables the code declares."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import UniqueConstraint, func, inspect, select, text

from robots.core.domain import Hold, HoldKind
from robots.store import Store
from robots.store import runs as runs_db
from robots.store import schema as t

NOW = datetime(2024, 3, 12, 9, 0, tzinfo=UTC)


def reopen(store: Store) -> Store:
    if store.engine.dialect.name == "postgresql":
        return Store.open(store.url, schema=store.scalar(text("SELECT current_schema()")))
    return Store.open(store.url)


def versions(store: Store) -> list[str]:
    return [r[0] for r in store.rows(text("SELECT version_num FROM alembic_version"))]


def test_the_store_is_at_the_newest_revision(store):
    assert versions(store) == ["0011"]
    assert store.rows(select(t.robot_state)) == [(1, None)]  # the evaluation lock row exists


def test_opening_a_migrated_store_again_changes_nothing(store):
    store.add_hold(Hold("i1", HoldKind.DISPUTE, "спор"), NOW)
    tables_before = sorted(inspect(store.engine).get_table_names())

    again = reopen(store)
    try:
        assert versions(again) == ["0011"]
        assert sorted(inspect(again.engine).get_table_names()) == tables_before
        assert again.rows(select(t.robot_state)) == [(1, None)]
        assert again.scalar(select(func.count()).select_from(t.holds)) == 1
    finally:
        again.close()


def test_every_declared_table_exists_with_the_declared_columns(store):
    insp = inspect(store.engine)
    tables = set(insp.get_table_names())
    assert set(t.metadata.tables) <= tables
    assert tables - set(t.metadata.tables) == {"alembic_version"}
    for name, table in t.metadata.tables.items():
        reflected = {c["name"]: c for c in insp.get_columns(name)}
        assert set(reflected) == {c.name for c in table.columns}, name
        assert {c: reflected[c]["nullable"] for c in reflected} == {c.name: c.nullable for c in table.columns}, name
        assert insp.get_pk_constraint(name)["constrained_columns"] == [c.name for c in table.primary_key], name


def test_the_exactly_once_unique_constraints_and_indexes_exist(store):
    insp = inspect(store.engine)
    for name, table in t.metadata.tables.items():
        declared = {tuple(c.name for c in uc.columns) for uc in table.constraints if isinstance(uc, UniqueConstraint)}
        declared |= {(c.name,) for c in table.columns if c.unique}
        reflected = {tuple(uc["column_names"]) for uc in insp.get_unique_constraints(name)}
        assert reflected == declared, name

        declared_ix = {tuple(c.name for c in ix.columns) for ix in table.indexes}
        reflected_ix = {tuple(ix["column_names"]) for ix in insp.get_indexes(name) if not ix["unique"]}
        assert reflected_ix == declared_ix, name
    uniques = {tuple(u["column_names"]) for u in insp.get_unique_constraints("crossings")}
    assert ("invoice_id", "column_id", "epoch") in uniques


def test_a_store_created_at_0001_is_upgraded_on_open_and_keeps_its_data(tmp_path):
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from robots.store.store import MIGRATIONS

    url = f"sqlite:///{tmp_path / 'old.db'}"
    old = Store(url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with old.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    old.add_hold(Hold("i1", HoldKind.PAUSE, "отпуск"), NOW)
    assert "ix_crossings_contract_id" in {i["name"] for i in inspect(old.engine).get_indexes("crossings")}
    old.close()

    new = Store.open(url)
    try:
        assert versions(new) == ["0011"]
        assert "ix_crossings_contract_id" not in {i["name"] for i in inspect(new.engine).get_indexes("crossings")}
        assert new.scalar(select(func.count()).select_from(t.holds)) == 1
    finally:
        new.close()


def _alembic(store: Store, action: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from robots.store.store import MIGRATIONS

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        getattr(command, action)(cfg, revision)


#: Crossing rows as 0010 stored them: (id, invoice, column, offset, status, day, run id). i1 caught up to d10 on
#: the first day (d1, d5 skipped), then crossed d30 alone; i2 ran d1, then skipped d5 on its way to d10; i3's
#: skipped row has no run crossing above it that day (kept as a row of its own).
OLD_ROWS = [
    (1, "i1", "d1", 1, "skipped", "2024-03-12", None), (2, "i1", "d5", 5, "skipped", "2024-03-12", None),
    (3, "i1", "d10", 10, "run", "2024-03-12", 7), (4, "i2", "d1", 1, "run", "2024-03-12", 8),
    (5, "i2", "d5", 5, "skipped", "2024-03-20", None), (6, "i2", "d10", 10, "run", "2024-03-20", 9),
    (7, "i1", "d30", 30, "run", "2024-04-01", 10), (8, "i3", "d5", 5, "skipped", "2024-03-12", None),
]


def _old_crossings(store: Store) -> list[tuple]:
    return sorted((i, inv, col, offset, status, str(day)[:10], run_id) for i, inv, col, offset, status, day, run_id
                  in store.rows(text("SELECT id, invoice_id, column_id, col_offset, status, as_of, run_id "
                                     "FROM crossings")))


def test_0011_folds_skipped_rows_into_the_crossing_that_passed_them_and_back(store):
    _alembic(store, "downgrade", "0010")
    with store.engine.begin() as conn:
        for i, inv, col, offset, status, day, run_id in OLD_ROWS:
            conn.execute(text(
                "INSERT INTO crossings (id, invoice_id, column_id, epoch, contract_id, col_offset, status, as_of, "
                "days_past_due, open_amount, run_id) VALUES (:i, :inv, :col, '', 'k1', :offset, :status, :day, 11, "
                "100000, :run_id)"), {"i": i, "inv": inv, "col": col, "offset": offset, "status": status,
                                      "day": date.fromisoformat(day), "run_id": run_id})
        if conn.dialect.name == "postgresql":  # ids given by hand: the sequence goes on after them
            conn.execute(text("SELECT setval(pg_get_serial_sequence('crossings', 'id'), 100)"))
    before = OLD_ROWS
    # what `status` counted from the rows of 0010: (column, status) in column order
    summary_before = [("d1", "run", 1), ("d1", "skipped", 1), ("d5", "skipped", 3), ("d10", "run", 2),
                      ("d30", "run", 1)]

    _alembic(store, "upgrade", "0011")
    rows = {r.id: (r.invoice_id, r.column_id, r.status, r.skipped) for r in store.rows(select(t.crossings))}
    assert rows == {3: ("i1", "d10", "run", '[["d1",1],["d5",5]]'), 4: ("i2", "d1", "run", None),
                    6: ("i2", "d10", "run", '[["d5",5]]'), 7: ("i1", "d30", "run", None),
                    8: ("i3", "d5", "skipped", None)}
    assert runs_db.crossing_counts(store) == summary_before  # `status` counts the same crossings

    _alembic(store, "downgrade", "0010")
    # every (invoice, column) is a row again, the skipped ones with new ids
    assert sorted(r[1:] for r in _old_crossings(store)) == sorted(r[1:] for r in before)
    _alembic(store, "upgrade", "heads")


def test_daemons_starting_together_migrate_one_after_the_other(pg_schema):
    """Four processes' worth of Store.open on one fresh PostgreSQL schema at once: one migrates, the others wait
    for it (an advisory lock around the upgrade) and find the schema at the newest revision."""
    import threading

    url, schema = pg_schema
    errors: list[BaseException] = []
    opened: list[Store] = []

    def open_one() -> None:
        try:
            opened.append(Store.open(url, schema=schema))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    assert len(opened) == 4 and all(versions(s) == versions(opened[0]) for s in opened)
    assert len(versions(opened[0])) == 1
    for s in opened:
        s.close()
