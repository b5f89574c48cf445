"""Archive folder names: whatever a ledger says, one readable path component inside the archive root."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive.folders import MAX_BYTES, MAX_LEN, contract_folder, safe_name

HOSTILE = [
    "../../etc",
    "..",
    ".",
    "/abs/path",
    "a\\b",
    "CON",
    "con",
    "nul.txt",
    "COM1",
    "LPT9.tar.gz",
    'a: b* c? d" e< f> g|',
    "tab\there\nnew\rline\x00nul\x1besc\x7fdel",
    "x" * 500,
    "",
    "   ",
    " . . ",
    "12/2024-Б",
    "name. ",
    "\u202etxt.exe",
    "/",
    "\\\\server\\share",
    "C:\\Windows",
]

UNSAFE = set('/\\:*?"<>|\x00')


def assert_one_component(name: str) -> None:
    assert name
    assert not UNSAFE & set(name)
    assert name not in (".", "..")
    assert name == name.strip(" .")
    assert Path(name).name == name and len(Path(name).parts) == 1
    assert not any(ord(ch) < 32 or ord(ch) == 127 for ch in name)
    assert len(name) <= MAX_LEN


def assert_inside(root: Path, path: Path) -> None:
    assert root.resolve() in path.resolve().parents
    assert path.parent.parent == root  # exactly <root>/<party>/<contract>


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_name_becomes_one_safe_component(text):
    assert_one_component(safe_name(text))


@pytest.mark.parametrize("text", HOSTILE)
def test_a_hostile_contract_folder_stays_inside_the_root_and_can_be_created(tmp_path, text):
    folder = contract_folder(tmp_path, text, text, text)
    assert_inside(tmp_path, folder)
    folder.mkdir(parents=True)
    assert folder.is_dir()
    assert sorted(tmp_path.rglob("*")) == sorted([folder.parent, folder])


@pytest.mark.parametrize(("text", "expected"), [
    ("12/2024-Б", "12\u22152024-Б"),
    ("ООО «Ромашка»", "ООО «Ромашка»"),
    ("Договор № 5", "Договор № 5"),
    ("a\\b", "a\u29f5b"),
    ('a: b* c? d" e< f> g|', "a\ua789 b\u2217 c\uff1f d\uff02 e\u2039 f\u203a g\u01c0"),
    ("..", "_"),
    (".", "_"),
    ("", "_"),
    ("\x00\x01", "_"),
    ("../../etc", "\u2215..\u2215etc"),
    ("/abs/path", "\u2215abs\u2215path"),
    ("CON", "_CON"),
    ("nul.txt", "_nul.txt"),
    ("com1", "_com1"),
    ("CONSOLE", "CONSOLE"),
    ("name. ", "name"),
    ("  two   spaces\u00a0and\u2003more ", "two spaces and more"),
    ("bell\x07", "bell"),
])
def test_safe_name_is_readable_and_maps_to_look_alikes(text, expected):
    assert safe_name(text) == expected


@pytest.mark.parametrize(("text", "expected"), [
    ("ООО Ромашка\nфилиал", "ООО Ромашка филиал"),
    ("two\tand\ttabs", "two and tabs"),
    ("line\r\nbreak", "line break"),
])
def test_tabs_and_line_breaks_become_one_space(text, expected):
    assert safe_name(text) == expected


def test_a_long_name_is_cut_to_the_limit():
    assert safe_name("b" * 500) == "b" * MAX_LEN
    assert safe_name("Б" * 500) == "Б" * (MAX_BYTES // 2)  # two bytes a letter: the byte limit comes first
    assert safe_name("a" * (MAX_LEN - 1) + " .xyz") == "a" * (MAX_LEN - 1)  # no trailing space or dot after the cut


def test_the_contract_folder_is_party_then_contract(tmp_path):
    folder = contract_folder(tmp_path, "ООО «Ромашка»", "7700000001", "12/2024-Б")
    assert folder == tmp_path / "ООО «Ромашка» (7700000001)" / "12\u22152024-Б"
    assert contract_folder(tmp_path, "ИП Иванов", "", "1").parent.name == "ИП Иванов"


@pytest.mark.parametrize("text", ["/" * 500, "№" * 500, "中" * 500, "😀" * 500, '"' * 500])
def test_a_long_name_of_wide_characters_still_fits_one_file_system_component(tmp_path, text):
    name = safe_name(text)
    assert len((name + ".pdf.json").encode("utf-8")) <= 255  # the document's sidecar name fits too
    folder = contract_folder(tmp_path, text, "k", text)
    folder.mkdir(parents=True)
    assert folder.is_dir()


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("archive-root")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_any_text_gives_one_non_empty_component(text):
    name = safe_name(text)
    assert name
    assert "/" not in name and "\x00" not in name
    assert os.sep not in name
    assert name not in (".", "..")
    assert len(Path(name).parts) == 1 and Path(name).name == name
    assert len(name) <= MAX_LEN


@settings(max_examples=200, deadline=None)
@given(name=st.text(), key=st.text(), number=st.text())
def test_any_contract_folder_stays_inside_the_root(root, name, key, number):
    folder = contract_folder(root, name, key, number)
    assert_inside(root, folder)
