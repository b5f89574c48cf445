"""load_config on schedules.yaml: the shipped file loads; every kind of mistake is reported at its file, line and
YAML path, all at once, and a secret never appears in a message."""

from __future__ import annotations

import pytest

SCHED = "schedules.yaml"
#: The line of the shipped config that new keys of the first connector are added after.
BASE_LINE = "    base_url: http://127.0.0.1:8780/api/v1/\n"
SECRET = "Sup3rS3cretValue"


# ----------------------------------------------------------------------------------------------------- secrets


@pytest.mark.parametrize("old, new, needle, path, key", [
    pytest.param("  inn:", f"  password: {SECRET}\n  inn:", "password:", "company.password", "password",
                 id="password-in-company"),
    pytest.param(BASE_LINE, f"{BASE_LINE}    api_key: {SECRET}\n", "api_key:",
                 "connectors[0].api_key", "api_key", id="api-key-in-connector"),
    pytest.param("  country: RU", f"  pin: '{SECRET}'\n  country: RU", "pin:", "calendar.pin", "pin",
                 id="pin-in-calendar"),
    pytest.param("version: 1\n", f"version: 1\nsmtp_token: {SECRET}\n", "smtp_token:", "smtp_token", "smtp_token",
                 id="suffix-token-top-level"),
    pytest.param(BASE_LINE, f"{BASE_LINE}    headers: [{{Token: {SECRET}}}]\n", "headers:",
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
