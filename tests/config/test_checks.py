"""load_config on schedules.yaml: the shipped file loads; every kind of mistake is reported at its file, line and
YAML path, all at once, and a secret never appears in a message."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.worlds import REPO

#: The line of the shipped config that new keys of the first connector are added after.
BASE_LINE = "    base_url: http://127.0.0.1:8780/api/v1/\n"

SCHED = "schedules.yaml"
SECRET = "Sup3rS3cretValue"


# ------------------------------------------------------------------------------------------------ cross checks


def test_column_offsets_must_increase_strictly(cfg):
    cfg.edit("offset: 10, scenario: claim", "offset: 2, scenario: claim")
    report = cfg.problems()
    assert report.lines == (cfg.at("groups.default.columns[4].offset", "id: overdue_10,")
                            + "must be greater than columns[3].offset (7): columns are listed in increasing order",)


def test_column_offsets_out_of_order_in_a_second_group_are_reported_in_that_group(cfg):
    cfg.edit("offset: 5,", "offset: -5,")
    cfg.problems().find(cfg.at("groups.key_accounts.columns[2].offset", "id: overdue_5,"),
                        "must be greater than columns[1].offset (2)")


def test_duplicate_column_id_in_a_group_is_refused(cfg):
    cfg.edit("{id: overdue_10,", "{id: overdue_2,")
    report = cfg.problems()
    assert report.lines == (cfg.at("groups.default.columns[4].id", "id: overdue_2, offset: 10")
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
    cfg.edit("scenario: claim, title: 10", "scenario: claimm, title: 10")
    report = cfg.problems()
    missing = cfg.root.resolve() / "scenarios" / "claimm.yaml"
    assert report.lines == (
        cfg.at("groups.default.columns[4].scenario", "id: overdue_10,")
        + f"scenario 'claimm' not found: there is no {missing} (available: claim, lawsuit_decision, "
          "lawsuit_notice, paid_closing, payment_request, penalty_notice, pretrial_demand, promise_broken, "
          "reminder_before_due)",
    )


def test_missing_scenario_is_reported_even_if_another_scenario_name_ends_the_same_way(cfg):
    cfg.edit("scenario: claim, title: 10", "scenario: request, title: 10")
    cfg.edit("role: account_manager", "role: accountant", "scenarios/payment_request.yaml")
    report = cfg.problems()
    report.find("scenarios/payment_request.yaml:", "role 'accountant' is not defined")
    report.find(cfg.at("groups.default.columns[4].scenario", "id: overdue_10,"), "scenario 'request' not found")


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
    cfg.edit("\nsync:\n", "  - id: erp\n    kind: file\n    path: var/other\n\nsync:\n")
    report = cfg.problems()
    assert report.lines == (cfg.at("connectors[1].id", "- id: erp", occurrence=2)
                            + "connector id 'erp' is used twice (also connectors[0])",)


def test_unknown_connector_kind_is_reported_naming_the_kind_and_the_known_ones(cfg):
    cfg.edit("    kind: rest\n", "    kind: ftp\n")
    report = cfg.problems()
    report.find(f"{SCHED}:", "connectors[0].kind", "'ftp'", "known kinds: file")


def test_unknown_connector_kind_points_at_the_kind_line_and_nothing_else(cfg):
    cfg.edit("    kind: rest\n", "    kind: ftp\n")
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
    cfg.edit("offset: 10, scenario: claim", "offset: 2, scenario: claim")
    text = cfg.text()
    start = text.index("  key_accounts:")
    end = text.index("\n# Runs on events")
    cfg.write(None, text[:start] + "  key_accounts:\n    <<: *base\n    days: working\n" + text[end:])
    report = cfg.problems()
    report.find(cfg.at("groups.default.columns[4].offset", "id: overdue_10,"), "must be greater than")
    report.find(f"{SCHED}:", "groups.key_accounts.columns[4].offset", "must be greater than")


# -------------------------------------------------------------------------------------- everything in one report


def test_problems_in_schedules_yaml_and_several_scenarios_come_in_one_error(cfg):
    cfg.edit("offset: 10, scenario: claim", "offset: 2, scenario: claim")
    cfg.edit("scenario: pretrial_demand, title: 5", "scenario: pretrial_demnad, title: 5")
    cfg.edit("timezone: Europe/Moscow", "timezone: Mars/Olympus")
    cfg.edit("url: sqlite:///var/arbots.db", f"url: postgresql://bob:{SECRET}@db.example/arbots")
    cfg.edit("role: account_manager", "role: accountant", "scenarios/payment_request.yaml")
    cfg.edit("  - kind: archive", "  - kind: archiv", "scenarios/pretrial_demand.yaml")
    report = cfg.problems()
    expected = [
        (cfg.at("groups.default.columns[4].offset", "id: overdue_10,"), "must be greater than columns[3].offset"),
        (cfg.at("groups.key_accounts.columns[2].scenario", "scenario: pretrial_demnad"),
         "scenario 'pretrial_demnad' not found"),
        (cfg.at("daemon.timezone", "timezone:"), "unknown time zone 'Mars/Olympus'"),
        (cfg.at("database.url", "url: postgresql"), "the URL contains a password"),
        (cfg.at("steps[4].role", "role: accountant", "scenarios/payment_request.yaml"), "role 'accountant'"),
        (cfg.at("steps[3].kind", "kind: archiv", "scenarios/pretrial_demand.yaml"), "unknown step kind 'archiv'"),
    ]
    assert len(report.lines) >= len(expected), report.listing()
    for prefix, fragment in expected:
        report.find(prefix, fragment)
    assert report.text.startswith(f"{len(report.lines)} problems in the configuration; nothing was done:")
    report.lacks(SECRET)


def test_secrets_and_schema_errors_are_reported_together(cfg):
    cfg.edit("catch_up: latest", "catch_up: sometimes")
    cfg.edit(BASE_LINE, f"{BASE_LINE}    api_key: {SECRET}\n")
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
    cfg.edit("offset: 10, scenario: claim", "offset: 2, scenario: claim")
    cfg.edit("{id: overdue_5,", "{id: overdue_2,")
    cfg.edit("scenario: pretrial_demand, title: 5", "scenario: pretrial_demnad, title: 5")
    cfg.edit("role: account_manager", "role: accountant", "scenarios/payment_request.yaml")
    report = cfg.problems()
    report.find(cfg.at("aging.colour", "colour: red"), "unknown key 'colour'")
    report.find(cfg.at("groups.default.columns[4].offset", "id: overdue_10,"), "must be greater than")
    report.find(cfg.at("groups.key_accounts.columns[2].id", "id: overdue_2, offset: 5"), "used twice")
    report.find(cfg.at("groups.key_accounts.columns[2].scenario", "pretrial_demnad"), "not found")
    report.find(cfg.at("steps[4].role", "role: accountant", "scenarios/payment_request.yaml"), "role 'accountant'")


def test_a_bad_value_in_one_column_does_not_hide_the_order_of_the_others(cfg):
    cfg.edit("offset: 1,", 'offset: "one",')
    cfg.edit("offset: 10, scenario: claim", "offset: -1, scenario: claim")
    report = cfg.problems()
    report.find(cfg.at("groups.default.columns[1].offset", "id: overdue_1,"), "valid integer")
    report.find(cfg.at("groups.default.columns[4].offset", "id: overdue_10,"),
                "must be greater than columns[3].offset (7)")


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
    assert "default (7 columns), key_accounts (7 columns)" in done.stdout


@pytest.mark.slow
def test_cli_validate_prints_every_problem_on_stderr_and_exits_2(cfg):
    cfg.edit("offset: 10, scenario: claim", "offset: 2, scenario: claim")
    cfg.edit("role: account_manager", "role: accountant", "scenarios/payment_request.yaml")
    done = _validate(cfg.schedules)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "OK" not in done.stdout
    assert "2 problems in the configuration; nothing was done:" in done.stderr
    assert cfg.at("groups.default.columns[4].offset", "id: overdue_10,") + "must be greater than" in done.stderr
    assert cfg.at("steps[4].role", "role: accountant", "scenarios/payment_request.yaml") in done.stderr
    assert "Traceback" not in done.stderr
