"""load_config on schedules.yaml: the shipped file loads; every kind of mistake is reported at its file, line and
YAML path, all at once, and a secret never appears in a message."""

from __future__ import annotations

import dataclasses

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from robots.core.domain import CatchUp, DayCount
from robots.core.errors import ConfigError

from .conftest import REPO

SCHED = "schedules.yaml"
SECRET = "Sup3rS3cretValue"


# --------------------------------------------------------------------------------------------- the shipped config


def test_shipped_schedules_yaml_loads_with_every_scenario(cfg):
    config = cfg.load()
    assert config.settings.company.name == "ООО «Арботс Демо»"
    assert sorted(config.scenarios) == ["claim", "lawsuit_decision", "lawsuit_notice", "paid_closing",
                                        "payment_request", "penalty_notice", "pretrial_demand", "promise_broken",
                                        "reminder_before_due"]
    letter = config.scenarios["payment_request"]
    assert [s.kind for s in letter.steps] == ["render", "sign", "archive", "send_email", "task", "block_shipments"]
    assert letter.source == "scenarios/payment_request.yaml"


def test_config_and_its_settings_refuse_assignment(cfg):
    config = cfg.load()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.path = REPO  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        config.settings.company.name = "Someone else"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        config.settings.groups["default"].columns[0].offset = 99  # type: ignore[misc]
    with pytest.raises(ValidationError, match="frozen"):
        config.scenarios["payment_request"].steps[0].template = "other.j2"  # type: ignore[misc]
    assert config.settings.company.name == "ООО «Арботс Демо»"


def test_config_mappings_cannot_be_changed_after_loading(cfg):
    config = cfg.load()
    with pytest.raises(TypeError):
        config.scenarios["intruder"] = config.scenarios["payment_request"]  # type: ignore[index]
    with pytest.raises(TypeError):
        del config.settings.groups["default"]  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        config.settings.roles["intruder"] = config.settings.roles["legal"]  # type: ignore[index]


def test_policy_gives_each_group_its_day_count_and_columns_in_file_order(cfg):
    policy = cfg.load().policy()
    assert list(policy.groups) == ["default", "key_accounts"]
    default, key = policy.groups["default"], policy.groups["key_accounts"]
    assert default.name == "default" and default.days is DayCount.CALENDAR
    assert key.name == "key_accounts" and key.days is DayCount.WORKING
    assert [(c.id, c.offset, c.scenario) for c in default.columns] == [
        ("before_due_3", -3, "reminder_before_due"),
        ("overdue_1", 1, "payment_request"),
        ("overdue_2", 2, "pretrial_demand"),
        ("overdue_7wd", 7, "penalty_notice"),
        ("overdue_10", 10, "claim"),
        ("overdue_30", 30, "lawsuit_notice"),
        ("overdue_60", 60, "lawsuit_decision"),
    ]
    assert default.columns[3].days is DayCount.WORKING and default.columns[4].days is DayCount.CALENDAR
    assert [(c.id, c.offset) for c in key.columns] == [("before_due_3", -3), ("overdue_2", 2), ("overdue_5", 5),
                                                       ("overdue_10wd", 10), ("overdue_15", 15), ("overdue_45", 45),
                                                       ("overdue_75", 75)]
    assert default.columns[1].title == "1 день просрочки"
    assert str(policy.tolerance) == "1.00"
    assert policy.catch_up is CatchUp.LATEST
    assert policy.rearm_on_due_date_change is False


def test_relative_sqlite_url_is_resolved_against_the_folder_of_schedules_yaml(cfg):
    url = cfg.load().database_url(environ={})
    assert make_url(url).get_backend_name() == "sqlite"
    assert make_url(url).database == str(cfg.root.resolve() / "var" / "arbots.db")


def test_absolute_sqlite_path_and_memory_database_are_left_alone(cfg, tmp_path):
    absolute = tmp_path / "elsewhere" / "db.sqlite"
    cfg.edit("url: sqlite:///var/arbots.db", f"url: sqlite:///{absolute}")
    assert make_url(cfg.load().database_url(environ={})).database == str(absolute)
    cfg.edit(f"url: sqlite:///{absolute}", "url: 'sqlite:///:memory:'")
    assert make_url(cfg.load().database_url(environ={})).database == ":memory:"


def test_url_env_reads_the_database_url_from_the_given_environment(cfg):
    cfg.edit("url: sqlite:///var/arbots.db", "url_env: ARBOTS_TEST_DB_URL")
    config = cfg.load()
    url = "postgresql+psycopg://arbots:pw@db.example:5432/arbots"
    assert config.database_url(environ={"ARBOTS_TEST_DB_URL": url}) == url


def test_url_env_naming_an_unset_variable_is_a_config_error_naming_it(cfg):
    cfg.edit("url: sqlite:///var/arbots.db", "url_env: ARBOTS_TEST_DB_URL")
    config = cfg.load()
    with pytest.raises(ConfigError, match=r"ARBOTS_TEST_DB_URL.*not set"):
        config.database_url(environ={"OTHER": "sqlite://"})


def test_url_and_url_env_together_are_refused(cfg):
    cfg.edit("url: sqlite:///var/arbots.db", "url: sqlite:///var/arbots.db\n  url_env: ARBOTS_TEST_DB_URL")
    cfg.problems().find(cfg.at("database", "database:"), "either url or url_env, not both")


# ----------------------------------------------------------------------------------------- files that don't parse


def test_yaml_syntax_error_is_reported_at_its_line(cfg):
    cfg.edit("  inn: \"7701234568\"", "  inn: a: b")
    report = cfg.problems()
    assert report.lines == (f"{SCHED}:{cfg.line('inn: a: b')}: invalid YAML: mapping values are not allowed here",)


def test_duplicate_yaml_key_is_reported_at_the_second_occurrence(cfg):
    cfg.write(None, cfg.text() + "runner:\n  max_attempts: 3\n")
    report = cfg.problems()
    assert len(report.lines) == 1
    first = [n for n, text in enumerate(cfg.text().splitlines(), 1) if text.startswith("runner:")][0]
    report.find(f"{SCHED}:{cfg.line('runner:', occurrence=2)}: duplicate key 'runner'", f"(first at line {first})")


def test_duplicate_yaml_key_error_does_not_print_the_values_it_holds(cfg):
    cfg.write(None, cfg.text() + f"database:\n  url: postgresql://bob:{SECRET}@db.example/arbots\n")
    report = cfg.problems()
    report.find(f"{SCHED}:{cfg.line('database:', occurrence=2)}: duplicate key 'database'")
    report.lacks(SECRET)


def test_file_that_is_not_utf8_is_refused_with_a_hint_to_save_it_as_utf8(cfg):
    raw = cfg.schedules.read_bytes()
    cfg.schedules.write_bytes(raw.replace("Главный бухгалтер".encode(), "Главный бухгалтер".encode("cp1251")))
    report = cfg.problems()
    assert len(report.lines) == 1
    report.find(f"{SCHED}", "not UTF-8", "save the file as UTF-8")


def test_file_that_is_not_utf8_reports_the_line_of_the_first_bad_byte(cfg):
    line = cfg.line("signatory_position:")
    raw = cfg.schedules.read_bytes()
    cfg.schedules.write_bytes(raw.replace("Главный бухгалтер".encode(), "Главный бухгалтер".encode("cp1251")))
    cfg.problems().find(f"{SCHED}:{line}", "not UTF-8")


def test_missing_file_is_reported_with_its_path(tmp_path):
    from robots.config import load_config

    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "nowhere.yaml")
    assert info.value.problems == (f"nowhere.yaml: file not found: {tmp_path.resolve() / 'nowhere.yaml'}",)


@pytest.mark.parametrize("text, prefix", [
    ("- company\n- groups\n", f"{SCHED}:1: "),
    ("just some words\n", f"{SCHED}: "),
])
def test_top_level_that_is_not_a_mapping_is_refused(cfg, text, prefix):
    cfg.write(None, text)
    report = cfg.problems()
    assert report.lines == (prefix + "the top level must be a mapping of keys (company:, groups:, ...)",)


def test_empty_file_reports_each_required_top_level_key(cfg):
    cfg.write(None, "# nothing yet\n")
    report = cfg.problems()
    for key in ("company", "connectors", "groups"):
        report.find(f"{SCHED} {key}: ", f"missing required key {key!r}")


# --------------------------------------------------------------------------------------------------- schema errors


@pytest.mark.parametrize("old, new, needle, path, message", [
    pytest.param("version: 1\n", "version: 1\nverison: 1\n", "verison:", "verison",
                 "unknown key 'verison'; did you mean 'version'?", id="top-level"),
    pytest.param("runner:\n", "runer:\n", "runer:", "runer", "unknown key 'runer'; did you mean 'runner'?",
                 id="top-level-section"),
    pytest.param("  inn:", "  inm:", "inm:", "company.inm", "unknown key 'inm'; did you mean 'inn'?", id="nested"),
    pytest.param("  country: RU", "  countyr: RU", "countyr:", "calendar.countyr",
                 "unknown key 'countyr'; did you mean 'country'?", id="nested-calendar"),
    pytest.param("    days: working", "    dayz: working", "dayz:", "groups.key_accounts.dayz",
                 "unknown key 'dayz'; did you mean 'days'?", id="inside-a-named-group"),
    pytest.param("  legal: {name:", "  legal: {nmae:", "legal: {nmae:", "roles.legal.nmae",
                 "unknown key 'nmae'; did you mean 'name'?", id="inside-a-role"),
    pytest.param("{id: overdue_1, offset: 1,", "{id: overdue_1, ofset: 1,", "id: overdue_1,",
                 "groups.default.columns[1].ofset", "unknown key 'ofset'; did you mean 'offset'?", id="column-typo"),
    pytest.param("{id: overdue_1, offset: 1,", "{id: overdue_1, colour: red, offset: 1,", "id: overdue_1,",
                 "groups.default.columns[1].colour",
                 "unknown key 'colour'; allowed keys: days, id, offset, scenario, title", id="column-no-near-match"),
    pytest.param('{id: morning, cron:', '{id: morning, crom:', "crom:", "daemon.ticks[0].crom",
                 "unknown key 'crom'; did you mean 'cron'?", id="tick"),
])
def test_unknown_key_is_reported_where_it_stands_with_a_hint(cfg, old, new, needle, path, message):
    cfg.edit(old, new)
    cfg.problems().find(cfg.at(path, needle), message)


def test_company_without_name_is_reported_at_the_company_key(cfg):
    cfg.edit("  name: ООО «Арботс Демо»\n", "")
    report = cfg.problems()
    assert report.lines == (cfg.at("company.name", "company:") + "missing required key 'name'",)


def test_column_without_scenario_is_reported_at_the_column(cfg):
    cfg.edit("offset: 1, scenario: payment_request, ", "offset: 1, ")
    report = cfg.problems()
    assert report.lines == (cfg.at("groups.default.columns[1].scenario", "id: overdue_1,")
                            + "missing required key 'scenario'",)


def test_typo_in_a_required_column_key_gives_both_the_missing_key_and_the_hint(cfg):
    cfg.edit("offset: 1, scenario: payment_request,", "offset: 1, scenaro: payment_request,")
    report = cfg.problems()
    prefix = f"{SCHED}:{cfg.line('id: overdue_1,')} groups.default.columns[1]."
    report.find(prefix + "scenario: ", "missing required key 'scenario'")
    report.find(prefix + "scenaro: ", "did you mean 'scenario'?")


@pytest.mark.parametrize("old, new, needle, path, fragments", [
    pytest.param("    days: calendar", "    days: weekly", "days: weekly", "groups.default.days",
                 ("'calendar' or 'working'", "(got 'weekly')"), id="days-enum"),
    pytest.param("catch_up: latest", "catch_up: sometimes", "catch_up:", "aging.catch_up",
                 ("'latest' or 'all'", "(got 'sometimes')"), id="catch-up-enum"),
    pytest.param("offset: 10, scenario: claim", 'offset: "ten", scenario: claim', "id: overdue_10,",
                 "groups.default.columns[4].offset",
                 ("valid integer", "(got 'ten')"), id="offset-not-a-number"),
    pytest.param("offset: 10, scenario: claim", "offset: 5000, scenario: claim", "id: overdue_10,",
                 "groups.default.columns[4].offset",
                 ("less than or equal to 3650", "(got 5000)"), id="offset-out-of-range"),
    pytest.param("max_attempts: 5", "max_attempts: 0", "max_attempts:", "runner.max_attempts",
                 ("greater than or equal to 1",), id="max-attempts-zero"),
    pytest.param("version: 1", "version: 2", "version:", "version", ("(got 2)",), id="version"),
    pytest.param('inn: "7701234568"', "inn: 7701234568", "inn: 7701234568", "company.inn",
                 ("valid string", "(got 7701234568)"), id="inn-unquoted-number"),
    pytest.param("  key_accounts:", "  key accounts:", "key accounts:", "groups.key accounts",
                 ("should match pattern",), id="group-name-not-an-identifier"),
])
def test_wrong_type_or_value_is_reported_with_the_value_found(cfg, old, new, needle, path, fragments):
    cfg.edit(old, new)
    cfg.problems().find(cfg.at(path, needle), *fragments)
