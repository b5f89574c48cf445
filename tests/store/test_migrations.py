"""Alembic migrations on both backends: idempotent, versioned, and matching the tables the code declares."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import UniqueConstraint, func, inspect, select, text

from robots.core.domain import Hold, HoldKind
from robots.store import Store
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
