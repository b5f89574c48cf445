"""load_config on schedules.yaml: the shipped file loads; every kind of mistake is reported at its file, line and
YAML path, all at once, and a secret never appears in a message."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import make_url

from robots.domain import CatchUp, DayCount
from robots.errors import ConfigError

from .conftest import REPO

SCHED = "schedules.yaml"
SECRET = "Sup3rS3cretValue"


# --------------------------------------------------------------------------------------------- the shipped config


def test_shipped_schedules_yaml_loads_with_all_four_scenarios(cfg):
    config = cfg.load()
    assert config.settings.company.name == "ООО «Арботс Демо»"
    assert sorted(config.scenarios) == ["legal_escalation", "payment_request", "pretrial_demand",
                                        "reminder_before_due"]
    letter = config.scenarios["payment_request"]
    assert [s.kind for s in letter.steps] == ["render", "archive", "task"]
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
        ("overdue_10", 10, "legal_escalation"),
    ]
    assert [(c.id, c.offset) for c in key.columns] == [("before_due_3", -3), ("overdue_2", 2), ("overdue_5", 5),
                                                       ("overdue_15", 15)]
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
                 "unknown key 'colour'; allowed keys: id, offset, scenario, title", id="column-no-near-match"),
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
    pytest.param("offset: 10,", 'offset: "ten",', "id: overdue_10,", "groups.default.columns[3].offset",
                 ("valid integer", "(got 'ten')"), id="offset-not-a-number"),
    pytest.param("offset: 10,", "offset: 5000,", "id: overdue_10,", "groups.default.columns[3].offset",
                 ("less than or equal to 3650", "(got 5000)"), id="offset-out-of-range"),
    pytest.param("max_attempts: 5", "max_attempts: 0", "max_attempts:", "runner.max_attempts",
                 ("greater than or equal to 1",), id="max-attempts-zero"),
    pytest.param("version: 1", "version: 2", "version:", "version", ("(got 2)",), id="version"),
    pytest.param('inn: "7701234568"', "inn: 7701234568", "inn:", "company.inn",
                 ("valid string", "(got 7701234568)"), id="inn-unquoted-number"),
    pytest.param("  key_accounts:", "  key accounts:", "key accounts:", "groups.key accounts",
                 ("should match pattern",), id="group-name-not-an-identifier"),
])
def test_wrong_type_or_value_is_reported_with_the_value_found(cfg, old, new, needle, path, fragments):
    cfg.edit(old, new)
    cfg.problems().find(cfg.at(path, needle), *fragments)


# ------------------------------------------------------------------------------------------------ cross checks


def test_column_offsets_must_increase_strictly(cfg):
    cfg.edit("offset: 10,", "offset: 2,")
    report = cfg.problems()
    assert report.lines == (cfg.at("groups.default.columns[3].offset", "id: overdue_10,")
                            + "must be greater than columns[2].offset (2): columns are listed in increasing order",)


def test_column_offsets_out_of_order_in_a_second_group_are_reported_in_that_group(cfg):
    cfg.edit("offset: 5,", "offset: -5,")
    cfg.problems().find(cfg.at("groups.key_accounts.columns[2].offset", "id: overdue_5,"),
                        "must be greater than columns[1].offset (2)")


def test_duplicate_column_id_in_a_group_is_refused(cfg):
    cfg.edit("{id: overdue_10,", "{id: overdue_2,")
    report = cfg.problems()
    assert report.lines == (cfg.at("groups.default.columns[3].id", "id: overdue_2, offset: 10")
                            + "column id 'overdue_2' is used twice in this group (also columns[2])",)


def test_the_same_column_id_in_two_groups_is_fine(cfg):
    # before_due_3 is in both shipped groups
    assert cfg.load().policy().groups["key_accounts"].columns[0].id == "before_due_3"


def test_a_group_named_default_is_required(cfg):
    cfg.edit("  default:\n", "  standard:\n")
    report = cfg.problems()
    assert report.lines == (cfg.at("groups", "groups:") + "a group named 'default' is required: counterparties "
                            "without a group (or with an empty one) age by it",)


def test_column_naming_a_scenario_without_a_file_names_the_file_and_the_available_ones(cfg):
    cfg.edit("scenario: legal_escalation, title: 10", "scenario: legal_escalaton, title: 10")
    report = cfg.problems()
    missing = cfg.root.resolve() / "scenarios" / "legal_escalaton.yaml"
    assert report.lines == (
        cfg.at("groups.default.columns[3].scenario", "id: overdue_10,")
        + f"scenario 'legal_escalaton' not found: there is no {missing} (available: legal_escalation, "
          "payment_request, pretrial_demand, reminder_before_due)",
    )


def test_missing_scenario_is_reported_even_if_another_scenario_name_ends_the_same_way(cfg):
    cfg.edit("scenario: legal_escalation, title: 10", "scenario: request, title: 10")
    cfg.edit("role: account_manager", "role: accountant", "scenarios/payment_request.yaml")
    report = cfg.problems()
    report.find("scenarios/payment_request.yaml:", "role 'accountant' is not defined")
    report.find(cfg.at("groups.default.columns[3].scenario", "id: overdue_10,"), "scenario 'request' not found")


def test_missing_scenarios_folder_is_reported(cfg):
    cfg.edit("  scenarios: scenarios\n", "  scenarios: scenarioz\n")
    report = cfg.problems()
    report.find(f"{SCHED}", "paths.scenarios: folder not found", str(cfg.root.resolve() / "scenarioz"))


def test_missing_scenarios_folder_is_reported_in_the_right_file_at_its_line(tmp_path):
    from .conftest import copy_shipped

    shipped = copy_shipped(tmp_path)
    shipped.schedules.rename(tmp_path / "prod.yaml")
    cfg = type(shipped)(tmp_path, "prod.yaml")
    cfg.edit("  scenarios: scenarios\n", "  scenarios: scenarioz\n")
    cfg.problems().find(cfg.at("paths.scenarios", "scenarios: scenarioz"), "folder not found")


def test_duplicate_connector_ids_are_refused(cfg):
    cfg.edit("    path: var/ledger\n", "    path: var/ledger\n  - id: ledger\n    kind: file\n    path: var/other\n")
    report = cfg.problems()
    assert report.lines == (cfg.at("connectors[1].id", "- id: ledger", occurrence=2)
                            + "connector id 'ledger' is used twice (also connectors[0])",)


def test_unknown_connector_kind_is_reported_naming_the_kind_and_the_known_ones(cfg):
    cfg.edit("    kind: file ", "    kind: ftp  ")
    report = cfg.problems()
    report.find(f"{SCHED}:", "connectors[0].kind", "'ftp'", "known kinds: file")


def test_unknown_connector_kind_points_at_the_kind_line_and_nothing_else(cfg):
    cfg.edit("    kind: file ", "    kind: ftp  ")
    report = cfg.problems()
    report.find(cfg.at("connectors[0].kind", "kind: ftp"), "'ftp'", "file")
    assert len(report.lines) == 1, report.listing()


@pytest.mark.parametrize("old, new, needle, path, fragments", [
    pytest.param('cron: "0 8 * * *"', 'cron: "0 25 * * *"', "cron:", "daemon.ticks[0].cron",
                 ("not a crontab line", "higher than the maximum", "write e.g. '0 8 * * mon-fri'"), id="cron-hour"),
    pytest.param('cron: "0 8 * * *"', 'cron: "0 8 * *"', "cron:", "daemon.ticks[0].cron",
                 ("not a crontab line", "got 4, expected 5"), id="cron-fields"),
    pytest.param("timezone: Europe/Moscow", "timezone: Europe/Moskow", "timezone:", "daemon.timezone",
                 ("unknown time zone 'Europe/Moskow'", "write e.g. Europe/Moscow"), id="timezone"),
    pytest.param("timezone: Europe/Moscow", "timezone: Europe", "timezone:", "daemon.timezone",
                 ("unknown time zone 'Europe'",), id="timezone-region-only"),
    pytest.param("country: RU", "country: XX", "country:", "calendar.country",
                 ("unknown country 'XX'", "ISO code such as RU"), id="country"),
])
def test_daemon_and_calendar_values_are_checked(cfg, old, new, needle, path, fragments):
    cfg.edit(old, new)
    report = cfg.problems()
    report.find(cfg.at(path, needle), *fragments)
    assert len(report.lines) == 1, report.listing()


def test_missing_templates_folder_is_reported_at_paths_templates(cfg):
    cfg.edit("templates: scenarios/templates", "templates: letters")
    report = cfg.problems()
    report.find(cfg.at("paths.templates", "templates: letters"),
                f"folder not found: {cfg.root.resolve() / 'letters'}")


def test_errors_in_groups_sharing_columns_through_a_yaml_merge_key_are_reported(cfg):
    cfg.edit("  default:\n", "  default: &base\n")
    cfg.edit("offset: 10,", "offset: 2,")
    text = cfg.text()
    start = text.index("  key_accounts:")
    end = text.index("\nroles:")
    cfg.write(None, text[:start] + "  key_accounts:\n    <<: *base\n    days: working\n" + text[end:])
    report = cfg.problems()
    report.find(cfg.at("groups.default.columns[3].offset", "id: overdue_10,"), "must be greater than")
    report.find(f"{SCHED}:", "groups.key_accounts.columns[3].offset", "must be greater than")


# ----------------------------------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("old, new, needle, path, key", [
    pytest.param("  inn:", f"  password: {SECRET}\n  inn:", "password:", "company.password", "password",
                 id="password-in-company"),
    pytest.param("    path: var/ledger\n", f"    path: var/ledger\n    api_key: {SECRET}\n", "api_key:",
                 "connectors[0].api_key", "api_key", id="api-key-in-connector"),
    pytest.param("  country: RU", f"  pin: '{SECRET}'\n  country: RU", "pin:", "calendar.pin", "pin",
                 id="pin-in-calendar"),
    pytest.param("version: 1\n", f"version: 1\nsmtp_token: {SECRET}\n", "smtp_token:", "smtp_token", "smtp_token",
                 id="suffix-token-top-level"),
    pytest.param("    path: var/ledger\n", f"    path: var/ledger\n    headers: [{{Token: {SECRET}}}]\n", "headers:",
                 "connectors[0].headers[0].Token", "Token", id="inside-a-list"),
])
def test_inline_secret_in_schedules_yaml_is_refused_without_echoing_it(cfg, old, new, needle, path, key):
    cfg.edit(old, new)
    report = cfg.problems()
    report.find(cfg.at(path, needle), "secrets are never written in the config", f"{key}_env: VAR_NAME",
                f"{key}_file: PATH")
    report.lacks(SECRET)


def test_secret_keys_without_a_value_are_not_flagged_as_secrets(cfg):
    cfg.edit("  inn:", "  password:\n  inn:")
    report = cfg.problems()  # still an unknown key in company, but not an inline secret
    assert not any("secrets are never written" in p for p in report.lines), report.listing()
    report.find(cfg.at("company.password", "password:"), "unknown key 'password'")


def test_database_url_with_an_inline_password_is_refused_without_echoing_it(cfg):
    cfg.edit("url: sqlite:///var/arbots.db", f"url: postgresql+psycopg://bob:{SECRET}@db.example/arbots")
    report = cfg.problems()
    assert report.lines == (cfg.at("database.url", "url: postgresql") + "the URL contains a password; put the "
                            "whole URL in an environment variable and write url_env: VAR",)
    report.lacks(SECRET)


def test_malformed_database_url_is_refused_without_echoing_it(cfg):
    cfg.edit("url: sqlite:///var/arbots.db", f"url: postgresql//bob:{SECRET}@db.example/arbots")
    report = cfg.problems()
    report.find(cfg.at("database.url", "url: postgresql"), "not a database URL")
    report.lacks(SECRET)


def test_database_url_written_directly_under_database_does_not_echo_its_password(cfg):
    cfg.edit("database:\n  url: sqlite:///var/arbots.db",
             f"database: postgresql://bob:{SECRET}@db.example/arbots\n#")
    report = cfg.problems()
    report.find(cfg.at("database", "database:"), "valid dictionary")
    report.lacks(SECRET)


# -------------------------------------------------------------------------------------- everything in one report


def test_problems_in_schedules_yaml_and_several_scenarios_come_in_one_error(cfg):
    cfg.edit("offset: 10,", "offset: 2,")
    cfg.edit("scenario: pretrial_demand, title: 5", "scenario: pretrial_demnad, title: 5")
    cfg.edit("timezone: Europe/Moscow", "timezone: Mars/Olympus")
    cfg.edit("url: sqlite:///var/arbots.db", f"url: postgresql://bob:{SECRET}@db.example/arbots")
    cfg.edit("role: account_manager", "role: accountant", "scenarios/payment_request.yaml")
    cfg.edit("  - kind: archive", "  - kind: archiv", "scenarios/pretrial_demand.yaml")
    report = cfg.problems()
    expected = [
        (cfg.at("groups.default.columns[3].offset", "id: overdue_10,"), "must be greater than columns[2].offset"),
        (cfg.at("groups.key_accounts.columns[2].scenario", "scenario: pretrial_demnad"),
         "scenario 'pretrial_demnad' not found"),
        (cfg.at("daemon.timezone", "timezone:"), "unknown time zone 'Mars/Olympus'"),
        (cfg.at("database.url", "url: postgresql"), "the URL contains a password"),
        (cfg.at("steps[2].role", "role: accountant", "scenarios/payment_request.yaml"), "role 'accountant'"),
        (cfg.at("steps[1].kind", "kind: archiv", "scenarios/pretrial_demand.yaml"), "unknown step kind 'archiv'"),
    ]
    assert len(report.lines) >= len(expected), report.listing()
    for prefix, fragment in expected:
        report.find(prefix, fragment)
    assert report.text.startswith(f"{len(report.lines)} problems in the configuration; nothing was done:")
    report.lacks(SECRET)


def test_secrets_and_schema_errors_are_reported_together(cfg):
    cfg.edit("catch_up: latest", "catch_up: sometimes")
    cfg.edit("    path: var/ledger\n", f"    path: var/ledger\n    api_key: {SECRET}\n")
    report = cfg.problems()
    report.find(cfg.at("aging.catch_up", "catch_up:"), "'latest' or 'all'")
    report.find(cfg.at("connectors[0].api_key", "api_key:"), "secrets are never written")
    report.lacks(SECRET)


def test_several_schema_errors_are_reported_together(cfg):
    cfg.edit("    days: calendar", "    days: weekly")
    cfg.edit("  inn:", "  inm:")
    cfg.edit("max_attempts: 5", "max_attempts: many")
    report = cfg.problems()
    assert len(report.lines) == 3, report.listing()
    report.find(cfg.at("groups.default.days", "days: weekly"), "(got 'weekly')")
    report.find(cfg.at("company.inm", "inm:"), "did you mean 'inn'?")
    report.find(cfg.at("runner.max_attempts", "max_attempts:"), "(got 'many')")


def test_a_typo_does_not_hide_column_and_scenario_problems(cfg):
    cfg.edit("catch_up: latest", "catch_up: latest\n  colour: red")
    cfg.edit("offset: 10,", "offset: 2,")
    cfg.edit("{id: overdue_5,", "{id: overdue_2,")
    cfg.edit("scenario: pretrial_demand, title: 5", "scenario: pretrial_demnad, title: 5")
    cfg.edit("role: account_manager", "role: accountant", "scenarios/payment_request.yaml")
    report = cfg.problems()
    report.find(cfg.at("aging.colour", "colour: red"), "unknown key 'colour'")
    report.find(cfg.at("groups.default.columns[3].offset", "id: overdue_10,"), "must be greater than")
    report.find(cfg.at("groups.key_accounts.columns[2].id", "id: overdue_2, offset: 5"), "used twice")
    report.find(cfg.at("groups.key_accounts.columns[2].scenario", "pretrial_demnad"), "not found")
    report.find(cfg.at("steps[2].role", "role: accountant", "scenarios/payment_request.yaml"), "role 'accountant'")


def test_a_bad_value_in_one_column_does_not_hide_the_order_of_the_others(cfg):
    cfg.edit("offset: 1,", 'offset: "one",')
    cfg.edit("offset: 10,", "offset: -1,")
    report = cfg.problems()
    report.find(cfg.at("groups.default.columns[1].offset", "id: overdue_1,"), "valid integer")
    report.find(cfg.at("groups.default.columns[3].offset", "id: overdue_10,"),
                "must be greater than columns[2].offset (2)")


def test_a_typo_elsewhere_does_not_hide_a_template_missing_from_the_configured_templates_folder(cfg):
    cfg.edit("catch_up: latest", "catch_up: sometimes")
    cfg.edit("template: payment_request.j2", "template: nope.j2", "scenarios/payment_request.yaml")
    report = cfg.problems()
    report.find(cfg.at("aging.catch_up", "catch_up:"), "'latest' or 'all'")
    report.find(cfg.at("steps[0].template", "template: nope.j2", "scenarios/payment_request.yaml"),
                f"template 'nope.j2' not found in {cfg.root.resolve() / 'scenarios' / 'templates'}")


def test_a_typo_does_not_hide_daemon_calendar_paths_connector_and_database_problems(cfg):
    cfg.edit("catch_up: latest", "catch_up: latest\n  colour: red")
    cfg.edit("timezone: Europe/Moscow", "timezone: Mars/Olympus")
    cfg.edit('cron: "0 8 * * *"', 'cron: "0 25 * * *"')
    cfg.edit("country: RU", "country: XX")
    cfg.edit("url: sqlite:///var/arbots.db", f"url: postgresql://bob:{SECRET}@db.example/arbots")
    report = cfg.problems()
    report.find(cfg.at("aging.colour", "colour: red"), "unknown key 'colour'")
    report.find(cfg.at("daemon.timezone", "timezone:"), "unknown time zone")
    report.find(cfg.at("daemon.ticks[0].cron", "cron:"), "not a crontab line")
    report.find(cfg.at("calendar.country", "country:"), "unknown country 'XX'")
    report.find(cfg.at("database.url", "url: postgresql"), "the URL contains a password")
    report.lacks(SECRET)


# ------------------------------------------------------------------------------------------------------- the CLI


def _validate(config_path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "run_robots.py", "--config", str(config_path), "validate"], cwd=REPO,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.slow
def test_cli_validate_says_ok_and_exits_0_for_the_shipped_config(cfg):
    done = _validate(cfg.schedules)
    assert done.returncode == 0, done.stderr
    assert f"{cfg.schedules}: OK." in done.stdout
    assert "default (4 columns), key_accounts (4 columns)" in done.stdout


@pytest.mark.slow
def test_cli_validate_prints_every_problem_on_stderr_and_exits_2(cfg):
    cfg.edit("offset: 10,", "offset: 2,")
    cfg.edit("role: account_manager", "role: accountant", "scenarios/payment_request.yaml")
    done = _validate(cfg.schedules)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "OK" not in done.stdout
    assert "2 problems in the configuration; nothing was done:" in done.stderr
    assert cfg.at("groups.default.columns[3].offset", "id: overdue_10,") + "must be greater than" in done.stderr
    assert cfg.at("steps[2].role", "role: accountant", "scenarios/payment_request.yaml") in done.stderr
    assert "Traceback" not in done.stderr
