"""load_config on scenarios/*.yaml: steps are validated per kind and cross-checked (templates, earlier render
steps, roles, Jinja titles); every problem names the scenario file, the line and the step's path."""

from __future__ import annotations

import pytest

PAY = "scenarios/payment_request.yaml"
DEMAND = "scenarios/pretrial_demand.yaml"
SECRET = "Sup3rS3cretValue"
#: The step kinds the loader names when a kind is missing or unknown, in its order.
KNOWN_KINDS = ("approval, archive, block_shipments, compute_penalty, condition, lawsuit_pack, reconcile, render, "
               "send_email, sign, task, unblock_shipments")


def test_scenario_id_defaults_to_the_file_name_and_an_explicit_matching_id_is_accepted(cfg):
    cfg.edit("title: Просьба об оплате (1", "id: payment_request\ntitle: Просьба об оплате (1", PAY)
    config = cfg.load()
    assert config.scenarios["payment_request"].id == "payment_request"
    assert config.scenarios["claim"].id == "claim"  # no id: in the file


def test_steps_are_typed_by_kind_with_their_values(cfg):
    steps = cfg.load().scenarios["payment_request"].steps
    render, sign, archive, send, task, block = steps
    assert (render.kind, render.id, render.template) == ("render", "letter", "payment_request.j2")
    assert (sign.kind, sign.document, sign.officer, sign.level) == ("sign", "letter", "chief_accountant", None)
    assert (archive.kind, archive.document) == ("archive", "letter")
    assert (task.kind, task.role, task.due_in_days, task.working_days) == ("task", "account_manager", 1, True)


def test_a_scenario_file_no_column_uses_is_checked_too(cfg):
    cfg.write("scenarios/spare.yaml", "title: Spare\nsteps:\n  - kind: tusk\n")
    cfg.problems().find(cfg.at("steps[0].kind", "kind: tusk", "scenarios/spare.yaml"), "unknown step kind 'tusk'")


def test_unknown_step_kind_lists_the_known_kinds(cfg):
    cfg.edit("  - kind: task", "  - kind: tusk", PAY)
    report = cfg.problems()
    assert report.lines == (cfg.at("steps[4].kind", "kind: tusk", PAY)
                            + "unknown step kind 'tusk'; known kinds: " + KNOWN_KINDS,)


def test_step_without_kind_is_reported_at_the_step(cfg):
    cfg.edit("  - kind: task", "  - knd: task", PAY)
    report = cfg.problems()
    assert report.lines == (cfg.at("steps[4]", "knd: task", PAY)
                            + "each step needs a kind; known kinds: " + KNOWN_KINDS,)


def test_step_that_is_not_a_mapping_is_reported_as_needing_a_kind(cfg):
    cfg.edit("  - kind: task", "  - task\n  - kind: task", PAY)
    cfg.problems().find(cfg.at("steps[4]", "- task", PAY), "each step needs a kind")


def test_step_kind_that_is_not_a_string_is_reported_not_a_crash(cfg):
    cfg.edit("  - kind: task", "  - kind: [task]", PAY)
    cfg.problems().find(cfg.at("steps[4].kind", "kind: [task]", PAY), "known kinds: " + KNOWN_KINDS)


@pytest.mark.parametrize("old, new, needle, path, message", [
    pytest.param("    due_in_days: 1", "    due_in_dayz: 1", "due_in_dayz", "steps[4].due_in_dayz",
                 "unknown key 'due_in_dayz'; did you mean 'due_in_days'?", id="task"),
    pytest.param("    template: payment_request.j2", "    templat: payment_request.j2", "templat:",
                 "steps[0].templat", "unknown key 'templat'; did you mean 'template'?", id="render"),
    pytest.param("  - kind: archive\n    document: letter", "  - kind: archive\n    document: letter\n    colour: red",
                 "colour:", "steps[2].colour",
                 "unknown key 'colour'; allowed keys: document, id, kind", id="archive-no-near-match"),
    pytest.param("steps:", "stepz:", "stepz:", "stepz", "unknown key 'stepz'; did you mean 'steps'?",
                 id="scenario-top-level"),
])
def test_unknown_key_in_a_scenario_is_reported_with_a_hint(cfg, old, new, needle, path, message):
    cfg.edit(old, new, PAY)
    cfg.problems().find(cfg.at(path, needle, PAY), message)


def test_wrong_value_in_a_step_is_reported_at_its_line(cfg):
    cfg.edit("    due_in_days: 1", "    due_in_days: tomorrow", PAY)
    cfg.problems().find(cfg.at("steps[4].due_in_days", "due_in_days:", PAY), "valid integer", "(got 'tomorrow')")


def test_step_missing_a_required_key_is_reported_at_the_step(cfg):
    cfg.edit("    role: account_manager\n", "", PAY)
    report = cfg.problems()
    assert report.lines == (cfg.at("steps[4].role", "- kind: task", PAY) + "missing required key 'role'",)


def test_render_template_that_does_not_exist_is_reported_with_the_templates_folder(cfg):
    cfg.edit("template: payment_request.j2", "template: payment_requets.j2", PAY)
    report = cfg.problems()
    folder = cfg.root.resolve() / "scenarios" / "templates"
    assert report.lines == (cfg.at("steps[0].template", "template:", PAY)
                            + f"template 'payment_requets.j2' not found in {folder}",)


def test_archive_of_an_unknown_render_step_names_the_earlier_render_steps(cfg):
    cfg.edit("  - kind: archive\n    document: letter", "  - kind: archive\n    document: lettre", PAY)
    report = cfg.problems()
    assert report.lines == (cfg.at("steps[2].document", "document: lettre", PAY)
                            + "no earlier render step has id 'lettre' (earlier render steps: letter)",)


def test_archive_of_a_render_step_that_comes_later_is_refused(cfg):
    render = ("  - kind: render\n    id: letter\n    template: payment_request.j2\n"
              "    title: Просьба об оплате задолженности\n")
    sign = "  - kind: sign\n    document: letter\n    officer: chief_accountant\n"
    archive = "  - kind: archive\n    document: letter\n"
    cfg.edit(render + sign + archive, archive + render + sign, PAY)
    report = cfg.problems()
    archive_document_line = cfg.line("- kind: archive", PAY) + 1
    report.find(f"{PAY}:{archive_document_line} steps[0].document: ",
                "no earlier render step has id 'letter' (earlier render steps: none)")


def test_a_document_archived_before_it_is_signed_is_refused(cfg):
    sign = "  - kind: sign\n    document: letter\n    officer: chief_accountant\n"
    archive = "  - kind: archive\n    document: letter\n"
    cfg.edit(sign + archive, archive + sign, PAY)
    cfg.problems().find(cfg.at("steps[1]", "- kind: archive", PAY),
                        "uses document 'letter' before steps[2] signs it", "unsigned document would go out")


def test_a_sign_step_names_a_configured_officer_and_a_level_it_can_reach(cfg):
    cfg.edit("    officer: chief_accountant", "    officer: cfo\n    level: B-LT", PAY)
    cfg.edit("  timestamp:                            # an RFC 3161",
             "  timestamp_off:                        # an RFC 3161")
    report = cfg.problems()
    report.find(cfg.at("steps[1].officer", "officer: cfo", PAY), "no officer 'cfo'", "chief_accountant, head_of_legal")


def test_a_sign_step_level_needs_a_timestamp_authority(cfg):
    cfg.edit("    officer: chief_accountant", "    officer: chief_accountant\n    level: B-LT", PAY)
    cfg.edit("  timestamp:                            # an RFC 3161 timestamp authority "
             "(here: the demo PKI's, on loopback)\n"
             "    url: http://127.0.0.1:8779/arbots/tsa/tsa\n", "")
    cfg.edit("  default_level: B-T", "  default_level: B-B")
    report = cfg.problems()
    assert report.lines == (cfg.at("officers.head_of_legal.level", "level: B-LTA")
                            + "level B-LTA needs a timestamp authority: configure signing.timestamp.url, or use level "
                              "B-B",
                            cfg.at("steps[1].level", "level: B-LT", PAY) + "level B-LT needs a timestamp authority: "
                            "configure signing.timestamp.url in schedules.yaml, or use level B-B")


def test_archive_may_refer_only_to_a_render_step_not_to_a_task(cfg):
    cfg.edit("  - kind: archive\n    document: letter", "  - kind: archive\n    document: call", PAY)
    cfg.edit("    due_in_days: 1", "    due_in_days: 1\n    id: call", PAY)
    cfg.problems().find(cfg.at("steps[2].document", "document: call", PAY), "no earlier render step has id 'call'")


def test_task_role_not_defined_under_roles_lists_the_defined_roles(cfg):
    cfg.edit("role: account_manager", "role: accountant", PAY)
    report = cfg.problems()
    assert report.lines == (cfg.at("steps[4].role", "role: accountant", PAY)
                            + "role 'accountant' is not defined under roles: in schedules.yaml "
                              "(defined: account_manager, chief_accountant, commercial_director, head_of_sales, legal, "
                              "security)",)


def test_removing_a_role_from_schedules_yaml_is_reported_in_every_scenario_that_uses_it(cfg):
    cfg.edit("  security: {name: Громов Павел Олегович, email: security@arbots.example, deputy: commercial_director}\n",
             "")
    report = cfg.problems()
    assert report.lines == (cfg.at("steps[7].role", "role: security", "scenarios/claim.yaml")
                            + "role 'security' is not defined under roles: in schedules.yaml "
                              "(defined: account_manager, chief_accountant, commercial_director, head_of_sales, "
                              "legal)",)


def test_task_title_with_a_jinja_syntax_error_is_refused(cfg):
    cfg.edit("title: \"Позвонить {{ counterparty.name }}:", "title: \"Позвонить {{ counterparty.name }:", PAY)
    report = cfg.problems()
    assert len(report.lines) == 1, report.listing()
    report.find(cfg.at("steps[4].title", "Позвонить", PAY), "not a valid template", "unexpected '}'")


def test_task_title_with_an_unclosed_block_is_refused(cfg):
    cfg.edit("title: \"Позвонить {{ counterparty.name }}:", "title: \"{% if x %}Позвонить {{ counterparty.name }}:",
             PAY)
    cfg.problems().find(cfg.at("steps[4].title", "Позвонить", PAY), "not a valid template")


def test_scenario_id_that_does_not_match_its_file_name_is_refused(cfg):
    cfg.edit("title: Просьба об оплате (1", "id: payment_reqest\ntitle: Просьба об оплате (1", PAY)
    report = cfg.problems()
    assert report.lines == (cfg.at("id", "id: payment_reqest", PAY)
                            + "id 'payment_reqest' must match the file name 'payment_request'",)


def _second_letter_step(cfg):
    cfg.edit("  - kind: archive\n", "  - kind: render\n    id: letter\n    template: payment_request.j2\n"
                                    "    title: Копия\n  - kind: archive\n", PAY)


def test_duplicate_step_ids_are_refused(cfg):
    _second_letter_step(cfg)
    report = cfg.problems()
    assert len(report.lines) == 1, report.listing()
    report.find(f"{PAY}:", "step id 'letter' is used twice")


def test_duplicate_step_id_is_reported_at_the_second_step(cfg):
    _second_letter_step(cfg)
    cfg.problems().find(cfg.at("steps[2].id", "id: letter", PAY, occurrence=2), "step id 'letter' is used twice",
                        "steps[0]")


def test_scenario_without_steps_is_refused(cfg):
    cfg.write(PAY, "title: Просьба об оплате\nsteps: []\n")
    cfg.problems().find(cfg.at("steps", "steps:", PAY), "at least 1 item")


def test_scenario_file_that_is_not_a_mapping_is_refused(cfg):
    cfg.write(PAY, "- kind: render\n- kind: archive\n")
    report = cfg.problems()
    assert report.lines == (f"{PAY}:1: a scenario file is a mapping with id, title and steps",)


def test_yaml_syntax_error_in_a_scenario_is_reported_at_its_line(cfg):
    cfg.edit("    role: account_manager", "    role: account: manager", PAY)
    report = cfg.problems()
    assert report.lines == (f"{PAY}:{cfg.line('role: account: manager', PAY)}: invalid YAML: mapping values are "
                            "not allowed here",)


def test_a_broken_scenario_file_is_not_reported_a_second_time_as_missing(cfg):
    cfg.edit("    role: account_manager", "    role: account: manager", PAY)
    report = cfg.problems()
    assert not any("'payment_request' not found" in p for p in report.lines), report.listing()


@pytest.mark.parametrize("old, new, needle, path, key", [
    pytest.param("    due_in_days: 1", f"    due_in_days: 1\n    pin: {SECRET}", "pin:", "steps[4].pin", "pin",
                 id="pin-in-a-step"),
    pytest.param("title: Просьба об оплате (1", f"password: {SECRET}\ntitle: Просьба об оплате (1", "password:",
                 "password", "password", id="password-at-top"),
    pytest.param("  - kind: archive\n    document: letter",
                 f"  - kind: archive\n    document: letter\n    api_key: {SECRET}", "api_key:",
                 "steps[2].api_key", "api_key", id="api-key-in-a-step"),
])
def test_inline_secret_in_a_scenario_is_refused_without_echoing_it(cfg, old, new, needle, path, key):
    cfg.edit(old, new, PAY)
    report = cfg.problems()
    report.find(cfg.at(path, needle, PAY), "secrets are never written in the config", f"{key}_env: VAR_NAME",
                f"{key}_file: PATH")
    report.lacks(SECRET)


def test_every_step_problem_in_every_scenario_file_comes_in_one_error(cfg):
    cfg.edit("template: payment_request.j2", "template: missing.j2", PAY)
    cfg.edit("role: account_manager", "role: accountant", PAY)
    cfg.edit("  - kind: archive", "  - kind: archiv", DEMAND)
    cfg.edit("title: Досудебное требование (2 дня просрочки)", "id: demand_letter\ntitle: x", DEMAND)
    cfg.write("scenarios/extra.yaml", "steps:\n  - kind: task\n    role: legal\n    title: '{{ oops'\n    pin: 1234\n")
    report = cfg.problems()
    expected = [
        (cfg.at("steps[0].template", "template: missing.j2", PAY), "template 'missing.j2' not found"),
        (cfg.at("steps[4].role", "role: accountant", PAY), "role 'accountant'"),
        (cfg.at("steps[3].kind", "kind: archiv", DEMAND), "unknown step kind 'archiv'"),
        (cfg.at("id", "id: demand_letter", DEMAND), "must match the file name 'pretrial_demand'"),
        (cfg.at("steps[0].pin", "pin:", "scenarios/extra.yaml"), "secrets are never written"),
    ]
    assert len(report.lines) >= len(expected), report.listing()
    for prefix, fragment in expected:
        report.find(prefix, fragment)
