"""A throw-away copy of the shipped configuration (schedules.yaml + scenarios/) to break on purpose.

Tests edit the YAML *text* (so line numbers are real) and check the exact ``file:line path:`` of each problem.
Expected line numbers are looked up in the edited file by a unique needle, never hard-coded, so a harmless change
to the shipped files does not break the tests while a wrong line in a report still does.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from robots.config import Config, load_config
from robots.core.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Report:
    """What a ConfigError said."""

    error: ConfigError

    @property
    def lines(self) -> tuple[str, ...]:
        return self.error.problems

    @property
    def text(self) -> str:
        return str(self.error)

    def listing(self) -> str:
        return "\n".join(self.lines) or "(no problems)"

    def find(self, prefix: str, *fragments: str) -> str:
        """The problem line starting with ``prefix`` and containing every fragment; fails with the whole report."""
        hits = [p for p in self.lines if p.startswith(prefix) and all(f in p for f in fragments)]
        assert hits, f"expected a problem starting {prefix!r} containing {fragments!r}; got:\n{self.listing()}"
        return hits[0]

    def lacks(self, fragment: str) -> None:
        assert fragment not in self.text, f"{fragment!r} must not appear in:\n{self.text}"
        assert not any(fragment in p for p in self.lines)


@dataclass(frozen=True)
class ConfigDir:
    root: Path
    name: str = "schedules.yaml"

    @property
    def schedules(self) -> Path:
        return self.root / self.name

    def path(self, rel: str | None = None) -> Path:
        return self.root / (rel or self.name)

    def text(self, rel: str | None = None) -> str:
        return self.path(rel).read_text(encoding="utf-8")

    def write(self, rel: str | None, text: str) -> None:
        self.path(rel).write_text(text, encoding="utf-8")

    def edit(self, old: str, new: str, rel: str | None = None) -> None:
        """Replace the one occurrence of ``old`` (the test fails if it is missing or ambiguous)."""
        text = self.text(rel)
        assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in {rel or self.name}"
        self.write(rel, text.replace(old, new))

    def line(self, needle: str, rel: str | None = None, occurrence: int = 1) -> int:
        """1-based line of the ``occurrence``-th line containing ``needle`` (unique unless occurrence is given)."""
        found = [i for i, line in enumerate(self.text(rel).splitlines(), 1) if needle in line]
        if occurrence == 1:
            assert len(found) == 1, f"{needle!r} is on lines {found} of {rel or self.name}; expected exactly one"
        assert len(found) >= occurrence, f"{needle!r} is on lines {found} of {rel or self.name}"
        return found[occurrence - 1]

    def at(self, path: str, needle: str, rel: str | None = None, occurrence: int = 1) -> str:
        """The expected start of a problem line: ``<file>:<line> <path>: ``."""
        return f"{rel or self.name}:{self.line(needle, rel, occurrence)} {path}: "

    def load(self) -> Config:
        return load_config(self.schedules)

    def problems(self) -> Report:
        with pytest.raises(ConfigError) as info:
            self.load()
        assert info.value.problems, f"a ConfigError without problem lines: {info.value}"
        return Report(info.value)


def copy_shipped(dest: Path) -> ConfigDir:
    shutil.copy(REPO / "schedules.yaml", dest / "schedules.yaml")
    shutil.copytree(REPO / "scenarios", dest / "scenarios")
    return ConfigDir(dest)


@pytest.fixture
def cfg(tmp_path: Path) -> ConfigDir:
    """The shipped configuration copied into tmp_path, ready to be edited."""
    return copy_shipped(tmp_path)
